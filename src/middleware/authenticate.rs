//! The authentication layer: verifies `Authorization: Bearer …` when present and records the
//! caller (`MaybeAuthUser`) for the handlers. A request without the header is anonymous; a bad
//! token is answered 401 at once and never treated as anonymous. Tokens in the query string are
//! refused.

use axum::extract::Request;
use axum::http::header::AUTHORIZATION;
use axum::response::{IntoResponse, Response};

use crate::auth::{AuthError, MaybeAuthUser};
use crate::error::ApiError;
use crate::state::AppState;

/// Verifies `Authorization: Bearer …` when present and records the caller; `Err` is the 401.
pub(super) async fn authenticate(state: &AppState, request: &mut Request) -> Result<(), Response> {
    let token_in_query = request.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("access_token"))
    });
    if token_in_query {
        return Err(ApiError::from(AuthError::InQuery).into_response());
    }
    let caller = match request.headers().get(AUTHORIZATION) {
        None => MaybeAuthUser(None),
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    let (scheme, token) = v.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .filter(|t| !t.is_empty());
            let Some(token) = token else {
                return Err(ApiError::from(AuthError::Malformed).into_response());
            };
            match state.auth().authenticate(token).await {
                Ok(user) => {
                    tracing::debug!(sub = %user.sub, source = ?user.source, "authenticated");
                    MaybeAuthUser(Some(user))
                }
                Err(err) => {
                    tracing::info!(reason = %err, "rejected a bearer token");
                    return Err(ApiError::from(err).into_response());
                }
            }
        }
    };
    request.extensions_mut().insert(caller);
    Ok(())
}
