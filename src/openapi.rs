//! The OpenAPI document: top-level info and tags here, paths and schemas from the registered
//! routes (`routes::api`). `openapi/openapi.json` is this output, committed and checked by a test.

use utoipa::OpenApi;

use crate::error::{ErrorCode, Problem};

/// The spec's fixed parts; paths are added by the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "convex-gateway",
        description = "A REST and JSON API gateway in front of Convex, with an embedded SQLite store when no Convex deployment is configured. Errors are RFC 9457 `application/problem+json` bodies with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(Problem, ErrorCode)),
    tags(
        (name = "tables", description = "Documents in tables: list with filters and cursors, insert, get, patch, replace, delete"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// The full spec, as served at `/openapi.json` and printed by `convex-gateway openapi`.
pub fn spec() -> utoipa::openapi::OpenApi {
    crate::routes::api().split_for_parts().1
}
