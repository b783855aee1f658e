//! Records `http_requests_total`, `http_request_duration_seconds` and the in-flight gauge for
//! every request, labelled by the matched route template (never the raw path, which would give
//! one series per document id), with each answer's final status: the layer first makes a
//! plain-text error from below a problem document (`problem::ensure_problem_body`), in the same
//! layer so a request pays for one middleware, not two.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::IntGauge;

use super::problem;
use crate::state::AppState;

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
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let metrics = state.metrics();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let _in_flight = InFlight::enter(metrics.in_flight());
    let response = next.run(request).await;
    // Any error a layer or the router produced as plain text (405, 406, 413, timeouts, panics)
    // becomes problem+json, so every error has the same shape.
    let response = problem::ensure_problem_body(&state, &method, &uri, response);
    metrics.observe_http(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
