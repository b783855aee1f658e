//! The API's routes. Each resource module owns its router; `api()` merges them into one
//! `OpenApiRouter`, so the OpenAPI spec is generated from exactly the routes that are served.

pub mod auth;
pub mod ops;
pub mod tables;

use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::openapi::ApiDoc;

/// Every documented route, with the spec they make up.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(tables::router())
        .merge(auth::router())
}
