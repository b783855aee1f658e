//! The outbox in the shared state store (`gateway.outbox`), delivered by every replica's relay.
//!
//! A relay claims the oldest due entry that no other relay holds (`FOR UPDATE SKIP LOCKED`) and
//! that no earlier queued entry touching one of its documents is waiting ahead of, and marks it
//! with its own id and a lease. The lease outlives a delivery attempt; if the replica dies, the
//! entry is claimed again once the lease has passed, and `gateway:apply`'s idempotency key makes
//! a second delivery of an entry that did land a no-op.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Notify;
use tokio_postgres::Row;

use super::{Due, Entry, Kind, NewEntry, Status, now_ms};
use crate::shared::{Chore, StateDb};

const ENTRY_COLUMNS: &str =
    "id, status, kind, path, attempts, created_at, updated_at, last_error, result, caller";

/// Claims the next entry this relay may deliver.
const CLAIM: &str = "
UPDATE gateway.outbox SET lease_owner = $1, lease_until = $2
WHERE seq = (
    SELECT o.seq FROM gateway.outbox o
    WHERE o.status = 'queued' AND o.next_attempt_at <= $3
      AND (o.lease_until IS NULL OR o.lease_until < $3)
      AND NOT EXISTS (
          SELECT 1 FROM gateway.outbox e
          WHERE e.status = 'queued' AND e.seq < o.seq AND e.doc_keys && o.doc_keys)
    ORDER BY o.seq
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING seq, id, kind, path, args, idem_key, identity, attempts, next_attempt_at";

fn entry_from_row(row: &Row) -> Entry {
    let status: String = row.get(1);
    let kind: String = row.get(2);
    Entry {
        outbox_id: row.get(0),
        status: Status::parse(&status).unwrap_or(Status::Dead),
        kind: Kind::parse(&kind),
        path: row.get(3),
        attempts: u32::try_from(row.get::<_, i32>(4)).unwrap_or(0),
        created_at: row.get(5),
        updated_at: row.get(6),
        last_error: row.get(7),
        result: row.get(8),
        caller: row.get(9),
    }
}

/// Queue depth and the oldest entry's creation time, as last counted.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    depth: usize,
    oldest: Option<i64>,
}

pub(super) struct SharedOutbox {
    db: StateDb,
    /// How long a claim holds an entry.
    lease: Duration,
    stats: Mutex<(Stats, Option<Instant>)>,
    wake: Notify,
}

impl SharedOutbox {
    pub(super) fn new(db: StateDb, lease: Duration) -> Self {
        Self {
            db,
            lease,
            stats: Mutex::new((Stats::default(), None)),
            wake: Notify::new(),
        }
    }

    /// Whether a queued entry touches any of `doc_keys`.
    pub(super) async fn touches_pending(&self, doc_keys: &[String]) -> anyhow::Result<bool> {
        if doc_keys.is_empty() {
            return Ok(false);
        }
        let conn = self.db.conn().await?;
        let statement = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM gateway.outbox WHERE status = 'queued' AND doc_keys && $1)",
            )
            .await?;
        Ok(conn.query_one(&statement, &[&doc_keys]).await?.get(0))
    }

    pub(super) fn depth(&self) -> usize {
        self.stats.lock().map(|s| s.0.depth).unwrap_or(0)
    }

    pub(super) fn oldest_age(&self) -> Option<Duration> {
        let created = self.stats.lock().ok()?.0.oldest?;
        Some(Duration::from_millis((now_ms() - created).max(0) as u64))
    }

    /// Counts the queue again, at most once a second.
    pub(super) async fn refresh_stats(&self) -> anyhow::Result<()> {
        let due = self
            .stats
            .lock()
            .map(|s| s.1.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)))
            .unwrap_or(true);
        if !due {
            return Ok(());
        }
        let row = self
            .db
            .conn()
            .await?
            .query_one(
                "SELECT count(*), min(created_at) FROM gateway.outbox WHERE status = 'queued'",
                &[],
            )
            .await?;
        let stats = Stats {
            depth: usize::try_from(row.get::<_, i64>(0)).unwrap_or(0),
            oldest: row.get(1),
        };
        if let Ok(mut s) = self.stats.lock() {
            *s = (stats, Some(Instant::now()));
        }
        Ok(())
    }

    pub(super) async fn enqueue(&self, entry: NewEntry) -> anyhow::Result<Entry> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_ms();
        let row = self
            .db
            .conn()
            .await?
            .query_one(
                &format!(
                    "INSERT INTO gateway.outbox (id, caller, kind, path, args, idem_key, doc_keys, identity, status, created_at, updated_at, next_attempt_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $9, $9)
                     RETURNING {ENTRY_COLUMNS}"
                ),
                &[
                    &id,
                    &entry.caller,
                    &entry.kind.as_str(),
                    &entry.path,
                    &entry.args,
                    &entry.idempotency_key,
                    &entry.doc_keys,
                    &entry.identity,
                    &now,
                ],
            )
            .await?;
        if let Ok(mut s) = self.stats.lock() {
            s.0.depth += 1;
            s.0.oldest.get_or_insert(now);
        }
        self.wake.notify_one();
        Ok(entry_from_row(&row))
    }

    pub(super) async fn get(&self, id: &str) -> anyhow::Result<Option<Entry>> {
        let row = self
            .db
            .conn()
            .await?
            .query_opt(
                &format!("SELECT {ENTRY_COLUMNS} FROM gateway.outbox WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(entry_from_row))
    }

    pub(super) async fn list(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> anyhow::Result<Vec<Entry>> {
        let rows = self
            .db
            .conn()
            .await?
            .query(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM gateway.outbox WHERE ($1::text IS NULL OR status = $1) ORDER BY seq LIMIT $2"
                ),
                &[&status.map(Status::as_str), &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    pub(super) async fn counts(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        let rows = self
            .db
            .conn()
            .await?
            .query(
                "SELECT status, count(*) FROM gateway.outbox GROUP BY status",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub(super) async fn transition(
        &self,
        id: &str,
        from: &'static [Status],
        to: Status,
    ) -> anyhow::Result<Option<Result<Entry, Status>>> {
        let mut conn = self.db.conn().await?;
        let tx = conn.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT seq, status FROM gateway.outbox WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?
        else {
            return Ok(None);
        };
        let seq: i64 = row.get(0);
        let status = Status::parse(row.get(1)).unwrap_or(Status::Dead);
        if !from.contains(&status) {
            return Ok(Some(Err(status)));
        }
        let now = now_ms();
        let row = if to == Status::Queued {
            tx.query_one(
                &format!(
                    "UPDATE gateway.outbox SET status = 'queued', attempts = 0, next_attempt_at = $2, updated_at = $2,
                        lease_owner = NULL, lease_until = NULL
                     WHERE seq = $1 RETURNING {ENTRY_COLUMNS}"
                ),
                &[&seq, &now],
            )
            .await?
        } else {
            tx.query_one(
                &format!(
                    "UPDATE gateway.outbox SET status = $2, identity = NULL, updated_at = $3
                     WHERE seq = $1 RETURNING {ENTRY_COLUMNS}"
                ),
                &[&seq, &to.as_str(), &now],
            )
            .await?
        };
        tx.commit().await?;
        if to == Status::Queued {
            self.wake.notify_one();
        }
        Ok(Some(Ok(entry_from_row(&row))))
    }

    /// Claims the next entry this replica may deliver, under a lease.
    pub(super) async fn claim(&self) -> anyhow::Result<Option<Due>> {
        let conn = self.db.conn().await?;
        let now = now_ms();
        let statement = conn.prepare_cached(CLAIM).await?;
        let row = conn
            .query_opt(
                &statement,
                &[
                    &self.db.instance(),
                    &(now + self.lease.as_millis() as i64),
                    &now,
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let kind: String = row.get(2);
        Ok(Some(Due {
            seq: row.get(0),
            id: row.get(1),
            kind: Kind::parse(&kind),
            path: row.get(3),
            args: row.get(4),
            idempotency_key: row.get(5),
            identity: row.get(6),
            attempts: u32::try_from(row.get::<_, i32>(7)).unwrap_or(0),
            next_attempt_at: row.get(8),
        }))
    }

    pub(super) async fn settle(
        &self,
        seq: i64,
        status: Status,
        error: Option<String>,
        result: Option<Value>,
    ) -> anyhow::Result<()> {
        let settled = self
            .db
            .conn()
            .await?
            .execute(
                "UPDATE gateway.outbox SET status = $2, last_error = $3, result = $4,
                    identity = NULL, updated_at = $5, attempts = attempts + 1,
                    lease_owner = NULL, lease_until = NULL
                 WHERE seq = $1 AND status = 'queued'",
                &[&seq, &status.as_str(), &error, &result, &now_ms()],
            )
            .await?;
        if settled > 0
            && let Ok(mut s) = self.stats.lock()
        {
            s.0.depth = s.0.depth.saturating_sub(1);
        }
        Ok(())
    }

    pub(super) async fn retry_later(
        &self,
        seq: i64,
        error: String,
        counted: bool,
        at: i64,
    ) -> anyhow::Result<()> {
        self.db
            .conn()
            .await?
            .execute(
                "UPDATE gateway.outbox SET last_error = $2, attempts = attempts + $3, next_attempt_at = $4,
                    updated_at = $5, lease_owner = NULL, lease_until = NULL
                 WHERE seq = $1 AND status = 'queued'",
                &[&seq, &error, &i32::from(counted), &at, &now_ms()],
            )
            .await?;
        Ok(())
    }

    /// Deletes settled entries older than `before`, unless another replica is doing it now.
    pub(super) async fn purge(&self, before: i64) -> anyhow::Result<usize> {
        Ok(self
            .db
            .exclusively(Chore::OutboxPurge, async |tx| {
                Ok(tx
                    .execute(
                        "DELETE FROM gateway.outbox WHERE status IN ('delivered', 'discarded') AND updated_at < $1",
                        &[&before],
                    )
                    .await? as usize)
            })
            .await?
            .unwrap_or(0))
    }

    pub(super) async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.wake.notified()).await;
    }
}
