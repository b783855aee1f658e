//! Transactions over HTTP: `POST /v1/transactions` (an atomic batch), begin, commit and
//! rollback of interactive transactions, and `/admin/status`. The batches and transactions
//! themselves are the document service's (`documents`); the scoping middleware is
//! `middleware::transaction`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::tables::{ApiJson, ApiPath, DocumentBody};
use crate::documents::{Committed, Done, Operation};
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::state::AppState;
use crate::store::{Capabilities, WriteOutcome};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(apply_batch))
        .routes(routes!(begin))
        .routes(routes!(commit))
        .routes(routes!(rollback))
        .routes(routes!(admin_status))
}

// === schemas ===

/// A batch of operations, applied all together or not at all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub operations: Vec<Operation>,
}

/// What each operation did, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<OperationResult>,
}

/// The result of one operation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationResult {
    /// `insert`, `patch`, `replace`, `delete` or `check`.
    pub op: String,
    /// The document's id.
    pub id: String,
    /// The document's version after the operation (absent for deletes).
    pub version: Option<u64>,
    /// The document after the operation (absent for deletes).
    pub document: Option<DocumentBody>,
}

// === handler ===

/// Apply a batch of operations atomically.
///
/// Everything commits or nothing does. A failing operation is named by `failedOperation` in the
/// problem body: 404 when its document does not exist, 412 when its `version` does not match,
/// 400 for an invalid document or `$ref`.
#[utoipa::path(
    post,
    path = "/v1/transactions",
    tag = "transactions",
    security(("bearer" = [])),
    params(("Prefer" = Option<String>, Header, description = "`tx=rollback`: a dry run (checked, authorized and run, answered, nothing stored; `Preference-Applied: tx=rollback` on the answer). `handling=strict`: 400 `preference_not_honoured` for a preference that cannot be honoured")),
    request_body(content = BatchRequest, content_type = "application/json"),
    responses(
        (status = 202, response = crate::openapi::Queued),
        (status = 200, description = "Every operation was applied", body = BatchResponse),
        (status = 400, description = "An invalid operation, document or `$ref` (see failedOperation)", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "The policy does not allow an operation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "An operation's document does not exist (see failedOperation)", body = Problem, content_type = "application/problem+json"),
        (status = 409, response = crate::openapi::WriteConflict),
        (status = 412, description = "An operation's version does not match (see failedOperation)", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = crate::openapi::DocumentRefused),
        (status = 503, response = crate::openapi::StoreDown),
        (status = 415, response = crate::openapi::NotJson),
        (status = 413, description = "More operations than GATEWAY_TX_MAX_OPS", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn apply_batch(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiJson(batch): ApiJson<BatchRequest>,
) -> ApiResult<Response> {
    match state.documents().batch(&ctx, batch.operations).await? {
        Done::Queued(receipt) => Ok(receipt.into_response()),
        Done::Applied(results) | Done::Staged(results) => Ok(Json(BatchResponse {
            results: results.into_iter().map(OperationResult::from).collect(),
        })
        .into_response()),
    }
}

impl From<(&'static str, WriteOutcome)> for OperationResult {
    fn from((kind, outcome): (&'static str, WriteOutcome)) -> Self {
        let id = outcome.id().to_owned();
        let document = match outcome {
            WriteOutcome::Deleted { .. } => None,
            WriteOutcome::Inserted(doc)
            | WriteOutcome::Updated(doc)
            | WriteOutcome::Checked(doc) => Some(doc),
        };
        Self {
            op: kind.into(),
            id,
            version: document.as_ref().map(|d| d.version),
            document: document.map(DocumentBody::from),
        }
    }
}

// === interactive transactions ===

/// An open transaction.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionHandle {
    /// Send as `X-Transaction-Id` with table requests to stage them in this transaction.
    pub id: String,
    /// Milliseconds since the Unix epoch when it rolls back by itself.
    pub expires_at: u64,
}

/// What a commit applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommitResponse {
    /// One result per staged write, in order.
    pub results: Vec<OperationResult>,
    /// The real ids of documents the transaction inserted, by provisional id.
    pub ids: std::collections::BTreeMap<String, String>,
}

/// Open an interactive transaction.
///
/// Table requests carrying `X-Transaction-Id: <id>` are then staged, not applied; reads in the
/// transaction see its own staged writes and record the versions they saw. Commit applies
/// everything atomically, or answers 409 if anything read or written has changed since.
#[utoipa::path(
    post,
    path = "/v1/transactions/begin",
    tag = "transactions",
    security(("bearer" = [])),
    responses(
        (status = 503, response = crate::openapi::StateDown),
        (status = 201, description = "Opened", body = TransactionHandle),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 429, description = "Too many open transactions for this caller", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn begin(
    State(state): State<AppState>,
    user: crate::auth::AuthUser,
) -> ApiResult<(axum::http::StatusCode, Json<TransactionHandle>)> {
    let (id, expires_at) = state.documents().begin(&user.sub).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(TransactionHandle { id, expires_at }),
    ))
}

/// Commit an interactive transaction: every staged write, atomically.
#[utoipa::path(
    post,
    path = "/v1/transactions/{id}/commit",
    tag = "transactions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The transaction id"), ("Prefer" = Option<String>, Header, description = "`tx=rollback`: a dry run (checked, authorized and run, answered, nothing stored; `Preference-Applied: tx=rollback` on the answer). `handling=strict`: 400 `preference_not_honoured` for a preference that cannot be honoured")),
    responses(
        (status = 202, response = crate::openapi::Queued),
        (status = 200, description = "Committed", body = CommitResponse),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such transaction for this caller", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "A staged write the store refuses (on Postgres: a value or a NOT NULL or check constraint); nothing was applied", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The store's privileges or row-level security refuse a staged write (Postgres); nothing was applied", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A document read or written changed since it was read, or a unique or foreign-key constraint refuses a staged write; nothing was applied", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The transaction expired and was rolled back", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = crate::openapi::DocumentRefused),
        (status = 503, response = crate::openapi::StoreDown),
    )
)]
async fn commit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    user: crate::auth::AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    match state.documents().commit(&ctx, &user.sub, &id).await? {
        Done::Queued(receipt) => Ok(receipt.into_response()),
        Done::Applied(Committed { results, ids }) | Done::Staged(Committed { results, ids }) => {
            Ok(Json(CommitResponse {
                results: results.into_iter().map(OperationResult::from).collect(),
                ids,
            })
            .into_response())
        }
    }
}

/// Roll back an interactive transaction: its staged writes are discarded.
#[utoipa::path(
    post,
    path = "/v1/transactions/{id}/rollback",
    tag = "transactions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The transaction id")),
    responses(
        (status = 503, response = crate::openapi::StateDown),
        (status = 204, description = "Rolled back"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such transaction for this caller", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The transaction expired and was rolled back already", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn rollback(
    State(state): State<AppState>,
    user: crate::auth::AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::http::StatusCode> {
    state.documents().rollback(&user.sub, &id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The gateway's state, for operators.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminStatus {
    /// The store adapter (`local`, `convex` or `postgres`).
    pub store: String,
    /// This replica's name (`GATEWAY_INSTANCE_ID`), as `gateway_instance_info` labels it.
    pub instance: String,
    /// Round trips to the database so far, for adapters that count them (Postgres): a list is
    /// one, or two with row-level security set-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_round_trips: Option<u64>,
    /// What the store adapter can do.
    pub capabilities: Capabilities,
    pub version: String,
    pub active_transactions: usize,
    pub transactions: Vec<TransactionStatus>,
    /// The Convex circuit breaker (`closed`, `open`, `half_open`), in front of Convex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit: Option<String>,
    /// Retries of idempotent Convex calls so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_retries: Option<u64>,
    /// The offline outbox, when it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox: Option<OutboxStatus>,
    /// With the shared state store (`GATEWAY_STATE_URL`): every replica seen in the last hour,
    /// from the heartbeat table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Vec<crate::shared::Replica>>,
}

/// The outbox at a glance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboxStatus {
    /// Queued entries.
    pub depth: usize,
    /// Seconds the oldest queued entry has waited.
    pub oldest_age_seconds: f64,
    /// Entries by status (`queued`, `delivered`, `dead`, `discarded`).
    pub counts: std::collections::BTreeMap<String, i64>,
}

/// One open transaction.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionStatus {
    pub id: String,
    pub owner: String,
    pub age_seconds: f64,
    pub staged_operations: usize,
}

/// The store adapter and the open transactions (admin).
#[utoipa::path(
    get,
    path = "/admin/status",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Status", body = AdminStatus),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
    )
)]
async fn admin_status(
    State(state): State<AppState>,
    ctx: RequestCtx,
) -> ApiResult<Json<AdminStatus>> {
    state.auth().require_admin(&ctx.caller)?;
    state.documents().sweep();
    let transactions: Vec<TransactionStatus> = state
        .documents()
        .transactions()
        .snapshot()
        .await
        .map_err(|err| {
            ApiError::new(
                ErrorCode::StateStoreUnavailable,
                format!("the shared state store does not answer: {err:#}"),
            )
        })?
        .into_iter()
        .map(|(id, owner, age, staged)| TransactionStatus {
            id,
            owner,
            age_seconds: age.as_secs_f64(),
            staged_operations: staged,
        })
        .collect();
    let outbox = match state.outbox() {
        Some(outbox) => Some(OutboxStatus {
            depth: outbox.depth(),
            oldest_age_seconds: outbox.oldest_age().map_or(0.0, |a| a.as_secs_f64()),
            counts: outbox.counts().await.map_err(ApiError::internal)?,
        }),
        None => None,
    };
    let replicas = match state.shared() {
        Some(db) => Some(db.replicas().await.map_err(|err| {
            ApiError::new(
                ErrorCode::StateStoreUnavailable,
                format!("the shared state store does not answer: {err:#}"),
            )
        })?),
        None => None,
    };
    Ok(Json(AdminStatus {
        store: state.store().adapter().into(),
        instance: state.config().instance_id(),
        store_round_trips: state.store().round_trips(),
        capabilities: state.store().capabilities(),
        version: env!("CARGO_PKG_VERSION").into(),
        active_transactions: transactions.len(),
        transactions,
        circuit: state.convex().map(|c| c.circuit().as_str().to_owned()),
        upstream_retries: state.convex().map(|c| c.retries_total()),
        outbox,
        replicas,
    }))
}
