//! The outbox of a single replica: `outbox.sqlite3` in the data folder, mirrored in memory so
//! that a write can check for queued entries touching its documents without a query.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{OptionalExtension, Row, params};
use serde_json::Value;
use tokio::sync::Notify;

use super::{Due, Entry, Kind, NewEntry, Status, now_ms};
use crate::sqlite::SmallDb;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    caller          TEXT    NOT NULL,   -- user:<sub> or anonymous
    kind            TEXT    NOT NULL,   -- apply | mutation
    path            TEXT    NOT NULL,   -- the Convex function
    args            TEXT    NOT NULL,   -- its arguments (JSON), idempotency key included
    idem_key        TEXT    NOT NULL,
    doc_keys        TEXT    NOT NULL,   -- JSON array of table/id the write touches
    identity        TEXT,               -- how to present the caller upstream; erased once settled
    status          TEXT    NOT NULL,   -- queued | delivered | dead | discarded
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    result          TEXT,
    created_at      INTEGER NOT NULL,   -- milliseconds since the epoch
    updated_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_status ON outbox (status, seq);
";

/// Queued entries, mirrored in memory so writes can check for pending ones without SQLite.
#[derive(Debug, Default)]
struct Pending {
    /// seq → (created_at, doc keys).
    entries: BTreeMap<i64, (i64, Vec<String>)>,
    /// doc key → queued entries touching it.
    docs: HashMap<String, usize>,
}

impl Pending {
    fn add(&mut self, seq: i64, created_at: i64, keys: Vec<String>) {
        for key in &keys {
            *self.docs.entry(key.clone()).or_default() += 1;
        }
        self.entries.insert(seq, (created_at, keys));
    }

    fn remove(&mut self, seq: i64) {
        if let Some((_, keys)) = self.entries.remove(&seq) {
            for key in keys {
                if let Some(count) = self.docs.get_mut(&key) {
                    *count -= 1;
                    if *count == 0 {
                        self.docs.remove(&key);
                    }
                }
            }
        }
    }
}

/// A transition that happened: the entry's seq, creation time and doc keys, and the entry.
type Moved = (i64, i64, String, Entry);

/// The durable queue.
#[derive(Clone)]
pub(super) struct LocalOutbox {
    db: SmallDb,
    pending: Arc<Mutex<Pending>>,
    wake: Arc<Notify>,
}

const ENTRY_COLUMNS: &str =
    "id, status, kind, path, attempts, created_at, updated_at, last_error, result, caller";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    let status: String = row.get(1)?;
    let kind: String = row.get(2)?;
    let result: Option<String> = row.get(8)?;
    Ok(Entry {
        outbox_id: row.get(0)?,
        status: Status::parse(&status).unwrap_or(Status::Dead),
        kind: Kind::parse(&kind),
        path: row.get(3)?,
        attempts: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        last_error: row.get(7)?,
        result: result.and_then(|r| serde_json::from_str(&r).ok()),
        caller: row.get(9)?,
    })
}

impl LocalOutbox {
    /// Opens `outbox.sqlite3` in `data_dir` and loads the queued entries.
    pub(super) fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let mut pending = Pending::default();
        let db = SmallDb::open(data_dir, super::LOCAL_FILE, SCHEMA, |conn| {
            let mut stmt = conn.prepare(
                "SELECT seq, created_at, doc_keys FROM outbox WHERE status = 'queued' ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (seq, created, keys) = row?;
                pending.add(
                    seq,
                    created,
                    serde_json::from_str(&keys).unwrap_or_default(),
                );
            }
            Ok(())
        })?;
        Ok(Self {
            db,
            pending: Arc::new(Mutex::new(pending)),
            wake: Arc::new(Notify::new()),
        })
    }

    fn with_pending<T>(&self, f: impl FnOnce(&mut Pending) -> T) -> Option<T> {
        self.pending.lock().ok().map(|mut p| f(&mut p))
    }

    /// Whether a queued entry touches any of `doc_keys` (a new write to them must queue
    /// behind it, or it would overtake it).
    pub(super) fn touches_pending(&self, doc_keys: &[String]) -> bool {
        self.with_pending(|p| doc_keys.iter().any(|k| p.docs.contains_key(k)))
            .unwrap_or(true)
    }

    /// Queued entries.
    pub(super) fn depth(&self) -> usize {
        self.with_pending(|p| p.entries.len()).unwrap_or(0)
    }

    /// How long the oldest queued entry has waited.
    pub(super) fn oldest_age(&self) -> Option<Duration> {
        let created = self.with_pending(|p| p.entries.values().next().map(|(c, _)| *c))??;
        Some(Duration::from_millis((now_ms() - created).max(0) as u64))
    }

    /// Stores `entry` durably and wakes the relay. Returns the new entry.
    pub(super) async fn enqueue(&self, entry: NewEntry) -> anyhow::Result<Entry> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_ms();
        let keys = entry.doc_keys.clone();
        let (seq, stored) = {
            let id = id.clone();
            self.db
                .run(move |conn| -> anyhow::Result<(i64, Entry)> {
                    conn.execute(
                        "INSERT INTO outbox (id, caller, kind, path, args, idem_key, doc_keys, identity, status, created_at, updated_at, next_attempt_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?9, ?9)",
                        params![
                            id,
                            entry.caller,
                            entry.kind.as_str(),
                            entry.path,
                            entry.args.to_string(),
                            entry.idempotency_key,
                            serde_json::to_string(&entry.doc_keys)?,
                            entry.identity.map(|v| v.to_string()),
                            now,
                        ],
                    )?;
                    let seq = conn.last_insert_rowid();
                    let stored = conn.query_row(
                        &format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE seq = ?1"),
                        [seq],
                        entry_from_row,
                    )?;
                    Ok((seq, stored))
                })
                .await??
        };
        self.with_pending(|p| p.add(seq, now, keys));
        self.wake.notify_one();
        Ok(stored)
    }

    /// One entry by id.
    pub(super) async fn get(&self, id: &str) -> anyhow::Result<Option<Entry>> {
        let id = id.to_owned();
        self.db
            .run(move |conn| {
                conn.query_row(
                    &format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE id = ?1"),
                    [id],
                    entry_from_row,
                )
                .optional()
            })
            .await?
            .map_err(Into::into)
    }

    /// Entries in queue order, optionally of one status, after sequence `after`.
    pub(super) async fn list(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> anyhow::Result<Vec<Entry>> {
        self.db
            .run(move |conn| -> anyhow::Result<Vec<Entry>> {
                let sql = format!(
                    "SELECT {ENTRY_COLUMNS} FROM outbox WHERE (?1 IS NULL OR status = ?1) ORDER BY seq LIMIT ?2"
                );
                let mut stmt = conn.prepare(&sql)?;
                let rows = stmt.query_map(
                    params![status.map(Status::as_str), limit as i64],
                    entry_from_row,
                )?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?
    }

    /// Counts by status.
    pub(super) async fn counts(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        self.db
            .run(|conn| -> anyhow::Result<BTreeMap<String, i64>> {
                let mut stmt =
                    conn.prepare("SELECT status, COUNT(*) FROM outbox GROUP BY status")?;
                let rows =
                    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
                Ok(rows.collect::<Result<BTreeMap<_, _>, _>>()?)
            })
            .await?
    }

    /// Moves a dead entry back to the queue with a fresh attempt count. `None` when there is no
    /// such entry; `Err(status)` when it is not dead.
    pub(super) async fn requeue(&self, id: &str) -> anyhow::Result<Option<Result<Entry, Status>>> {
        self.transition(id, &[Status::Dead], Status::Queued).await
    }

    /// Drops a queued or dead entry.
    pub(super) async fn discard(&self, id: &str) -> anyhow::Result<Option<Result<Entry, Status>>> {
        self.transition(id, &[Status::Queued, Status::Dead], Status::Discarded)
            .await
    }

    async fn transition(
        &self,
        id: &str,
        from: &'static [Status],
        to: Status,
    ) -> anyhow::Result<Option<Result<Entry, Status>>> {
        let id = id.to_owned();
        let outcome = self
            .db
            .run(move |conn| -> anyhow::Result<Option<Result<Moved, Status>>> {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let row: Option<(i64, String, i64, String)> = tx
                    .query_row(
                        "SELECT seq, status, created_at, doc_keys FROM outbox WHERE id = ?1",
                        [&id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()?;
                let Some((seq, status, created, keys)) = row else {
                    return Ok(None);
                };
                let status = Status::parse(&status).unwrap_or(Status::Dead);
                if !from.contains(&status) {
                    return Ok(Some(Err(status)));
                }
                let now = now_ms();
                if to == Status::Queued {
                    tx.execute(
                        "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?2, updated_at = ?2 WHERE seq = ?1",
                        params![seq, now],
                    )?;
                } else {
                    tx.execute(
                        "UPDATE outbox SET status = ?2, identity = NULL, updated_at = ?3 WHERE seq = ?1",
                        params![seq, to.as_str(), now],
                    )?;
                }
                let entry = tx.query_row(
                    &format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE seq = ?1"),
                    [seq],
                    entry_from_row,
                )?;
                tx.commit()?;
                Ok(Some(Ok((seq, created, keys, entry))))
            })
            .await??;
        Ok(match outcome {
            None => None,
            Some(Err(status)) => Some(Err(status)),
            Some(Ok((seq, created, keys, entry))) => {
                if to == Status::Queued {
                    let keys = serde_json::from_str(&keys).unwrap_or_default();
                    self.with_pending(|p| p.add(seq, created, keys));
                    self.wake.notify_one();
                } else {
                    self.with_pending(|p| p.remove(seq));
                }
                Some(Ok(entry))
            }
        })
    }

    /// The oldest queued entry, which the relay delivers next.
    pub(super) async fn head(&self) -> anyhow::Result<Option<Due>> {
        self.db
            .run(|conn| -> anyhow::Result<Option<Due>> {
                let row = conn
                    .query_row(
                        "SELECT seq, id, kind, path, args, idem_key, identity, attempts, next_attempt_at
                         FROM outbox WHERE status = 'queued' ORDER BY seq LIMIT 1",
                        [],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, String>(3)?,
                                r.get::<_, String>(4)?,
                                r.get::<_, String>(5)?,
                                r.get::<_, Option<String>>(6)?,
                                r.get::<_, u32>(7)?,
                                r.get::<_, i64>(8)?,
                            ))
                        },
                    )
                    .optional()?;
                let Some((seq, id, kind, path, args, key, identity, attempts, next)) = row else {
                    return Ok(None);
                };
                Ok(Some(Due {
                    seq,
                    id,
                    kind: Kind::parse(&kind),
                    path,
                    args: serde_json::from_str(&args)?,
                    idempotency_key: key,
                    identity: identity.map(|i| serde_json::from_str(&i)).transpose()?,
                    attempts,
                    next_attempt_at: next,
                }))
            })
            .await?
    }

    /// Records a delivery: the attempt that delivered counts, and earlier errors are cleared.
    pub(super) async fn delivered(&self, seq: i64, result: Value) -> anyhow::Result<()> {
        self.settle(seq, Status::Delivered, None, Some(result))
            .await
    }

    /// Dead-letters an entry with its reason.
    pub(super) async fn dead(&self, seq: i64, reason: String) -> anyhow::Result<()> {
        self.settle(seq, Status::Dead, Some(reason), None).await
    }

    async fn settle(
        &self,
        seq: i64,
        status: Status,
        error: Option<String>,
        result: Option<Value>,
    ) -> anyhow::Result<()> {
        self.db
            .run(move |conn| {
                conn.execute(
                    "UPDATE outbox SET status = ?2, last_error = ?3, result = ?4,
                        identity = NULL, updated_at = ?5, attempts = attempts + 1
                     WHERE seq = ?1 AND status = 'queued'",
                    params![
                        seq,
                        status.as_str(),
                        error,
                        result.map(|r| r.to_string()),
                        now_ms()
                    ],
                )
            })
            .await??;
        self.with_pending(|p| p.remove(seq));
        Ok(())
    }

    /// Records a failed delivery (`counted`: whether it counts towards the attempt limit) and
    /// when to try again.
    pub(super) async fn retry_later(
        &self,
        seq: i64,
        error: String,
        counted: bool,
        at: i64,
    ) -> anyhow::Result<()> {
        self.db
            .run(move |conn| {
                conn.execute(
                    "UPDATE outbox SET last_error = ?2, attempts = attempts + ?3, next_attempt_at = ?4, updated_at = ?5
                     WHERE seq = ?1 AND status = 'queued'",
                    params![seq, error, i64::from(counted), at, now_ms()],
                )
            })
            .await??;
        Ok(())
    }

    /// Deletes delivered and discarded entries settled before `before` (ms since the epoch).
    pub(super) async fn purge(&self, before: i64) -> anyhow::Result<usize> {
        Ok(self
            .db
            .run(move |conn| {
                conn.execute(
                    "DELETE FROM outbox WHERE status IN ('delivered', 'discarded') AND updated_at < ?1",
                    [before],
                )
            })
            .await??)
    }

    /// Waits until an entry is queued or requeued, or `timeout` passes.
    pub(super) async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.wake.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(keys: &[&str]) -> NewEntry {
        NewEntry {
            caller: "user:alice".into(),
            kind: Kind::Apply,
            path: "gateway:apply".into(),
            args: json!({"ops": [], "idempotencyKey": "k"}),
            idempotency_key: "k".into(),
            doc_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            identity: Some(json!({"mode": "forward", "token": "secret"})),
        }
    }

    #[tokio::test]
    async fn entries_survive_a_reopen_in_order_and_settle_once() {
        let dir = tempfile::TempDir::new().unwrap();
        let outbox = LocalOutbox::open(dir.path()).unwrap();
        let first = outbox.enqueue(entry(&["videos/a"])).await.unwrap();
        let second = outbox.enqueue(entry(&[])).await.unwrap();
        assert_eq!(first.status, Status::Queued);
        assert!(outbox.touches_pending(&["videos/a".into()]));
        assert!(!outbox.touches_pending(&["videos/b".into()]));
        drop(outbox);

        let outbox = LocalOutbox::open(dir.path()).unwrap();
        assert_eq!(outbox.depth(), 2);
        assert!(outbox.touches_pending(&["videos/a".into()]));
        let head = outbox.head().await.unwrap().unwrap();
        assert_eq!(head.id, first.outbox_id);
        assert_eq!(
            head.identity,
            Some(json!({"mode": "forward", "token": "secret"}))
        );

        outbox
            .delivered(head.seq, json!({"ok": true}))
            .await
            .unwrap();
        // Settling twice changes nothing.
        outbox.dead(head.seq, "late".into()).await.unwrap();
        let got = outbox.get(&first.outbox_id).await.unwrap().unwrap();
        assert_eq!(got.status, Status::Delivered);
        assert_eq!(got.result, Some(json!({"ok": true})));
        assert!(!outbox.touches_pending(&["videos/a".into()]));
        assert_eq!(outbox.head().await.unwrap().unwrap().id, second.outbox_id);
        // The caller's identity is erased once the entry settled.
        let identity: Option<String> = outbox
            .db
            .run(move |c| {
                c.query_row(
                    "SELECT identity FROM outbox WHERE seq = ?1",
                    [head.seq],
                    |r| r.get(0),
                )
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(identity, None);
    }

    #[tokio::test]
    async fn dead_entries_requeue_and_discard() {
        let dir = tempfile::TempDir::new().unwrap();
        let outbox = LocalOutbox::open(dir.path()).unwrap();
        let e = outbox.enqueue(entry(&["t/x"])).await.unwrap();
        let head = outbox.head().await.unwrap().unwrap();
        outbox
            .retry_later(head.seq, "down".into(), true, now_ms())
            .await
            .unwrap();
        assert_eq!(outbox.head().await.unwrap().unwrap().attempts, 1);
        outbox.dead(head.seq, "gave up".into()).await.unwrap();
        assert_eq!(outbox.depth(), 0);
        assert!(outbox.discard("nope").await.unwrap().is_none());
        let requeued = outbox
            .requeue(&e.outbox_id)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((requeued.status, requeued.attempts), (Status::Queued, 0));
        assert_eq!(outbox.depth(), 1);
        // Only dead entries requeue.
        assert!(matches!(
            outbox.requeue(&e.outbox_id).await.unwrap(),
            Some(Err(Status::Queued))
        ));
        let discarded = outbox
            .discard(&e.outbox_id)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(discarded.status, Status::Discarded);
        assert_eq!(outbox.depth(), 0);
        assert_eq!(outbox.purge(now_ms() + 1).await.unwrap(), 1);
        assert!(outbox.get(&e.outbox_id).await.unwrap().is_none());
    }
}
