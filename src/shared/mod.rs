//! The shared state store (`GATEWAY_STATE_URL`): a Postgres database whose `gateway` schema
//! holds what replicas must agree on (idempotency keys, refresh tokens and service accounts,
//! signing keys, interactive transactions, the outbox, and the list of live replicas). Each of
//! those parts keeps its own queries next to its single-replica (SQLite or memory) form; this
//! module gives them the pool, the schema, leader election for chores, and the heartbeat.

mod replicas;
mod schema;

use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Object, Pool};

pub use self::replicas::{HEARTBEAT, Replica};
use crate::store::postgres::PostgresConfig;
use crate::store::postgres::connect;

/// The chores that one replica at a time runs; each is an advisory lock key.
#[derive(Debug, Clone, Copy)]
#[repr(i64)]
pub enum Chore {
    /// Deleting expired idempotency keys.
    IdempotencySweep = 0x6761_7465_7761_7910,
    /// Rolling back expired transactions.
    TransactionSweep = 0x6761_7465_7761_7911,
    /// Purging settled outbox entries.
    OutboxPurge = 0x6761_7465_7761_7912,
    /// Forgetting replicas gone for an hour.
    ReplicaSweep = 0x6761_7465_7761_7913,
}

/// The pool to the shared state database.
#[derive(Clone)]
pub struct StateDb {
    pool: Pool,
    /// This replica's id.
    instance: String,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl StateDb {
    /// Connects and creates the `gateway` schema's tables if they are missing. Waits up to
    /// `wait` for the database to answer (a replica may start before its database).
    pub async fn connect(
        config: &PostgresConfig,
        instance: &str,
        wait: Duration,
    ) -> anyhow::Result<Self> {
        let pool = connect::pool(config).context("GATEWAY_STATE_URL")?;
        let db = Self {
            pool,
            instance: instance.to_owned(),
        };
        let deadline = std::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(100);
        loop {
            match db.migrate().await {
                Ok(()) => return Ok(db),
                Err(err) if std::time::Instant::now() + pause < deadline => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "the shared state store is not ready; retrying"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(err) => {
                    return Err(err.context("preparing the shared state store (GATEWAY_STATE_URL)"));
                }
            }
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&schema::MIGRATION_LOCK],
        )
        .await?;
        tx.batch_execute(schema::SCHEMA).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A pooled connection.
    pub async fn conn(&self) -> anyhow::Result<Object> {
        self.pool
            .get()
            .await
            .map_err(|err| anyhow::anyhow!(connect::describe(&err)))
    }

    /// This replica's id (`GATEWAY_INSTANCE_ID`).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.conn().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Runs `chore` inside a transaction if no other replica is running it now; answers what it
    /// returned, or `None` when another replica holds the chore.
    pub async fn exclusively<T>(
        &self,
        chore: Chore,
        f: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> anyhow::Result<T>,
    ) -> anyhow::Result<Option<T>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let held: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&(chore as i64)])
            .await?
            .get(0);
        if !held {
            return Ok(None);
        }
        let out = f(&tx).await?;
        tx.commit().await?;
        Ok(Some(out))
    }
}
