//! The outbox at the HTTP edge: the `202 Accepted` answer of a queued write (the write path is
//! `writes`), `GET /v1/outbox/{id}` for the caller who queued a write, and `/admin/outbox` to
//! list, requeue and discard entries.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::tables::ApiPath;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::outbox::{Entry, Status};
use crate::state::AppState;
use crate::writes::Receipt;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_entry))
        .routes(routes!(admin_list))
        .routes(routes!(admin_requeue))
        .routes(routes!(admin_discard))
}

/// A queued write answers `202 Accepted` with `Location: /v1/outbox/{outboxId}`.
impl IntoResponse for Receipt {
    fn into_response(self) -> Response {
        let location = HeaderValue::from_str(&format!("/v1/outbox/{}", self.outbox_id));
        let mut response = (StatusCode::ACCEPTED, Json(self)).into_response();
        if let Ok(location) = location {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

fn entry_not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::OutboxEntryNotFound,
        format!("no outbox entry `{id}` of yours"),
    )
}

/// Follow a queued write.
///
/// `queued` until Convex applied it, then `delivered` with what it returned (`result`), or
/// `dead` with the reason (`lastError`). Visible to the caller who queued it, and to admins.
#[utoipa::path(
    get,
    path = "/v1/outbox/{id}",
    tag = "outbox",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The `outboxId` of a 202 answer")),
    responses(
        (status = 200, description = "The entry", body = Entry),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such entry of this caller", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_entry(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Entry>> {
    let Some(outbox) = state.outbox() else {
        return Err(entry_not_found(&id));
    };
    let entry = outbox
        .get(&id)
        .await
        .map_err(ApiError::internal)?
        .filter(|e| e.caller == ctx.caller_key() || state.auth().is_admin(&ctx.caller))
        .ok_or_else(|| entry_not_found(&id))?;
    Ok(Json(entry))
}

/// Which entries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `queued`, `delivered`, `dead` or `discarded`; all when absent.
    pub status: Option<String>,
    /// At most this many, oldest first (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// The outbox, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboxList {
    /// Queued entries right now.
    pub depth: usize,
    /// Seconds the oldest queued entry has waited.
    pub oldest_age_seconds: f64,
    pub items: Vec<Entry>,
}

/// List outbox entries (admin).
#[utoipa::path(
    get,
    path = "/admin/outbox",
    tag = "admin",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "Entries, oldest first", body = OutboxList),
        (status = 400, description = "Bad status or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
    )
)]
async fn admin_list(
    State(state): State<AppState>,
    ctx: RequestCtx,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<OutboxList>> {
    state.auth().require_admin(&ctx.caller)?;
    let status = match params.status.as_deref() {
        None => None,
        Some(raw) => Some(Status::parse(raw).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("status `{raw}` is not one of queued, delivered, dead, discarded"),
            )
        })?),
    };
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidLimit,
            "limit must be from 1 to 1000",
        ));
    }
    let Some(outbox) = state.outbox() else {
        return Ok(Json(OutboxList {
            depth: 0,
            oldest_age_seconds: 0.0,
            items: Vec::new(),
        }));
    };
    let items = outbox
        .list(status, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(OutboxList {
        depth: outbox.depth(),
        oldest_age_seconds: outbox.oldest_age().map_or(0.0, |a| a.as_secs_f64()),
        items,
    }))
}

/// The answer to an admin's requeue or discard.
fn transitioned(id: &str, outcome: Option<Result<Entry, Status>>) -> ApiResult<Json<Entry>> {
    match outcome {
        None => Err(entry_not_found(id)),
        Some(Err(status)) => Err(ApiError::new(
            ErrorCode::OutboxEntryState,
            format!(
                "outbox entry `{id}` is {}; only dead entries requeue, and only queued or dead ones are discarded",
                status.as_str()
            ),
        )),
        Some(Ok(entry)) => Ok(Json(entry)),
    }
}

/// Requeue a dead outbox entry (admin): it is delivered next, with a fresh attempt count.
#[utoipa::path(
    post,
    path = "/admin/outbox/{id}/requeue",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The entry's id")),
    responses(
        (status = 200, description = "Requeued", body = Entry),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The entry is not dead", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn admin_requeue(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Entry>> {
    state.auth().require_admin(&ctx.caller)?;
    let outbox = state.outbox().ok_or_else(|| entry_not_found(&id))?;
    transitioned(&id, outbox.requeue(&id).await.map_err(ApiError::internal)?)
}

/// Discard a queued or dead outbox entry (admin): it will not be delivered.
#[utoipa::path(
    delete,
    path = "/admin/outbox/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The entry's id")),
    responses(
        (status = 200, description = "Discarded", body = Entry),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The entry was delivered or discarded already", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn admin_discard(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Entry>> {
    state.auth().require_admin(&ctx.caller)?;
    let outbox = state.outbox().ok_or_else(|| entry_not_found(&id))?;
    transitioned(&id, outbox.discard(&id).await.map_err(ApiError::internal)?)
}
