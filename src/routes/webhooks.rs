//! `POST /webhooks/{name}`: an inbound webhook, read raw within its size cap and handed to
//! `webhooks` to verify, dedupe and deliver. `200` when done, ignored or a duplicate; `202` when
//! kept in the outbox for a Convex that cannot be reached.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tables::ApiPath;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::webhooks::{WebhookReceipt, WebhookStatus};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// Receive a webhook.
///
/// The webhook `name` is declared in `GATEWAY_WEBHOOKS` with its signature scheme (`standard`
/// and Svix/Clerk, `stripe`, `github`, `hmac`), its secrets and its targets. The raw body is
/// verified before it is parsed; a message id seen before answers `duplicate` and does nothing.
/// No bearer token: the signature is the credential.
#[utoipa::path(
    post,
    path = "/webhooks/{name}",
    tag = "webhooks",
    params(("name" = String, Path, description = "The webhook's name in GATEWAY_WEBHOOKS")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "The provider's event, exactly as signed"),
    responses(
        (status = 200, description = "Delivered, ignored (no route takes the event type) or a duplicate", body = WebhookReceipt),
        (status = 202, description = "Verified and kept in the outbox: Convex cannot be reached now", body = WebhookReceipt),
        (status = 400, description = "The verified body cannot be delivered as configured (`webhook_payload`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature (`webhook_signature`) or its timestamp (`webhook_timestamp`) is refused", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook (`webhook_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A delivery with this message id is still running (`webhook_in_flight`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the webhook's `max_body_bytes`", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = crate::openapi::DocumentRefused),
        (status = 503, response = crate::openapi::Overloaded),
    )
)]
async fn receive(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let webhooks = state.webhooks();
    let limit = webhooks.body_limit(&name)?;
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::body_too_large(limit))?;
    let now = crate::auth::signer::unix_now();
    let receipt = webhooks.receive(&name, &headers, &body, now).await?;
    let status = if receipt.status == WebhookStatus::Queued {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(receipt)).into_response())
}
