//! The live-query metrics: open watches by kind, the subscriptions the gateway keeps on their
//! behalf (snapshot cohorts now, Convex subscriptions later), events sent, and subscribers cut
//! off. Registered in the gateway's one registry.

use prometheus::{IntCounterVec, IntGaugeVec, Opts};

use crate::metrics::Metrics;

/// The live-query series.
pub(super) struct LiveMetrics {
    open: IntGaugeVec,
    upstream: IntGaugeVec,
    events: IntCounterVec,
    dropped: IntCounterVec,
}

impl LiveMetrics {
    pub(super) fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let open = IntGaugeVec::new(
            Opts::new(
                "gateway_watches_open",
                "Open live-query watches, by kind (table_snapshot, table_changes, document).",
            ),
            &["kind"],
        )?;
        let upstream = IntGaugeVec::new(
            Opts::new(
                "gateway_watch_upstream_subscriptions",
                "Subscriptions the gateway keeps for its watches, by kind: one per cohort of identical snapshot watches.",
            ),
            &["kind"],
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "gateway_watch_events_total",
                "Events sent on watches, by kind.",
            ),
            &["kind"],
        )?;
        let dropped = IntCounterVec::new(
            Opts::new(
                "gateway_watch_dropped_total",
                "Watches the gateway ended, by reason (too_slow, token_expired, lifetime, shutdown).",
            ),
            &["reason"],
        )?;
        metrics.register(Box::new(open.clone()))?;
        metrics.register(Box::new(upstream.clone()))?;
        metrics.register(Box::new(events.clone()))?;
        metrics.register(Box::new(dropped.clone()))?;
        Ok(Self {
            open,
            upstream,
            events,
            dropped,
        })
    }

    pub(super) fn opened(&self, kind: &str) {
        self.open.with_label_values(&[kind]).inc();
    }

    pub(super) fn closed(&self, kind: &str) {
        self.open.with_label_values(&[kind]).dec();
    }

    pub(super) fn upstream(&self, kind: &str, delta: i64) {
        self.upstream.with_label_values(&[kind]).add(delta);
    }

    pub(super) fn sent(&self, kind: &str) {
        self.events.with_label_values(&[kind]).inc();
    }

    pub(super) fn dropped(&self, reason: &str) {
        self.dropped.with_label_values(&[reason]).inc();
    }
}
