//! The Convex-to-Postgres direction as a background task of the gateway: it backfills each
//! paired table from one `list_snapshot` timestamp (referenced tables first), then follows
//! `document_deltas` of every table in one commit order from that timestamp, at once while there
//! is more and with a growing pause (up to `idle_poll_max`) while there is none. Each page is
//! applied with its checkpoint in one transaction (`to_postgres`), so a restart, or a `kill -9`,
//! goes on from the last committed page.
//!
//! Exactly one gateway runs it: the task holds a Postgres advisory lock on its own connection
//! for as long as it runs, and the others wait for it. Failures (Postgres or Convex away) are
//! logged and retried with backoff; they never stop the gateway.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::config::{SyncConfig, TablePair};
use super::export::{ExportClient, Revision};
use super::to_postgres;
use crate::store::postgres::PostgresConfig;
use crate::store::postgres::catalog::Catalog;

/// The advisory lock of the Convex-to-Postgres direction ("c2p sync" in ASCII).
const LOCK: i64 = 0x0063_3270_7379_6e63;

/// The running task; dropping it stops the task (a page in flight rolls back).
pub struct SyncTask(JoinHandle<()>);

impl Drop for SyncTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the Convex-to-Postgres direction for the pairs that flow that way.
pub fn spawn(config: Arc<SyncConfig>, postgres: PostgresConfig, export: ExportClient) -> SyncTask {
    SyncTask(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            let started = std::time::Instant::now();
            if let Err(err) = session(&config, &postgres, &export).await {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "sync (Convex to Postgres) failed; retrying"
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                backoff = Duration::from_millis(250);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }))
}

/// Where the direction has reached.
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

/// The pairs that flow to Postgres, each after the tables its references point at.
fn backfill_order(config: &SyncConfig) -> Vec<&TablePair> {
    let wanted: Vec<&TablePair> = config
        .tables
        .iter()
        .filter(|p| p.direction.to_postgres())
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

/// One connection's run: take the lock, then backfill and follow until something fails.
async fn session(
    config: &SyncConfig,
    postgres: &PostgresConfig,
    export: &ExportClient,
) -> anyhow::Result<()> {
    let mut client = crate::store::postgres::connect::connect_one(postgres).await?;
    loop {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK])
            .await?
            .get(0);
        if locked {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    client
        .batch_execute(to_postgres::INSTALL)
        .await
        .context("creating the sync's tables in the gateway schema")?;
    let catalog = Catalog::load(&client, &postgres.schema, &postgres.creation_column, &[]).await?;
    let order = backfill_order(config);
    let mut at = Checkpoint::from_json(to_postgres::checkpoint(&client).await?.as_ref());
    let mut idle = Duration::from_millis(50);
    loop {
        let (revisions, next, more) = match &at {
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
                            export
                                .list_snapshot(&config.tables[0].convex, None, None)
                                .await?
                                .snapshot
                        }
                    };
                    at = Checkpoint::Live { cursor };
                    continue;
                };
                let page = export
                    .list_snapshot(&pair.convex, *snapshot, cursor.as_deref())
                    .await?;
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
                let page = export.document_deltas(None, *cursor).await?;
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
        let tx = client.transaction().await?;
        let applied =
            to_postgres::apply_page(&tx, config, &catalog, &revisions, &next.to_json()).await?;
        tx.commit().await?;
        if applied.failed > 0 {
            tracing::warn!(
                failed = applied.failed,
                "sync (Convex to Postgres): rows that could not be carried are in gateway.sync_errors"
            );
        }
        at = next;
        if more || !revisions.is_empty() {
            idle = Duration::from_millis(50);
        } else {
            tokio::time::sleep(idle).await;
            idle = (idle * 2).min(config.idle_poll_max);
        }
    }
}
