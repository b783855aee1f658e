//! Open transactions in the shared state store (`gateway.transactions`): the whole transaction
//! (its reads, overlay and staged writes) is one JSON row, read and rewritten under a row lock by
//! whichever replica serves the request, so begin on one replica, read on a second, write on a
//! third and commit on the first all see the same transaction, one request at a time.

use std::sync::atomic::{AtomicUsize, Ordering};

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::{EXPIRED_MEMORY, MAX_OPEN_PER_CALLER, Transaction, TxError, now_ms};
use crate::shared::{Chore, StateDb};

/// What a locked row holds.
enum Row {
    Open(Box<Transaction>),
    Gone(TxError),
}

pub(super) struct SharedTxs {
    db: StateDb,
    /// Open transactions across replicas, as of the last sweep.
    active: AtomicUsize,
}

fn unavailable(err: impl std::fmt::Display) -> TxError {
    TxError::Unavailable(err.to_string())
}

impl SharedTxs {
    pub(super) fn new(db: StateDb) -> Self {
        Self {
            db,
            active: AtomicUsize::new(0),
        }
    }

    pub(super) async fn begin(&self, tx: Transaction) -> Result<(), TxError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let db = conn.transaction().await.map_err(unavailable)?;
        // One begin per owner at a time, so the per-caller limit holds across replicas.
        db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            &[&tx.owner],
        )
        .await
        .map_err(unavailable)?;
        let open: i64 = db
            .query_one(
                "SELECT count(*) FROM gateway.transactions WHERE owner = $1 AND ended IS NULL AND expires_at > $2",
                &[&tx.owner, &(now_ms() as i64)],
            )
            .await
            .map_err(unavailable)?
            .get(0);
        if open >= MAX_OPEN_PER_CALLER as i64 {
            return Err(TxError::TooMany);
        }
        db.execute(
            "INSERT INTO gateway.transactions (id, owner, started_at, expires_at, state) VALUES ($1, $2, $3, $4, $5)",
            &[
                &tx.id,
                &tx.owner,
                &(tx.started_at as i64),
                &(tx.expires_at as i64),
                &serde_json::to_value(&tx).map_err(unavailable)?,
            ],
        )
        .await
        .map_err(unavailable)?;
        db.commit().await.map_err(unavailable)?;
        self.active.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The caller's transaction, locked when `lock`; an expired one is marked so.
    async fn load(
        &self,
        db: &impl GenericClient,
        id: &str,
        owner: &str,
        lock: bool,
    ) -> Result<Row, TxError> {
        let sql = if lock {
            "SELECT owner, expires_at, ended, state FROM gateway.transactions WHERE id = $1 FOR UPDATE"
        } else {
            "SELECT owner, expires_at, ended, state FROM gateway.transactions WHERE id = $1"
        };
        let Some(row) = db.query_opt(sql, &[&id]).await.map_err(unavailable)? else {
            return Ok(Row::Gone(TxError::NotFound));
        };
        let (stored_owner, expires_at, ended): (String, i64, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        if stored_owner != owner {
            return Ok(Row::Gone(TxError::NotFound));
        }
        if ended.is_some() {
            return Ok(Row::Gone(TxError::Expired));
        }
        let now = now_ms() as i64;
        if expires_at <= now {
            db.execute(
                "UPDATE gateway.transactions SET ended = 'expired', ended_at = $2, state = '{}' WHERE id = $1 AND ended IS NULL",
                &[&id, &now],
            )
            .await
            .map_err(unavailable)?;
            return Ok(Row::Gone(TxError::Expired));
        }
        let state: Value = row.get(3);
        let tx: Transaction = serde_json::from_value(state).map_err(unavailable)?;
        Ok(Row::Open(Box::new(tx)))
    }

    /// Runs `f` on the caller's transaction; with `write`, under the row's lock, saving what
    /// `f` changed.
    pub(super) async fn with<T>(
        &self,
        id: &str,
        owner: &str,
        write: bool,
        f: impl FnOnce(&mut Transaction) -> T,
    ) -> Result<T, TxError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        if !write {
            return match self.load(&conn, id, owner, false).await? {
                Row::Open(mut tx) => Ok(f(&mut tx)),
                Row::Gone(err) => Err(err),
            };
        }
        let db = conn.transaction().await.map_err(unavailable)?;
        let mut tx = match self.load(&db, id, owner, true).await? {
            Row::Open(tx) => tx,
            Row::Gone(err) => {
                db.commit().await.map_err(unavailable)?;
                return Err(err);
            }
        };
        let out = f(&mut tx);
        db.execute(
            "UPDATE gateway.transactions SET state = $2 WHERE id = $1",
            &[&id, &serde_json::to_value(&*tx).map_err(unavailable)?],
        )
        .await
        .map_err(unavailable)?;
        db.commit().await.map_err(unavailable)?;
        Ok(out)
    }

    /// Removes the caller's transaction and answers it (for commit or rollback).
    pub(super) async fn take(&self, id: &str, owner: &str) -> Result<Transaction, TxError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let db = conn.transaction().await.map_err(unavailable)?;
        let tx = match self.load(&db, id, owner, true).await? {
            Row::Open(tx) => tx,
            Row::Gone(err) => {
                db.commit().await.map_err(unavailable)?;
                return Err(err);
            }
        };
        db.execute("DELETE FROM gateway.transactions WHERE id = $1", &[&id])
            .await
            .map_err(unavailable)?;
        db.commit().await.map_err(unavailable)?;
        let _ = self
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        Ok(*tx)
    }

    /// Rolls back expired transactions (one replica at a time) and counts the open ones;
    /// answers how many this call rolled back.
    pub(super) async fn sweep(&self) -> anyhow::Result<usize> {
        let now = now_ms() as i64;
        let forget = now - EXPIRED_MEMORY.as_millis() as i64;
        let expired = self
            .db
            .exclusively(Chore::TransactionSweep, async |db| {
                let expired = db
                    .execute(
                        "UPDATE gateway.transactions SET ended = 'expired', ended_at = $1, state = '{}'
                         WHERE ended IS NULL AND expires_at <= $1",
                        &[&now],
                    )
                    .await?;
                db.execute(
                    "DELETE FROM gateway.transactions WHERE ended IS NOT NULL AND ended_at < $1",
                    &[&forget],
                )
                .await?;
                Ok(expired as usize)
            })
            .await?
            .unwrap_or(0);
        let open: i64 = self
            .db
            .conn()
            .await?
            .query_one(
                "SELECT count(*) FROM gateway.transactions WHERE ended IS NULL AND expires_at > $1",
                &[&now],
            )
            .await?
            .get(0);
        self.active
            .store(usize::try_from(open).unwrap_or(0), Ordering::Relaxed);
        Ok(expired)
    }

    /// Open transactions across replicas: id, owner, start (ms since the epoch), staged writes.
    pub(super) async fn snapshot(&self) -> anyhow::Result<Vec<(String, String, u64, usize)>> {
        let rows = self
            .db
            .conn()
            .await?
            .query(
                "SELECT id, owner, started_at, json_array_length(state->'staged')
                 FROM gateway.transactions WHERE ended IS NULL AND expires_at > $1 ORDER BY started_at",
                &[&(now_ms() as i64)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get(0),
                    row.get(1),
                    u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
                    usize::try_from(row.get::<_, i32>(3)).unwrap_or(0),
                )
            })
            .collect())
    }

    pub(super) fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }
}
