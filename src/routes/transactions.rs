//! Atomic batches: `POST /v1/transactions` applies a list of operations all together or not at
//! all, through the store's atomic `apply` (one SQLite transaction on the embedded store, one
//! `gateway:apply` mutation on Convex). A later operation can name the document an earlier one
//! produced with `{"$ref": "N"}`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::outbox::Written;
use super::tables::{ApiJson, ApiPath, DocumentBody, claim_ownership, owned_version, owns};
use crate::app::AppState;
use crate::auth::policy::TableAction;
use crate::auth::{MaybeAuthUser, Owner};
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::store::{
    DocId, Document, Fields, ListQuery, Page, Precondition, TableName, WriteOp, WriteOutcome,
    ref_target, validate_fields,
};
use crate::transactions::{MAX_OPEN_PER_CALLER, Staged, Transaction, TxError};

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

/// One operation. `id` is a document id, or `{"$ref": "N"}` for the document operation N of
/// this batch inserted or touched; `{"$ref": "N"}` may also stand anywhere inside a `document`
/// or `patch`, and becomes that id. `version` makes the operation conditional, like `If-Match`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Operation {
    /// Insert `document` into `table`.
    Insert {
        table: String,
        #[schema(value_type = super::tables::NewDocument)]
        document: Value,
    },
    /// Apply a JSON Merge Patch.
    Patch {
        table: String,
        #[schema(value_type = DocumentRef)]
        id: Value,
        #[schema(value_type = MergePatch)]
        patch: Value,
        version: Option<u64>,
    },
    /// Replace the document's fields.
    Replace {
        table: String,
        #[schema(value_type = DocumentRef)]
        id: Value,
        #[schema(value_type = super::tables::NewDocument)]
        document: Value,
        version: Option<u64>,
    },
    /// Delete the document.
    Delete {
        table: String,
        #[schema(value_type = DocumentRef)]
        id: Value,
        version: Option<u64>,
    },
    /// Assert that the document exists (at `version`, when given) without changing it.
    Check {
        table: String,
        #[schema(value_type = DocumentRef)]
        id: Value,
        version: Option<u64>,
    },
}

/// Which document an operation acts on: its id, or `{"$ref": "N"}` for the document that
/// operation N of this batch inserted or touched.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only describes the body in the OpenAPI spec.
pub enum DocumentRef {
    /// The document's `_id`.
    Id(String),
    /// The document of an earlier operation of this batch.
    Earlier(BatchRef),
}

/// `{"$ref": "N"}`: the document of operation N (0-based) of this batch.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // Only describes the body in the OpenAPI spec.
pub struct BatchRef {
    /// The index of the earlier operation, as a string or a number.
    #[serde(rename = "$ref")]
    #[schema(value_type = String)]
    pub target: String,
}

/// A JSON Merge Patch (RFC 7396): fields to set, `null` to remove a field.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)] // Only describes the body in the OpenAPI spec.
pub struct MergePatch(Fields);

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
    request_body(content = BatchRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Convex is unreachable: the write is queued in the outbox (`GATEWAY_OUTBOX`); follow `Location`", body = super::outbox::Receipt,
            headers(("Location" = String, description = "`/v1/outbox/{outboxId}`"))),
        (status = 200, description = "Every operation was applied", body = BatchResponse),
        (status = 400, description = "An invalid operation, document or `$ref` (see failedOperation)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The policy does not allow an operation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "An operation's document does not exist (see failedOperation)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "An operation's version does not match (see failedOperation)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not sent as JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More operations than GATEWAY_TX_MAX_OPS", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn apply_batch(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiJson(batch): ApiJson<BatchRequest>,
) -> ApiResult<Response> {
    let max = state.config().tx_max_ops;
    if batch.operations.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "`operations` is empty",
        ));
    }
    if batch.operations.len() > max {
        return Err(ApiError::new(
            ErrorCode::TooManyOperations,
            format!(
                "{} operations in one transaction; GATEWAY_TX_MAX_OPS allows {max}",
                batch.operations.len()
            ),
        ));
    }
    let mut ops = Vec::with_capacity(batch.operations.len());
    let mut kinds = Vec::with_capacity(batch.operations.len());
    for (index, operation) in batch.operations.into_iter().enumerate() {
        let (kind, op) = prepare(&state, &ctx, index, operation)
            .await
            .map_err(|err| err.at_operation(index))?;
        kinds.push(kind);
        ops.push(op);
    }
    let outcomes = match state.write(&ctx, ops).await? {
        Written::Queued(receipt) => return Ok(receipt.into_response()),
        Written::Applied(outcomes) => outcomes,
    };
    let results = kinds
        .into_iter()
        .zip(outcomes)
        .map(|(kind, outcome)| {
            let id = outcome.id().to_owned();
            let document = match outcome {
                WriteOutcome::Deleted { .. } => None,
                WriteOutcome::Inserted(doc)
                | WriteOutcome::Updated(doc)
                | WriteOutcome::Checked(doc) => Some(doc),
            };
            OperationResult {
                op: kind.into(),
                id,
                version: document.as_ref().map(|d| d.version),
                document: document.map(DocumentBody::from),
            }
        })
        .collect();
    Ok(Json(BatchResponse { results }).into_response())
}

/// Validates and authorizes one operation and turns it into a store write.
async fn prepare(
    state: &AppState,
    ctx: &RequestCtx,
    index: usize,
    operation: Operation,
) -> ApiResult<(&'static str, WriteOp)> {
    let (kind, table, action) = match &operation {
        Operation::Insert { table, .. } => ("insert", table, TableAction::Write),
        Operation::Patch { table, .. } => ("patch", table, TableAction::Write),
        Operation::Replace { table, .. } => ("replace", table, TableAction::Write),
        Operation::Delete { table, .. } => ("delete", table, TableAction::Delete),
        Operation::Check { table, .. } => ("check", table, TableAction::Read),
    };
    let table = state.table(table)?;
    let owner = state
        .auth()
        .authorize_table(&ctx.caller, table.as_str(), action)?;
    // Under row ownership, a target named by id must be the caller's; writing at the version
    // just read keeps that check atomic with the batch. Targets named by `$ref` were produced
    // (and so checked) earlier in the same batch.
    let precondition = |id: &DocId, version: Option<u64>| {
        let owner = owner.clone();
        let table = table.clone();
        let id = id.clone();
        async move {
            let requested = version.map(|v| Precondition::VersionIn(vec![v]));
            match (&owner, &id) {
                (Some(owner), DocId::Id(id)) => {
                    owned_version(state, ctx, &table, id, owner, requested)
                        .await
                        .map(Some)
                }
                _ => Ok(requested),
            }
        }
    };
    let op = match operation {
        Operation::Insert { document, .. } => {
            let mut fields = document_fields(document, index, "document")?;
            if let Some(owner) = &owner {
                claim_ownership(&mut fields, owner, true)?;
            }
            WriteOp::Insert { table, fields }
        }
        Operation::Patch {
            id, patch, version, ..
        } => {
            let id = doc_id(&id, index)?;
            let mut patch = document_fields(patch, index, "patch")?;
            if let Some(owner) = &owner {
                claim_ownership(&mut patch, owner, false)?;
            }
            let precondition = precondition(&id, version).await?;
            WriteOp::Patch {
                table,
                id,
                patch,
                precondition,
            }
        }
        Operation::Replace {
            id,
            document,
            version,
            ..
        } => {
            let id = doc_id(&id, index)?;
            let mut fields = document_fields(document, index, "document")?;
            if let Some(owner) = &owner {
                claim_ownership(&mut fields, owner, true)?;
            }
            let precondition = precondition(&id, version).await?;
            WriteOp::Replace {
                table,
                id,
                fields,
                precondition,
            }
        }
        Operation::Delete { id, version, .. } => {
            let id = doc_id(&id, index)?;
            let precondition = precondition(&id, version).await?;
            WriteOp::Delete {
                table,
                id,
                precondition,
            }
        }
        Operation::Check { id, version, .. } => {
            let id = doc_id(&id, index)?;
            let precondition = precondition(&id, version)
                .await?
                .unwrap_or(Precondition::Exists);
            WriteOp::Check {
                table,
                id,
                precondition,
            }
        }
    };
    Ok((kind, op))
}

/// `"abc"` or `{"$ref": "N"}` with N before this operation.
fn doc_id(value: &Value, index: usize) -> ApiResult<DocId> {
    if let Value::String(id) = value {
        return Ok(DocId::Id(id.clone()));
    }
    match ref_target(value) {
        Some(Ok(n)) if n < index => Ok(DocId::Ref(n)),
        Some(Ok(n)) => Err(bad_ref(format!("$ref {n} must name an earlier operation"))),
        Some(Err(err)) => Err(bad_ref(err.to_string())),
        None => Err(ApiError::new(
            ErrorCode::InvalidBody,
            "`id` must be a string or {\"$ref\": \"N\"}",
        )),
    }
}

/// A document or patch: an object whose references point backwards, and whose field names are
/// valid once the references are filled in.
fn document_fields(value: Value, index: usize, what: &str) -> ApiResult<Fields> {
    let Value::Object(fields) = value else {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("`{what}` must be a JSON object"),
        ));
    };
    fn check_refs(value: &Value, index: usize) -> ApiResult<Value> {
        match ref_target(value) {
            Some(Ok(n)) if n < index => return Ok(Value::String(String::new())),
            Some(Ok(n)) => return Err(bad_ref(format!("$ref {n} must name an earlier operation"))),
            Some(Err(err)) => return Err(bad_ref(err.to_string())),
            None => {}
        }
        Ok(match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), check_refs(v, index)?)))
                    .collect::<ApiResult<_>>()?,
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| check_refs(v, index))
                    .collect::<ApiResult<_>>()?,
            ),
            other => other.clone(),
        })
    }
    let Value::Object(filled) = check_refs(&Value::Object(fields.clone()), index)? else {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("`{what}` must be a JSON object"),
        ));
    };
    validate_fields(&filled).map_err(|m| ApiError::new(ErrorCode::ReservedField, m))?;
    Ok(fields)
}

fn bad_ref(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidReference, message)
}

// === interactive transactions ===

/// The `X-Transaction-Id` request header.
pub const TRANSACTION_ID: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-transaction-id");

/// The transaction a table request runs in, put into the request by [`scope`].
#[derive(Debug, Clone)]
pub struct TxScope {
    pub id: String,
    pub owner: String,
}

/// The transaction-scoping middleware: on table routes, resolves `X-Transaction-Id`, checks
/// the transaction belongs to the caller (404 otherwise, 410 once expired), and records the
/// scope so the handlers stage their writes instead of applying them.
pub async fn scope(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let Some(value) = request.headers().get(&TRANSACTION_ID) else {
        return next.run(request).await;
    };
    if !request.uri().path().starts_with("/v1/tables/") {
        return next.run(request).await;
    }
    let id = value.to_str().unwrap_or_default().to_owned();
    let user = request
        .extensions()
        .get::<MaybeAuthUser>()
        .and_then(|caller| caller.0.clone());
    let Some(user) = user else {
        return ApiError::from(crate::auth::AuthError::Missing).into_response();
    };
    if let Err(err) = state.transactions().with(&id, &user.sub, |_| ()) {
        return tx_error(err).into_response();
    }
    request.extensions_mut().insert(TxScope {
        id,
        owner: user.sub,
    });
    next.run(request).await
}

pub(crate) fn tx_error(err: TxError) -> ApiError {
    match err {
        TxError::NotFound => ApiError::new(
            ErrorCode::TransactionNotFound,
            "no open transaction with this id belongs to you",
        ),
        TxError::Expired => ApiError::new(
            ErrorCode::TransactionExpired,
            "the transaction expired (GATEWAY_TX_TTL_SECONDS) and was rolled back",
        ),
        TxError::TooMany => ApiError::new(
            ErrorCode::TooManyTransactions,
            format!("at most {MAX_OPEN_PER_CALLER} transactions may be open per caller"),
        ),
    }
}

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
        (status = 201, description = "Opened", body = TransactionHandle),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many open transactions for this caller", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn begin(
    State(state): State<AppState>,
    user: crate::auth::AuthUser,
) -> ApiResult<(axum::http::StatusCode, Json<TransactionHandle>)> {
    let (id, expires_at) = state.transactions().begin(&user.sub).map_err(tx_error)?;
    state.sweep_transactions();
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
    params(("id" = String, Path, description = "The transaction id")),
    responses(
        (status = 202, description = "Convex is unreachable: the write is queued in the outbox (`GATEWAY_OUTBOX`); follow `Location`", body = super::outbox::Receipt,
            headers(("Location" = String, description = "`/v1/outbox/{outboxId}`"))),
        (status = 200, description = "Committed", body = CommitResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such transaction for this caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A document read or written changed since it was read; nothing was applied", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The transaction expired and was rolled back", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn commit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    user: crate::auth::AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let tx = state
        .transactions()
        .take(&id, &user.sub)
        .map_err(tx_error)?;
    let (ops, positions) = tx.commit_batch();
    let result = state.write(&ctx, ops).await;
    let metrics = state.metrics();
    metrics.set_transactions_active(state.transactions().active());
    let outcomes = match result {
        Ok(Written::Applied(outcomes)) => outcomes,
        Ok(Written::Queued(receipt)) => {
            // Accepted for delivery: its checks run when Convex applies it.
            metrics.transactions_ended("queued", 1);
            return Ok(receipt.into_response());
        }
        Err(err) if matches!(err.code(), ErrorCode::VersionMismatch | ErrorCode::NotFound) => {
            metrics.transactions_ended("conflict", 1);
            return Err(ApiError::new(
                ErrorCode::TransactionConflict,
                "a document the transaction read or wrote changed since it was read; nothing was applied",
            ));
        }
        Err(err) => {
            metrics.transactions_ended("rolled_back", 1);
            return Err(err);
        }
    };
    metrics.transactions_ended("committed", 1);
    let mut ids = std::collections::BTreeMap::new();
    let mut results = Vec::with_capacity(positions.len());
    for (staged, position) in tx.staged.iter().zip(positions) {
        let Some(outcome) = outcomes.get(position) else {
            continue;
        };
        let kind = match staged {
            Staged::Insert { provisional, .. } => {
                ids.insert(provisional.clone(), outcome.id().to_owned());
                "insert"
            }
            Staged::Patch { .. } => "patch",
            Staged::Replace { .. } => "replace",
            Staged::Delete { .. } => "delete",
        };
        let document = outcome.document().cloned();
        results.push(OperationResult {
            op: kind.into(),
            id: outcome.id().to_owned(),
            version: document.as_ref().map(|d| d.version),
            document: document.map(DocumentBody::from),
        });
    }
    Ok(Json(CommitResponse { results, ids }).into_response())
}

/// Roll back an interactive transaction: its staged writes are discarded.
#[utoipa::path(
    post,
    path = "/v1/transactions/{id}/rollback",
    tag = "transactions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The transaction id")),
    responses(
        (status = 204, description = "Rolled back"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such transaction for this caller", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The transaction expired and was rolled back already", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn rollback(
    State(state): State<AppState>,
    user: crate::auth::AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::http::StatusCode> {
    state
        .transactions()
        .take(&id, &user.sub)
        .map_err(tx_error)?;
    state.metrics().transactions_ended("rolled_back", 1);
    state
        .metrics()
        .set_transactions_active(state.transactions().active());
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The gateway's state, for operators.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminStatus {
    /// The store adapter (`local` or `convex`).
    pub store: String,
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
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn admin_status(
    State(state): State<AppState>,
    ctx: RequestCtx,
) -> ApiResult<Json<AdminStatus>> {
    state.auth().require_admin(&ctx.caller)?;
    state.sweep_transactions();
    let transactions: Vec<TransactionStatus> = state
        .transactions()
        .snapshot()
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
    Ok(Json(AdminStatus {
        store: state.store().adapter().into(),
        version: env!("CARGO_PKG_VERSION").into(),
        active_transactions: transactions.len(),
        transactions,
        circuit: state.store().circuit().map(|c| c.as_str().to_owned()),
        upstream_retries: state.store().retries_total(),
        outbox,
    }))
}

// === staged table operations (called by the table handlers inside a transaction) ===

fn in_tx<T>(
    state: &AppState,
    scope: &TxScope,
    f: impl FnOnce(&mut Transaction) -> T,
) -> ApiResult<T> {
    state
        .transactions()
        .with(&scope.id, &scope.owner, f)
        .map_err(tx_error)
}

/// The document as the transaction sees it; a first read from the store records its version.
pub(crate) async fn staged_current(
    state: &AppState,
    ctx: &RequestCtx,
    scope: &TxScope,
    table: &TableName,
    id: &str,
    owner: Option<&Owner>,
) -> ApiResult<Document> {
    let missing = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!("document `{id}` not found in table `{table}`"),
        )
    };
    match in_tx(state, scope, |t| t.view(table, id).cloned())? {
        Some(Some(doc)) => Ok(doc),
        Some(None) => Err(missing()),
        None => {
            let doc = state
                .store()
                .get(&ctx.store, table, id)
                .await?
                .filter(|doc| owns(owner, doc))
                .ok_or_else(missing)?;
            in_tx(state, scope, |t| t.record_read(table, &doc))?;
            Ok(doc)
        }
    }
}

/// A page as the transaction sees it: its own writes applied, its own inserts at the end.
pub(crate) async fn staged_list(
    state: &AppState,
    ctx: &RequestCtx,
    scope: &TxScope,
    table: &TableName,
    query: &ListQuery,
) -> ApiResult<Page> {
    let page = state.store().list(&ctx.store, table, query).await?;
    let matches = |doc: &Document| query.filters.iter().all(|f| f.matches(doc));
    in_tx(state, scope, |t| {
        let mut items = Vec::with_capacity(page.items.len());
        for doc in page.items {
            t.record_read(table, &doc);
            match t.view(table, &doc.id) {
                Some(Some(staged)) if matches(staged) => items.push(staged.clone()),
                Some(_) => {}
                None => items.push(doc),
            }
        }
        if page.next_cursor.is_none() {
            // Documents the store could not return: staged inserts, and staged changes that
            // now match the filters although the stored version does not.
            let mut inserted: Vec<Document> = t
                .overlay
                .iter()
                .filter(|(key, _)| &key.0 == table)
                .filter(|(key, _)| t.base.get(*key).is_none_or(|stored| !matches(stored)))
                .filter_map(|(_, doc)| doc.clone())
                .filter(|doc| matches(doc))
                .collect();
            inserted.sort_by(|a, b| {
                a.creation_time
                    .total_cmp(&b.creation_time)
                    .then(a.id.cmp(&b.id))
            });
            items.extend(inserted);
        }
        Page {
            items,
            next_cursor: page.next_cursor,
        }
    })
}

/// Stages an insert; the document gets a provisional id, valid within the transaction.
pub(crate) fn staged_insert(
    state: &AppState,
    scope: &TxScope,
    table: &TableName,
    fields: Fields,
) -> ApiResult<Document> {
    let max = state.config().tx_max_ops;
    in_tx(state, scope, |t| {
        if t.staged.len() >= max {
            return Err(too_many_staged(max));
        }
        let id = t.provisional_id();
        let doc = Document {
            id: id.clone(),
            creation_time: now_ms(),
            version: 0,
            fields: fields.clone(),
        };
        t.staged.push(Staged::Insert {
            table: table.clone(),
            provisional: id.clone(),
            fields,
        });
        t.overlay.insert((table.clone(), id), Some(doc.clone()));
        Ok(doc)
    })?
}

/// Stages a patch (`merge`), a replacement, or (with `fields` = None) a delete of `current`.
pub(crate) fn staged_write(
    state: &AppState,
    scope: &TxScope,
    table: &TableName,
    current: Document,
    fields: Option<(Fields, bool)>,
) -> ApiResult<Option<Document>> {
    let max = state.config().tx_max_ops;
    in_tx(state, scope, |t| {
        if t.staged.len() >= max {
            return Err(too_many_staged(max));
        }
        let key = (table.clone(), current.id.clone());
        let (staged, view) = match fields {
            None => (
                Staged::Delete {
                    table: table.clone(),
                    id: current.id.clone(),
                },
                None,
            ),
            Some((patch, true)) => {
                let mut doc = current.clone();
                crate::store::merge_patch(&mut doc.fields, &patch);
                (
                    Staged::Patch {
                        table: table.clone(),
                        id: current.id.clone(),
                        patch,
                    },
                    Some(doc),
                )
            }
            Some((fields, false)) => {
                let mut doc = current.clone();
                doc.fields = fields.clone();
                (
                    Staged::Replace {
                        table: table.clone(),
                        id: current.id.clone(),
                        fields,
                    },
                    Some(doc),
                )
            }
        };
        t.staged.push(staged);
        t.overlay.insert(key, view.clone());
        Ok(view)
    })?
}

fn too_many_staged(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::TooManyOperations,
        format!("a transaction may stage at most {max} writes (GATEWAY_TX_MAX_OPS)"),
    )
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or_default()
}
