//! `GET /admin/changes`: the change feed, for operators and for consumers that follow it (live
//! queries and sync build on the same feed). The feed itself is the store's
//! (`DocumentStore::changes`); this route only reads it.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::state::AppState;
use crate::store::ChangePage;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_changes))
}

/// Which changes to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesParams {
    /// Changes after this position (0, the default: from the oldest kept).
    pub since: Option<u64>,
    /// Only this table's changes.
    pub table: Option<String>,
    /// At most this many, oldest first (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Seconds to wait for a change when there is none after `since` yet (0, the default:
    /// answer at once; at most 60, and always less than `GATEWAY_REQUEST_TIMEOUT`). The answer
    /// comes as soon as a change commits.
    #[param(minimum = 0, maximum = 60)]
    pub wait: Option<u64>,
}

/// The change feed (admin): every committed insert, update and delete, in commit order.
///
/// Follow it by passing each page's `nextSince` as the next `since`: nothing is lost or
/// repeated, across gateway restarts too. With `wait`, a request that finds nothing new is held
/// until a change commits (a long poll), so a follower needs no polling loop of its own. A delete is a tombstone (`document` is null). A
/// position older than `GATEWAY_CHANGES_RETENTION` answers 410 `resync_needed`.
#[utoipa::path(
    get,
    path = "/admin/changes",
    tag = "admin",
    security(("bearer" = [])),
    params(ChangesParams),
    responses(
        (status = 200, description = "Changes after `since`, oldest first", body = ChangePage),
        (status = 400, description = "Bad since, table, limit or wait", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "The table is not served, or the store adapter keeps no change feed (`change_feed_unavailable`)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Retention pruned changes after `since`: read the data afresh (`resync_needed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_changes(
    State(state): State<AppState>,
    ctx: RequestCtx,
    Query(params): Query<ChangesParams>,
) -> ApiResult<Json<ChangePage>> {
    let wait = params.wait.unwrap_or(0);
    if wait > 60 {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "wait must be from 0 to 60 seconds",
        ));
    }
    // At most GATEWAY_CHANGES_MAX_WAIT, and answered before the request timeout would cut the
    // wait short with a 504.
    let config = state.config();
    let most = config
        .request_timeout
        .saturating_sub(std::time::Duration::from_secs(1))
        .min(config.changes_max_wait);
    let wait = std::time::Duration::from_secs(wait).min(most);
    let page = state
        .documents()
        .changes(
            &ctx,
            params.since.unwrap_or(0),
            params.table.as_deref(),
            params.limit.unwrap_or(100),
            wait,
        )
        .await?;
    Ok(Json(page))
}
