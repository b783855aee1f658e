//! The rate-limit middleware: counts each request against the caller's role limit (see
//! `crate::ratelimit`), answers 429 problem+json with `Retry-After` when it is spent, and sends
//! the `RateLimit-*` headers on every limited route's response. Probes, metrics and the docs are
//! never limited.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
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

/// Who a request is counted against: its roles and its key (the caller's `sub`, or else its
/// client address); `None` when no limit applies to it.
pub(super) struct Subject {
    roles: Vec<String>,
    key: String,
}

/// The request's [`Subject`], read before anything is awaited (a request is not `Sync`).
pub(super) fn subject(state: &AppState, request: &Request) -> Option<Subject> {
    if state.rate_limits().is_empty() || exempt(request.uri().path()) {
        return None;
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
    Some(Subject { roles, key })
}

/// Counts the request: `Ok` with the headers to send (none when unlimited), or the refusal.
pub(super) async fn check(
    state: &AppState,
    subject: Option<Subject>,
) -> Result<Option<RateHeaders>, Response> {
    let Some(Subject { roles, key }) = subject else {
        return Ok(None);
    };
    match state.rate_limits().check(&roles, &key).await {
        Decision::Unlimited => Ok(None),
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
                Err(response)
            } else {
                // Let through unlimited; no RateLimit-* headers, which would be made up.
                Ok(None)
            }
        }
        Decision::Allowed(headers) => Ok(Some(headers)),
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
            Err(response)
        }
    }
}

/// Sends the `RateLimit-*` headers of an admitted request on its answer.
pub(super) fn finish(response: &mut Response, headers: Option<RateHeaders>) {
    if let Some(headers) = headers {
        set_headers(response.headers_mut(), &headers);
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
