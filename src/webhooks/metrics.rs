//! `gateway_webhooks_total{name,outcome}`: every delivery by webhook and what came of it.

use prometheus::{IntCounterVec, Opts};

use crate::metrics::Metrics;

/// The webhooks' series.
#[derive(Clone)]
pub struct WebhookMetrics {
    total: IntCounterVec,
}

impl WebhookMetrics {
    /// Registers the series in the gateway's registry.
    pub fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let total = IntCounterVec::new(
            Opts::new(
                "gateway_webhooks_total",
                "Inbound webhook deliveries by webhook name (`-` for an unknown one) and outcome: delivered, queued, ignored, duplicate, bad_signature, stale_timestamp, bad_payload, in_flight, failed, unavailable, not_found.",
            ),
            &["name", "outcome"],
        )?;
        metrics.register(Box::new(total.clone()))?;
        Ok(Self { total })
    }

    /// Counts one delivery.
    pub fn count(&self, name: &str, outcome: &str) {
        self.total.with_label_values(&[name, outcome]).inc();
    }
}
