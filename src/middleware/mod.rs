//! The middleware stack every route sits behind: one `ServiceBuilder`, read top (outermost) to
//! bottom (innermost), each layer commented with why it sits where it does.

mod admit;
mod authenticate;
mod idempotency;
mod metrics;
mod prefer;
mod problem;
mod ratelimit;
mod request_id;
mod transaction;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, Request, StatusCode, header};
use axum::middleware::from_fn_with_state;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::CorsOrigins;
use crate::state::AppState;

pub use idempotency::{IDEMPOTENCY_KEY, REPLAYED, ScopedKey};
pub use prefer::DryRun;
pub use problem::Verbatim;
pub(crate) use problem::route_not_found;
pub use transaction::TRANSACTION_ID;

/// The request-id header, generated when the caller sends none and echoed on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in the gateway's middleware stack.
pub fn apply(router: Router, state: &AppState) -> Router {
    let config = state.config();
    let stack = ServiceBuilder::new()
        // Mark credentials as sensitive first, so no layer below (tracing above all) prints them.
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
        // Give every request an id (keeping the caller's) before anything logs about it.
        .layer(SetRequestIdLayer::new(
            REQUEST_ID,
            request_id::RandomRequestId,
        ))
        // One span per request carrying that id; the path is logged without its query string,
        // which may carry cursors or filter values.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let request_id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = req.method().as_str(),
                        path = req.uri().path(),
                        request_id,
                    )
                })
                // One line per request only when asked for (GATEWAY_ACCESS_LOG=on): at the
                // gateway's rates, writing it costs more than serving the request.
                .on_response(DefaultOnResponse::new().level(if config.access_log {
                    Level::INFO
                } else {
                    Level::DEBUG
                })),
        )
        // Echo the id on the response, error responses included.
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // CORS answers browser preflights before any work is done for them.
        .option_layer(cors(&config.cors_origins))
        // Count and time every answer by route template, with its final status (after every
        // layer below, compression's 406 included), after turning any error that a layer or
        // the router produced as plain text (405, 406, 413, timeouts, panics) into
        // problem+json, so every error has the same shape.
        .layer(from_fn_with_state(state.clone(), metrics::record))
        // Compress bodies for clients that ask (it answers 406 when no encoding is acceptable).
        .layer(CompressionLayer::new())
        // A panic in a handler becomes a 500 instead of a dropped connection.
        .layer(CatchPanicLayer::custom(problem::panic_response))
        // Bound every request's time; a request past it is answered 504.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.request_timeout,
        ))
        // Authentication, the rate limit, the transaction scope, `Prefer` and `Idempotency-Key`,
        // in that order, as one layer (see `admit`). It sits inside the timeout (a JWKS refetch
        // is bounded) and below tracing and metrics, so 401s and 429s are seen and counted.
        .layer(from_fn_with_state(state.clone(), admit::admit))
        // Refuse bodies over the limit, by Content-Length up front or while streaming.
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes));
    router
        .layer(stack)
        // axum's extractors apply their own (2 MiB) default; align it with ours.
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
}

/// The CORS policy for the configured origins; `None` sends no CORS headers at all.
fn cors(origins: &CorsOrigins) -> Option<CorsLayer> {
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            REQUEST_ID,
            idempotency::IDEMPOTENCY_KEY,
            transaction::TRANSACTION_ID,
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("prefer"),
        ])
        .expose_headers([
            idempotency::REPLAYED,
            header::ETAG,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            HeaderName::from_static("ratelimit-policy"),
            crate::stale::STALE_HEADER,
            header::LOCATION,
            header::RETRY_AFTER,
            crate::prefer::PREFERENCE_APPLIED,
            REQUEST_ID,
        ])
        .max_age(Duration::from_secs(600));
    match origins {
        CorsOrigins::None => None,
        CorsOrigins::Any => Some(base.allow_origin(AllowOrigin::any())),
        CorsOrigins::List(list) => Some(base.allow_origin(AllowOrigin::list(
            list.iter().filter_map(|o| o.parse().ok()),
        ))),
    }
}
