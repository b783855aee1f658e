//! The sync relay's metrics: messages by direction and type, denials by reason, open sockets,
//! and identity renewals. Registered in the gateway's one registry.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

use crate::metrics::Metrics;

pub(super) struct SyncMetrics {
    messages: IntCounterVec,
    denials: IntCounterVec,
    open: IntGauge,
    renewals: IntCounter,
}

impl SyncMetrics {
    pub(super) fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let messages = IntCounterVec::new(
            Opts::new(
                "gateway_sync_messages_total",
                "Sync-protocol messages relayed, by direction (client, server) and type.",
            ),
            &["direction", "type"],
        )?;
        let denials = IntCounterVec::new(
            Opts::new(
                "gateway_sync_denials_total",
                "Sync-protocol messages the gateway refused, by reason (bad_token, admin_key, query, mutation, action, too_large, malformed, too_many_sockets, token_expired).",
            ),
            &["reason"],
        )?;
        let open = IntGauge::new(
            "gateway_sync_sockets_open",
            "Client WebSockets relayed to Convex now.",
        )?;
        let renewals = IntCounter::new(
            "gateway_sync_identity_renewals_total",
            "Minted identities renewed upstream on relayed sockets.",
        )?;
        metrics.register(Box::new(messages.clone()))?;
        metrics.register(Box::new(denials.clone()))?;
        metrics.register(Box::new(open.clone()))?;
        metrics.register(Box::new(renewals.clone()))?;
        Ok(Self {
            messages,
            denials,
            open,
            renewals,
        })
    }

    pub(super) fn message(&self, direction: &str, kind: &str) {
        self.messages.with_label_values(&[direction, kind]).inc();
    }

    pub(super) fn denied(&self, reason: &str) {
        self.denials.with_label_values(&[reason]).inc();
    }

    /// Counts an open socket until the guard is dropped.
    pub(super) fn open_socket(&self) -> OpenSocket {
        self.open.inc();
        OpenSocket(self.open.clone())
    }

    pub(super) fn renewed(&self) {
        self.renewals.inc();
    }
}

/// An open socket, counted until dropped.
pub(super) struct OpenSocket(IntGauge);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}
