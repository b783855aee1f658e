//! The table sync at the HTTP edge (admin only): `GET /admin/sync` (each pair's state per
//! direction), `GET /admin/sync/conflicts`, re-applying a conflict's losing side, and pausing,
//! resuming and resyncing a pair.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::tables::ApiPath;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::state::AppState;
use crate::table_sync::admin::{AdminError, ConflictFilter, ConflictRecord, SyncAdmin, SyncStatus};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync_status))
        .routes(routes!(sync_conflicts))
        .routes(routes!(sync_reapply))
        .routes(routes!(sync_pause))
        .routes(routes!(sync_resume))
        .routes(routes!(sync_resync))
}

impl From<AdminError> for ApiError {
    fn from(err: AdminError) -> Self {
        let code = match &err {
            AdminError::UnknownTable(_) => ErrorCode::SyncTableNotFound,
            AdminError::UnknownConflict(_) => ErrorCode::SyncConflictNotFound,
            AdminError::State(_) => ErrorCode::SyncConflictState,
            AdminError::Unavailable(_) => {
                tracing::warn!(error = %err, "sync admin: unavailable");
                return ApiError::new(
                    ErrorCode::SyncUnavailable,
                    "the sync's database or Convex deployment cannot be reached",
                );
            }
        };
        ApiError::new(code, err.to_string())
    }
}

/// The admin handle, for an admin caller.
fn admin<'a>(state: &'a AppState, ctx: &RequestCtx) -> ApiResult<&'a SyncAdmin> {
    state.auth().require_admin(&ctx.caller)?;
    state.table_sync().ok_or_else(|| {
        ApiError::new(
            ErrorCode::SyncNotConfigured,
            "this gateway runs no table sync (set GATEWAY_SYNC)",
        )
    })
}

/// The sync's state (admin): per pair and direction, the state, position, lag, rows applied
/// and last error.
#[utoipa::path(
    get,
    path = "/admin/sync",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sync's state", body = SyncStatus),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No sync is configured", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Postgres cannot be reached", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn sync_status(
    State(state): State<AppState>,
    ctx: RequestCtx,
) -> ApiResult<Json<SyncStatus>> {
    Ok(Json(admin(&state, &ctx)?.status().await?))
}

/// Which conflicts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConflictParams {
    /// Only this Postgres table's.
    pub table: Option<String>,
    /// Only conflicts after this `seq` (the next page: the last `seq` seen).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// At most this many, oldest first (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Conflicts, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictList {
    pub items: Vec<ConflictRecord>,
}

/// List the sync's conflicts (admin), each with both versions and the winner.
#[utoipa::path(
    get,
    path = "/admin/sync/conflicts",
    tag = "admin",
    security(("bearer" = [])),
    params(ConflictParams),
    responses(
        (status = 200, description = "Conflicts, oldest first", body = ConflictList),
        (status = 400, description = "Bad limit or after", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No sync, or the table is not synced", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Postgres cannot be reached", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn sync_conflicts(
    State(state): State<AppState>,
    ctx: RequestCtx,
    Query(params): Query<ConflictParams>,
) -> ApiResult<Json<ConflictList>> {
    let admin = admin(&state, &ctx)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidLimit,
            "limit must be from 1 to 1000",
        ));
    }
    if params.after.is_some_and(|a| a < 0) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "after must be 0 or more",
        ));
    }
    let filter = ConflictFilter {
        table: params.table,
        after: params.after,
        limit,
    };
    Ok(Json(ConflictList {
        items: admin.conflicts(&filter).await?,
    }))
}

/// Re-apply a conflict's losing side (admin): its version is written again on its own side,
/// as a new change there, and the sync carries it to the other side. Once per conflict.
#[utoipa::path(
    post,
    path = "/admin/sync/conflicts/{seq}/reapply",
    tag = "admin",
    security(("bearer" = [])),
    params(("seq" = i64, Path, description = "The conflict's `seq`", minimum = 1)),
    responses(
        (status = 200, description = "Re-applied", body = ConflictRecord),
        (status = 400, description = "Not a conflict number", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No sync, or no such conflict", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Re-applied already, or the losing side cannot take its version", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Postgres or Convex cannot be reached", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn sync_reapply(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(seq): ApiPath<i64>,
) -> ApiResult<Json<ConflictRecord>> {
    Ok(Json(admin(&state, &ctx)?.reapply(seq).await?))
}

/// What a control call did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncControl {
    /// The Postgres table.
    pub table: String,
    /// `paused`, `resumed` or `resync_requested`.
    pub action: String,
}

async fn control(
    state: &AppState,
    ctx: &RequestCtx,
    table: String,
    action: &str,
) -> ApiResult<Json<SyncControl>> {
    let admin = admin(state, ctx)?;
    match action {
        "paused" => admin.set_paused(&table, true).await?,
        "resumed" => admin.set_paused(&table, false).await?,
        _ => admin.request_resync(&table).await?,
    }
    Ok(Json(SyncControl {
        table,
        action: action.to_owned(),
    }))
}

/// Pause a synced table, both ways (admin). Its changes are held, in order, until it resumes.
#[utoipa::path(
    post,
    path = "/admin/sync/{table}/pause",
    tag = "admin",
    security(("bearer" = [])),
    params(("table" = String, Path, description = "The Postgres table of a synced pair")),
    responses(
        (status = 200, description = "Paused", body = SyncControl),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No sync, or the table is not synced", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Postgres cannot be reached", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn sync_pause(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(table): ApiPath<String>,
) -> ApiResult<Json<SyncControl>> {
    control(&state, &ctx, table, "paused").await
}

/// Resume a paused table (admin): the changes held while it was paused are applied first.
#[utoipa::path(
    post,
    path = "/admin/sync/{table}/resume",
    tag = "admin",
    security(("bearer" = [])),
    params(("table" = String, Path, description = "The Postgres table of a synced pair")),
    responses(
        (status = 200, description = "Resumed", body = SyncControl),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No sync, or the table is not synced", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Postgres cannot be reached", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn sync_resume(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(table): ApiPath<String>,
) -> ApiResult<Json<SyncControl>> {
    control(&state, &ctx, table, "resumed").await
}

/// Resync a table (admin): Convex's table as it stands is copied into Postgres again, then the
/// Postgres rows Convex lacks into Convex. The running sync does it next; `GET /admin/sync`
/// shows the rows applied.
#[utoipa::path(
    post,
    path = "/admin/sync/{table}/resync",
    tag = "admin",
    security(("bearer" = [])),
    params(("table" = String, Path, description = "The Postgres table of a synced pair")),
    responses(
        (status = 200, description = "Resync requested", body = SyncControl),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No sync, or the table is not synced", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Postgres cannot be reached", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn sync_resync(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(table): ApiPath<String>,
) -> ApiResult<Json<SyncControl>> {
    control(&state, &ctx, table, "resync_requested").await
}
