//! Convex functions through the gateway: the drop-in passthrough of Convex's HTTP API and the
//! REST form. Each call's path is checked and authorized against the policy before anything is
//! forwarded, goes out through the deployment's client with the caller's own identity, is
//! counted in the metrics, and — for a mutation allow-listed in `GATEWAY_OUTBOX_MUTATIONS` —
//! is queued in the outbox when Convex cannot be reached.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::auth::policy::FunctionKind as PolicyKind;
use crate::context::RequestCtx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics::Metrics;
use crate::store::StoreError;
use crate::store::convex::{
    ConvexClient, FunctionKind, UdfResponse, UdfStatus, decode_value, function_error,
};
use crate::writes::{Receipt, WritePath};

/// What the passthrough answers: Convex's own response, byte for byte, or a receipt.
pub enum Forwarded {
    Convex { http: StatusCode, body: Bytes },
    Queued(Receipt),
}

/// What the REST form answers: the function's value as plain JSON, or a receipt.
pub enum Called {
    Value(Value),
    Queued(Receipt),
}

/// The function service's dependencies.
pub struct Functions {
    convex: Option<Arc<ConvexClient>>,
    auth: Arc<Auth>,
    metrics: Arc<Metrics>,
    writes: WritePath,
}

impl Functions {
    /// The service; without a Convex client every call answers `404 convex_not_configured`.
    pub fn new(
        convex: Option<Arc<ConvexClient>>,
        auth: Arc<Auth>,
        metrics: Arc<Metrics>,
        writes: WritePath,
    ) -> Self {
        Self {
            convex,
            auth,
            metrics,
            writes,
        }
    }

    fn convex(&self) -> ApiResult<&ConvexClient> {
        self.convex.as_deref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::ConvexNotConfigured,
                "this gateway runs on its embedded store; set CONVEX_URL to call Convex functions",
            )
        })
    }

    /// Forwards a call in Convex's own shapes (`kind` is `None` for `/api/run/…`, whose kind is
    /// not known, so the policy must allow every kind).
    pub async fn passthrough(
        &self,
        ctx: &RequestCtx,
        kind: Option<FunctionKind>,
        path: String,
        args: Option<Value>,
        format: Option<String>,
    ) -> ApiResult<Forwarded> {
        let convex = self.convex()?;
        let path = checked_path(&path)?;
        let format = match format.as_deref() {
            None | Some("json") => "json",
            Some("convex_encoded_json") => "convex_encoded_json",
            Some(other) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidBody,
                    format!("format `{other}` is not supported: use json or convex_encoded_json"),
                ));
            }
        };
        authorize(&self.auth, ctx, kind, &path)?;
        let args = single_args(args)?;
        // Written straight from the parts, without building (and copying the args into) a tree.
        let body = Call {
            path: kind.map(|_| path.as_str()),
            args: &args,
            format,
        };
        let started = Instant::now();
        let result = convex
            .call_bytes(
                &ctx.store,
                &route(kind, &path),
                &body,
                // Only queries are repeated on upstream faults: a mutation or action might apply
                // twice.
                kind == Some(FunctionKind::Query),
            )
            .await;
        record(
            &self.metrics,
            kind,
            &path,
            result.as_ref().map(|r| r.status),
            started,
        );
        if kind == Some(FunctionKind::Mutation)
            && matches!(&result, Err(err) if err.is_outage())
            && let Some(receipt) = self.writes.queue_mutation(ctx, &path, args).await?
        {
            return Ok(Forwarded::Queued(receipt));
        }
        // Convex's own answer goes back untouched: a function error (200 or 560), and a request
        // Convex refused (its 4xx with `{"code", "message"}`), as Convex's clients expect them.
        match result {
            Ok(raw) => Ok(Forwarded::Convex {
                http: raw.http,
                body: raw.body,
            }),
            Err(StoreError::UpstreamRejected { status, body, .. }) => Ok(Forwarded::Convex {
                http: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                body,
            }),
            Err(err) => Err(err.into()),
        }
    }

    /// Calls a function the REST way: its value as plain JSON, or its error as a problem.
    pub async fn call(
        &self,
        ctx: &RequestCtx,
        kind: FunctionKind,
        path: &str,
        args: Value,
    ) -> ApiResult<Called> {
        let convex = self.convex()?;
        let path = checked_path(path)?;
        authorize(&self.auth, ctx, Some(kind), &path)?;
        let args = single_args(Some(args))?;
        let started = Instant::now();
        // Only queries are repeated on upstream faults: a mutation or action might apply twice.
        let result = convex
            .call_raw(
                &ctx.store,
                route(Some(kind), &path).as_str(),
                &Call {
                    path: Some(&path),
                    args: &args,
                    format: "convex_encoded_json",
                },
                kind == FunctionKind::Query,
            )
            .await;
        record(
            &self.metrics,
            Some(kind),
            &path,
            result.as_ref().map(|(_, udf)| match udf {
                UdfResponse::Success { .. } => UdfStatus::Success,
                UdfResponse::Error { .. } => UdfStatus::Error,
            }),
            started,
        );
        if kind == FunctionKind::Mutation
            && matches!(&result, Err(err) if err.is_outage())
            && let Some(receipt) = self.writes.queue_mutation(ctx, &path, args).await?
        {
            return Ok(Called::Queued(receipt));
        }
        match result?.1 {
            UdfResponse::Success { value, .. } => Ok(Called::Value(decode_value(value))),
            UdfResponse::Error {
                error_message,
                error_data,
                ..
            } => {
                let data = error_data.map(decode_value);
                Err(
                    ApiError::from(function_error(&error_message, data.as_ref()))
                        .with_error_data(data),
                )
            }
        }
    }
}

impl Functions {
    /// Checks that `path` may be watched by the caller as a query (the policy's query rule),
    /// and answers it as Convex takes it.
    pub fn check_watch(
        &self,
        ctx: &RequestCtx,
        path: &str,
        args: Value,
    ) -> ApiResult<(String, Value)> {
        self.convex()?;
        let path = checked_path(path)?;
        authorize(&self.auth, ctx, Some(FunctionKind::Query), &path)?;
        Ok((path, single_args(Some(args))?))
    }
}

/// A function path: `module:function` (modules may be nested with `/`), or a module alone
/// (its default export).
fn checked_path(path: &str) -> ApiResult<String> {
    let valid = !path.is_empty()
        && path.len() <= 256
        && !path.starts_with('/')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | ':' | '-'))
        && path.matches(':').count() <= 1;
    if valid {
        Ok(path.to_owned())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("`{path}` is not a Convex function path like `videos:getByTwitchId`"),
        ))
    }
}

/// The path as the policy sees it: `.js` dropped from the module, `:default` added when absent.
pub fn policy_path(path: &str) -> String {
    let (module, function) = path.split_once(':').unwrap_or((path, "default"));
    format!("{}:{function}", module.trim_end_matches(".js"))
}

fn authorize(
    auth: &Auth,
    ctx: &RequestCtx,
    kind: Option<FunctionKind>,
    path: &str,
) -> ApiResult<()> {
    let path = policy_path(path);
    let kinds: &[PolicyKind] = match kind {
        Some(FunctionKind::Query) => &[PolicyKind::Query],
        Some(FunctionKind::Mutation) => &[PolicyKind::Mutation],
        Some(FunctionKind::Action) => &[PolicyKind::Action],
        None => &[PolicyKind::Query, PolicyKind::Mutation, PolicyKind::Action],
    };
    for kind in kinds {
        auth.authorize_function(&ctx.caller, &path, *kind)?;
    }
    Ok(())
}

/// The body of a call to Convex's HTTP API; `/api/run/…` takes no path (it is in the URL).
#[derive(Serialize)]
struct Call<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    args: &'a Value,
    format: &'a str,
}

/// `args` as Convex takes them: an object, or a one-element array holding one.
fn single_args(args: Option<Value>) -> ApiResult<Value> {
    match args {
        None => Ok(json!({})),
        Some(Value::Object(object)) => Ok(Value::Object(object)),
        Some(Value::Array(mut items)) if items.len() == 1 && items[0].is_object() => {
            Ok(items.remove(0))
        }
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidBody,
            "args must be an object, or an array holding exactly one object",
        )),
    }
}

fn route(kind: Option<FunctionKind>, path: &str) -> String {
    match kind {
        Some(FunctionKind::Query) => "/api/query".into(),
        Some(FunctionKind::Mutation) => "/api/mutation".into(),
        Some(FunctionKind::Action) => "/api/action".into(),
        None => format!("/api/run/{}", path.replace(':', "/")),
    }
}

fn record(
    metrics: &Metrics,
    kind: Option<FunctionKind>,
    path: &str,
    result: Result<UdfStatus, &crate::store::StoreError>,
    started: Instant,
) {
    let kind = match kind {
        Some(FunctionKind::Query) => "query",
        Some(FunctionKind::Mutation) => "mutation",
        Some(FunctionKind::Action) => "action",
        None => "run",
    };
    let outcome = match result {
        Ok(UdfStatus::Success) => "success",
        Ok(UdfStatus::Error) => "error",
        Err(StoreError::UpstreamRejected { .. }) => "rejected",
        Err(_) => "failure",
    };
    metrics.observe_function(kind, &policy_path(path), outcome, started.elapsed());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_and_normalised_for_the_policy() {
        assert!(checked_path("videos:getByTwitchId").is_ok());
        assert!(checked_path("dir/videos.js:list").is_ok());
        for bad in ["", "/abs:x", "a:b:c", "a b:c", "x;drop"] {
            assert!(checked_path(bad).is_err(), "{bad}");
        }
        assert_eq!(policy_path("videos.js:list"), "videos:list");
        assert_eq!(policy_path("videos"), "videos:default");
    }

    #[test]
    fn args_may_be_an_object_or_a_one_element_array() {
        assert_eq!(single_args(None).unwrap(), json!({}));
        assert_eq!(
            single_args(Some(json!([{"a": 1}]))).unwrap(),
            json!({"a": 1})
        );
        assert!(single_args(Some(json!([{}, {}]))).is_err());
        assert!(single_args(Some(json!(3))).is_err());
    }
}
