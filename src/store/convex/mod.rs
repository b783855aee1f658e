//! The Convex adapter: the store trait over a Convex deployment, calling the gateway's own
//! functions in `convex/gateway.ts` (`gateway:list`, `gateway:get`, `gateway:apply`) through
//! the deployment's [`ConvexClient`]. This file encodes queries and writes for those functions
//! and decodes their documents; `client` makes the calls.

mod client;
mod transport;

pub use client::{
    ConvexClient, ConvexConfig, FunctionKind, RawResponse, UdfResponse, UdfStatus, decode_value,
    function_error,
};

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{
    Capabilities, DocId, Document, DocumentStore, FilterOp, ListQuery, Literal, Page, Precondition,
    SortDirection, StoreCtx, StoreError, TableName, WriteOp, WriteOutcome,
};
use crate::store::{HistoryEntry, HistoryPage, HistoryScope};

/// The fields `convex/gateway.ts` keeps for bookkeeping; hidden from REST documents.
pub const RESERVED_FIELDS: [&str; 2] = ["gwVersion", "gwUpdatedTime"];

/// The adapter.
#[derive(Debug, Clone)]
pub struct ConvexStore {
    client: Arc<ConvexClient>,
}

impl ConvexStore {
    /// The adapter over the deployment `client` calls.
    pub fn new(client: Arc<ConvexClient>) -> Self {
        Self { client }
    }
}

/// The arguments of `gateway:apply` for `ops`. With `idempotency_key`, the mutation dedupes
/// the key inside its own transaction, so a write is applied once even if it is delivered
/// again (a retry, or the outbox after the gateway lost track of an earlier attempt).
pub fn apply_args(
    ops: &[WriteOp],
    idempotency_key: Option<&str>,
    history: Option<&HistoryScope>,
) -> Value {
    let mut kept: Vec<&str> = Vec::new();
    if let Some(scope) = history {
        for op in ops {
            let table = op.table().as_str();
            if scope.keeps(table) && !kept.contains(&table) {
                kept.push(table);
            }
        }
    }
    let ops: Vec<Value> = ops.iter().map(op_json).collect();
    let mut args = json!({ "ops": ops });
    if let Some(key) = idempotency_key {
        args["idempotencyKey"] = Value::String(key.to_owned());
    }
    if let Some(scope) = history.filter(|_| !kept.is_empty()) {
        let mut history = json!({ "tables": kept, "revert": scope.revert });
        if let Some(sub) = &scope.sub {
            history["sub"] = Value::String(sub.clone());
        }
        args["history"] = history;
    }
    args
}

/// Calls `gateway:apply` with arguments from [`apply_args`].
pub async fn apply_encoded(
    client: &ConvexClient,
    ctx: &StoreCtx,
    args: Value,
) -> Result<Vec<WriteOutcome>, StoreError> {
    let value = client
        .call(ctx, FunctionKind::Mutation, "gateway:apply", args)
        .await?;
    value
        .get("outcomes")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("gateway:apply"))?
        .iter()
        .map(outcome)
        .collect()
}

#[async_trait]
impl DocumentStore for ConvexStore {
    fn adapter(&self) -> &'static str {
        "convex"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            free_form_documents: true,
            // `convex/gateway.ts` orders through indexes, each in one direction.
            any_order: false,
            mixed_directions: false,
            caller_identity: true,
            // Convex's own feed (`document_deltas`) is not followed yet.
            change_feed: false,
        }
    }

    async fn list(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let args = list_args(table, query)?;
        let value = self
            .client
            .call(ctx, FunctionKind::Query, "gateway:list", args)
            .await?;
        page_from(&value, query)
    }

    async fn get(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        let value = self
            .client
            .call(
                ctx,
                FunctionKind::Query,
                "gateway:get",
                json!({ "table": table.as_str(), "id": id }),
            )
            .await?;
        document_from(&value)
    }

    async fn history(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        let mut args = json!({ "table": table.as_str(), "id": id, "limit": limit as f64 });
        if let Some(before) = before {
            args["before"] = Value::from(before as f64);
        }
        let value = self
            .client
            .call(ctx, FunctionKind::Query, "gateway:history", args)
            .await?;
        let items = value
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("gateway:history"))?
            .iter()
            .map(|item| {
                Some(HistoryEntry {
                    version: item.get("version")?.as_f64()? as u64,
                    op: item.get("op")?.as_str()?.to_owned(),
                    at: item.get("at")?.as_f64()?,
                    sub: item.get("sub").and_then(Value::as_str).map(str::to_owned),
                    fields: item.get("fields").and_then(Value::as_object).cloned(),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed("gateway:history"))?;
        Ok(HistoryPage {
            items,
            next_cursor: value
                .get("nextCursor")
                .and_then(Value::as_f64)
                .map(|v| (v as u64).to_string()),
        })
    }

    async fn apply(
        &self,
        ctx: &StoreCtx,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        if ctx.dry_run {
            return self.dry_run(ctx, &ops).await;
        }
        apply_encoded(
            &self.client,
            ctx,
            apply_args(&ops, ctx.idempotency_key.as_deref(), ctx.history.as_ref()),
        )
        .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.client.health().await
    }
}

impl ConvexStore {
    /// `gateway:apply` with `dryRun`: it runs every operation (Convex's schema validation
    /// included), then throws its outcomes as `{code: "DRY_RUN", outcomes}`, so its transaction
    /// is rolled back. A success would mean a deployment whose `gateway:apply` ignored the flag
    /// and committed; that is reported, never passed off as a dry run.
    async fn dry_run(
        &self,
        ctx: &StoreCtx,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let mut args = apply_args(ops, None, ctx.history.as_ref());
        args["dryRun"] = Value::Bool(true);
        let body =
            json!({ "path": "gateway:apply", "args": args, "format": "convex_encoded_json" });
        let route = FunctionKind::Mutation.route();
        match self.client.call_raw(ctx, route, &body, true).await?.1 {
            UdfResponse::Error {
                error_message,
                error_data,
                ..
            } => {
                let data = error_data.map(decode_value);
                match data.as_ref().filter(|d| d["code"] == "DRY_RUN") {
                    Some(data) => data
                        .get("outcomes")
                        .and_then(Value::as_array)
                        .ok_or_else(|| malformed("gateway:apply (dry run)"))?
                        .iter()
                        .map(outcome)
                        .collect(),
                    None => Err(function_error(&error_message, data.as_ref())),
                }
            }
            UdfResponse::Success { .. } => Err(StoreError::Internal(anyhow::anyhow!(
                "gateway:apply committed a dry run: deploy the current convex/gateway.ts"
            ))),
        }
    }
}

// === encoding ===

fn literal_json(literal: &Literal) -> Value {
    match literal {
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::from(*i as f64),
        Literal::Float(f) => Value::from(*f),
        Literal::Str(s) => Value::String(s.clone()),
        Literal::NumberOrText(number, _) => literal_json(number),
    }
}

/// The string an equality literal also matches (`gateway:list` takes it as `text`).
fn literal_text(literal: &Literal) -> Option<Value> {
    match literal {
        Literal::NumberOrText(_, text) => Some(Value::String(text.clone())),
        _ => None,
    }
}

fn filter_json(filter: &super::Filter) -> Value {
    let text = match &filter.op {
        FilterOp::Eq(l) | FilterOp::Neq(l) => literal_text(l),
        _ => None,
    };
    let (op, value, values) = match &filter.op {
        FilterOp::Eq(l) => ("eq", Some(literal_json(l)), None),
        FilterOp::Neq(l) => ("neq", Some(literal_json(l)), None),
        FilterOp::Gt(l) => ("gt", Some(literal_json(l)), None),
        FilterOp::Gte(l) => ("gte", Some(literal_json(l)), None),
        FilterOp::Lt(l) => ("lt", Some(literal_json(l)), None),
        FilterOp::Lte(l) => ("lte", Some(literal_json(l)), None),
        FilterOp::Like(p) => ("like", Some(Value::String(p.clone())), None),
        FilterOp::Ilike(p) => ("ilike", Some(Value::String(p.clone())), None),
        // `in` matches any of its values, so a number's text simply joins the list.
        FilterOp::In(ls) => (
            "in",
            None,
            Some(
                ls.iter()
                    .map(literal_json)
                    .chain(ls.iter().filter_map(literal_text))
                    .collect::<Vec<_>>(),
            ),
        ),
        FilterOp::IsNull => ("isNull", None, None),
        FilterOp::IsTrue => ("isTrue", None, None),
        FilterOp::IsFalse => ("isFalse", None, None),
    };
    let mut object = Map::new();
    object.insert("field".into(), Value::String(filter.field.to_string()));
    object.insert("op".into(), Value::String(op.into()));
    if let Some(value) = value {
        object.insert("value".into(), value);
    }
    if let Some(values) = values {
        object.insert("values".into(), Value::Array(values));
    }
    if let Some(text) = text {
        object.insert("text".into(), text);
    }
    object.insert("negated".into(), Value::Bool(filter.negated));
    Value::Object(object)
}

fn expected_json(precondition: Option<&Precondition>) -> Option<Value> {
    precondition.map(|p| match p {
        Precondition::Exists => Value::String("exists".into()),
        Precondition::VersionIn(versions) => {
            Value::Array(versions.iter().map(|v| Value::from(*v as f64)).collect())
        }
    })
}

/// One write as `gateway:apply` takes it. Plain JSON numbers are float64 in Convex's encoding.
fn op_json(op: &WriteOp) -> Value {
    let (kind, table, id, body, precondition) = match op {
        WriteOp::Insert { table, fields } => {
            ("insert", table, None, Some(("fields", fields)), None)
        }
        WriteOp::Patch {
            table,
            id,
            patch,
            precondition,
        } => (
            "patch",
            table,
            Some(id),
            Some(("patch", patch)),
            precondition.as_ref(),
        ),
        WriteOp::Replace {
            table,
            id,
            fields,
            precondition,
        } => (
            "replace",
            table,
            Some(id),
            Some(("fields", fields)),
            precondition.as_ref(),
        ),
        WriteOp::Delete {
            table,
            id,
            precondition,
        } => ("delete", table, Some(id), None, precondition.as_ref()),
        WriteOp::Check {
            table,
            id,
            precondition,
        } => ("check", table, Some(id), None, Some(precondition)),
    };
    let mut object = Map::new();
    object.insert("kind".into(), kind.into());
    object.insert("table".into(), table.as_str().into());
    match id {
        Some(DocId::Id(id)) => {
            object.insert("id".into(), id.as_str().into());
        }
        Some(DocId::Ref(n)) => {
            object.insert("idRef".into(), Value::from(*n as f64));
        }
        None => {}
    }
    if let Some((key, fields)) = body {
        // Convex values may not hold `$` keys, so references travel beside the document: each
        // `{"$ref": "N"}` becomes null, and `refs` says where to put operation N's id.
        let mut fields = Value::Object(fields.clone());
        let mut refs = Vec::new();
        extract_refs(&mut fields, &mut Vec::new(), &mut refs);
        object.insert(key.into(), fields);
        if !refs.is_empty() {
            object.insert("refs".into(), Value::Array(refs));
        }
    }
    if let Some(expected) = expected_json(precondition) {
        object.insert("expected".into(), expected);
    }
    Value::Object(object)
}

/// Replaces each reference object under `value` with null, recording its path and target.
fn extract_refs(value: &mut Value, path: &mut Vec<Value>, refs: &mut Vec<Value>) {
    if let Some(Ok(n)) = super::ref_target(value) {
        refs.push(json!({ "path": path.clone(), "ref": n as f64 }));
        *value = Value::Null;
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                path.push(Value::String(key.clone()));
                extract_refs(child, path, refs);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter_mut().enumerate() {
                path.push(Value::from(index as f64));
                extract_refs(child, path, refs);
                path.pop();
            }
        }
        _ => {}
    }
}

// === decoding ===

/// A Convex document as a gateway document; the bookkeeping fields become the version.
fn document(value: &Value) -> Result<Document, StoreError> {
    let object = value.as_object().ok_or_else(|| malformed("a document"))?;
    let id = object
        .get("_id")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("a document without _id"))?
        .to_owned();
    let creation_time = object
        .get("_creationTime")
        .and_then(Value::as_f64)
        .ok_or_else(|| malformed("a document without _creationTime"))?;
    let version = object
        .get("gwVersion")
        .and_then(Value::as_f64)
        .map_or(0, |v| v.max(0.0) as u64);
    let fields = object
        .iter()
        .filter(|(k, _)| !k.starts_with('_') && !RESERVED_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Document {
        id,
        creation_time: Some(creation_time),
        version,
        fields,
    })
}

fn outcome(value: &Value) -> Result<WriteOutcome, StoreError> {
    let doc = || document(value.get("doc").unwrap_or(&Value::Null));
    match value.get("kind").and_then(Value::as_str) {
        Some("inserted") => Ok(WriteOutcome::Inserted(doc()?)),
        Some("updated") => Ok(WriteOutcome::Updated(doc()?)),
        Some("checked") => Ok(WriteOutcome::Checked(doc()?)),
        Some("deleted") => Ok(WriteOutcome::Deleted {
            id: value
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }),
        _ => Err(malformed("a gateway:apply outcome")),
    }
}

/// The arguments of `gateway:list` for a page of `table`.
pub fn list_args(table: &TableName, query: &ListQuery) -> Result<Value, StoreError> {
    let cursor = match &query.cursor {
        None => Value::Null,
        Some(raw) => {
            let wrapped = decode_cursor(raw)?;
            if wrapped.o != query.order_tag() {
                return Err(StoreError::InvalidCursor(
                    "the cursor belongs to a different `order`; pass the same `order` as the first page".into(),
                ));
            }
            Value::String(wrapped.c)
        }
    };
    Ok(json!({
        "table": table.as_str(),
        "filters": query.filters.iter().map(filter_json).collect::<Vec<_>>(),
        "order": query.order.iter().map(|k| json!({
            "field": k.field.to_string(),
            "direction": match k.direction { SortDirection::Asc => "asc", SortDirection::Desc => "desc" },
        })).collect::<Vec<_>>(),
        "limit": query.limit,
        "cursor": cursor,
    }))
}

/// The page a `gateway:list` result (plain JSON) holds, for `query`.
pub fn page_from(value: &Value, query: &ListQuery) -> Result<Page, StoreError> {
    let items = value
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("gateway:list"))?
        .iter()
        .map(document)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = match value.get("nextCursor") {
        Some(Value::String(c)) => Some(encode_cursor(&WrappedCursor {
            o: query.order_tag(),
            c: c.clone(),
        })),
        _ => None,
    };
    Ok(Page { items, next_cursor })
}

/// The document a `gateway:get` result (plain JSON) holds, or `None`.
pub fn document_from(value: &Value) -> Result<Option<Document>, StoreError> {
    match value {
        Value::Null => Ok(None),
        doc => document(doc).map(Some),
    }
}

fn malformed(what: &str) -> StoreError {
    StoreError::Upstream(format!(
        "Convex returned {what} in an unexpected shape; is convex/gateway.ts deployed?"
    ))
}

#[derive(Serialize, Deserialize)]
struct WrappedCursor {
    /// The order the cursor was made for.
    o: String,
    /// Convex's own cursor.
    c: String,
}

fn encode_cursor(cursor: &WrappedCursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn decode_cursor(raw: &str) -> Result<WrappedCursor, StoreError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            StoreError::InvalidCursor("the cursor is not one this gateway issued".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_hide_bookkeeping_and_carry_the_version() {
        let doc = document(&json!({"_id": "a", "_creationTime": 5.0, "gwVersion": 3.0, "gwUpdatedTime": 9.0, "x": 1})).unwrap();
        assert_eq!(doc.version, 3);
        assert_eq!(Value::Object(doc.fields), json!({"x": 1}));
    }
}
