//! Records `http_requests_total`, `http_request_duration_seconds` and the in-flight gauge for
//! every request, labelled by the matched route template (never the raw path, which would give
//! one series per document id).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::IntGauge;

use crate::metrics::Metrics;

/// The `route` label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// Lowers the in-flight gauge even when the request future is dropped (client gone, timeout).
struct InFlight(IntGauge);

impl InFlight {
    fn enter(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The middleware function.
pub(super) async fn record(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let _in_flight = InFlight::enter(metrics.in_flight());
    let response = next.run(request).await;
    metrics.observe_http(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
