//! The write path every write goes through: apply it now, or — in front of Convex with the
//! outbox on — queue it when Convex cannot be reached, and answer a receipt the caller can
//! follow. It also queues allow-listed mutations (`GATEWAY_OUTBOX_MUTATIONS`) of the function
//! passthrough, and shapes what a delivered write returned for the outbox.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::context::RequestCtx;
use crate::error::{ApiError, ApiResult};
use crate::outbox::{Kind, NewEntry, Outbox, Status};
use crate::store::{DocId, SharedStore, WriteOp, WriteOutcome};

/// What a write did: applied now, or queued for delivery.
pub enum Written {
    Applied(Vec<WriteOutcome>),
    Queued(Receipt),
}

/// The answer to a queued write.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// Where to follow the write: `GET /v1/outbox/{outboxId}`.
    pub outbox_id: String,
    /// Always `queued`.
    pub status: Status,
}

/// Applies writes, or queues them in the outbox.
#[derive(Clone)]
pub struct WritePath {
    store: SharedStore,
    outbox: Option<Outbox>,
    auth: Arc<Auth>,
    /// Function paths (wildcards allowed) whose calls may be queued, compiled once.
    mutations: Arc<[wildmatch::WildMatch]>,
}

impl WritePath {
    /// A write path on `store`, queuing into `outbox` when there is one.
    pub fn new(
        store: SharedStore,
        outbox: Option<Outbox>,
        auth: Arc<Auth>,
        mutations: &[String],
    ) -> Self {
        Self {
            store,
            outbox,
            auth,
            mutations: mutations
                .iter()
                .map(|pattern| wildmatch::WildMatch::new(pattern))
                .collect(),
        }
    }

    /// Applies `ops` atomically, or — with an outbox — queues them when Convex cannot be reached
    /// (or when an earlier queued write to the same document has not been delivered yet, so this
    /// one cannot overtake it).
    ///
    /// Every such write carries an idempotency key (the caller's, or one made up here) from its
    /// first attempt on, so whichever attempt reached Convex, `gateway:apply` applies it once.
    pub async fn write(&self, ctx: &RequestCtx, ops: Vec<WriteOp>) -> ApiResult<Written> {
        // A dry run is never queued: it answers what Convex would store now, or that it cannot.
        let Some(outbox) = self.outbox.as_ref().filter(|_| !ctx.store.dry_run) else {
            return Ok(Written::Applied(self.store.apply(&ctx.store, ops).await?));
        };
        if ops.is_empty() {
            return Ok(Written::Applied(Vec::new()));
        }
        let mut store_ctx = ctx.store.clone();
        let key = store_ctx
            .idempotency_key
            .get_or_insert_with(|| format!("gw-{}", uuid::Uuid::new_v4()))
            .clone();
        let keys = doc_keys(&ops);
        let args = crate::store::convex::apply_args(&ops, Some(&key), ctx.store.history.as_ref());
        if !outbox.touches_pending(&keys).await {
            match self.store.apply(&store_ctx, ops).await {
                Ok(outcomes) => return Ok(Written::Applied(outcomes)),
                Err(err) if err.is_outage() => {
                    tracing::warn!(error = %err, "Convex is unavailable; queuing the write in the outbox");
                }
                Err(err) => return Err(err.into()),
            }
        }
        let receipt = self
            .enqueue(outbox, ctx, Kind::Apply, "gateway:apply", args, key, keys)
            .await?;
        Ok(Written::Queued(receipt))
    }

    /// Queues an allow-listed mutation (`GATEWAY_OUTBOX_MUTATIONS`) that could not reach Convex;
    /// `None` when it may not be queued.
    pub async fn queue_mutation(
        &self,
        ctx: &RequestCtx,
        path: &str,
        args: Value,
    ) -> ApiResult<Option<Receipt>> {
        let Some(outbox) = &self.outbox else {
            return Ok(None);
        };
        let allowed = self.mutations.iter().any(|pattern| pattern.matches(path));
        if !allowed {
            return Ok(None);
        }
        let key = ctx
            .store
            .idempotency_key
            .clone()
            .unwrap_or_else(|| format!("gw-{}", uuid::Uuid::new_v4()));
        self.enqueue(outbox, ctx, Kind::Mutation, path, args, key, Vec::new())
            .await
            .map(Some)
    }

    /// Stores a write in the outbox for the caller of `ctx` and answers its receipt.
    #[expect(clippy::too_many_arguments, reason = "one entry's parts")]
    async fn enqueue(
        &self,
        outbox: &Outbox,
        ctx: &RequestCtx,
        kind: Kind,
        path: &str,
        args: Value,
        idempotency_key: String,
        doc_keys: Vec<String>,
    ) -> ApiResult<Receipt> {
        let entry = outbox
            .enqueue(NewEntry {
                caller: ctx.caller_key(),
                kind,
                path: path.to_owned(),
                args,
                idempotency_key,
                doc_keys,
                identity: self.auth.identity_snapshot(&ctx.caller),
            })
            .await
            .map_err(ApiError::internal)?;
        Ok(Receipt {
            outbox_id: entry.outbox_id,
            status: entry.status,
        })
    }
}

/// `table/id` of every existing document the operations touch.
fn doc_keys(ops: &[WriteOp]) -> Vec<String> {
    ops.iter()
        .filter_map(|op| match op {
            WriteOp::Patch { table, id, .. }
            | WriteOp::Replace { table, id, .. }
            | WriteOp::Delete { table, id, .. }
            | WriteOp::Check { table, id, .. } => match id {
                DocId::Id(id) => Some(format!("{table}/{id}")),
                DocId::Ref(_) => None,
            },
            WriteOp::Insert { .. } => None,
        })
        .collect()
}

/// What a delivered `gateway:apply` returned, as `GET /v1/outbox/{id}` shows it.
pub fn outcomes_json(outcomes: Vec<WriteOutcome>) -> Value {
    let results: Vec<Value> = outcomes
        .into_iter()
        .map(|outcome| {
            let (kind, id, doc) = match outcome {
                WriteOutcome::Inserted(doc) => ("inserted", doc.id.clone(), Some(doc)),
                WriteOutcome::Updated(doc) => ("updated", doc.id.clone(), Some(doc)),
                WriteOutcome::Checked(doc) => ("checked", doc.id.clone(), Some(doc)),
                WriteOutcome::Deleted { id } => ("deleted", id, None),
            };
            json!({
                "outcome": kind,
                "id": id,
                "version": doc.as_ref().map(|d| d.version),
                "document": doc,
            })
        })
        .collect();
    json!({ "results": results })
}
