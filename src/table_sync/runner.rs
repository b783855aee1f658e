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
    let mut run = Run {
        config,
        export,
        metrics,
        catalog,
        to_postgres: None,
        to_convex: None,
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
        let mut busy = false;
        if run.to_postgres.is_some() {
            busy |= run.receive(&mut client).await?;
        }
        if run.to_convex.is_some() {
            busy |= run.send(&mut client).await?;
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
}

impl Run<'_> {
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
                let revisions: Vec<Revision> = page
                    .documents
                    .into_iter()
                    .filter_map(|document| {
                        Some(Revision {
                            id: document.get("_id")?.as_str()?.to_owned(),
                            table: pair.convex.clone(),
                            ts: page.snapshot,
                            document: Some(document),
                        })
                    })
                    .collect();
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
        )
        .await
        .on(Way::ToPostgres)?;
        let lag = applied
            .newest_ts
            .map(|ts| (now_ms() - ts as f64 / 1e6) / 1000.0);
        for pair in order.iter() {
            let written: u64 = applied
                .by_pair
                .iter()
                .filter(|((p, _), _)| p == &pair.postgres)
                .map(|(_, n)| n)
                .sum();
            if written > 0 {
                schema::note_applied(
                    &tx,
                    &pair.postgres,
                    Way::ToPostgres,
                    written,
                    lag.unwrap_or(0.0),
                )
                .await
                .on(Way::ToPostgres)?;
            }
        }
        tx.commit().await.on(Way::ToPostgres)?;
        if applied.failed > 0 {
            tracing::warn!(
                failed = applied.failed,
                "sync (Convex to Postgres): rows that could not be carried are in gateway.sync_errors"
            );
        }
        if let Some(metrics) = self.metrics {
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
        let sent = to_convex::send(
            &tx,
            self.config,
            &self.catalog,
            self.export,
            &page,
            &sending.epoch,
        )
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
        let mut written_by_pair: std::collections::BTreeMap<&str, u64> = Default::default();
        for ((pair, _), n) in &sent.written {
            *written_by_pair.entry(pair.as_str()).or_default() += n;
        }
        for (pair, n) in &written_by_pair {
            schema::note_applied(&tx, pair, Way::ToConvex, *n, lag.unwrap_or(0.0))
                .await
                .on(Way::ToConvex)?;
        }
        let total: u64 = written_by_pair.values().sum();
        schema::store_checkpoint(&tx, Way::ToConvex, &next.to_json(), total)
            .await
            .on(Way::ToConvex)?;
        tx.commit().await.on(Way::ToConvex)?;
        if let Some(metrics) = self.metrics {
            for ((pair, op), n) in &sent.written {
                metrics.changes(pair, Way::ToConvex.as_str(), op, *n);
                if let Some(lag) = lag {
                    metrics.lag(pair, Way::ToConvex.as_str(), lag);
                }
            }
            metrics.errors(sent.failed);
        }
        let progressed = next != sending;
        self.to_convex = Some(next);
        // A conflict waits for Convex's revision: the other direction reads it next.
        Ok(progressed && more && !sent.conflict)
    }
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
