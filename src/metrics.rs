//! Prometheus metrics: one registry per application, held in `AppState` (never a process-global
//! recorder, so several apps can run side by side in one test process).

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency buckets in seconds, from 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The gateway's metrics and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    http_in_flight: IntGauge,
    store_duration: HistogramVec,
    function_calls: IntCounterVec,
    transactions_active: IntGauge,
    circuit_state: IntGauge,
    upstream_retries: prometheus::IntCounter,
    transactions: IntCounterVec,
    function_duration: HistogramVec,
    rate_limited: IntCounterVec,
    rate_limiter_unavailable: IntCounterVec,
    outbox_depth: IntGauge,
    outbox_oldest_age: prometheus::Gauge,
    outbox_delivered: IntCounterVec,
    stale_reads: prometheus::IntCounter,
    /// Function paths seen so far; past the cap, new paths are counted as `other`, so callers
    /// cannot grow the series without bound by calling made-up paths.
    function_paths: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The most distinct function paths labelled in metrics.
const MAX_FUNCTION_PATHS: usize = 500;

impl Metrics {
    /// Registers every metric. `adapter` names the store adapter for the build-info gauge.
    pub fn new(adapter: &str, instance: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route template and status.",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from receiving a request to sending its response headers.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let http_in_flight = IntGauge::new(
            "http_requests_in_flight",
            "HTTP requests being served right now.",
        )?;
        let store_duration = HistogramVec::new(
            HistogramOpts::new(
                "store_operation_duration_seconds",
                "Time spent in store adapter calls, by adapter and operation.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["adapter", "operation", "outcome"],
        )?;
        let function_calls = IntCounterVec::new(
            Opts::new(
                "convex_function_calls_total",
                "Convex function calls through the passthrough, by kind, path and outcome (success, error, failure).",
            ),
            &["kind", "path", "outcome"],
        )?;
        let function_duration = HistogramVec::new(
            HistogramOpts::new(
                "convex_function_duration_seconds",
                "Time Convex function calls took, by kind and path.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["kind", "path"],
        )?;
        let transactions_active = IntGauge::new(
            "gateway_transactions_active",
            "Interactive transactions open right now.",
        )?;
        let transactions = IntCounterVec::new(
            Opts::new(
                "gateway_transactions_total",
                "Interactive transactions ended, by outcome (committed, rolled_back, conflict, expired, queued, dry_run).",
            ),
            &["outcome"],
        )?;
        let circuit_state = IntGauge::new(
            "gateway_circuit_state",
            "The Convex circuit breaker: 0 closed, 1 open, 2 half-open.",
        )?;
        let upstream_retries = prometheus::IntCounter::new(
            "gateway_upstream_retries_total",
            "Retries of idempotent calls to Convex after upstream faults.",
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "gateway_rate_limited_total",
                "Requests refused with 429 by the per-caller rate limit, by the role whose limit applied.",
            ),
            &["role"],
        )?;
        let outbox_depth = IntGauge::new(
            "gateway_outbox_depth",
            "Writes queued in the outbox, waiting for Convex.",
        )?;
        let outbox_oldest_age = prometheus::Gauge::new(
            "gateway_outbox_oldest_age_seconds",
            "How long the oldest queued outbox write has waited (0 when none is queued).",
        )?;
        let outbox_delivered = IntCounterVec::new(
            Opts::new(
                "gateway_outbox_delivered_total",
                "Outbox entries settled by the relay, by outcome (delivered, dead).",
            ),
            &["outcome"],
        )?;
        let stale_reads = prometheus::IntCounter::new(
            "gateway_stale_reads_total",
            "Reads answered from recent results because Convex was unavailable.",
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "gateway_build_info",
                "Always 1; labels describe the running build.",
            ),
            &["version", "adapter"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), adapter])
            .set(1);

        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(http_in_flight.clone()))?;
        registry.register(Box::new(store_duration.clone()))?;
        registry.register(Box::new(function_calls.clone()))?;
        registry.register(Box::new(function_duration.clone()))?;
        registry.register(Box::new(transactions_active.clone()))?;
        registry.register(Box::new(transactions.clone()))?;
        registry.register(Box::new(circuit_state.clone()))?;
        registry.register(Box::new(upstream_retries.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        let rate_limiter_unavailable = IntCounterVec::new(
            prometheus::Opts::new(
                "gateway_rate_limiter_unavailable_total",
                "Requests the shared rate limiter (Redis) could not count, by what was done with them",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(rate_limiter_unavailable.clone()))?;
        registry.register(Box::new(outbox_depth.clone()))?;
        registry.register(Box::new(outbox_oldest_age.clone()))?;
        registry.register(Box::new(outbox_delivered.clone()))?;
        registry.register(Box::new(stale_reads.clone()))?;
        registry.register(Box::new(build_info))?;
        let instance_info = IntGaugeVec::new(
            Opts::new(
                "gateway_instance_info",
                "Always 1; tells this replica apart from the others (GATEWAY_INSTANCE_ID).",
            ),
            &["instance", "version"],
        )?;
        instance_info
            .with_label_values(&[instance, env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(instance_info))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            http_in_flight,
            store_duration,
            function_calls,
            function_duration,
            transactions_active,
            circuit_state,
            upstream_retries,
            transactions,
            rate_limited,
            rate_limiter_unavailable,
            outbox_depth,
            outbox_oldest_age,
            outbox_delivered,
            stale_reads,
            function_paths: std::sync::Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// Records one Convex function call; `outcome` is `success`, `error` (the function threw)
    /// or `failure` (the call did not complete).
    pub fn observe_function(&self, kind: &str, path: &str, outcome: &str, elapsed: Duration) {
        let label = match self.function_paths.lock() {
            Ok(mut paths) if paths.contains(path) || paths.len() < MAX_FUNCTION_PATHS => {
                paths.insert(path.to_owned());
                path
            }
            _ => "other",
        };
        self.function_calls
            .with_label_values(&[kind, label, outcome])
            .inc();
        self.function_duration
            .with_label_values(&[kind, label])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one answered request.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        self.http_requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// The in-flight gauge, raised while a request is served.
    pub fn in_flight(&self) -> &IntGauge {
        &self.http_in_flight
    }

    /// Records one store call.
    pub fn observe_store(&self, adapter: &str, operation: &str, ok: bool, elapsed: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.store_duration
            .with_label_values(&[adapter, operation, outcome])
            .observe(elapsed.as_secs_f64());
    }

    /// Brings the retry counter up to the adapter's running total.
    pub fn set_upstream_retries(&self, total: u64) {
        let current = self.upstream_retries.get();
        if total > current {
            self.upstream_retries.inc_by(total - current);
        }
    }

    /// Sets the circuit breaker's state code.
    pub fn set_circuit_state(&self, code: i64) {
        self.circuit_state.set(code);
    }

    /// Sets the number of open transactions.
    pub fn set_transactions_active(&self, open: usize) {
        self.transactions_active.set(open as i64);
    }

    /// Counts transactions that ended with `outcome`.
    pub fn transactions_ended(&self, outcome: &str, count: usize) {
        if count > 0 {
            self.transactions
                .with_label_values(&[outcome])
                .inc_by(count as u64);
        }
    }

    /// Counts a request refused by the rate limit of `role`.
    /// Counts a request the shared limiter could not count: `refused` (fail closed) or
    /// `allowed` (fail open).
    pub fn rate_limiter_unavailable(&self, fail_closed: bool) {
        let outcome = if fail_closed { "refused" } else { "allowed" };
        self.rate_limiter_unavailable
            .with_label_values(&[outcome])
            .inc();
    }

    pub fn rate_limited(&self, role: &str) {
        self.rate_limited.with_label_values(&[role]).inc();
    }

    /// Sets the outbox gauges.
    pub fn set_outbox(&self, depth: usize, oldest_age: Option<Duration>) {
        self.outbox_depth.set(depth as i64);
        self.outbox_oldest_age
            .set(oldest_age.map_or(0.0, |age| age.as_secs_f64()));
    }

    /// Counts an outbox entry the relay settled (`delivered` or `dead`).
    pub fn outbox_settled(&self, outcome: &str) {
        self.outbox_delivered.with_label_values(&[outcome]).inc();
    }

    /// Counts a read answered stale.
    pub fn stale_read(&self) {
        self.stale_reads.inc();
    }

    /// Registers a collector that another module owns (live queries keep their own).
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|err| prometheus::Error::Msg(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_includes_build_info_before_any_request() {
        let metrics = Metrics::new("local", "test-1").unwrap();
        let text = metrics.render().unwrap();
        assert!(text.contains("gateway_build_info{adapter=\"local\",version="));
    }

    #[test]
    fn observations_appear_with_their_labels() {
        let metrics = Metrics::new("local", "test-1").unwrap();
        metrics.observe_http("GET", "/v1/tables/{table}", 200, Duration::from_millis(3));
        metrics.observe_store("local", "list", true, Duration::from_millis(1));
        let text = metrics.render().unwrap();
        assert!(text.contains(
            "http_requests_total{method=\"GET\",route=\"/v1/tables/{table}\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "store_operation_duration_seconds_count{adapter=\"local\",operation=\"list\",outcome=\"ok\"} 1"
        ));
    }
}
