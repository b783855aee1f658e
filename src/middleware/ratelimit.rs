//! The rate-limit middleware: counts each request against the caller's role limit (see
//! `crate::ratelimit`), answers 429 problem+json with `Retry-After` when it is spent, and sends
//! the `RateLimit-*` headers on every limited route's response. Probes, metrics and the docs are
//! never limited.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::MaybeAuthUser;
use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::{Decision, RateHeaders, client_ip};
use crate::state::AppState;

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

fn exempt(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics" | "/openapi.json") || path.starts_with("/docs")
}

/// The middleware function.
pub(super) async fn rate_limit(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limits = state.rate_limits();
    if limits.is_empty() || exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let caller = request.extensions().get::<MaybeAuthUser>();
    let roles = caller
        .map(MaybeAuthUser::roles)
        .unwrap_or_default()
        .to_vec();
    let key = match caller.and_then(|c| c.0.as_ref()) {
        Some(user) => format!("sub:{}", user.sub),
        None => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip());
            match peer {
                Some(peer) => {
                    let forwarded = request
                        .headers()
                        .get("x-forwarded-for")
                        .and_then(|v| v.to_str().ok());
                    let ip = client_ip(peer, forwarded, &state.config().trusted_proxies);
                    format!("ip:{ip}")
                }
                None => "ip:unknown".to_owned(),
            }
        }
    };
    match limits.check(&roles, &key).await {
        Decision::Unlimited => next.run(request).await,
        Decision::Unavailable { fail_closed } => {
            state.metrics().rate_limiter_unavailable(fail_closed);
            if fail_closed {
                let mut response = ApiError::new(
                    ErrorCode::RateLimiterUnavailable,
                    "the shared rate limiter cannot be reached and GATEWAY_RATE_LIMIT_FAIL=closed",
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1));
                response
            } else {
                // Let through unlimited; no RateLimit-* headers, which would be made up.
                next.run(request).await
            }
        }
        Decision::Allowed(headers) => {
            let mut response = next.run(request).await;
            set_headers(response.headers_mut(), &headers);
            response
        }
        Decision::Limited {
            headers,
            retry_after,
            role,
        } => {
            state.metrics().rate_limited(&role);
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut response = ApiError::new(
                ErrorCode::RateLimited,
                format!("the rate limit of role `{role}` is spent; retry in {secs} s"),
            )
            .into_response();
            set_headers(response.headers_mut(), &headers);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            response
        }
    }
}

fn set_headers(map: &mut HeaderMap, headers: &RateHeaders) {
    map.insert(LIMIT, HeaderValue::from(headers.limit));
    map.insert(REMAINING, HeaderValue::from(headers.remaining));
    map.insert(RESET, HeaderValue::from(headers.reset));
    if let Ok(policy) = HeaderValue::from_str(&headers.policy) {
        map.insert(POLICY, policy);
    }
}
