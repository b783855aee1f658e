//! Where a verified webhook goes. In front of Convex every target runs inside the internal
//! mutation `gateway:webhook`, which skips a message id it has seen and otherwise runs the
//! target and records the id in one transaction; when Convex cannot be reached the call is kept
//! in the outbox (the answer is `202` only once it is stored). On the embedded and Postgres
//! stores a table target is written through the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::config::{Route, Target, Webhook};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::outbox::{Kind, NewEntry, Outbox};
use crate::store::convex::{ConvexClient, FunctionKind};
use crate::store::{
    FieldPath, Fields, Filter, FilterOp, ListQuery, Literal, Precondition, SharedStore, StoreCtx,
    StoreError, TableName, WriteOp, validate_fields,
};

/// What a delivery came to.
pub(super) enum Delivered {
    /// The target ran.
    Done,
    /// No route takes the event.
    Ignored,
    /// Kept in the outbox, under this id.
    Queued(String),
}

/// Delivers webhooks to their targets.
pub(super) struct Deliverer {
    store: SharedStore,
    convex: Option<Arc<ConvexClient>>,
    outbox: Option<Outbox>,
    timeout: Duration,
}

impl Deliverer {
    pub(super) fn new(
        store: SharedStore,
        convex: Option<Arc<ConvexClient>>,
        outbox: Option<Outbox>,
        timeout: Duration,
    ) -> Self {
        Self {
            store,
            convex,
            outbox,
            timeout,
        }
    }

    /// Runs `route`'s target with `event`, once per `key`.
    pub(super) async fn deliver(
        &self,
        hook: &Webhook,
        route: &Route,
        event: &Value,
        key: &str,
    ) -> ApiResult<Delivered> {
        let ctx = StoreCtx {
            request_id: Some(key.to_owned()),
            deadline: Some(Instant::now() + self.timeout),
            as_deployment: self.convex.is_some(),
            ..StoreCtx::default()
        };
        let Some(convex) = &self.convex else {
            let Target::Table {
                table,
                fields,
                upsert_by,
            } = &route.target
            else {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "a mutation target without Convex"
                )));
            };
            let fields = document(fields.take(event))?;
            write_table(&self.store, &ctx, table, fields, upsert_by.as_deref()).await?;
            return Ok(Delivered::Done);
        };
        let args = match &route.target {
            Target::Mutation { path, args } => {
                let args = args.take(event).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::WebhookPayload,
                        "the event has nothing where `args` points",
                    )
                })?;
                json!({ "key": key, "mutation": path, "args": args })
            }
            Target::Table {
                table,
                fields,
                upsert_by,
            } => {
                let fields = document(fields.take(event))?;
                json!({ "key": key, "table": table, "fields": fields, "upsertBy": upsert_by })
            }
        };
        match convex
            .call(
                &ctx,
                FunctionKind::Mutation,
                "gateway:webhook",
                args.clone(),
            )
            .await
        {
            Ok(_) => Ok(Delivered::Done),
            Err(err) if err.is_outage() => {
                let Some(outbox) = &self.outbox else {
                    return Err(err.into());
                };
                tracing::warn!(webhook = hook.name, error = %err, "Convex is unavailable; keeping the webhook in the outbox");
                let entry = outbox
                    .enqueue(NewEntry {
                        caller: format!("webhook:{}", hook.name),
                        kind: Kind::Webhook,
                        path: "gateway:webhook".into(),
                        args,
                        idempotency_key: key.to_owned(),
                        doc_keys: Vec::new(),
                        identity: None,
                    })
                    .await
                    .map_err(ApiError::internal)?;
                Ok(Delivered::Queued(entry.outbox_id))
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// The document a table target writes: an object without reserved fields.
fn document(value: Option<Value>) -> ApiResult<Fields> {
    let Some(Value::Object(mut fields)) = value else {
        return Err(ApiError::new(
            ErrorCode::WebhookPayload,
            "the event has no object where `fields` points",
        ));
    };
    crate::store::normalize_numbers(&mut fields);
    validate_fields(&fields).map_err(|why| ApiError::new(ErrorCode::WebhookPayload, why))?;
    Ok(fields)
}

/// Inserts `fields` into `table`, or merges them into the document whose `upsert_by` field holds
/// the same value (checked by version, tried again if it moved meanwhile).
async fn write_table(
    store: &SharedStore,
    ctx: &StoreCtx,
    table: &TableName,
    fields: Fields,
    upsert_by: Option<&str>,
) -> ApiResult<()> {
    let Some(field) = upsert_by else {
        store
            .apply(
                ctx,
                vec![WriteOp::Insert {
                    table: table.clone(),
                    fields,
                }],
            )
            .await?;
        return Ok(());
    };
    let literal = match fields.get(field) {
        Some(Value::String(s)) => Literal::Str(s.clone()),
        Some(Value::Bool(b)) => Literal::Bool(*b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Literal::Int(i),
            None => Literal::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        _ => {
            return Err(ApiError::new(
                ErrorCode::WebhookPayload,
                format!("the document has no string, number or boolean `{field}` to upsert by"),
            ));
        }
    };
    let query = ListQuery {
        limit: 1,
        filters: vec![Filter {
            field: FieldPath::User(vec![field.to_owned()]),
            op: FilterOp::Eq(literal),
            negated: false,
        }],
        ..ListQuery::default()
    };
    for _ in 0..3 {
        let page = store.list(ctx, table, &query).await?;
        let op = match page.items.first() {
            None => WriteOp::Insert {
                table: table.clone(),
                fields: fields.clone(),
            },
            Some(doc) => WriteOp::Patch {
                table: table.clone(),
                id: doc.id.clone().into(),
                patch: fields.clone(),
                precondition: Some(Precondition::VersionIn(vec![doc.version])),
            },
        };
        match store.apply(ctx, vec![op]).await {
            Err(StoreError::VersionMismatch { .. } | StoreError::NotFound { .. }) => continue,
            other => {
                other?;
                return Ok(());
            }
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        format!("the `{table}` document with this `{field}` kept changing; retry"),
    ))
}
