//! Transaction scoping: on table routes, resolves `X-Transaction-Id`, checks the transaction
//! belongs to the caller (404 otherwise, 410 once expired), and records the scope so the table
//! calls stage their writes instead of applying them.

use axum::extract::Request;
use axum::http::HeaderName;
use axum::response::{IntoResponse as _, Response};

use crate::auth::{AuthError, MaybeAuthUser};
use crate::error::ApiError;
use crate::state::AppState;
use crate::transactions::TxScope;

/// The `X-Transaction-Id` request header.
pub const TRANSACTION_ID: HeaderName = HeaderName::from_static("x-transaction-id");

/// Records the request's transaction scope, or answers why it has none.
pub(super) async fn scope(state: &AppState, request: &mut Request) -> Result<(), Response> {
    let Some(value) = request.headers().get(&TRANSACTION_ID) else {
        return Ok(());
    };
    if !request.uri().path().starts_with("/v1/tables/") {
        return Ok(());
    }
    let id = value.to_str().unwrap_or_default().to_owned();
    let user = request
        .extensions()
        .get::<MaybeAuthUser>()
        .and_then(|caller| caller.0.clone());
    let Some(user) = user else {
        return Err(ApiError::from(AuthError::Missing).into_response());
    };
    if let Err(err) = state.documents().transactions().check(&id, &user.sub).await {
        return Err(ApiError::from(err).into_response());
    }
    request.extensions_mut().insert(TxScope {
        id,
        owner: user.sub,
    });
    Ok(())
}
