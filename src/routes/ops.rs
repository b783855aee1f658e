//! Operations endpoints: `/health` (liveness, no I/O), `/ready` (the store answers) and
//! `/metrics` (Prometheus text format).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

/// Liveness: the process is up.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// Readiness: the store answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyStatus {
    /// Always `ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// The store adapter in use (`local`, …).
    #[schema(example = "local")]
    pub store: String,
    /// The circuit breaker in front of Convex: `closed`, `open` or `half_open`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit: Option<String>,
}

/// Liveness probe; does no I/O.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = HealthStatus))
)]
async fn health() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".into(),
    })
}

/// Readiness probe: 200 when the store answers, 503 otherwise.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyStatus),
        (status = 503, description = "The store does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn ready(State(state): State<AppState>) -> ApiResult<Json<ReadyStatus>> {
    // Whatever the failure (unreachable, timing out, refusing), not ready is a 503.
    state.store().health().await.map_err(|err| {
        ApiError::new(
            ErrorCode::StoreUnavailable,
            format!(
                "the {} store does not answer: {err}",
                state.store().adapter()
            ),
        )
    })?;
    if let Some(shared) = state.shared() {
        shared.ping().await.map_err(|err| {
            ApiError::new(
                ErrorCode::StateStoreUnavailable,
                format!("the shared state store does not answer: {err:#}"),
            )
        })?;
    }
    if let Some(shared) = state.rate_limits().shared() {
        shared.ping().await.map_err(|err| {
            ApiError::new(
                ErrorCode::RateLimiterUnavailable,
                format!("the shared rate limiter's Redis does not answer: {err}"),
            )
        })?;
    }
    Ok(Json(ReadyStatus {
        status: "ready".into(),
        store: state.store().adapter().into(),
        circuit: state.convex().map(|c| c.circuit().as_str().to_owned()),
    }))
}

/// Prometheus metrics in the text exposition format 0.0.4.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain; version=0.0.4"))
)]
async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    // Expired transactions are counted and the gauge is current at every scrape.
    state.documents().sweep();
    if let Some(convex) = state.convex() {
        state.metrics().set_circuit_state(convex.circuit().code());
        state.metrics().set_upstream_retries(convex.retries_total());
    }
    if let Some(outbox) = state.outbox() {
        state
            .metrics()
            .set_outbox(outbox.depth(), outbox.oldest_age());
    }
    let text = state
        .metrics()
        .render()
        .map_err(|err| ApiError::internal(anyhow::Error::new(err)))?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
