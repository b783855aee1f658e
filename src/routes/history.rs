//! A document's history (tables with `history = true` in the policy): `GET …/{id}/history`
//! lists the versions kept, newest first, paged; `POST …/{id}/revert` writes one of them back
//! as a new version (`If-Match` applies; a deleted document comes back under a new `_id`).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::tables::{ApiJson, ApiPath, document_response, header_value, if_match};
use crate::documents::{Done, Reverted};
use crate::error::{ApiResult, Problem};
use crate::state::AppState;
use crate::store::{Fields, HistoryPage};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_history))
        .routes(routes!(revert))
}

/// Which versions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// At most this many versions, newest first (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Where the page starts: `nextCursor` of the page before.
    pub cursor: Option<String>,
}

/// One version of a document.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionBody {
    /// The version this write made; a delete is one past the last version.
    pub version: u64,
    /// `insert`, `update`, `delete` or `revert`.
    pub op: String,
    /// When, in milliseconds since the Unix epoch.
    pub at: f64,
    /// The writer's `sub` (`null` for the gateway's own writes).
    pub sub: Option<String>,
    /// The document's fields at this version (`null` for a delete).
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Fields>,
}

/// A page of a document's history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryResponse {
    pub items: Vec<VersionBody>,
    /// The cursor of the next (older) page, or `null` on the last page.
    pub next_cursor: Option<String>,
}

impl From<HistoryPage> for HistoryResponse {
    fn from(page: HistoryPage) -> Self {
        Self {
            items: page
                .items
                .into_iter()
                .map(|e| VersionBody {
                    version: e.version,
                    op: e.op,
                    at: e.at,
                    sub: e.sub,
                    fields: e.fields,
                })
                .collect(),
            next_cursor: page.next_cursor,
        }
    }
}

/// Which version to write back.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevertRequest {
    /// A version from the document's history (not its deletion).
    #[schema(minimum = 1)]
    pub version: u64,
}

/// List a document's versions.
///
/// Newest first, for tables that keep history (`history = true` under `[tables.<name>]` in the
/// policy). Needs read access; under row ownership, only the owner's documents. A deleted
/// document's history stays readable until `GATEWAY_HISTORY_TTL` after its deletion.
#[utoipa::path(
    get,
    path = "/v1/tables/{table}/{id}/history",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name", example = "videos"),
        ("id" = String, Path, description = "Document `_id` (also of a deleted document)"),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "The versions, newest first", body = HistoryResponse),
        (status = 400, description = "Bad limit, cursor or table name", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::PolicyForbids),
        (status = 404, description = "No such document, or the table keeps no history (`history_not_kept`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::StoreDown),
    )
)]
async fn list_history(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((table, id)): ApiPath<(String, String)>,
    Query(params): Query<HistoryParams>,
) -> ApiResult<Json<HistoryResponse>> {
    let page = state
        .documents()
        .history(
            &ctx,
            &table,
            &id,
            params.cursor.as_deref(),
            params.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(page.into()))
}

/// Revert a document to an earlier version.
///
/// Writes version `version`'s fields back as a new version, recorded as `revert`. A write: it
/// needs write access, honours `If-Match`, and takes `Prefer: tx=rollback`. A deleted document
/// comes back as a new document (`201`, a new `_id`, `Location`).
#[utoipa::path(
    post,
    path = "/v1/tables/{table}/{id}/revert",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name", example = "videos"),
        ("id" = String, Path, description = "Document `_id` (also of a deleted document)"),
        ("If-Match" = Option<String>, Header, description = "Revert only if the document's ETag matches"),
        ("Prefer" = Option<String>, Header, description = "`tx=rollback`: a dry run (answered, nothing stored). `handling=strict`: 400 for a preference that cannot be honoured"),
    ),
    request_body(content = RevertRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The document at its new version", body = crate::routes::tables::DocumentBody, headers(("ETag" = String, description = "The new version"))),
        (status = 201, description = "The deleted document, back under a new `_id`", body = crate::routes::tables::DocumentBody, headers(("Location" = String, description = "URL of the document"))),
        (status = 202, response = crate::openapi::Queued),
        (status = 400, description = "Bad body or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::PolicyForbids),
        (status = 404, description = "No such document or version, or the table keeps no history", body = Problem, content_type = "application/problem+json"),
        (status = 409, response = crate::openapi::WriteConflict),
        (status = 412, description = "`If-Match` does not match the current version", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = crate::openapi::NotJson),
        (status = 422, response = crate::openapi::DocumentRefused),
        (status = 503, response = crate::openapi::StoreDown),
    )
)]
async fn revert(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((table, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RevertRequest>,
) -> ApiResult<Response> {
    let precondition = if_match(&headers)?;
    let done = state
        .documents()
        .revert(&ctx, &table, &id, body.version, precondition)
        .await?;
    match done {
        Done::Queued(receipt) => Ok(receipt.into_response()),
        Done::Applied(Reverted::Updated(doc)) | Done::Staged(Reverted::Updated(doc)) => {
            document_response(StatusCode::OK, doc)
        }
        Done::Applied(Reverted::Restored(doc)) | Done::Staged(Reverted::Restored(doc)) => {
            let location = format!("/v1/tables/{table}/{}", doc.id);
            let mut response = document_response(StatusCode::CREATED, doc)?;
            response
                .headers_mut()
                .insert(header::LOCATION, header_value(&location)?);
            Ok(response)
        }
    }
}
