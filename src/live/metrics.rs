//! The live-query metrics: open watches by kind, the subscriptions the gateway keeps on their
//! behalf (snapshot cohorts now, Convex subscriptions later), events sent, and subscribers cut
//! off. Registered in the gateway's one registry.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

use crate::metrics::Metrics;

/// What a watch watches: the `kind` label of its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    TableSnapshot,
    TableChanges,
    Document,
    Function,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::TableSnapshot,
        Kind::TableChanges,
        Kind::Document,
        Kind::Function,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Kind::TableSnapshot => "table_snapshot",
            Kind::TableChanges => "table_changes",
            Kind::Document => "document",
            Kind::Function => "function",
        }
    }
}

/// The live-query series. The per-kind series of open watches and events are looked up once,
/// not on every event.
pub(super) struct LiveMetrics {
    open: [IntGauge; 4],
    events: [IntCounter; 4],
    upstream: IntGaugeVec,
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
            open: Kind::ALL.map(|kind| open.with_label_values(&[kind.as_str()])),
            events: Kind::ALL.map(|kind| events.with_label_values(&[kind.as_str()])),
            upstream,
            dropped,
        })
    }

    pub(super) fn opened(&self, kind: Kind) {
        self.open[kind as usize].inc();
    }

    pub(super) fn closed(&self, kind: Kind) {
        self.open[kind as usize].dec();
    }

    pub(super) fn upstream(&self, kind: &str, delta: i64) {
        self.upstream.with_label_values(&[kind]).add(delta);
    }

    pub(super) fn sent(&self, kind: Kind) {
        self.events[kind as usize].inc();
    }

    pub(super) fn dropped(&self, reason: &str) {
        self.dropped.with_label_values(&[reason]).inc();
    }
}
