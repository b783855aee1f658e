//! The `Idempotency-Key` middleware, on every write route: table writes, batches, transaction
//! commits and Convex mutations. See `crate::idempotency` for the semantics.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use crate::auth::MaybeAuthUser;
use crate::error::{ApiError, ErrorCode};
use crate::idempotency::{Begin, StoredResponse};
use crate::state::AppState;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a replayed response.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The largest response body stored for replay.
const MAX_STORED_BODY: usize = 8 * 1024 * 1024;
/// Response headers kept for replay.
const KEPT_HEADERS: [&str; 4] = ["content-type", "etag", "location", "x-transaction-id"];

/// The key of the request being handled, namespaced by caller, for adapters that dedupe too.
#[derive(Debug, Clone)]
pub struct ScopedKey(pub String);

fn covered(method: &Method, path: &str) -> bool {
    let write = matches!(
        *method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    write
        && (path.starts_with("/v1/tables/")
            || path.starts_with("/v1/transactions")
            || path == "/api/mutation"
            || path.starts_with("/v1/functions/mutation/"))
}

/// The middleware function.
pub(super) async fn idempotency(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(raw) = request.headers().get(&IDEMPOTENCY_KEY).cloned() else {
        return next.run(request).await;
    };
    // A dry run stores nothing, so it consumes no key either.
    if !covered(request.method(), request.uri().path())
        || request.extensions().get::<super::DryRun>().is_some()
    {
        return next.run(request).await;
    }
    let key = match raw.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            // An RFC 8941 sf-string arrives quoted; the quotes are not part of the key.
            key.trim_matches('"').to_owned()
        }
        _ => {
            return ApiError::new(
                ErrorCode::InvalidHeader,
                "`Idempotency-Key` must be 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    let caller = request
        .extensions()
        .get::<MaybeAuthUser>()
        .and_then(|c| c.0.as_ref().map(|u| format!("user:{}", u.sub)))
        .unwrap_or_else(|| "anonymous".into());
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, state.config().max_body_bytes).await else {
        return ApiError::body_too_large(state.config().max_body_bytes).into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(parts.uri.to_string());
    hasher.update(b"\n");
    // A JSON body is compared as canonical JSON (no insignificant white space, object keys
    // sorted), so the same document sent again is the same request.
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(json) => canonical_json(&json, &mut hasher),
        Err(_) => hasher.update(&bytes),
    }
    let fingerprint: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let store = state.idempotency();
    let ttl = state.config().idempotency_ttl;
    match store.begin(&caller, &key, &fingerprint, ttl).await {
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "the idempotency store failed");
            return ApiError::new(
                ErrorCode::StateStoreUnavailable,
                "the store of idempotency keys does not answer; nothing was written, retry with the same key",
            )
            .into_response();
        }
        Ok(Begin::Mismatch) => {
            return ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request",
            )
            .into_response();
        }
        Ok(Begin::InFlight) => {
            return ApiError::new(
                ErrorCode::IdempotencyInProgress,
                "the first request with this Idempotency-Key is still being processed",
            )
            .into_response();
        }
        Ok(Begin::Replay(stored)) => return replay(stored),
        Ok(Begin::Fresh) => {}
    }

    // If the request is dropped (client gone, timeout, panic), the key is released.
    let guard = Release {
        store: Some((store.clone(), caller.clone(), key.clone())),
    };
    let scoped: String = Sha256::digest(format!("{caller}\u{1f}{key}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    parts.extensions.insert(ScopedKey(scoped));
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;

    let status = response.status();
    let transient = matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    );
    if transient {
        // Nothing was decided; a retry with the same key must run again.
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, MAX_STORED_BODY).await else {
        return ApiError::internal(anyhow::anyhow!("a response too large to store for replay"))
            .into_response();
    };
    let headers = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            parts
                .headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(|v| ((*name).to_owned(), v.to_owned()))
        })
        .collect();
    let stored = StoredResponse {
        status: status.as_u16(),
        headers,
        body: body.to_vec(),
    };
    if let Err(err) = store.complete(&caller, &key, stored).await {
        tracing::error!(
            error = format!("{err:#}"),
            "could not store an idempotent response"
        );
    } else {
        guard.disarm();
    }
    Response::from_parts(parts, Body::from(body))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Releases a claimed key unless disarmed.
struct Release {
    store: Option<(crate::idempotency::IdempotencyStore, String, String)>,
}

impl Release {
    fn disarm(mut self) {
        self.store = None;
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some((store, caller, key)) = self.store.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                let _ = store.abandon(&caller, &key).await;
            });
        }
    }
}

/// Feeds `value` to `hasher` as canonical JSON: keys sorted at every level, no white space.
fn canonical_json(value: &serde_json::Value, hasher: &mut Sha256) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            hasher.update(b"{");
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                hasher.update(Value::String(key.clone()).to_string());
                hasher.update(b":");
                canonical_json(item, hasher);
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                canonical_json(item, hasher);
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string()),
    }
}
