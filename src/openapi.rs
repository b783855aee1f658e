//! The OpenAPI document: top-level info and tags here, paths and schemas from the registered
//! routes (`routes::api`, assembled by `app::spec`). `openapi/openapi.json` is that output,
//! committed and checked by a test.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorCode, Problem};
use crate::writes::Receipt;

/// The spec's fixed parts; paths are added by the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "convex-gateway",
        description = "A REST and JSON API gateway in front of Convex, with an embedded SQLite store when no Convex deployment is configured. Errors are RFC 9457 `application/problem+json` bodies with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(
        schemas(Problem, ErrorCode, Receipt),
        responses(Unauthorized, NotAdmin, PolicyForbids, NotJson, Queued, Unreachable, Overloaded, TimedOut, WriteConflict, StoreDown, StateDown, DocumentRefused),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "tables", description = "Documents in tables: list with filters and cursors, insert, get, patch, replace, delete"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "auth", description = "Token issuing, refresh, revocation and the gateway's public keys"),
        (name = "transactions", description = "Atomic batches of writes"),
        (name = "functions", description = "Convex functions: the drop-in passthrough of Convex's HTTP API, and a REST form"),
        (name = "admin", description = "Administration (admin role)"),
        (name = "webhooks", description = "Inbound webhooks, verified by the provider's signature and delivered once"),
    )
)]
pub struct ApiDoc;

// === responses many routes share, referenced from `#/components/responses` ===

/// Missing or invalid bearer token
#[derive(utoipa::ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "Bearer challenge"))
)]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct Unauthorized(Problem);

/// Not an admin
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct NotAdmin(Problem);

/// The policy does not allow this
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct PolicyForbids(Problem);

/// The body is not sent as JSON
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct NotJson(Problem);

/// Convex is unreachable: the write is queued in the outbox (`GATEWAY_OUTBOX`); follow `Location`
#[derive(utoipa::ToResponse)]
#[response(headers(("Location" = String, description = "`/v1/outbox/{outboxId}`")))]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct Queued(Receipt);

/// Convex cannot be reached
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct Unreachable(Problem);

/// Convex or the store is unavailable or overloaded
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct Overloaded(Problem);

/// A database constraint (unique, foreign key, exclusion) or a concurrent change refused the
/// write; nothing was written (Postgres; `constraint` names the constraint)
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct WriteConflict(Problem);

/// Convex refused the document: its schema's validator, or the function, threw (`function_error`)
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct DocumentRefused(Problem);

/// The store cannot be reached
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct StoreDown(Problem);

/// The gateway's own state (tokens, transactions; with `GATEWAY_STATE_URL`, the shared state
/// store) cannot be reached; nothing was changed
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct StateDown(Problem);

/// Convex did not answer in time
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
#[allow(dead_code)] // Only describes a response in the OpenAPI spec.
pub struct TimedOut(Problem);

/// Declares the `bearer` security scheme (a JWT in `Authorization: Bearer …`), so `/docs` offers
/// an Authorize button where a person can paste a token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT from your identity provider (JWT_JWKS_URL, JWT_PUBLIC_KEY or JWT_SECRET), or one the gateway signs. On a fresh install the first token comes from the command line, run where the server keeps its data folder (or with the same GATEWAY_DATA_DIR): `convex-gateway token --sub you --role admin --ttl 12h`. With it, admins mint more at POST /auth/token, and service accounts get theirs there with their client credentials.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Rewrites axum's catch-all templates (`{*path}`) to OpenAPI's (`{path}`), so the template
/// names the documented parameter.
pub fn tidy(mut spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let paths = std::mem::take(&mut spec.paths.paths);
    spec.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    spec
}
