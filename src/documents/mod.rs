//! The document service: what the table routes, batches and interactive transactions ask for,
//! as domain calls. It checks the table allow-list and the policy, applies row ownership, stages
//! writes inside an open transaction, sends the rest through the write path (apply now or
//! queue), and answers reads from the stale-read cache while Convex is down. Routes turn HTTP
//! into these calls and their results back into HTTP.

mod batch;
mod history;
mod lifecycle;

pub use batch::{BatchRef, DocumentRef, MergePatch, NewDocument, Operation};
pub use history::{MAX_HISTORY_PAGE, Reverted};
pub use lifecycle::Committed;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::auth::policy::TableAction;
use crate::auth::{Auth, Owner, visible};
use crate::context::RequestCtx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics::Metrics;
use crate::stale::{CachedRead, StaleCache};
use crate::store::{
    ChangePage, Document, FieldPath, Fields, Filter, FilterOp, ListQuery, Literal, Precondition,
    RawDocument, RawPage, SharedStore, StoreError, TableName, WriteOp, validate_fields,
};
use crate::transactions::{TxManager, TxScope};
use crate::writes::{Receipt, WritePath, Written};

/// What a watch may see: the table and the query, with row ownership applied (see `live`).
pub struct WatchPlan {
    pub table: TableName,
    pub query: ListQuery,
    /// Whether the query filters on the caller as owner.
    pub owner_scoped: bool,
}

/// The filter row ownership adds: the owner field equals the caller's `sub`.
fn owner_filter(owner: Owner) -> Filter {
    Filter {
        field: FieldPath::User(vec![owner.field]),
        op: FilterOp::Eq(Literal::Str(owner.sub)),
        negated: false,
    }
}

/// The most documents one insert may carry.
pub const MAX_INSERT_DOCUMENTS: usize = 1000;

/// How a write ended: applied, staged in the caller's transaction, or queued in the outbox.
pub enum Done<T> {
    Applied(T),
    Staged(T),
    Queued(Receipt),
}

/// A document read: as stored JSON text (the common read, nothing to check in it), or parsed,
/// with its age when it was answered from the stale-read cache.
pub enum Read {
    Raw(RawDocument),
    Parsed {
        doc: Document,
        stale: Option<Duration>,
    },
}

/// The document service's dependencies.
pub struct Documents {
    store: SharedStore,
    auth: Arc<Auth>,
    transactions: Arc<TxManager>,
    writes: WritePath,
    stale: Option<StaleCache>,
    metrics: Arc<Metrics>,
    tables: Option<Vec<TableName>>,
    max_ops: usize,
}

/// What [`Documents::new`] takes.
pub struct DocumentsParts {
    pub store: SharedStore,
    pub auth: Arc<Auth>,
    pub transactions: Arc<TxManager>,
    pub writes: WritePath,
    pub stale: Option<StaleCache>,
    pub metrics: Arc<Metrics>,
    /// `GATEWAY_TABLES`: the only tables served, when set.
    pub tables: Option<Vec<TableName>>,
    /// `GATEWAY_TX_MAX_OPS`.
    pub max_ops: usize,
}

impl Documents {
    /// The service over its parts.
    pub fn new(parts: DocumentsParts) -> Self {
        Self {
            store: parts.store,
            auth: parts.auth,
            transactions: parts.transactions,
            writes: parts.writes,
            stale: parts.stale,
            metrics: parts.metrics,
            tables: parts.tables,
            max_ops: parts.max_ops,
        }
    }

    /// Validates a table name and applies the `GATEWAY_TABLES` allow-list.
    pub fn table(&self, raw: &str) -> ApiResult<TableName> {
        let name =
            TableName::parse(raw).map_err(|m| ApiError::new(ErrorCode::InvalidTableName, m))?;
        match &self.tables {
            Some(allowed) if !allowed.contains(&name) => Err(ApiError::new(
                ErrorCode::TableNotFound,
                format!("table `{name}` is not served by this gateway"),
            )),
            _ => Ok(name),
        }
    }

    fn authorize(
        &self,
        ctx: &RequestCtx,
        table: &str,
        action: TableAction,
    ) -> ApiResult<(TableName, Option<Owner>)> {
        let table = self.table(table)?;
        let owner = self
            .auth
            .authorize_table(&ctx.caller, table.as_str(), action)?;
        Ok((table, owner))
    }

    /// The list query a query string asks for, as the caller may run it: PostgREST-style
    /// filters, order, limit and cursor, plus a filter on the owner under row ownership. A
    /// watch's `mode=snapshot|changes` is not a filter and is left out.
    fn read_query(
        &self,
        ctx: &RequestCtx,
        table: &str,
        raw_query: &str,
    ) -> ApiResult<(TableName, ListQuery, bool)> {
        let (table, owner) = self.authorize(ctx, table, TableAction::Read)?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw_query).map_err(|err| {
                ApiError::new(ErrorCode::InvalidFilter, format!("bad query string: {err}"))
            })?;
        let pairs = pairs.into_iter().filter(|(key, value)| {
            !(key == "mode" && matches!(value.as_str(), "snapshot" | "changes"))
        });
        let mut query = ListQuery::from_pairs(pairs)?;
        let scoped = owner.is_some();
        if let Some(owner) = owner {
            // Row ownership: the caller sees only its own rows, filtered in the store.
            query.filters.push(owner_filter(owner));
        }
        Ok((table, query, scoped))
    }

    /// What a watch of `table` with the query string `raw_query` may see (see `live`).
    pub fn watch_plan(
        &self,
        ctx: &RequestCtx,
        table: &str,
        raw_query: &str,
    ) -> ApiResult<WatchPlan> {
        let (table, query, owner_scoped) = self.read_query(ctx, table, raw_query)?;
        Ok(WatchPlan {
            table,
            query,
            owner_scoped,
        })
    }

    /// What a watch of one document may see: that id, and only while it is the caller's under
    /// row ownership.
    pub fn watch_document_plan(
        &self,
        ctx: &RequestCtx,
        table: &str,
        id: &str,
    ) -> ApiResult<WatchPlan> {
        let (table, owner) = self.authorize(ctx, table, TableAction::Read)?;
        let mut query = ListQuery::default();
        query.filters.push(Filter {
            field: FieldPath::Id,
            op: FilterOp::Eq(Literal::Str(id.to_owned())),
            negated: false,
        });
        let owner_scoped = owner.is_some();
        if let Some(owner) = owner {
            query.filters.push(owner_filter(owner));
        }
        Ok(WatchPlan {
            table,
            query,
            owner_scoped,
        })
    }

    /// One page of `table` for the query string `raw_query` (PostgREST-style filters, order,
    /// limit, cursor), and its age when it came from the stale-read cache.
    pub async fn list(
        &self,
        ctx: &RequestCtx,
        table: &str,
        raw_query: &str,
    ) -> ApiResult<(RawPage, Option<Duration>)> {
        let (table, query, _) = self.read_query(ctx, table, raw_query)?;
        if let Some(scope) = &ctx.tx {
            let page = self
                .transactions
                .list(self.store.as_ref(), &ctx.store, scope, &table, &query)
                .await?;
            return Ok((page.into_raw()?, None));
        }
        let read = async {
            self.store
                .list_json(&ctx.store, &table, &query)
                .await
                .map(CachedRead::Page)
        };
        match self
            .cached_read(ctx, &["list", table.as_str(), raw_query], read)
            .await?
        {
            (CachedRead::Page(page), stale) => Ok((page, stale)),
            (CachedRead::Doc(_), _) => Err(ApiError::internal(anyhow::anyhow!(
                "a cached list holds a document"
            ))),
        }
    }

    /// The change feed after position `since` (admins only), of one table or all, at most
    /// `limit` (1 to 1000) changes.
    ///
    /// With `wait`, a read that finds nothing new waits up to that long for a commit (the
    /// store's change signal, no polling) and answers as soon as changes arrive: a long poll.
    pub async fn changes(
        &self,
        ctx: &RequestCtx,
        since: u64,
        table: Option<&str>,
        limit: usize,
        wait: std::time::Duration,
    ) -> ApiResult<ChangePage> {
        self.auth.require_admin(&ctx.caller)?;
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::new(
                ErrorCode::InvalidLimit,
                "limit must be from 1 to 1000",
            ));
        }
        let table = table.map(|raw| self.table(raw)).transpose()?;
        let deadline = tokio::time::Instant::now() + wait;
        let mut signal = self.store.change_signal().filter(|_| !wait.is_zero());
        loop {
            // Marked seen before reading: a commit after this point wakes the wait below.
            if let Some(signal) = signal.as_mut() {
                signal.borrow_and_update();
            }
            let page = self.store.changes(since, table.as_ref(), limit).await?;
            let Some(signal) = signal.as_mut().filter(|_| page.items.is_empty()) else {
                return Ok(page);
            };
            match tokio::time::timeout_at(deadline, signal.changed()).await {
                Ok(Ok(())) => {}
                // The time is up, or the store has gone: nothing new.
                Ok(Err(_)) | Err(_) => return Ok(page),
            }
        }
    }

    /// One document, as the caller may see it.
    pub async fn get(&self, ctx: &RequestCtx, table: &str, id: &str) -> ApiResult<Read> {
        let (table, owner) = self.authorize(ctx, table, TableAction::Read)?;
        if ctx.tx.is_none() && owner.is_none() && self.stale.is_none() {
            // The common read, with nothing to check in the document: its stored JSON text is
            // the body, without a parse and a serialisation in between.
            let doc = self
                .store
                .get_json(&ctx.store, &table, id)
                .await?
                .ok_or_else(|| not_found(&table, id))?;
            return Ok(Read::Raw(doc));
        }
        if let Some(scope) = &ctx.tx {
            let doc = self.staged(ctx, scope, &table, id, owner.as_ref()).await?;
            return Ok(Read::Parsed { doc, stale: None });
        }
        let read = async {
            self.store
                .get(&ctx.store, &table, id)
                .await
                .map(CachedRead::Doc)
        };
        let (read, stale) = self
            .cached_read(ctx, &["get", table.as_str(), id], read)
            .await?;
        let doc = match read {
            CachedRead::Doc(doc) => doc,
            CachedRead::Page(_) => None,
        };
        let doc = doc
            .filter(|doc| visible(owner.as_ref(), &doc.fields))
            .ok_or_else(|| not_found(&table, id))?;
        Ok(Read::Parsed { doc, stale })
    }

    /// Runs a read. With stale reads on (`GATEWAY_STALE_READS`), it remembers the result per
    /// caller, and while Convex is unavailable answers the last one instead, with its age.
    async fn cached_read(
        &self,
        ctx: &RequestCtx,
        what: &[&str],
        read: impl Future<Output = Result<CachedRead, StoreError>>,
    ) -> ApiResult<(CachedRead, Option<Duration>)> {
        let Some(cache) = &self.stale else {
            return Ok((read.await?, None));
        };
        let key = StaleCache::key(&ctx.caller_key(), what);
        match read.await {
            Ok(fresh) => {
                cache.put(key, fresh.clone());
                Ok((fresh, None))
            }
            Err(err) if err.is_outage() => match cache.get(&key) {
                Some((stale, age)) => {
                    self.metrics.stale_read();
                    Ok((stale, Some(age)))
                }
                None => Err(err.into()),
            },
            Err(err) => Err(err.into()),
        }
    }

    /// Inserts a document (an object) or an array of them, atomically (all or none), stamping
    /// the owner under row ownership.
    pub async fn insert(
        &self,
        ctx: &RequestCtx,
        table: &str,
        body: Value,
    ) -> ApiResult<Done<Vec<Document>>> {
        let (table, owner) = self.authorize(ctx, table, TableAction::Write)?;
        let mut docs = match body {
            Value::Array(values) => {
                if values.len() > MAX_INSERT_DOCUMENTS {
                    return Err(ApiError::new(
                        ErrorCode::TooManyDocuments,
                        format!(
                            "{} documents in one request; at most {MAX_INSERT_DOCUMENTS} are allowed",
                            values.len()
                        ),
                    ));
                }
                values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| user_fields(v, &format!("element {i} of the array")))
                    .collect::<ApiResult<Vec<_>>>()?
            }
            other => vec![user_fields(other, "the body")?],
        };
        if let Some(owner) = &owner {
            for fields in &mut docs {
                owner.claim(fields, true)?;
            }
        }
        if let Some(scope) = &ctx.tx {
            let mut staged = Vec::with_capacity(docs.len());
            for fields in docs {
                staged.push(
                    self.transactions
                        .stage_insert(scope, &table, fields)
                        .await?,
                );
            }
            return Ok(Done::Staged(staged));
        }
        match self
            .writes
            .write(ctx, WriteOp::inserts(&table, docs))
            .await?
        {
            Written::Queued(receipt) => Ok(Done::Queued(receipt)),
            Written::Applied(outcomes) => Ok(Done::Applied(
                outcomes
                    .into_iter()
                    .filter_map(|o| o.document().cloned())
                    .collect(),
            )),
        }
    }

    /// Patches (`merge`) or replaces a document's fields, under `precondition` (`If-Match`).
    pub async fn update(
        &self,
        ctx: &RequestCtx,
        table: &str,
        id: &str,
        body: Value,
        merge: bool,
        precondition: Option<Precondition>,
    ) -> ApiResult<Done<Document>> {
        let (table, owner) = self.authorize(ctx, table, TableAction::Write)?;
        let mut fields = user_fields(body, "the body")?;
        if let Some(owner) = &owner {
            // A merge patch may leave the owner field out; a replacement gets it stamped.
            owner.claim(&mut fields, !merge)?;
        }
        if let Some(scope) = &ctx.tx {
            let current = self.staged(ctx, scope, &table, id, owner.as_ref()).await?;
            check_precondition(precondition.as_ref(), &current)?;
            let doc = self
                .transactions
                .stage_write(scope, &table, current, Some((fields, merge)))
                .await?
                .ok_or_else(|| not_found(&table, id))?;
            return Ok(Done::Staged(doc));
        }
        let precondition = self
            .write_precondition(ctx, &table, id, owner.as_ref(), precondition)
            .await?;
        let op = if merge {
            WriteOp::Patch {
                table: table.clone(),
                id: id.into(),
                patch: fields,
                precondition,
            }
        } else {
            WriteOp::Replace {
                table: table.clone(),
                id: id.into(),
                fields,
                precondition,
            }
        };
        match self.writes.write(ctx, vec![op]).await? {
            Written::Queued(receipt) => Ok(Done::Queued(receipt)),
            Written::Applied(mut outcomes) => outcomes
                .pop()
                .and_then(|o| o.document().cloned())
                .map(Done::Applied)
                .ok_or_else(|| not_found(&table, id)),
        }
    }

    /// Deletes a document, under `precondition` (`If-Match`).
    pub async fn delete(
        &self,
        ctx: &RequestCtx,
        table: &str,
        id: &str,
        precondition: Option<Precondition>,
    ) -> ApiResult<Done<()>> {
        let (table, owner) = self.authorize(ctx, table, TableAction::Delete)?;
        if let Some(scope) = &ctx.tx {
            let current = self.staged(ctx, scope, &table, id, owner.as_ref()).await?;
            check_precondition(precondition.as_ref(), &current)?;
            self.transactions
                .stage_write(scope, &table, current, None)
                .await?;
            return Ok(Done::Staged(()));
        }
        let precondition = self
            .write_precondition(ctx, &table, id, owner.as_ref(), precondition)
            .await?;
        let op = WriteOp::Delete {
            table,
            id: id.into(),
            precondition,
        };
        match self.writes.write(ctx, vec![op]).await? {
            Written::Queued(receipt) => Ok(Done::Queued(receipt)),
            Written::Applied(_) => Ok(Done::Applied(())),
        }
    }

    /// The document as the caller's transaction `scope` sees it.
    async fn staged(
        &self,
        ctx: &RequestCtx,
        scope: &TxScope,
        table: &TableName,
        id: &str,
        owner: Option<&Owner>,
    ) -> ApiResult<Document> {
        self.transactions
            .current(self.store.as_ref(), &ctx.store, scope, table, id, owner)
            .await
    }

    /// The precondition a write outside a transaction carries: the caller's own (`If-Match`), or
    /// under row ownership the owned document's current version.
    async fn write_precondition(
        &self,
        ctx: &RequestCtx,
        table: &TableName,
        id: &str,
        owner: Option<&Owner>,
        requested: Option<Precondition>,
    ) -> ApiResult<Option<Precondition>> {
        match owner {
            Some(owner) => Ok(Some(
                self.owned_version(ctx, table, id, owner, requested).await?,
            )),
            None => Ok(requested),
        }
    }

    /// For a write under row ownership: the document's current version, after checking the
    /// caller owns it (404 otherwise, so existence does not leak) and that the caller's own
    /// `If-Match`, if any, holds. Writing at exactly that version makes check and write atomic.
    async fn owned_version(
        &self,
        ctx: &RequestCtx,
        table: &TableName,
        id: &str,
        owner: &Owner,
        requested: Option<Precondition>,
    ) -> ApiResult<Precondition> {
        let doc = self
            .store
            .get(&ctx.store, table, id)
            .await?
            .filter(|doc| owner.owns(&doc.fields))
            .ok_or_else(|| not_found(table, id))?;
        if let Some(requested) = requested
            && !requested.holds_for(doc.version)
        {
            return Err(ApiError::new(
                ErrorCode::VersionMismatch,
                format!(
                    "document `{id}` is at version {}, which If-Match does not allow",
                    doc.version
                ),
            ));
        }
        Ok(Precondition::VersionIn(vec![doc.version]))
    }
}

/// `If-Match` against the version a transaction sees.
fn check_precondition(precondition: Option<&Precondition>, doc: &Document) -> ApiResult<()> {
    match precondition {
        Some(p) if !p.holds_for(doc.version) => Err(ApiError::new(
            ErrorCode::VersionMismatch,
            format!(
                "document `{}` is at version {}, which If-Match does not allow",
                doc.id, doc.version
            ),
        )),
        _ => Ok(()),
    }
}

/// A JSON object of user fields, or a 400 saying what `what` should have been.
fn user_fields(value: Value, what: &str) -> ApiResult<Fields> {
    let Value::Object(fields) = value else {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("{what} must be a JSON object"),
        ));
    };
    validate_fields(&fields).map_err(|m| ApiError::new(ErrorCode::ReservedField, m))?;
    Ok(fields)
}

fn not_found(table: &TableName, id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("document `{id}` not found in table `{table}`"),
    )
}
