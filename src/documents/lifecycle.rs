//! An interactive transaction's life: begin, commit (every staged write through the write path
//! as one batch, checked against the versions it read), rollback, and the sweep that rolls back
//! expired ones; each end is counted in the metrics.

use std::collections::BTreeMap;

use super::{Documents, Done};
use crate::context::RequestCtx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::WriteOutcome;
use crate::transactions::{Staged, TxManager};
use crate::writes::Written;

/// What a commit applied: each staged write's kind and outcome, in order, and the real ids of
/// the documents it inserted, by provisional id.
pub struct Committed {
    pub results: Vec<(&'static str, WriteOutcome)>,
    pub ids: BTreeMap<String, String>,
}

impl Documents {
    /// The open transactions.
    pub fn transactions(&self) -> &TxManager {
        &self.transactions
    }

    /// Opens a transaction for `owner`; returns its id and expiry (ms since the epoch).
    pub async fn begin(&self, owner: &str) -> ApiResult<(String, u64)> {
        let opened = self.transactions.begin(owner).await?;
        self.sweep();
        Ok(opened)
    }

    /// Rolls back expired transactions in the shared state store (one replica at a time), then
    /// updates the gauges; the background sweeper calls it every second.
    pub async fn sweep_shared(&self) {
        if let Err(err) = self.transactions.sweep_shared().await {
            tracing::warn!(
                error = format!("{err:#}"),
                "sweeping shared transactions failed"
            );
        }
        self.sweep();
    }

    /// Rolls back expired transactions and updates the transaction gauges.
    pub fn sweep(&self) {
        self.transactions.sweep();
        let expired = self.transactions.take_expired_count();
        self.metrics.transactions_ended("expired", expired);
        self.metrics
            .set_transactions_active(self.transactions.active());
    }

    /// Commits the caller's transaction `id`: everything staged, atomically, or 409 if a
    /// document it read or wrote changed since.
    pub async fn commit(
        &self,
        ctx: &RequestCtx,
        owner: &str,
        id: &str,
    ) -> ApiResult<Done<Committed>> {
        let tx = self.transactions.take(id, owner).await?;
        let (ops, positions) = tx.commit_batch();
        let result = self.writes.write(ctx, ops).await;
        let metrics = &self.metrics;
        metrics.set_transactions_active(self.transactions.active());
        let outcomes = match result {
            Ok(Written::Applied(outcomes)) => outcomes,
            Ok(Written::Queued(receipt)) => {
                // Accepted for delivery: its checks run when Convex applies it.
                metrics.transactions_ended("queued", 1);
                return Ok(Done::Queued(receipt));
            }
            Err(err) if matches!(err.code(), ErrorCode::VersionMismatch | ErrorCode::NotFound) => {
                metrics.transactions_ended("conflict", 1);
                return Err(ApiError::new(
                    ErrorCode::TransactionConflict,
                    "a document the transaction read or wrote changed since it was read; nothing was applied",
                ));
            }
            Err(err) => {
                metrics.transactions_ended("rolled_back", 1);
                return Err(err);
            }
        };
        // A dry run ends the transaction too: it ran, and was rolled back.
        metrics.transactions_ended(
            if ctx.store.dry_run {
                "dry_run"
            } else {
                "committed"
            },
            1,
        );
        let mut ids = BTreeMap::new();
        let mut results = Vec::with_capacity(positions.len());
        for (staged, position) in tx.staged.iter().zip(positions) {
            let Some(outcome) = outcomes.get(position) else {
                continue;
            };
            let kind = match staged {
                Staged::Insert { provisional, .. } => {
                    ids.insert(provisional.clone(), outcome.id().to_owned());
                    "insert"
                }
                Staged::Patch { .. } => "patch",
                Staged::Replace { .. } => "replace",
                Staged::Delete { .. } => "delete",
            };
            results.push((kind, outcome.clone()));
        }
        Ok(Done::Applied(Committed { results, ids }))
    }

    /// Rolls back the caller's transaction `id`: its staged writes are discarded.
    pub async fn rollback(&self, owner: &str, id: &str) -> ApiResult<()> {
        self.transactions.take(id, owner).await?;
        self.metrics.transactions_ended("rolled_back", 1);
        self.metrics
            .set_transactions_active(self.transactions.active());
        Ok(())
    }
}
