//! Inbound webhooks (`POST /webhooks/{name}`, declared in `GATEWAY_WEBHOOKS`): the raw body is
//! verified against the provider's signature scheme before it is parsed, a delivery whose
//! message id was seen in the last `dedupe_ttl_hours` answers `duplicate` and does nothing, and
//! the event goes to its target once: a Convex mutation or a table write through
//! `gateway:webhook` (deduped again inside Convex's transaction by the same id), or a write to
//! the embedded or Postgres store. When Convex cannot be reached, a verified webhook is kept in
//! the outbox before it is answered `202`, and delivered when Convex is back.

pub mod config;
mod deliver;
mod metrics;
pub mod verify;

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;
use utoipa::ToSchema;

use self::config::{Scheme, Webhook};
use self::deliver::{Delivered, Deliverer};
pub use self::metrics::WebhookMetrics;
use self::verify::Refusal;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::{Begin, IdempotencyStore, StoredResponse};
use crate::outbox::Outbox;
use crate::store::SharedStore;
use crate::store::convex::ConvexClient;

/// What happened to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// The target ran.
    Delivered,
    /// Convex could not be reached; the webhook is kept in the outbox and delivered later.
    Queued,
    /// No route takes this event type; nothing was done.
    Ignored,
    /// The message id was seen before; nothing was done again.
    Duplicate,
}

impl WebhookStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Queued => "queued",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
        }
    }
}

/// The answer to a verified delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReceipt {
    pub status: WebhookStatus,
    /// The webhook's name.
    pub webhook: String,
    /// The provider's message id (or, without one, the body's SHA-256).
    pub id: String,
    /// The event type, when the event names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// For a `duplicate`: what the first delivery came to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<WebhookStatus>,
    /// For `queued`: where to follow it (`GET /admin/outbox`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox_id: Option<String>,
}

/// The webhooks and what they deliver with.
pub struct Webhooks {
    hooks: Arc<[Webhook]>,
    deliverer: Deliverer,
    idempotency: IdempotencyStore,
    metrics: WebhookMetrics,
}

/// What [`Webhooks::new`] takes.
pub struct WebhooksParts {
    pub hooks: Arc<[Webhook]>,
    pub store: SharedStore,
    pub convex: Option<Arc<ConvexClient>>,
    pub outbox: Option<Outbox>,
    pub idempotency: IdempotencyStore,
    pub metrics: WebhookMetrics,
    /// Whether `CONVEX_DEPLOYMENT_KEY` is set (`gateway:webhook` is internal).
    pub deploy_key: bool,
    /// How long one delivery to Convex may take.
    pub timeout: Duration,
}

impl Webhooks {
    /// The service; refuses webhooks whose targets this gateway cannot reach.
    pub fn new(parts: WebhooksParts) -> anyhow::Result<Self> {
        let on_convex = parts.convex.is_some();
        for hook in parts.hooks.iter() {
            if hook.needs_convex() || on_convex {
                anyhow::ensure!(
                    on_convex,
                    "webhook `{}` calls a Convex mutation, which needs CONVEX_URL",
                    hook.name
                );
                anyhow::ensure!(
                    parts.deploy_key,
                    "webhook `{}` is delivered through the internal function gateway:webhook, which needs CONVEX_DEPLOYMENT_KEY",
                    hook.name
                );
            }
        }
        Ok(Self {
            hooks: parts.hooks,
            deliverer: Deliverer::new(parts.store, parts.convex, parts.outbox, parts.timeout),
            idempotency: parts.idempotency,
            metrics: parts.metrics,
        })
    }

    fn hook(&self, name: &str) -> Option<&Webhook> {
        self.hooks.iter().find(|hook| hook.name == name)
    }

    /// The most body bytes `name` reads, or the not-found error.
    pub fn body_limit(&self, name: &str) -> ApiResult<usize> {
        match self.hook(name) {
            Some(hook) => Ok(hook.max_body_bytes),
            None => {
                self.metrics.count("-", "not_found");
                Err(ApiError::new(
                    ErrorCode::WebhookNotFound,
                    format!("no webhook `{name}` is configured"),
                ))
            }
        }
    }

    /// Verifies, dedupes and delivers one webhook at `now` (unix seconds).
    pub async fn receive(
        &self,
        name: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: u64,
    ) -> ApiResult<WebhookReceipt> {
        let hook = self.hook(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::WebhookNotFound,
                format!("no webhook `{name}` is configured"),
            )
        })?;
        let result = self.handle(hook, headers, body, now).await;
        let outcome = match &result {
            Ok(receipt) => receipt.status.as_str(),
            Err(err) => match err.code() {
                ErrorCode::WebhookSignature => "bad_signature",
                ErrorCode::WebhookTimestamp => "stale_timestamp",
                ErrorCode::WebhookPayload => "bad_payload",
                ErrorCode::WebhookInFlight => "in_flight",
                code if code.status().is_server_error() => "unavailable",
                _ => "failed",
            },
        };
        self.metrics.count(name, outcome);
        if let Err(err) = &result {
            // The reason, never the signature or a secret.
            tracing::warn!(
                webhook = name,
                outcome,
                reason = err.detail(),
                "webhook refused"
            );
        }
        result
    }

    async fn handle(
        &self,
        hook: &Webhook,
        headers: &HeaderMap,
        body: &[u8],
        now: u64,
    ) -> ApiResult<WebhookReceipt> {
        let verified =
            verify::verify(hook, headers, body, now).map_err(|refusal| match refusal {
                Refusal::Signature(why) => ApiError::new(ErrorCode::WebhookSignature, why),
                Refusal::Timestamp(why) => ApiError::new(ErrorCode::WebhookTimestamp, why),
            })?;
        let event: Value = serde_json::from_slice(body).map_err(|err| {
            ApiError::new(
                ErrorCode::WebhookPayload,
                format!("the verified body is not JSON: {err}"),
            )
        })?;
        let id = message_id(hook, verified.id, &event, body)?;
        let event_type = verified.kind.or_else(|| {
            event
                .pointer(&hook.type_pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let caller = format!("webhook:{}", hook.name);
        match self
            .idempotency
            .begin(&caller, &id, "webhook", hook.dedupe_ttl)
            .await
            .map_err(ApiError::internal)?
        {
            Begin::Fresh => {}
            // The fingerprint is the same for every delivery, so a mismatch cannot happen.
            begin @ (Begin::Replay(_) | Begin::Mismatch) => {
                let first = match begin {
                    Begin::Replay(stored) => serde_json::from_slice::<WebhookReceipt>(&stored.body)
                        .map(|r| r.status)
                        .ok(),
                    _ => None,
                };
                return Ok(WebhookReceipt {
                    status: WebhookStatus::Duplicate,
                    webhook: hook.name.clone(),
                    id,
                    event_type,
                    first,
                    outbox_id: None,
                });
            }
            Begin::InFlight => {
                return Err(ApiError::new(
                    ErrorCode::WebhookInFlight,
                    format!("message `{id}` is being delivered right now; retry later"),
                ));
            }
        }
        let route = hook.routes.iter().find(|r| r.takes(event_type.as_deref()));
        let delivered = match route {
            None => Ok(Delivered::Ignored),
            Some(route) => {
                self.deliverer
                    .deliver(hook, route, &event, &format!("webhook:{}:{id}", hook.name))
                    .await
            }
        };
        let delivered = match delivered {
            Ok(delivered) => delivered,
            Err(err) => {
                // Nothing was kept: the provider's retry runs it again.
                if let Err(abandon) = self.idempotency.abandon(&caller, &id).await {
                    tracing::warn!(
                        error = format!("{abandon:#}"),
                        "releasing a webhook's id failed"
                    );
                }
                return Err(err);
            }
        };
        let (status, outbox_id) = match delivered {
            Delivered::Done => (WebhookStatus::Delivered, None),
            Delivered::Ignored => (WebhookStatus::Ignored, None),
            Delivered::Queued(outbox_id) => (WebhookStatus::Queued, Some(outbox_id)),
        };
        let receipt = WebhookReceipt {
            status,
            webhook: hook.name.clone(),
            id: id.clone(),
            event_type,
            first: None,
            outbox_id,
        };
        let stored = StoredResponse {
            status: if status == WebhookStatus::Queued {
                202
            } else {
                200
            },
            headers: Vec::new(),
            body: serde_json::to_vec(&receipt).map_err(|err| ApiError::internal(err.into()))?,
        };
        if let Err(err) = self.idempotency.complete(&caller, &id, stored).await {
            // The target ran; a redelivery would be answered by Convex's own dedupe (through
            // gateway:webhook) or write again (the embedded and Postgres stores).
            tracing::warn!(
                error = format!("{err:#}"),
                webhook = hook.name,
                "recording a webhook's id failed"
            );
        }
        Ok(receipt)
    }
}

/// The provider's message id: from the headers (Standard Webhooks, Svix, GitHub, `id_header`),
/// Stripe's event `id`, `id_pointer`, or else the body's SHA-256.
fn message_id(
    hook: &Webhook,
    from_headers: Option<String>,
    event: &Value,
    body: &[u8],
) -> ApiResult<String> {
    let id = match (&hook.scheme, from_headers) {
        (_, Some(id)) => Some(id),
        (Scheme::Stripe, None) => Some(
            event
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::WebhookPayload, "a Stripe event has an `id`")
                })?,
        ),
        (_, None) => hook
            .id_pointer
            .as_deref()
            .and_then(|pointer| event.pointer(pointer))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
    };
    let id = id.unwrap_or_else(|| base16ct::lower::encode_string(&sha2::Sha256::digest(body)));
    if id.is_empty() || id.len() > 256 {
        return Err(ApiError::new(
            ErrorCode::WebhookPayload,
            "the message id is empty or longer than 256 characters",
        ));
    }
    Ok(id)
}
