//! Postgres to Convex: sends Postgres rows (a backfill page of a table) or changes (from the
//! trigger-fed change feed, in commit order) to Convex through `gateway:syncApply`, and records
//! what they became in the caller's transaction, with the checkpoint they reach:
//!
//! - a new row's Convex `_id` in `gateway.sync_keys`;
//! - each revision the write will cause in Convex in `gateway.sync_echoes`, so it is not carried
//!   back;
//! - changes the sync made itself (`origin = 'convex'`) are not sent;
//! - an update or delete carries the row's previous version as `expect`, so a Convex document
//!   that changed meanwhile is not overwritten: the batch stops there (a conflict, settled when
//!   Convex's revision arrives), and the checkpoint stays before it;
//! - a row that cannot be carried is recorded in `gateway.sync_errors`, and the rest go on.
//!
//! Each change's idempotency key is its feed position (or, in a backfill, its key) under the
//! sync's epoch, so a page retried after a crash or a lost answer applies once.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value, json};
use tokio_postgres::{GenericClient, Transaction};

use super::config::{SyncConfig, TablePair};
use super::conflicts;
use super::echo;
use super::export::ExportClient;
use super::sync_apply::{Answer, ApplyError, Item, Outcome, sync_apply};
use super::types::{row_from_json, to_convex};
use crate::store::postgres::catalog::{Catalog, TableInfo};

/// Changes per `gateway:syncApply` call.
const BATCH: usize = 128;

/// What a change did to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    /// The label of metrics and the feed's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// A row to send: a change from the feed, or a row of a backfill.
#[derive(Debug, Clone)]
pub struct Change {
    /// The change's sequence number (`None` in a backfill).
    pub seq: Option<i64>,
    /// Its feed position (in a backfill, the position the backfill started from).
    pub position: i64,
    /// The Postgres table.
    pub table: String,
    /// The row's key, as text.
    pub key: String,
    pub op: Op,
    /// The row after the change (`to_jsonb`), for inserts and updates.
    pub row: Option<Map<String, Value>>,
    /// The row before it, for updates and deletes.
    pub previous: Option<Map<String, Value>>,
    /// Commit time, in milliseconds since the epoch.
    pub committed_ms: f64,
    /// `convex` for the sync's own writes, which are not sent back.
    pub origin: Option<String>,
}

/// Gives positions to what has committed since, and answers the feed's last position.
pub async fn head(client: &mut tokio_postgres::Client) -> Result<i64, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute(crate::store::postgres::feed::ASSIGN_POSITIONS)
        .await?;
    let last: i64 = tx
        .query_one("SELECT last_position FROM gateway.feed", &[])
        .await?
        .get(0);
    tx.commit().await?;
    Ok(last)
}

/// Up to `limit` changes after position `after`, in commit order. Call [`head`] first: only
/// changes with a position are read.
pub async fn changes(
    client: &impl GenericClient,
    after: i64,
    limit: i64,
) -> Result<Vec<Change>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("{SELECT_CHANGES} WHERE position > $1 ORDER BY position LIMIT $2"),
            &[&after, &limit],
        )
        .await?;
    Ok(rows.iter().map(change_of).collect())
}

const SELECT_CHANGES: &str = "SELECT seq, position, tbl, id, op, document::text, previous::text, \
     (extract(epoch FROM committed_at) * 1000)::float8, origin FROM gateway.changes";

fn change_of(row: &tokio_postgres::Row) -> Change {
    let object = |text: Option<String>| text.and_then(|t| row_from_json(&t));
    let op: String = row.get(4);
    Change {
        seq: Some(row.get(0)),
        position: row.get(1),
        table: row.get(2),
        key: row.get(3),
        op: match op.as_str() {
            "insert" => Op::Insert,
            "delete" => Op::Delete,
            _ => Op::Update,
        },
        row: object(row.get(5)),
        previous: object(row.get(6)),
        committed_ms: row.get(7),
        origin: row.get(8),
    }
}

/// The changes at `positions` (held while their pair was paused), in commit order.
pub async fn changes_at(
    client: &impl GenericClient,
    positions: &[i64],
) -> Result<Vec<Change>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("{SELECT_CHANGES} WHERE position = ANY($1) ORDER BY position"),
            &[&positions],
        )
        .await?;
    Ok(rows.iter().map(change_of).collect())
}

/// Up to `limit` rows of `pair`'s table after key `after` that have no Convex counterpart yet,
/// in key order, as inserts.
pub async fn backfill_rows(
    client: &impl GenericClient,
    pair: &TablePair,
    table: &TableInfo,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Change>, tokio_postgres::Error> {
    let key = &table.key;
    let rows = client
        .query(
            &format!(
                "SELECT t.{k}::text, to_jsonb(t)::text, (extract(epoch FROM now()) * 1000)::float8 \
                 FROM {q} t \
                 WHERE ($1::text IS NULL OR t.{k} > $1::text::{ty}) \
                   AND NOT EXISTS (SELECT 1 FROM gateway.sync_keys s WHERE s.pair = $2 AND s.pg_key = t.{k}::text) \
                 ORDER BY t.{k} LIMIT $3",
                k = key.ident,
                q = table.qualified,
                ty = key.sql_type,
            ),
            &[&after, &pair.postgres, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Change {
            seq: None,
            position: 0,
            table: pair.postgres.clone(),
            key: row.get(0),
            op: Op::Insert,
            row: row_from_json(&row.get::<_, String>(1)),
            previous: None,
            committed_ms: row.get(2),
            origin: None,
        })
        .collect())
}

/// What sending a page did.
#[derive(Debug, Default)]
pub struct Sent {
    /// How many of the page's changes are done (sent, skipped or recorded as errors); the rest
    /// wait behind a conflict.
    pub done: usize,
    /// The batch stopped at a Convex document that changed since it was last synced.
    pub conflict: bool,
    /// Rows written in Convex, by pair and operation.
    pub written: BTreeMap<(String, &'static str), u64>,
    /// Rows recorded in `gateway.sync_errors`.
    pub failed: u64,
    /// The newest commit time among the changes sent, in milliseconds.
    pub newest_ms: Option<f64>,
}

/// A change on its way: the call, and what to record when it is applied.
struct Queued {
    /// Its index in the page.
    index: usize,
    item: Item,
    pair: String,
    key: String,
    op: Op,
    committed_ms: f64,
}

/// Where a page goes, and what sending it needs.
pub struct Target<'a> {
    pub config: &'a SyncConfig,
    pub catalog: &'a Catalog,
    pub export: &'a ExportClient,
    /// The sync's epoch: its idempotency keys' prefix.
    pub epoch: &'a str,
    /// Pairs whose changes are held (paused, or with held changes still to send).
    pub held: &'a HashSet<String>,
    /// A second connection, on which each batch is logged, and committed, before it is sent.
    pub intents: &'a tokio_postgres::Client,
}

/// Sends `page` in order (the epoch and each change's position or key make the idempotency
/// keys), recording what it became in `tx`. Changes of the held pairs are kept in
/// `gateway.sync_held` instead; a backfill is not held.
pub async fn send(
    tx: &Transaction<'_>,
    target: &Target<'_>,
    page: &[Change],
) -> Result<Sent, anyhow::Error> {
    let Target {
        config,
        catalog,
        epoch,
        held,
        ..
    } = *target;
    let mut sent = Sent::default();
    let mut queue: Vec<Queued> = Vec::new();
    let mut ids = Ids::default();
    ids.prefetch(tx, config, page).await?;
    for (index, change) in page.iter().enumerate() {
        let Some(pair) = config
            .tables
            .iter()
            .find(|p| p.postgres == change.table && p.direction.to_convex())
        else {
            continue;
        };
        if change.origin.is_some() {
            continue;
        }
        if held.contains(&pair.postgres) && change.seq.is_some() {
            // A paused pair: kept in order for when it resumes.
            tx.execute(
                "INSERT INTO gateway.sync_held (pair, direction, position) VALUES ($1, 'to_convex', $2)",
                &[&pair.postgres, &change.position],
            )
            .await?;
            continue;
        }
        let Ok(table) = catalog.table(&pair.postgres) else {
            record(tx, pair, change, "the table is not in the served schema").await?;
            sent.failed += 1;
            continue;
        };
        let mut force = !pair.direction.to_postgres();
        if let Some(seq) = change.seq {
            match conflicts::resolution(tx, &pair.postgres, &change.key, seq)
                .await?
                .as_deref()
            {
                Some("skip") => continue,
                Some("force") => force = true,
                _ => {}
            }
        }
        let item = loop {
            match item_for(tx, pair, table, change, &mut ids, (epoch, force)).await? {
                Ok(item) => break item,
                // A reference to a row queued before it: send the queue, then look again.
                Err(Unmapped::Unresolved(_)) if !queue.is_empty() => {
                    if flush(tx, target, &mut queue, &mut sent, &mut ids).await? {
                        return Ok(sent);
                    }
                }
                Err(Unmapped::Unresolved(reason) | Unmapped::Uncarried(reason)) => {
                    record(tx, pair, change, &reason).await?;
                    sent.failed += 1;
                    break None;
                }
            }
        };
        let Some(item) = item else { continue };
        queue.push(Queued {
            index,
            item,
            pair: pair.postgres.clone(),
            key: change.key.clone(),
            op: change.op,
            committed_ms: change.committed_ms,
        });
        if queue.len() >= BATCH && flush(tx, target, &mut queue, &mut sent, &mut ids).await? {
            return Ok(sent);
        }
    }
    if flush(tx, target, &mut queue, &mut sent, &mut ids).await? {
        return Ok(sent);
    }
    sent.done = page.len();
    Ok(sent)
}

/// Why a row could not become a change for Convex.
enum Unmapped {
    /// A reference to a row that has no Convex counterpart (yet).
    Unresolved(String),
    /// A value the mapping refuses.
    Uncarried(String),
}

/// The `gateway:syncApply` change for `change`, or `None` when there is nothing to send.
async fn item_for(
    tx: &Transaction<'_>,
    pair: &TablePair,
    table: &TableInfo,
    change: &Change,
    ids: &mut Ids,
    (epoch, force): (&str, bool),
) -> Result<Result<Option<Item>, Unmapped>, tokio_postgres::Error> {
    let known = ids.get(tx, &pair.postgres, &change.key).await?;
    let key = match change.seq {
        // Zero-padded, so a batch's keys are one range of the index `gateway:syncApply` reads.
        Some(_) => format!("sync:{epoch}:{:020}", change.position),
        None => format!("sync:{epoch}:b:{}:{}", pair.postgres, change.key),
    };
    // The version the row was synced at: a Convex document that no longer holds it changed.
    let expect = match (&change.previous, force) {
        (Some(previous), false) => fields_of(tx, pair, table, previous, ids).await?.ok(),
        _ => None,
    };
    let (op, fields) = match (change.op, &known) {
        (Op::Delete, None) => return Ok(Ok(None)),
        (Op::Delete, Some(_)) => ("delete", None),
        (_, known) => {
            let Some(row) = &change.row else {
                return Ok(Err(Unmapped::Uncarried("the change has no row".into())));
            };
            let fields = match fields_of(tx, pair, table, row, ids).await? {
                Ok(fields) => fields,
                Err(unmapped) => return Ok(Err(unmapped)),
            };
            (
                if known.is_some() { "update" } else { "insert" },
                Some(fields),
            )
        }
    };
    Ok(Ok(Some(Item {
        key,
        table: pair.convex.clone(),
        op,
        id: known,
        fields,
        expect,
        force,
    })))
}

/// A row (`to_jsonb`) as the Convex fields of `pair`: renamed, references as Convex ids,
/// values through the one mapping, NULLs left out. The key and creation columns are not carried
/// (`gateway.sync_keys` pairs the rows), nor are generated columns.
async fn fields_of(
    tx: &impl GenericClient,
    pair: &TablePair,
    table: &TableInfo,
    row: &Map<String, Value>,
    ids: &mut Ids,
) -> Result<Result<Map<String, Value>, Unmapped>, tokio_postgres::Error> {
    let mut fields = Map::new();
    for column in table.fields.iter().filter(|c| !c.generated) {
        let value = row.get(&column.name).unwrap_or(&Value::Null);
        if value.is_null() {
            continue;
        }
        let carried = match pair.references.get(&column.name) {
            Some(target) => {
                let pg_key = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match ids.get(tx, target, &pg_key).await? {
                    Some(id) => Value::String(id),
                    None => {
                        return Ok(Err(Unmapped::Unresolved(format!(
                            "`{}` refers to {pg_key} in {target}, which has no document in Convex",
                            column.name
                        ))));
                    }
                }
            }
            None => match to_convex(column, value) {
                Ok(value) => value,
                Err(err) => return Ok(Err(Unmapped::Uncarried(err.to_string()))),
            },
        };
        fields.insert(pair.convex_field(&column.name).to_owned(), carried);
    }
    Ok(Ok(fields))
}

/// A row (`to_jsonb`) as the Convex fields it is synced as, or why it cannot be.
pub async fn row_fields(
    client: &impl GenericClient,
    pair: &TablePair,
    table: &TableInfo,
    row: &Map<String, Value>,
    ids: &mut Ids,
) -> Result<Result<Map<String, Value>, String>, tokio_postgres::Error> {
    Ok(fields_of(client, pair, table, row, ids)
        .await?
        .map_err(|(Unmapped::Unresolved(reason) | Unmapped::Uncarried(reason))| reason))
}

/// Sends the queue; answers whether it stopped at a conflict (then `sent.done` says where).
/// The batch is logged in `gateway.sync_inflight` first, and the log entry goes with `tx`.
async fn flush(
    tx: &Transaction<'_>,
    target: &Target<'_>,
    queue: &mut Vec<Queued>,
    sent: &mut Sent,
    ids: &mut Ids,
) -> Result<bool, anyhow::Error> {
    let batch = std::mem::take(queue);
    if batch.is_empty() {
        return Ok(false);
    }
    let logged: Vec<Value> = batch
        .iter()
        .map(|q| json!({"item": q.item.to_json(), "pair": q.pair, "key": q.key, "op": q.op.as_str()}))
        .collect();
    let intent: i64 = target
        .intents
        .query_one(
            "INSERT INTO gateway.sync_inflight (batch) VALUES ($1::text::jsonb) RETURNING seq",
            &[&Value::Array(logged).to_string()],
        )
        .await?
        .get(0);
    let stopped = apply_batch(tx, target.export, &batch, sent, ids, false).await?;
    tx.execute(
        "DELETE FROM gateway.sync_inflight WHERE seq = $1",
        &[&intent],
    )
    .await?;
    Ok(stopped)
}

/// Calls `gateway:syncApply` with a batch and records the outcomes; one change the deployment
/// refuses fails the call, so then the changes go one by one, and the refused ones are recorded
/// (unless `replaying`: the page they belong to records them when it is sent again).
async fn apply_batch(
    tx: &Transaction<'_>,
    export: &ExportClient,
    batch: &[Queued],
    sent: &mut Sent,
    ids: &mut Ids,
    replaying: bool,
) -> Result<bool, anyhow::Error> {
    let items: Vec<Item> = batch.iter().map(|q| q.item.clone()).collect();
    match sync_apply(export, &items).await {
        Ok(answers) => settle(tx, batch, &answers, sent, ids, replaying).await,
        Err(ApplyError::Rejected(_)) => {
            for queued in batch {
                match sync_apply(export, std::slice::from_ref(&queued.item)).await {
                    Ok(answers) => {
                        let one = std::slice::from_ref(queued);
                        if settle(tx, one, &answers, sent, ids, replaying).await? {
                            return Ok(true);
                        }
                    }
                    Err(ApplyError::Rejected(_)) if replaying => {}
                    Err(ApplyError::Rejected(reason)) => {
                        let fields = queued.item.fields.as_ref();
                        record_error(tx, &queued.pair, &queued.key, &reason, fields).await?;
                        sent.failed += 1;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

/// Sends again the batches a crash left in `gateway.sync_inflight` (their idempotency keys
/// answer as the first time) and records what they became, so that Convex's log, which holds
/// those writes, is read knowing they were the sync's own. Answers how many batches.
pub async fn replay_inflight(
    client: &mut tokio_postgres::Client,
    export: &ExportClient,
) -> Result<usize, anyhow::Error> {
    let rows = client
        .query(
            "SELECT seq, batch::text FROM gateway.sync_inflight ORDER BY seq",
            &[],
        )
        .await?;
    for row in &rows {
        let seq: i64 = row.get(0);
        let logged: Vec<Value> = serde_json::from_str(&row.get::<_, String>(1)).unwrap_or_default();
        let batch: Vec<Queued> = logged
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                Some(Queued {
                    index,
                    item: Item::from_json(&entry["item"])?,
                    pair: entry["pair"].as_str()?.to_owned(),
                    key: entry["key"].as_str()?.to_owned(),
                    op: match entry["op"].as_str()? {
                        "insert" => Op::Insert,
                        "delete" => Op::Delete,
                        _ => Op::Update,
                    },
                    committed_ms: 0.0,
                })
            })
            .collect();
        let tx = client.transaction().await?;
        apply_batch(
            &tx,
            export,
            &batch,
            &mut Sent::default(),
            &mut Ids::default(),
            true,
        )
        .await?;
        tx.execute("DELETE FROM gateway.sync_inflight WHERE seq = $1", &[&seq])
            .await?;
        tx.commit().await?;
    }
    Ok(rows.len())
}

/// Records what a sent batch became; answers whether it stopped at a conflict. The revisions a
/// write will cause in Convex are expected as echoes, except for an answer replayed from an
/// earlier call outside a replay of the in-flight log: that call's echo was expected then.
async fn settle(
    tx: &Transaction<'_>,
    batch: &[Queued],
    answers: &[Answer],
    sent: &mut Sent,
    ids: &mut Ids,
    replaying: bool,
) -> Result<bool, anyhow::Error> {
    // Written in three statements for the whole batch, not two per row.
    let mut paired: (Vec<&str>, Vec<&str>, Vec<&str>) = Default::default();
    let mut unpaired: (Vec<&str>, Vec<&str>) = Default::default();
    let mut echoes: (Vec<&str>, Vec<&str>, Vec<String>) = Default::default();
    let mut stopped = false;
    for (queued, answer) in batch.iter().zip(answers) {
        let fields = queued
            .item
            .fields
            .as_ref()
            .filter(|_| replaying || !answer.replayed);
        let outcome = &answer.outcome;
        let written_id = match outcome {
            Outcome::Conflict(_) => {
                sent.done = queued.index;
                sent.conflict = true;
                stopped = true;
                break;
            }
            Outcome::Inserted(new_id) => {
                paired.0.push(&queued.pair);
                paired.1.push(&queued.key);
                paired.2.push(new_id);
                ids.set(&queued.pair, &queued.key, Some(new_id.clone()));
                Some(new_id.as_str())
            }
            Outcome::Updated => queued.item.id.as_deref(),
            Outcome::Deleted | Outcome::Missing => {
                unpaired.0.push(&queued.pair);
                unpaired.1.push(&queued.key);
                ids.set(&queued.pair, &queued.key, None);
                None
            }
            Outcome::Same => None,
        };
        if let (Some(id), Some(fields)) = (written_id, fields) {
            echoes.0.push(&queued.pair);
            echoes.1.push(id);
            echoes.2.push(echo::fingerprint(fields));
        }
        if matches!(
            outcome,
            Outcome::Inserted(_) | Outcome::Updated | Outcome::Deleted
        ) {
            *sent
                .written
                .entry((queued.pair.clone(), queued.op.as_str()))
                .or_default() += 1;
            sent.newest_ms = Some(sent.newest_ms.unwrap_or(0.0).max(queued.committed_ms));
        }
    }
    if !paired.0.is_empty() {
        tx.execute(
            "INSERT INTO gateway.sync_keys (pair, pg_key, convex_id) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) \
             ON CONFLICT (pair, pg_key) DO UPDATE SET convex_id = EXCLUDED.convex_id",
            &[&paired.0, &paired.1, &paired.2],
        )
        .await?;
    }
    if !unpaired.0.is_empty() {
        tx.execute(
            "DELETE FROM gateway.sync_keys k USING unnest($1::text[], $2::text[]) AS u(pair, pg_key) \
             WHERE k.pair = u.pair AND k.pg_key = u.pg_key",
            &[&unpaired.0, &unpaired.1],
        )
        .await?;
    }
    if !echoes.0.is_empty() {
        echo::expect_many(tx, &echoes.0, &echoes.1, &echoes.2).await?;
    }
    if !stopped && answers.len() < batch.len() {
        anyhow::bail!("gateway:syncApply answered fewer outcomes than changes without a conflict");
    }
    Ok(stopped)
}

/// The Convex `_id`s of Postgres rows (`gateway.sync_keys`), read for a whole page at once and
/// kept up to date as its batches insert and delete documents.
#[derive(Default)]
pub struct Ids(HashMap<(String, String), Option<String>>);

impl Ids {
    /// Reads the ids of the page's rows.
    async fn prefetch(
        &mut self,
        client: &impl GenericClient,
        config: &SyncConfig,
        page: &[Change],
    ) -> Result<(), tokio_postgres::Error> {
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for change in page {
            if config.tables.iter().any(|p| p.postgres == change.table) {
                wanted.entry(&change.table).or_default().push(&change.key);
            }
        }
        for (pair, keys) in wanted {
            for key in &keys {
                self.0.insert((pair.to_owned(), (*key).to_owned()), None);
            }
            let rows = client
                .query(
                    "SELECT pg_key, convex_id FROM gateway.sync_keys WHERE pair = $1 AND pg_key = ANY($2)",
                    &[&pair, &keys],
                )
                .await?;
            for row in rows {
                self.0
                    .insert((pair.to_owned(), row.get(0)), Some(row.get(1)));
            }
        }
        Ok(())
    }

    /// The Convex `_id` the row `pg_key` of `pair` was synced to.
    async fn get(
        &mut self,
        client: &impl GenericClient,
        pair: &str,
        pg_key: &str,
    ) -> Result<Option<String>, tokio_postgres::Error> {
        let at = (pair.to_owned(), pg_key.to_owned());
        if let Some(known) = self.0.get(&at) {
            return Ok(known.clone());
        }
        let id = convex_id(client, pair, pg_key).await?;
        self.0.insert(at, id.clone());
        Ok(id)
    }

    fn set(&mut self, pair: &str, pg_key: &str, id: Option<String>) {
        self.0.insert((pair.to_owned(), pg_key.to_owned()), id);
    }
}

/// The Convex `_id` the row `pg_key` of `pair` was synced to.
async fn convex_id(
    tx: &impl GenericClient,
    pair: &str,
    pg_key: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    Ok(tx
        .query_opt(
            "SELECT convex_id FROM gateway.sync_keys WHERE pair = $1 AND pg_key = $2",
            &[&pair, &pg_key],
        )
        .await?
        .map(|row| row.get(0)))
}

async fn record(
    tx: &Transaction<'_>,
    pair: &TablePair,
    change: &Change,
    error: &str,
) -> Result<(), tokio_postgres::Error> {
    record_error(tx, &pair.postgres, &change.key, error, change.row.as_ref()).await
}

async fn record_error(
    tx: &Transaction<'_>,
    pair: &str,
    key: &str,
    error: &str,
    row: Option<&Map<String, Value>>,
) -> Result<(), tokio_postgres::Error> {
    let document = row.map(|r| Value::Object(r.clone()).to_string());
    tx.execute(
        "INSERT INTO gateway.sync_errors (direction, pair, row_id, error, document) \
         VALUES ('to_convex', $1, $2, $3, $4::text::jsonb)",
        &[&pair, &key, &error, &document],
    )
    .await?;
    Ok(())
}
