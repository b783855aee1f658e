//! [`TxManager`]: opens, finds, takes and sweeps transactions, in memory or in the shared state
//! store, with the same rules either way (an owner's transactions only, 410 once expired, at
//! most `MAX_OPEN_PER_CALLER` open per caller, at most `GATEWAY_TX_MAX_OPS` staged writes).

use std::time::Duration;

use super::local::LocalTxs;
use super::postgres::SharedTxs;
use super::{Transaction, TxError, now_ms};
use crate::shared::StateDb;

enum Backend {
    Local(LocalTxs),
    Shared(SharedTxs),
}

/// All open transactions.
pub struct TxManager {
    backend: Backend,
    ttl: Duration,
    /// The most writes one transaction may stage (`GATEWAY_TX_MAX_OPS`).
    pub(super) max_ops: usize,
    /// Expirations the shared sweep found and the metrics have not counted yet.
    uncounted_shared: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for TxManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxManager")
            .field("shared", &matches!(self.backend, Backend::Shared(_)))
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TxManager {
    /// Transactions in memory that live for `ttl` and stage at most `max_ops` writes.
    pub fn new(ttl: Duration, max_ops: usize) -> Self {
        Self::with_backend(Backend::Local(LocalTxs::default()), ttl, max_ops)
    }

    /// Transactions in the shared state store.
    pub fn shared(db: StateDb, ttl: Duration, max_ops: usize) -> Self {
        Self::with_backend(Backend::Shared(SharedTxs::new(db)), ttl, max_ops)
    }

    fn with_backend(backend: Backend, ttl: Duration, max_ops: usize) -> Self {
        Self {
            backend,
            ttl,
            max_ops,
            uncounted_shared: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Opens a transaction for `owner`; returns its id and expiry (ms since the epoch).
    pub async fn begin(&self, owner: &str) -> Result<(String, u64), TxError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = now_ms();
        let expires_at = now + self.ttl.as_millis() as u64;
        let tx = Transaction::new(id.clone(), owner.to_owned(), now, expires_at);
        match &self.backend {
            Backend::Local(local) => {
                local.sweep();
                local.begin(tx)?;
            }
            Backend::Shared(shared) => shared.begin(tx).await?,
        }
        Ok((id, expires_at))
    }

    /// Runs `f` on the caller's open transaction `id`, keeping what it changes.
    pub async fn with<T>(
        &self,
        id: &str,
        owner: &str,
        f: impl FnOnce(&mut Transaction) -> T,
    ) -> Result<T, TxError> {
        match &self.backend {
            Backend::Local(local) => local.with(id, owner, f),
            Backend::Shared(shared) => shared.with(id, owner, true, f).await,
        }
    }

    /// Runs `f` on the caller's open transaction `id` to read it; what `f` changes is dropped.
    pub async fn peek<T>(
        &self,
        id: &str,
        owner: &str,
        f: impl FnOnce(&mut Transaction) -> T,
    ) -> Result<T, TxError> {
        match &self.backend {
            Backend::Local(local) => local.with(id, owner, f),
            Backend::Shared(shared) => shared.with(id, owner, false, f).await,
        }
    }

    /// Checks that `id` is the caller's open transaction, without changing it.
    pub async fn check(&self, id: &str, owner: &str) -> Result<(), TxError> {
        self.peek(id, owner, |_| ()).await
    }

    /// Removes the caller's transaction `id` and returns it (for commit or rollback).
    pub async fn take(&self, id: &str, owner: &str) -> Result<Transaction, TxError> {
        match &self.backend {
            Backend::Local(local) => local.take(id, owner),
            Backend::Shared(shared) => shared.take(id, owner).await,
        }
    }

    /// Rolls back expired transactions in memory, at once. The shared store's are rolled back
    /// by [`Self::sweep_shared`], which the background sweeper runs.
    pub fn sweep(&self) -> usize {
        match &self.backend {
            Backend::Local(local) => local.sweep(),
            Backend::Shared(_) => 0,
        }
    }

    /// Rolls back expired transactions in the shared state store (one replica at a time) and
    /// refreshes the count of open ones.
    pub async fn sweep_shared(&self) -> anyhow::Result<()> {
        if let Backend::Shared(shared) = &self.backend {
            let expired = shared.sweep().await?;
            self.uncounted_shared
                .fetch_add(expired, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Expirations since the last call (for the `expired` metric).
    pub fn take_expired_count(&self) -> usize {
        let shared = self
            .uncounted_shared
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        match &self.backend {
            Backend::Local(local) => local.take_expired_count() + shared,
            Backend::Shared(_) => shared,
        }
    }

    /// Open transactions: id, owner, age and staged operations.
    pub async fn snapshot(&self) -> anyhow::Result<Vec<(String, String, Duration, usize)>> {
        let rows = match &self.backend {
            Backend::Local(local) => local.snapshot(),
            Backend::Shared(shared) => shared.snapshot().await?,
        };
        let now = now_ms();
        Ok(rows
            .into_iter()
            .map(|(id, owner, started, staged)| {
                (
                    id,
                    owner,
                    Duration::from_millis(now.saturating_sub(started)),
                    staged,
                )
            })
            .collect())
    }

    /// How many are open (across replicas for the shared store, as of its last sweep).
    pub fn active(&self) -> usize {
        match &self.backend {
            Backend::Local(local) => local.active(),
            Backend::Shared(shared) => shared.active(),
        }
    }
}
