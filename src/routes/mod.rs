//! The API's routes. Each resource module owns its router; `api()` merges them into one
//! `OpenApiRouter`, so the OpenAPI spec is generated from exactly the routes that are served.

pub mod auth;
pub mod changes;
pub mod deployment;
pub mod functions;
pub mod history;
pub mod ops;
pub mod outbox;
pub mod sync;
pub mod sync_admin;
pub mod tables;
pub mod transactions;
pub mod watch;
pub mod webhooks;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::MaybeAuthUser;
pub use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::middleware::REQUEST_ID;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::store::{DbCaller, StoreCtx};
use crate::transactions::TxScope;

/// Builds the request's [`RequestCtx`]: the caller (verified by the middleware), its upstream
/// identity (minted per request, only when the adapter needs one), the request id, the
/// caller-scoped idempotency key, the deadline and the transaction scope.
impl FromRequestParts<AppState> for RequestCtx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = MaybeAuthUser::from_request_parts(parts, state).await?;
        let request_id = parts
            .headers
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let identity = if state.store().wants_identity() {
            state.auth().convex_identity(&caller)?
        } else {
            None
        };
        let db_caller = if state.store().wants_caller() {
            match &caller.0 {
                None => DbCaller::Anonymous,
                Some(user) => DbCaller::User {
                    sub: user.sub.clone(),
                    claims: std::sync::Arc::new(user.claims.clone()),
                    admin: state.auth().is_admin(&caller),
                },
            }
        } else {
            DbCaller::Gateway
        };
        let history = state.auth().policy().history_scope(&caller);
        Ok(Self {
            caller,
            store: StoreCtx {
                identity,
                request_id,
                idempotency_key: parts
                    .extensions
                    .get::<crate::middleware::ScopedKey>()
                    .map(|k| k.0.clone()),
                deadline: Some(std::time::Instant::now() + state.config().request_timeout),
                caller: db_caller,
                as_deployment: false,
                // Set by the `Prefer` middleware only on routes that honour a dry run.
                dry_run: parts
                    .extensions
                    .get::<crate::middleware::DryRun>()
                    .is_some(),
                history,
            },
            tx: parts.extensions.get::<TxScope>().cloned(),
        })
    }
}

/// Every documented route, with the spec they make up.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(tables::router())
        .merge(history::router())
        .merge(auth::router())
        .merge(functions::router())
        .merge(transactions::router())
        .merge(outbox::router())
        .merge(changes::router())
        .merge(sync::router())
        .merge(sync_admin::router())
        .merge(webhooks::router())
        .merge(deployment::router())
}
