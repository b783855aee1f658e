//! The sync as a background task of the gateway: both directions in one loop on one Postgres
//! connection, so that each sees what the other has done.
//!
//! - Convex to Postgres backfills each paired table from one `list_snapshot` timestamp
//!   (referenced tables first), then follows `document_deltas` of every table in one commit
//!   order from that timestamp.
//! - Postgres to Convex notes the change feed's position, copies each paired table's rows that
//!   have no Convex counterpart (referenced tables first), then follows the feed from that
//!   position.
//!
//! Each page is applied with its checkpoint in one transaction (`to_postgres`, `to_convex`), so a
//! restart, or a `kill -9`, goes on from the last committed page. A direction with more to do is
//! read again at once; when neither has, the loop waits, longer each time up to
//! `idle_poll_max`.
//!
//! Exactly one gateway runs it: the task holds a Postgres advisory lock on its own connection
//! for as long as it runs, and the others wait for it and take over when it dies. Failures
//! (Postgres or Convex away) are logged, recorded in `gateway.sync_state`, and retried with
//! backoff; they never stop the gateway, and a Convex outage only delays: changes wait in the
//! feed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::config::{SyncConfig, TablePair};
use super::export::{ExportClient, Revision};
use super::metrics::SyncMetrics;
use super::schema::{self, Way};
use super::{to_convex, to_postgres};
use crate::store::postgres::PostgresConfig;
use crate::store::postgres::catalog::Catalog;

/// The advisory lock of the sync ("c2p sync" in ASCII).
const LOCK: i64 = 0x0063_3270_7379_6e63;

/// Rows or changes per Postgres-to-Convex page.
const PAGE: i64 = 256;

/// The running task; dropping it stops the task (a page in flight rolls back).
pub struct SyncTask(JoinHandle<()>);

impl Drop for SyncTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the sync of the configured pairs.
pub fn spawn(
    config: Arc<SyncConfig>,
    postgres: PostgresConfig,
    export: ExportClient,
    metrics: Option<SyncMetrics>,
) -> SyncTask {
    SyncTask(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            let started = std::time::Instant::now();
            if let Err((way, err)) = session(&config, &postgres, &export, metrics.as_ref()).await {
                let error = format!("{err:#}");
                tracing::warn!(error, direction = way.as_str(), "sync failed; retrying");
                if let Some(metrics) = &metrics {
                    metrics.errors(1);
                }
                note_error(&config, &postgres, way, &error).await;
            }
            if started.elapsed() > Duration::from_secs(60) {
                backoff = Duration::from_millis(250);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }))
}

/// Where the Convex-to-Postgres direction has reached.
enum Checkpoint {
    /// Copying pair `table` (an index into the backfill order) at `snapshot`, from `cursor`.
    Backfill {
        table: usize,
        snapshot: Option<i64>,
        cursor: Option<String>,
    },
    /// Following the deltas after `cursor`.
    Live { cursor: i64 },
}

impl Checkpoint {
    fn from_json(value: Option<&Value>) -> Self {
        match value {
            Some(v) if v["phase"] == "live" => match v["cursor"].as_i64() {
                Some(cursor) => Self::Live { cursor },
                None => Self::start(),
            },
            Some(v) if v["phase"] == "backfill" => Self::Backfill {
                table: v["table"].as_u64().unwrap_or(0) as usize,
                snapshot: v["snapshot"].as_i64(),
                cursor: v["cursor"].as_str().map(str::to_owned),
            },
            _ => Self::start(),
        }
    }

    fn start() -> Self {
        Self::Backfill {
            table: 0,
            snapshot: None,
            cursor: None,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Backfill {
                table,
                snapshot,
                cursor,
            } => {
                json!({"phase": "backfill", "table": table, "snapshot": snapshot, "cursor": cursor})
            }
            Self::Live { cursor } => json!({"phase": "live", "cursor": cursor}),
        }
    }
}

/// The pairs that flow `way`, each after the tables its references point at.
fn backfill_order(config: &SyncConfig, way: Way) -> Vec<&TablePair> {
    let wanted: Vec<&TablePair> = config
        .tables
        .iter()
        .filter(|p| match way {
            Way::ToPostgres => p.direction.to_postgres(),
            Way::ToConvex => p.direction.to_convex(),
        })
        .collect();
    let mut ordered: Vec<&TablePair> = Vec::with_capacity(wanted.len());
    while ordered.len() < wanted.len() {
        let before = ordered.len();
        for pair in &wanted {
            let placed = |name: &str| ordered.iter().any(|p| p.postgres == name);
            if placed(&pair.postgres) {
                continue;
            }
            let ready = pair.references.values().all(|target| {
                target == &pair.postgres
                    || placed(target)
                    || !wanted.iter().any(|p| &p.postgres == target)
            });
            if ready {
                ordered.push(pair);
            }
        }
        if ordered.len() == before {
            // A cycle of references: the rest in the file's order.
            for pair in &wanted {
                if !ordered.iter().any(|p| p.postgres == pair.postgres) {
                    ordered.push(pair);
                }
            }
        }
    }
    ordered
}

/// Where the Postgres-to-Convex direction has reached.
#[derive(Debug, Clone, PartialEq)]
struct Sending {
    /// Copying pair `table` (an index into the backfill order) after key `after`; then live.
    backfill: Option<(usize, Option<String>)>,
    /// The feed position sent up to (in a backfill, where the feed is followed from after it).
    position: i64,
    /// Names this sync's idempotency keys in Convex.
    epoch: String,
}

impl Sending {
    fn from_json(value: &Value) -> Option<Self> {
        let epoch = value["epoch"].as_str()?.to_owned();
        let position = value["position"].as_i64()?;
        let backfill = match value["phase"].as_str()? {
            "live" => None,
            _ => Some((
                value["table"].as_u64().unwrap_or(0) as usize,
                value["after"].as_str().map(str::to_owned),
            )),
        };
        Some(Self {
            backfill,
            position,
            epoch,
        })
    }

    fn to_json(&self) -> Value {
        match &self.backfill {
            Some((table, after)) => json!({
                "phase": "backfill", "table": table, "after": after,
                "position": self.position, "epoch": self.epoch,
            }),
            None => json!({"phase": "live", "position": self.position, "epoch": self.epoch}),
        }
    }
}

type Failed = (Way, anyhow::Error);

/// Tags a failure with the direction it stopped.
trait Tag<T> {
    fn on(self, way: Way) -> Result<T, Failed>;
}

impl<T, E: Into<anyhow::Error>> Tag<T> for Result<T, E> {
    fn on(self, way: Way) -> Result<T, Failed> {
        self.map_err(|err| (way, err.into()))
    }
}

/// Records a failure in `gateway.sync_state`, if Postgres can be reached.
async fn note_error(config: &SyncConfig, postgres: &PostgresConfig, way: Way, error: &str) {
    let Ok(client) = crate::store::postgres::connect::connect_one(postgres).await else {
        return;
    };
    let pairs: Vec<&str> = backfill_order(config, way)
        .iter()
        .map(|p| p.postgres.as_str())
        .collect();
    if client.batch_execute(schema::INSTALL).await.is_ok()
        && let Err(err) = schema::note_error(&client, &pairs, way, error).await
    {
        tracing::debug!(error = %err, "could not record the sync's failure");
    }
}

/// One connection's run: take the lock, then run both directions until something fails.
async fn session(
    config: &SyncConfig,
    postgres: &PostgresConfig,
    export: &ExportClient,
    metrics: Option<&SyncMetrics>,
) -> Result<(), Failed> {
    let mut client = crate::store::postgres::connect::connect_one(postgres)
        .await
        .on(Way::ToPostgres)?;
    loop {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK])
            .await
            .on(Way::ToPostgres)?
            .get(0);
        if locked {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    client
        .batch_execute(schema::INSTALL)
        .await
        .context("creating the sync's tables in the gateway schema")
        .on(Way::ToPostgres)?;
    let catalog = Catalog::load(&client, &postgres.schema, &postgres.creation_column, &[])
        .await
        .on(Way::ToPostgres)?;
    let intents = crate::store::postgres::connect::connect_one(postgres)
        .await
        .on(Way::ToConvex)?;
    if !backfill_order(config, Way::ToConvex).is_empty() {
        let replayed = to_convex::replay_inflight(&mut client, export)
            .await
            .on(Way::ToConvex)?;
        if replayed > 0 {
            tracing::info!(
                batches = replayed,
                "sync: sent again the batches a stop left in flight"
            );
        }
    }
    let mut run = Run {
        intents,
        config,
        export,
        metrics,
        catalog,
        to_postgres: None,
        to_convex: None,
        paused: HashSet::new(),
        held: HashSet::new(),
    };
    if !backfill_order(config, Way::ToPostgres).is_empty() {
        let stored = schema::checkpoint(&client, Way::ToPostgres)
            .await
            .on(Way::ToPostgres)?;
        run.to_postgres = Some(Checkpoint::from_json(stored.as_ref()));
    }
    if !backfill_order(config, Way::ToConvex).is_empty() {
        run.to_convex = Some(run.start_sending(&mut client).await?);
    }
    let mut idle = Duration::from_millis(50);
    loop {
        let mut busy = run.admin(&mut client).await?;
        // Postgres to Convex goes first: after a crash, the page it had sent to Convex but not
        // recorded here is sent again (its idempotency keys answer as before) and recorded,
        // before Convex's log, which holds those writes, is read.
        if run.to_convex.is_some() {
            busy |= run.send(&mut client).await?;
        }
        if run.to_postgres.is_some() {
            busy |= run.receive(&mut client).await?;
        }
        if busy {
            idle = Duration::from_millis(50);
        } else {
            tokio::time::sleep(idle).await;
            idle = (idle * 2).min(config.idle_poll_max);
        }
    }
}

/// A session's state.
struct Run<'a> {
    config: &'a SyncConfig,
    export: &'a ExportClient,
    metrics: Option<&'a SyncMetrics>,
    catalog: Catalog,
    to_postgres: Option<Checkpoint>,
    to_convex: Option<Sending>,
    /// The connection that logs each batch for Convex before it is sent.
    intents: tokio_postgres::Client,
    /// Pairs an admin paused.
    paused: HashSet<String>,
    /// Pairs whose changes are held: the paused ones, and the resumed ones with held changes
    /// still to apply (their new changes queue behind those).
    held: HashSet<String>,
}

impl Run<'_> {
    /// Where Postgres-to-Convex pages go.
    fn target<'b>(&'b self, epoch: &'b str, held: &'b HashSet<String>) -> to_convex::Target<'b> {
        to_convex::Target {
            config: self.config,
            catalog: &self.catalog,
            export: self.export,
            epoch,
            held,
            intents: &self.intents,
        }
    }

    /// What admins asked for: reads the paused pairs, applies a page of held changes of the
    /// resumed ones, and runs a requested resync. Answers whether it did anything.
    async fn admin(&mut self, client: &mut tokio_postgres::Client) -> Result<bool, Failed> {
        let way = Way::ToPostgres;
        let rows = client
            .query(
                "SELECT pair, bool_or(paused) FROM ( \
                     SELECT pair, paused FROM gateway.sync_state WHERE paused \
                     UNION ALL SELECT DISTINCT pair, false FROM gateway.sync_held) p GROUP BY pair",
                &[],
            )
            .await
            .on(way)?;
        self.paused = rows
            .iter()
            .filter(|r| r.get::<_, bool>(1))
            .map(|r| r.get(0))
            .collect();
        self.held = rows.iter().map(|r| r.get(0)).collect();
        let mut busy = false;
        if self.held.len() > self.paused.len() {
            busy |= self.release(client).await?;
        }
        let resyncs: Vec<(String, std::time::SystemTime)> = client
            .query(
                "SELECT pair, resync_requested_at FROM gateway.sync_state \
                 WHERE direction = 'to_postgres' AND resync_requested_at IS NOT NULL",
                &[],
            )
            .await
            .on(way)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for (pair, asked) in resyncs {
            self.resync(client, &pair, asked).await?;
            client
                .execute(
                    "UPDATE gateway.sync_state SET resync_requested_at = NULL \
                     WHERE pair = $1 AND direction = 'to_postgres' AND resync_requested_at <= $2",
                    &[&pair, &asked],
                )
                .await
                .on(way)?;
            busy = true;
        }
        Ok(busy)
    }

    /// Applies a page of the held changes of resumed pairs, oldest first, each direction.
    async fn release(&mut self, client: &mut tokio_postgres::Client) -> Result<bool, Failed> {
        let paused: Vec<String> = self.paused.iter().cloned().collect();
        let rows = client
            .query(
                "SELECT seq, direction, revision::text, position FROM gateway.sync_held \
                 WHERE NOT (pair = ANY($1)) ORDER BY seq LIMIT 256",
                &[&paused],
            )
            .await
            .on(Way::ToPostgres)?;
        let mut revisions = Vec::new();
        let mut revision_seqs = Vec::new();
        let mut positions = Vec::new();
        let mut position_seqs = Vec::new();
        for row in &rows {
            let seq: i64 = row.get(0);
            let direction: String = row.get(1);
            if direction == Way::ToPostgres.as_str() {
                let text: Option<String> = row.get(2);
                if let Some(revision) = text.and_then(|t| serde_json::from_str::<Revision>(&t).ok())
                {
                    revisions.push(revision);
                }
                revision_seqs.push(seq);
            } else if let Some(position) = row.get::<_, Option<i64>>(3) {
                positions.push(position);
                position_seqs.push((position, seq));
            }
        }
        if !revision_seqs.is_empty()
            && let Some(at) = &self.to_postgres
        {
            let way = Way::ToPostgres;
            let sent = self.to_convex.as_ref().map(|s| s.position);
            let tx = client.transaction().await.on(way)?;
            let applied = to_postgres::apply_page(
                &tx,
                self.config,
                &self.catalog,
                &revisions,
                &at.to_json(),
                sent,
                &self.paused,
            )
            .await
            .on(way)?;
            tx.execute(
                "DELETE FROM gateway.sync_held WHERE seq = ANY($1)",
                &[&revision_seqs],
            )
            .await
            .on(way)?;
            note(&tx, way, &applied.by_pair, None).await.on(way)?;
            tx.commit().await.on(way)?;
            self.count_received(&applied, None);
        }
        if !position_seqs.is_empty()
            && let Some(sending) = &self.to_convex
        {
            let way = Way::ToConvex;
            let page = to_convex::changes_at(&*client, &positions).await.on(way)?;
            let tx = client.transaction().await.on(way)?;
            let sent = to_convex::send(&tx, &self.target(&sending.epoch, &self.paused), &page)
                .await
                .on(way)?;
            // Held changes up to the first one still waiting behind a conflict are done (and
            // ones the feed no longer has are gone).
            let waiting = page.get(sent.done).map(|c| c.position);
            let done: Vec<i64> = position_seqs
                .iter()
                .filter(|(position, _)| waiting.is_none_or(|w| *position < w))
                .map(|(_, seq)| *seq)
                .collect();
            tx.execute(
                "DELETE FROM gateway.sync_held WHERE seq = ANY($1)",
                &[&done],
            )
            .await
            .on(way)?;
            note(&tx, way, &sent.written, None).await.on(way)?;
            tx.commit().await.on(way)?;
            self.count_sent(&sent, None);
        }
        Ok(!rows.is_empty())
    }

    /// Copies one pair again: Convex's table as it stands into Postgres, then the Postgres rows
    /// that have no Convex counterpart into Convex.
    async fn resync(
        &mut self,
        client: &mut tokio_postgres::Client,
        name: &str,
        asked: std::time::SystemTime,
    ) -> Result<(), Failed> {
        let Some(pair) = self.config.tables.iter().find(|p| p.postgres == name) else {
            return Ok(());
        };
        if pair.direction.to_postgres()
            && let Some(at) = &self.to_postgres
        {
            let way = Way::ToPostgres;
            let (mut snapshot, mut cursor) = (None, None);
            loop {
                let page = self
                    .export
                    .list_snapshot(&pair.convex, snapshot, cursor.as_deref())
                    .await
                    .on(way)?;
                let revisions = snapshot_revisions(pair, page.documents, page.snapshot);
                let sent = self.to_convex.as_ref().map(|s| s.position);
                let tx = client.transaction().await.on(way)?;
                let applied = to_postgres::apply_page(
                    &tx,
                    self.config,
                    &self.catalog,
                    &revisions,
                    &at.to_json(),
                    sent,
                    &self.held,
                )
                .await
                .on(way)?;
                tx.commit().await.on(way)?;
                self.count_received(&applied, None);
                if !page.has_more {
                    break;
                }
                snapshot = Some(page.snapshot);
                cursor = page.cursor;
            }
        }
        if pair.direction.to_convex()
            && let Some(sending) = self.to_convex.clone()
        {
            let way = Way::ToConvex;
            let table = self.catalog.table(&pair.postgres).on(way)?;
            let mut after: Option<String> = None;
            // Keys of this resync's own (a retry of it after a crash applies once).
            let asked_ms = asked
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            let resync_epoch = format!("{}:resync:{asked_ms}", sending.epoch);
            loop {
                let rows = to_convex::backfill_rows(&*client, pair, table, after.as_deref(), PAGE)
                    .await
                    .on(way)?;
                let Some(last) = rows.last() else { break };
                after = Some(last.key.clone());
                let tx = client.transaction().await.on(way)?;
                let sent = to_convex::send(&tx, &self.target(&resync_epoch, &self.held), &rows)
                    .await
                    .on(way)?;
                tx.commit().await.on(way)?;
                self.count_sent(&sent, None);
            }
        }
        tracing::info!(table = name, "sync: resynced");
        Ok(())
    }

    /// The Postgres-to-Convex checkpoint, or a new one: the feed's position now, a new epoch,
    /// and the backfill ahead. Every table that flows to Convex needs the change log's trigger.
    async fn start_sending(&self, client: &mut tokio_postgres::Client) -> Result<Sending, Failed> {
        for pair in backfill_order(self.config, Way::ToConvex) {
            let table = self.catalog.table(&pair.postgres).on(Way::ToConvex)?;
            if !table.has_trigger {
                return Err((
                    Way::ToConvex,
                    anyhow::anyhow!(
                        "{} has no change-log trigger; run `convex-gateway postgres install` so its changes can flow to Convex",
                        pair.postgres
                    ),
                ));
            }
        }
        let stored = schema::checkpoint(&*client, Way::ToConvex)
            .await
            .on(Way::ToConvex)?;
        if let Some(sending) = stored.as_ref().and_then(Sending::from_json) {
            return Ok(sending);
        }
        let position = to_convex::head(client).await.on(Way::ToConvex)?;
        let sending = Sending {
            backfill: Some((0, None)),
            position,
            epoch: uuid::Uuid::new_v4().simple().to_string(),
        };
        schema::store_checkpoint(&*client, Way::ToConvex, &sending.to_json(), 0)
            .await
            .on(Way::ToConvex)?;
        Ok(sending)
    }

    /// One page from Convex into Postgres; answers whether there may be more at once.
    async fn receive(&mut self, client: &mut tokio_postgres::Client) -> Result<bool, Failed> {
        let order = backfill_order(self.config, Way::ToPostgres);
        let Some(at) = &self.to_postgres else {
            return Ok(false);
        };
        let (revisions, next, more) = match at {
            Checkpoint::Backfill {
                table,
                snapshot,
                cursor,
            } => {
                let Some(pair) = order.get(*table) else {
                    // Everything copied: follow from the snapshot's timestamp.
                    let cursor = match snapshot {
                        Some(snapshot) => *snapshot,
                        None => {
                            self.export
                                .list_snapshot(&order[0].convex, None, None)
                                .await
                                .on(Way::ToPostgres)?
                                .snapshot
                        }
                    };
                    self.to_postgres = Some(Checkpoint::Live { cursor });
                    return Ok(true);
                };
                let page = self
                    .export
                    .list_snapshot(&pair.convex, *snapshot, cursor.as_deref())
                    .await
                    .on(Way::ToPostgres)?;
                let revisions = snapshot_revisions(pair, page.documents, page.snapshot);
                let next = if page.has_more {
                    Checkpoint::Backfill {
                        table: *table,
                        snapshot: Some(page.snapshot),
                        cursor: page.cursor,
                    }
                } else {
                    Checkpoint::Backfill {
                        table: table + 1,
                        snapshot: Some(page.snapshot),
                        cursor: None,
                    }
                };
                (revisions, next, true)
            }
            Checkpoint::Live { cursor } => {
                let page = self
                    .export
                    .document_deltas(None, *cursor)
                    .await
                    .on(Way::ToPostgres)?;
                let more = page.has_more;
                (
                    page.revisions,
                    Checkpoint::Live {
                        cursor: page.cursor,
                    },
                    more,
                )
            }
        };
        let sent = self.to_convex.as_ref().map(|s| s.position);
        let tx = client.transaction().await.on(Way::ToPostgres)?;
        let applied = to_postgres::apply_page(
            &tx,
            self.config,
            &self.catalog,
            &revisions,
            &next.to_json(),
            sent,
            &self.held,
        )
        .await
        .on(Way::ToPostgres)?;
        let lag = applied
            .newest_ts
            .map(|ts| (now_ms() - ts as f64 / 1e6) / 1000.0);
        note(&tx, Way::ToPostgres, &applied.by_pair, lag)
            .await
            .on(Way::ToPostgres)?;
        tx.commit().await.on(Way::ToPostgres)?;
        self.count_received(&applied, lag);
        self.to_postgres = Some(next);
        Ok(more || !revisions.is_empty())
    }

    /// One page from Postgres into Convex; answers whether there may be more at once.
    async fn send(&mut self, client: &mut tokio_postgres::Client) -> Result<bool, Failed> {
        let Some(sending) = self.to_convex.clone() else {
            return Ok(false);
        };
        let order = backfill_order(self.config, Way::ToConvex);
        let mut next = sending.clone();
        let (page, more) = match &sending.backfill {
            Some((index, after)) => {
                let Some(pair) = order.get(*index) else {
                    next.backfill = None;
                    let tx = client.transaction().await.on(Way::ToConvex)?;
                    schema::store_checkpoint(&tx, Way::ToConvex, &next.to_json(), 0)
                        .await
                        .on(Way::ToConvex)?;
                    tx.commit().await.on(Way::ToConvex)?;
                    self.to_convex = Some(next);
                    return Ok(true);
                };
                let table = self.catalog.table(&pair.postgres).on(Way::ToConvex)?;
                let rows = to_convex::backfill_rows(&*client, pair, table, after.as_deref(), PAGE)
                    .await
                    .on(Way::ToConvex)?;
                (rows, true)
            }
            None => {
                to_convex::head(client).await.on(Way::ToConvex)?;
                let page = to_convex::changes(&*client, sending.position, PAGE)
                    .await
                    .on(Way::ToConvex)?;
                if page.is_empty() {
                    return Ok(false);
                }
                let full = page.len() as i64 == PAGE;
                (page, full)
            }
        };
        let tx = client.transaction().await.on(Way::ToConvex)?;
        let sent = to_convex::send(&tx, &self.target(&sending.epoch, &self.held), &page)
            .await
            .on(Way::ToConvex)?;
        match &mut next.backfill {
            Some((index, after)) => match sent.done.checked_sub(1).map(|i| &page[i]) {
                Some(last) => *after = Some(last.key.clone()),
                None if page.is_empty() => {
                    *index += 1;
                    *after = None;
                }
                None => {}
            },
            None => {
                next.position = match page.get(sent.done) {
                    Some(waiting) => waiting.position - 1,
                    None => page.last().map_or(next.position, |c| c.position),
                };
            }
        }
        let lag = sent.newest_ms.map(|ms| (now_ms() - ms) / 1000.0);
        let total = note(&tx, Way::ToConvex, &sent.written, lag)
            .await
            .on(Way::ToConvex)?;
        schema::store_checkpoint(&tx, Way::ToConvex, &next.to_json(), total)
            .await
            .on(Way::ToConvex)?;
        tx.commit().await.on(Way::ToConvex)?;
        self.count_sent(&sent, lag);
        let progressed = next != sending;
        self.to_convex = Some(next);
        // A conflict waits for Convex's revision: the other direction reads it next.
        Ok(progressed && more && !sent.conflict)
    }
}

impl Run<'_> {
    /// Counts a page applied in Postgres in the metrics.
    fn count_received(&self, applied: &to_postgres::Applied, lag: Option<f64>) {
        if applied.failed > 0 {
            tracing::warn!(
                failed = applied.failed,
                "sync (Convex to Postgres): rows that could not be carried are in gateway.sync_errors"
            );
        }
        let Some(metrics) = self.metrics else { return };
        for ((pair, op), n) in &applied.by_pair {
            metrics.changes(pair, Way::ToPostgres.as_str(), op, *n);
            if let Some(lag) = lag {
                metrics.lag(pair, Way::ToPostgres.as_str(), lag);
            }
        }
        for ((pair, policy), n) in &applied.conflicts {
            metrics.conflicts(pair, policy, *n);
        }
        metrics.errors(applied.failed);
    }

    /// Counts a page sent to Convex in the metrics.
    fn count_sent(&self, sent: &to_convex::Sent, lag: Option<f64>) {
        if sent.failed > 0 {
            tracing::warn!(
                failed = sent.failed,
                "sync (Postgres to Convex): rows that could not be carried are in gateway.sync_errors"
            );
        }
        let Some(metrics) = self.metrics else { return };
        for ((pair, op), n) in &sent.written {
            metrics.changes(pair, Way::ToConvex.as_str(), op, *n);
            if let Some(lag) = lag {
                metrics.lag(pair, Way::ToConvex.as_str(), lag);
            }
        }
        metrics.errors(sent.failed);
    }
}

/// Adds a page's rows written, per pair, to `gateway.sync_state`; answers the total.
async fn note(
    tx: &tokio_postgres::Transaction<'_>,
    way: Way,
    written: &BTreeMap<(String, &'static str), u64>,
    lag: Option<f64>,
) -> Result<u64, tokio_postgres::Error> {
    let mut by_pair: BTreeMap<&str, u64> = BTreeMap::new();
    for ((pair, _), n) in written {
        *by_pair.entry(pair.as_str()).or_default() += n;
    }
    for (pair, n) in &by_pair {
        schema::note_applied(tx, pair, way, *n, lag.unwrap_or(0.0)).await?;
    }
    Ok(by_pair.values().sum())
}

/// A snapshot page's documents as revisions at the snapshot's timestamp.
fn snapshot_revisions(
    pair: &TablePair,
    documents: Vec<serde_json::Map<String, Value>>,
    snapshot: i64,
) -> Vec<Revision> {
    documents
        .into_iter()
        .filter_map(|document| {
            Some(Revision {
                id: document.get("_id")?.as_str()?.to_owned(),
                table: pair.convex.clone(),
                ts: snapshot,
                document: Some(document),
            })
        })
        .collect()
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
