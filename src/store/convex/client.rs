//! The client of one Convex deployment: every HTTP call the gateway makes to Convex goes
//! through it (the table adapter, the function passthrough and the outbox relay share one).
//!
//! - One shared client (`transport`, hyper-util's); the caller's identity travels per call in
//!   the `StoreCtx`, never on the client.
//! - Every call sends `Convex-Client`, `Convex-Request-Id` and an explicit
//!   `format: convex_encoded_json`, and values are decoded deliberately: `$integer` becomes a
//!   JSON integer, `$bytes` a base64 string, `$float` (NaN, ±Infinity) a string.
//! - Calls pass a bulkhead (capped calls in flight, overflow shed), the circuit breaker, and for
//!   retryable calls full-jitter retries within a retry budget and the request's deadline.
//! - Function errors are recognised by the body's `status` (HTTP 200 or 560) and mapped by
//!   `errorData.code`; messages are never parsed. Transport failures map to 502/503/504.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::breaker::{Breaker, BreakerConfig, BreakerState};
use crate::retry::{Retrier, RetryConfig};
use crate::store::{StoreCtx, StoreError};

use super::transport::{Answer, Failure, Transport};

/// `Convex-Client`, as the official clients send `npm-<version>`.
const CLIENT: &str = concat!("convex-gateway-", env!("CARGO_PKG_VERSION"));

/// A Convex deployment to front.
#[derive(Debug, Clone)]
pub struct ConvexConfig {
    /// `CONVEX_URL`, e.g. `https://happy-animal-123.convex.cloud` (no trailing slash).
    pub url: String,
    /// `CONVEX_DEPLOYMENT_KEY`: the deploy (admin) key. Never sent for callers' requests.
    pub deploy_key: Option<SecretString>,
    /// `CONVEX_TIMEOUT`: seconds one call to Convex may take.
    pub timeout: Duration,
    /// `CONVEX_CIRCUIT_BREAKER_*`: when to stop calling a failing Convex.
    pub breaker: BreakerConfig,
    /// `CONVEX_RETRY_COUNT` and the retry budget.
    pub retry: RetryConfig,
    /// `CONVEX_MAX_CONCURRENCY`: calls to Convex in flight at once (the bulkhead); more are shed.
    pub max_concurrency: usize,
}

/// The kind of Convex function, which picks the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    Query,
    Mutation,
    Action,
}

impl FunctionKind {
    /// The HTTP route of this kind of function.
    pub fn route(self) -> &'static str {
        match self {
            Self::Query => "/api/query",
            Self::Mutation => "/api/mutation",
            Self::Action => "/api/action",
        }
    }
}

/// A Convex function's answer: Convex's `UdfResponse`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum UdfResponse {
    Success {
        value: Value,
        #[serde(rename = "logLines", default, skip_serializing_if = "Option::is_none")]
        log_lines: Option<Vec<String>>,
    },
    Error {
        #[serde(rename = "errorMessage")]
        error_message: String,
        #[serde(rename = "errorData", default, skip_serializing_if = "Option::is_none")]
        error_data: Option<Value>,
        #[serde(rename = "logLines", default, skip_serializing_if = "Option::is_none")]
        log_lines: Option<Vec<String>>,
    },
}

/// Whether a function response reports success or a function error (read without building the
/// value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UdfStatus {
    Success,
    Error,
}

#[derive(Deserialize)]
struct Peek {
    status: UdfStatus,
}

/// A function response as Convex sent it: its HTTP status, its body, and what the body says.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub http: StatusCode,
    pub body: axum::body::Bytes,
    pub status: UdfStatus,
}

/// The client.
pub struct ConvexClient {
    url: String,
    /// The deploy key, for the gateway's own calls of internal functions.
    deploy_key: Option<SecretString>,
    /// `/api/query`, `/api/mutation` and `/api/action`, parsed once.
    routes: [Uri; 3],
    transport: Transport,
    breaker: Breaker,
    retrier: Retrier,
    /// The bulkhead: calls in flight towards Convex are capped, and overflow is shed at once.
    bulkhead: tokio::sync::Semaphore,
}

impl std::fmt::Debug for ConvexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConvexClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ConvexClient {
    /// A client of the deployment in `config`.
    pub fn new(config: &ConvexConfig) -> anyhow::Result<Self> {
        let connect = config.timeout.min(Duration::from_secs(5));
        let route = |path: &str| {
            format!("{}{path}", config.url)
                .parse::<Uri>()
                .map_err(|err| anyhow::anyhow!("CONVEX_URL {} is not a URL: {err}", config.url))
        };
        Ok(Self {
            url: config.url.clone(),
            deploy_key: config.deploy_key.clone(),
            routes: [
                route(FunctionKind::Query.route())?,
                route(FunctionKind::Mutation.route())?,
                route(FunctionKind::Action.route())?,
            ],
            transport: Transport::new(connect, config.timeout)?,
            breaker: Breaker::new(config.breaker.clone()),
            retrier: Retrier::new(config.retry.clone()),
            bulkhead: tokio::sync::Semaphore::new(config.max_concurrency),
        })
    }

    /// The deployment URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls a function and returns Convex's response as sent (values still encoded).
    ///
    /// With `retryable` (queries, and mutations that Convex dedupes by idempotency key; never
    /// actions), upstream faults are retried with full-jitter backoff, honouring `Retry-After`,
    /// within the shared retry budget, and never past the request's deadline.
    pub async fn call_raw(
        &self,
        ctx: &StoreCtx,
        route: &str,
        body: &(impl Serialize + ?Sized),
        retryable: bool,
    ) -> Result<(StatusCode, UdfResponse), StoreError> {
        let raw = self.call_bytes(ctx, route, body, retryable).await?;
        let udf = serde_json::from_slice(&raw.body).map_err(|_| {
            StoreError::Upstream("Convex sent a body that is not a function response".into())
        })?;
        Ok((raw.http, udf))
    }

    /// Like [`Self::call_raw`], with Convex's body as it came (for the passthrough, which
    /// forwards it untouched).
    pub async fn call_bytes(
        &self,
        ctx: &StoreCtx,
        route: &str,
        body: &(impl Serialize + ?Sized),
        retryable: bool,
    ) -> Result<RawResponse, StoreError> {
        self.retrier.record_call();
        // Serialized once, whatever the retries.
        let body =
            Bytes::from(serde_json::to_vec(body).map_err(|err| {
                StoreError::Internal(anyhow::anyhow!("a function call body: {err}"))
            })?);
        let body = &body;
        let mut retry = 0;
        loop {
            let result = self.attempt(ctx, route, body).await;
            let retry_after = match &result {
                Err(StoreError::Overloaded { retry_after, .. }) => {
                    Some(Duration::from_secs(retry_after.unwrap_or(0)))
                }
                Err(
                    StoreError::UpstreamTimeout(_)
                    | StoreError::UpstreamUnreachable(_)
                    | StoreError::Upstream(_),
                ) => None,
                _ => return result,
            };
            if !retryable {
                return result;
            }
            retry += 1;
            let wait = self
                .retrier
                .backoff(retry, retry_after.filter(|d| !d.is_zero()));
            let late = ctx
                .deadline
                .is_some_and(|deadline| std::time::Instant::now() + wait >= deadline);
            if late || !self.retrier.allow(retry) {
                return result;
            }
            tracing::debug!(
                retry,
                wait_ms = wait.as_millis() as u64,
                "retrying a Convex call"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt, through the circuit breaker: fails fast while it is open, and reports only
    /// upstream faults to it.
    async fn attempt(
        &self,
        ctx: &StoreCtx,
        route: &str,
        body: &Bytes,
    ) -> Result<RawResponse, StoreError> {
        // Shed before the breaker: the gateway's own rejection is no upstream fault.
        let _slot = self
            .bulkhead
            .try_acquire()
            .map_err(|_| StoreError::Saturated)?;
        let ticket = self
            .breaker
            .acquire()
            .map_err(|wait| StoreError::CircuitOpen {
                retry_after: wait.as_secs().max(1),
            })?;
        let result = self.send(ctx, route, body).await;
        let fault = matches!(
            result,
            Err(StoreError::UpstreamTimeout(_)
                | StoreError::UpstreamUnreachable(_)
                | StoreError::Upstream(_)
                | StoreError::Overloaded { .. })
        );
        ticket.record(fault);
        result
    }

    async fn send(
        &self,
        ctx: &StoreCtx,
        route: &str,
        body: &Bytes,
    ) -> Result<RawResponse, StoreError> {
        let uri = match self.routes.iter().find(|u| u.path() == route) {
            Some(uri) => uri.clone(),
            None => format!("{}{route}", self.url)
                .parse::<Uri>()
                .map_err(|err| StoreError::Internal(anyhow::anyhow!("a function URL: {err}")))?,
        };
        let mut headers = HeaderMap::with_capacity(5);
        headers.insert("convex-client", HeaderValue::from_static(CLIENT));
        if let Some(id) = &ctx.request_id
            && let Ok(value) = HeaderValue::from_str(id)
        {
            headers.insert("convex-request-id", value);
        }
        let credential = if ctx.as_deployment {
            let key = self.deploy_key.as_ref().ok_or_else(|| {
                StoreError::Internal(anyhow::anyhow!(
                    "an internal function needs CONVEX_DEPLOYMENT_KEY"
                ))
            })?;
            Some(format!("Convex {}", key.expose_secret()))
        } else {
            ctx.identity
                .as_ref()
                .map(|token| format!("Bearer {}", token.expose_secret()))
        };
        if let Some(credential) = credential {
            let mut value = HeaderValue::try_from(credential).map_err(|_| {
                StoreError::Internal(anyhow::anyhow!("a credential that is no header value"))
            })?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let response = self
            .transport
            .send(Method::POST, uri, headers, Some(body.clone()))
            .await
            .map_err(transport_error)?;
        let status = response.status;
        match status.as_u16() {
            200 | 560 => {
                let body = response.body;
                let peek: Peek = serde_json::from_slice(&body).map_err(|_| {
                    StoreError::Upstream(
                        "Convex sent a body that is not a function response".into(),
                    )
                })?;
                Ok(RawResponse {
                    http: status,
                    body,
                    status: peek.status,
                })
            }
            401 | 403 => Err(StoreError::UpstreamAuth(error_message(&response))),
            429 | 503 => {
                let retry_after = response
                    .headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                Err(StoreError::Overloaded {
                    message: format!("Convex answered HTTP {}", status.as_u16()),
                    retry_after,
                })
            }
            408 | 504 => Err(StoreError::UpstreamTimeout("Convex timed out".into())),
            // The request itself was refused: bad JSON, an unparsable function path, a bad
            // format, an unknown route. The caller's input decides this, so it is answered as
            // the caller's error and never counted as an upstream fault.
            400..=499 => {
                let body = response.body;
                let (code, message) = code_and_message(&body);
                Err(StoreError::UpstreamRejected {
                    status: status.as_u16(),
                    code,
                    message: if message.is_empty() {
                        format!("Convex refused the request with HTTP {}", status.as_u16())
                    } else {
                        message
                    },
                    body,
                })
            }
            _ => Err(StoreError::Upstream(format!(
                "Convex answered HTTP {}: {}",
                status.as_u16(),
                error_message(&response)
            ))),
        }
    }

    /// Calls `path` with `args` and returns its decoded value, or the mapped error.
    pub async fn call(
        &self,
        ctx: &StoreCtx,
        kind: FunctionKind,
        path: &str,
        args: Value,
    ) -> Result<Value, StoreError> {
        let body = json!({ "path": path, "args": args, "format": "convex_encoded_json" });
        // Queries are safe to repeat; gateway:apply is when Convex dedupes its idempotency key.
        let retryable = match kind {
            FunctionKind::Query => true,
            // gateway:webhook dedupes its own key, which every call carries.
            FunctionKind::Mutation => {
                (path == "gateway:apply" && ctx.idempotency_key.is_some())
                    || path == "gateway:webhook"
            }
            FunctionKind::Action => false,
        };
        match self.call_raw(ctx, kind.route(), &body, retryable).await?.1 {
            UdfResponse::Success { value, .. } => Ok(decode_value(value)),
            UdfResponse::Error {
                error_message,
                error_data,
                ..
            } => Err(function_error(
                &error_message,
                error_data.map(decode_value).as_ref(),
            )),
        }
    }

    /// Checks that the deployment answers (its root page), outside the breaker and retries.
    pub async fn health(&self) -> Result<(), StoreError> {
        let uri = format!("{}/", self.url)
            .parse::<Uri>()
            .map_err(|err| StoreError::Internal(anyhow::anyhow!("the deployment URL: {err}")))?;
        let response = self
            .transport
            .with_timeout(Duration::from_secs(3))
            .send(Method::GET, uri, HeaderMap::new(), None)
            .await
            .map_err(transport_error)?;
        if response.status.is_success() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "Convex answered HTTP {}",
                response.status.as_u16()
            )))
        }
    }

    /// The circuit breaker's state.
    pub fn circuit(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Retries granted so far.
    pub fn retries_total(&self) -> u64 {
        self.retrier.retries_total()
    }
}

/// `convex_encoded_json` to plain JSON: `$integer` (8 bytes LE) to an integer, `$float` (NaN,
/// ±Infinity, -0) to a string or number, `$bytes` to its base64 string.
pub fn decode_value(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(decode_value).collect()),
        Value::Object(mut object) => {
            if object.len() == 1 {
                if let Some(Value::String(b64)) = object.get("$integer")
                    && let Some(bytes) = decode_8(b64)
                {
                    return Value::from(i64::from_le_bytes(bytes));
                }
                if let Some(Value::String(b64)) = object.get("$float")
                    && let Some(bytes) = decode_8(b64)
                {
                    let f = f64::from_le_bytes(bytes);
                    return if f.is_nan() {
                        Value::String("NaN".into())
                    } else if f.is_infinite() {
                        Value::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
                    } else {
                        Value::from(f)
                    };
                }
                if let Some(Value::String(b64)) = object.remove("$bytes") {
                    return Value::String(b64);
                }
            }
            Value::Object(
                object
                    .into_iter()
                    .map(|(k, v)| (k, decode_value(v)))
                    .collect(),
            )
        }
        other => other,
    }
}

fn decode_8(b64: &str) -> Option<[u8; 8]> {
    STANDARD.decode(b64).ok()?.try_into().ok()
}

/// Maps a function error by its `errorData.code`. The message is used only as the detail of
/// errors without a code, and only its first line (production Convex redacts the rest anyway).
pub fn function_error(message: &str, data: Option<&Value>) -> StoreError {
    let field = |name: &str| data.and_then(|d| d.get(name));
    let text = |name: &str| {
        field(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let op = field("op").and_then(Value::as_f64).map(|v| v as usize);
    match field("code").and_then(Value::as_str) {
        Some("NOT_FOUND") if !text("table").is_empty() && !text("id").is_empty() => {
            StoreError::NotFound {
                table: text("table"),
                id: text("id"),
                op,
            }
        }
        // A function of the caller's own that threw `{code: "NOT_FOUND", …}`: its message, or
        // what it said about what is missing.
        Some("NOT_FOUND") => StoreError::NotFoundElsewhere(match field("message") {
            Some(Value::String(message)) => message.clone(),
            _ => not_found_summary(data),
        }),
        Some("VERSION_MISMATCH") => StoreError::VersionMismatch {
            id: text("id"),
            actual: field("actual")
                .and_then(Value::as_f64)
                .map_or(0, |v| v as u64),
            op,
        },
        Some("RESERVED_FIELD" | "INVALID_DOCUMENT") => StoreError::InvalidDocument(text("message")),
        Some("INVALID_REFERENCE") => match op {
            Some(op) => StoreError::InvalidReferenceAt {
                message: text("message"),
                op,
            },
            None => StoreError::InvalidReference(text("message")),
        },
        Some("ORDER_NEEDS_INDEX") => StoreError::OrderNeedsIndex(text("message")),
        Some("INVALID_CURSOR") => StoreError::InvalidCursor(text("message")),
        Some("INVALID_FILTER" | "INVALID_LIMIT") => StoreError::InvalidQuery(text("message")),
        _ => {
            let summary = message
                .lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with("[Request ID"))
                .or_else(|| message.lines().next())
                .unwrap_or("the function failed")
                .to_owned();
            StoreError::FunctionFailed(summary)
        }
    }
}

/// `not found (twitchId: "none")` from the data of a `NOT_FOUND` ConvexError.
fn not_found_summary(data: Option<&Value>) -> String {
    let details: Vec<String> = data
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.as_str() != "code")
        .map(|(key, value)| format!("{key}: {value}"))
        .collect();
    if details.is_empty() {
        "not found".to_owned()
    } else {
        format!("not found ({})", details.join(", "))
    }
}

fn transport_error(failure: Failure) -> StoreError {
    match failure {
        Failure::Timeout => {
            StoreError::UpstreamTimeout("Convex did not answer in time (CONVEX_TIMEOUT)".into())
        }
        Failure::Connect(detail) => {
            tracing::debug!(error = %detail, "cannot connect to Convex");
            StoreError::UpstreamUnreachable("cannot connect to Convex".into())
        }
        // The connection broke before an answer came (reset, closed): no answer is no answer.
        Failure::Broken(detail) => {
            tracing::debug!(error = %detail, "the connection to Convex broke");
            StoreError::UpstreamUnreachable(
                "the connection to Convex broke before it answered".into(),
            )
        }
        Failure::Other(err) => StoreError::Upstream(format!("talking to Convex failed: {err}")),
    }
}

fn error_message(response: &Answer) -> String {
    match code_and_message(&response.body) {
        (Some(code), message) => format!("{code}: {message}"),
        (None, message) => message,
    }
}

/// The `code` and `message` of Convex's generic error body `{"code": …, "message": …}`; for
/// any other body, no code and no message.
fn code_and_message(body: &[u8]) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct Body {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(Body { code, message }) => (code, message.unwrap_or_default()),
        Err(_) => (None, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    use super::*;

    #[test]
    fn encoded_values_decode_deliberately() {
        let encoded = json!({
            "n": 1.5,
            "big": {"$integer": STANDARD.encode(9_007_199_254_740_993_i64.to_le_bytes())},
            "nan": {"$float": STANDARD.encode(f64::NAN.to_le_bytes())},
            "inf": {"$float": STANDARD.encode(f64::NEG_INFINITY.to_le_bytes())},
            "bytes": {"$bytes": "AQID"},
            "nested": [{"$integer": STANDARD.encode(7_i64.to_le_bytes())}],
            "plain": {"a": 1},
        });
        let decoded = decode_value(encoded);
        assert_eq!(decoded["n"], 1.5);
        assert_eq!(decoded["big"], json!(9_007_199_254_740_993_i64));
        assert_eq!(decoded["nan"], "NaN");
        assert_eq!(decoded["inf"], "-Infinity");
        assert_eq!(decoded["bytes"], "AQID");
        assert_eq!(decoded["nested"][0], 7);
        assert_eq!(decoded["plain"], json!({"a": 1}));
    }

    #[test]
    fn error_codes_map_without_reading_messages() {
        let not_found = function_error(
            "anything",
            Some(&json!({"code": "NOT_FOUND", "op": 2.0, "id": "x", "table": "t"})),
        );
        assert!(matches!(
            not_found,
            StoreError::NotFound { op: Some(2), .. }
        ));
        // A function's own NOT_FOUND, naming no document: its data, never empty backticks.
        let own = function_error("", Some(&json!({"code": "NOT_FOUND", "twitchId": "9"})));
        assert_eq!(own.to_string(), r#"not found (twitchId: "9")"#);
        let conflict = function_error(
            "",
            Some(&json!({"code": "VERSION_MISMATCH", "actual": 4.0})),
        );
        assert!(matches!(
            conflict,
            StoreError::VersionMismatch { actual: 4, .. }
        ));
        let plain = function_error(
            "[Request ID: a] Server Error\nUncaught Error: boom\n  at x",
            None,
        );
        assert!(matches!(&plain, StoreError::FunctionFailed(m) if m == "Uncaught Error: boom"));
    }
}
