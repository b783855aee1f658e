//! The shared state store (`GATEWAY_STATE_URL`): a Postgres database whose `gateway` schema
//! holds what replicas must agree on (idempotency keys, refresh tokens and service accounts,
//! signing keys, interactive transactions, the outbox, and the list of live replicas). Each of
//! those parts keeps its own queries next to its single-replica (SQLite or memory) form; this
//! module gives them the pool, the schema, leader election for chores, and the heartbeat.

mod replicas;
mod schema;
pub mod sealing;

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
    /// Seals the secrets stored here (`GATEWAY_STATE_KEY`), when set.
    sealer: Option<std::sync::Arc<sealing::Sealer>>,
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
            sealer: None,
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

    /// Seals the secrets this store keeps with `key` (`GATEWAY_STATE_KEY`).
    pub fn sealed_with(mut self, key: Option<&[u8; 32]>) -> anyhow::Result<Self> {
        self.sealer = key
            .map(sealing::Sealer::new)
            .transpose()?
            .map(std::sync::Arc::new);
        Ok(self)
    }

    /// A secret as it is to be stored: sealed when a state key is set.
    pub fn seal(&self, plain: &str) -> anyhow::Result<String> {
        match &self.sealer {
            Some(sealer) => sealer.seal(plain),
            None => Ok(plain.to_owned()),
        }
    }

    /// A stored secret, opened. A sealed one needs the state key; an unsealed one (stored
    /// before a key was set) reads as it is.
    pub fn unseal(&self, stored: &str) -> anyhow::Result<String> {
        match (&self.sealer, sealing::is_sealed(stored)) {
            (Some(sealer), true) => sealer.open(stored),
            (None, true) => anyhow::bail!(
                "the shared state store holds sealed secrets: set GATEWAY_STATE_KEY to the key that sealed them"
            ),
            (_, false) => Ok(stored.to_owned()),
        }
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
