//! Atomic batches: a list of operations applied all together or not at all, through the
//! store's atomic `apply`. A later operation can name the document an earlier one produced with
//! `{"$ref": "N"}`. Each operation is validated and authorized (row ownership included) before
//! anything is written.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{Documents, Done};
use crate::auth::policy::TableAction;
use crate::context::RequestCtx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{
    DocId, Fields, Precondition, WriteOp, WriteOutcome, ref_target, validate_fields,
};
use crate::writes::Written;

/// A document's fields, as a JSON object. Names must not start with `_`.
#[derive(Deserialize, ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)] // Only describes the body in the OpenAPI spec.
pub struct NewDocument(Fields);

/// One operation. `id` is a document id, or `{"$ref": "N"}` for the document operation N of
/// this batch inserted or touched; `{"$ref": "N"}` may also stand anywhere inside a `document`
/// or `patch`, and becomes that id. `version` makes the operation conditional, like `If-Match`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Operation {
    /// Insert `document` into `table`.
    Insert {
        table: String,
        #[schema(value_type = NewDocument)]
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
        #[schema(value_type = NewDocument)]
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

impl Documents {
    /// Applies a batch atomically, at most `GATEWAY_TX_MAX_OPS` operations; answers each
    /// operation's kind (`insert`, `patch`, …) with its outcome, in order.
    pub async fn batch(
        &self,
        ctx: &RequestCtx,
        operations: Vec<Operation>,
    ) -> ApiResult<Done<Vec<(&'static str, WriteOutcome)>>> {
        let max = self.max_ops;
        if operations.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                "`operations` is empty",
            ));
        }
        if operations.len() > max {
            return Err(ApiError::new(
                ErrorCode::TooManyOperations,
                format!(
                    "{} operations in one transaction; GATEWAY_TX_MAX_OPS allows {max}",
                    operations.len()
                ),
            ));
        }
        let mut ops = Vec::with_capacity(operations.len());
        let mut kinds = Vec::with_capacity(operations.len());
        for (index, operation) in operations.into_iter().enumerate() {
            let (kind, op) = self
                .prepare(ctx, index, operation)
                .await
                .map_err(|err| err.at_operation(index))?;
            kinds.push(kind);
            ops.push(op);
        }
        match self.writes.write(ctx, ops).await? {
            Written::Queued(receipt) => Ok(Done::Queued(receipt)),
            Written::Applied(outcomes) => {
                Ok(Done::Applied(kinds.into_iter().zip(outcomes).collect()))
            }
        }
    }

    /// Validates and authorizes one operation and turns it into a store write.
    async fn prepare(
        &self,
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
        let (table, owner) = self.authorize(ctx, table, action)?;
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
                    (Some(owner), DocId::Id(id)) => self
                        .owned_version(ctx, &table, id, owner, requested)
                        .await
                        .map(Some),
                    _ => Ok(requested),
                }
            }
        };
        let op = match operation {
            Operation::Insert { document, .. } => {
                let mut fields = document_fields(document, index, "document")?;
                if let Some(owner) = &owner {
                    owner.claim(&mut fields, true)?;
                }
                WriteOp::Insert { table, fields }
            }
            Operation::Patch {
                id, patch, version, ..
            } => {
                let id = doc_id(&id, index)?;
                let mut patch = document_fields(patch, index, "patch")?;
                if let Some(owner) = &owner {
                    owner.claim(&mut patch, false)?;
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
                    owner.claim(&mut fields, true)?;
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
