//! Atomic batches: `POST /v1/transactions` applies a list of operations all together or not at
//! all, through the store's atomic `apply` (one SQLite transaction on the embedded store, one
//! `gateway:apply` mutation on Convex). A later operation can name the document an earlier one
//! produced with `{"$ref": "N"}`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::tables::{ApiJson, DocumentBody, claim_ownership, owned_version};
use crate::app::AppState;
use crate::auth::policy::TableAction;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::store::{
    DocId, Fields, Precondition, WriteOp, WriteOutcome, ref_target, validate_fields,
};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(apply_batch))
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
        #[schema(value_type = Object)]
        document: Value,
    },
    /// Apply a JSON Merge Patch.
    Patch {
        table: String,
        #[schema(value_type = Object)]
        id: Value,
        #[schema(value_type = Object)]
        patch: Value,
        version: Option<u64>,
    },
    /// Replace the document's fields.
    Replace {
        table: String,
        #[schema(value_type = Object)]
        id: Value,
        #[schema(value_type = Object)]
        document: Value,
        version: Option<u64>,
    },
    /// Delete the document.
    Delete {
        table: String,
        #[schema(value_type = Object)]
        id: Value,
        version: Option<u64>,
    },
    /// Assert that the document exists (at `version`, when given) without changing it.
    Check {
        table: String,
        #[schema(value_type = Object)]
        id: Value,
        version: Option<u64>,
    },
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
    request_body(content = BatchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Every operation was applied", body = BatchResponse),
        (status = 400, description = "An invalid operation, document or `$ref` (see failedOperation)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The policy does not allow an operation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "An operation's document does not exist (see failedOperation)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "An operation's version does not match (see failedOperation)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More operations than GATEWAY_TX_MAX_OPS", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn apply_batch(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiJson(batch): ApiJson<BatchRequest>,
) -> ApiResult<Json<BatchResponse>> {
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
    let outcomes = state.store().apply(&ctx.store, ops).await?;
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
    Ok(Json(BatchResponse { results }))
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
