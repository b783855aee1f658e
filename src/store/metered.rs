//! A store decorator that times every adapter call into `store_operation_duration_seconds`, so
//! each adapter is measured the same way without timing code of its own.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{
    Capabilities, ChangePage, Document, DocumentStore, Fields, ListQuery, Page, RawDocument,
    RawPage, SharedStore, StoreCtx, StoreError, TableName, WriteOp, WriteOutcome,
};
use crate::metrics::Metrics;

/// Wraps an adapter and records the duration and outcome of each call.
pub struct MeteredStore {
    inner: SharedStore,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: SharedStore, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    async fn timed<T>(
        &self,
        operation: &str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics.observe_store(
            self.inner.adapter(),
            operation,
            result.is_ok(),
            started.elapsed(),
        );
        result
    }
}

#[async_trait]
impl DocumentStore for MeteredStore {
    fn adapter(&self) -> &'static str {
        self.inner.adapter()
    }

    async fn history(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<crate::store::HistoryPage, StoreError> {
        self.inner.history(ctx, table, id, before, limit).await
    }

    async fn purge_history(&self, retention: std::time::Duration) -> Result<(), StoreError> {
        self.inner.purge_history(retention).await
    }

    async fn changes(
        &self,
        since: u64,
        table: Option<&TableName>,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        self.inner.changes(since, table, limit).await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn wants_identity(&self) -> bool {
        self.inner.wants_identity()
    }

    fn round_trips(&self) -> Option<u64> {
        self.inner.round_trips()
    }

    fn wants_caller(&self) -> bool {
        self.inner.wants_caller()
    }

    async fn change_head(&self) -> Result<u64, StoreError> {
        self.inner.change_head().await
    }

    fn change_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.change_signal()
    }

    async fn reload(&self) -> Result<(), StoreError> {
        self.inner.reload().await
    }

    async fn list(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        self.timed("list", self.inner.list(ctx, table, query)).await
    }

    async fn list_json(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<RawPage, StoreError> {
        self.timed("list", self.inner.list_json(ctx, table, query))
            .await
    }

    async fn get(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        self.timed("get", self.inner.get(ctx, table, id)).await
    }

    async fn get_json(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        id: &str,
    ) -> Result<Option<RawDocument>, StoreError> {
        self.timed("get", self.inner.get_json(ctx, table, id)).await
    }

    async fn apply(
        &self,
        ctx: &StoreCtx,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        // Labelled like the write it is: one kind of operation, or a mixed batch.
        let operation = match ops.first() {
            Some(first) if ops.iter().all(|op| kind(op) == kind(first)) => kind(first),
            _ => "apply",
        };
        self.timed(operation, self.inner.apply(ctx, ops)).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.timed("health", self.inner.health()).await
    }

    async fn insert(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        docs: Vec<Fields>,
    ) -> Result<Vec<Document>, StoreError> {
        self.timed("insert", self.inner.insert(ctx, table, docs))
            .await
    }

    async fn write_one(&self, ctx: &StoreCtx, op: WriteOp) -> Result<Option<Document>, StoreError> {
        self.timed(kind(&op), self.inner.write_one(ctx, op)).await
    }
}

fn kind(op: &WriteOp) -> &'static str {
    match op {
        WriteOp::Insert { .. } => "insert",
        WriteOp::Patch { .. } => "patch",
        WriteOp::Replace { .. } => "replace",
        WriteOp::Delete { .. } => "delete",
        WriteOp::Check { .. } => "check",
    }
}
