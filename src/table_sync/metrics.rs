//! The sync's metrics, registered in the gateway's one registry: lag and rows per table and
//! direction, conflicts per table and policy, and failures.

use prometheus::{GaugeVec, IntCounter, IntCounterVec, Opts};

use crate::metrics::Metrics;

/// The sync's series.
#[derive(Clone)]
pub struct SyncMetrics {
    lag: GaugeVec,
    changes: IntCounterVec,
    conflicts: IntCounterVec,
    errors: IntCounter,
}

impl SyncMetrics {
    /// Registers the series.
    pub fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let lag = GaugeVec::new(
            Opts::new(
                "gateway_sync_lag_seconds",
                "Seconds from a change's commit on one side to its arrival on the other, for the newest change synced, by table and direction.",
            ),
            &["table", "direction"],
        )?;
        let changes = IntCounterVec::new(
            Opts::new(
                "gateway_sync_changes_total",
                "Rows the sync wrote, by table, direction and operation.",
            ),
            &["table", "direction", "op"],
        )?;
        let conflicts = IntCounterVec::new(
            Opts::new(
                "gateway_sync_conflicts_total",
                "Conflicts settled, by table and the policy that decided.",
            ),
            &["table", "policy"],
        )?;
        let errors = IntCounter::new(
            "gateway_sync_errors_total",
            "Rows the sync could not carry, and failed sync steps (retried).",
        )?;
        metrics.register(Box::new(lag.clone()))?;
        metrics.register(Box::new(changes.clone()))?;
        metrics.register(Box::new(conflicts.clone()))?;
        metrics.register(Box::new(errors.clone()))?;
        Ok(Self {
            lag,
            changes,
            conflicts,
            errors,
        })
    }

    /// Sets a table's lag in one direction.
    pub fn lag(&self, table: &str, direction: &str, seconds: f64) {
        self.lag
            .with_label_values(&[table, direction])
            .set(seconds.max(0.0));
    }

    /// Counts rows written.
    pub fn changes(&self, table: &str, direction: &str, op: &str, count: u64) {
        self.changes
            .with_label_values(&[table, direction, op])
            .inc_by(count);
    }

    /// Counts conflicts settled.
    pub fn conflicts(&self, table: &str, policy: &str, count: u64) {
        self.conflicts
            .with_label_values(&[table, policy])
            .inc_by(count);
    }

    /// Counts failures: rows not carried, or a step that failed.
    pub fn errors(&self, count: u64) {
        self.errors.inc_by(count);
    }
}
