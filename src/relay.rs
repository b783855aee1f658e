//! The outbox relay: one task per gateway that delivers queued writes to Convex, one at a time
//! and never ahead of an earlier write to the same document (see `outbox`), backing off
//! with full jitter while Convex stays down and dead-lettering what a retry cannot fix.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::outbox::{Due, Kind, Next, Outbox, OutboxConfig, now_ms};
use crate::retry::full_jitter;
use crate::store::StoreCtx;
use crate::store::StoreError;
use crate::store::convex::{ConvexClient, FunctionKind, apply_encoded};
use crate::writes::outcomes_json;

/// The relay and what it needs: the outbox, the Convex deployment, the caller identities it
/// rebuilds, the metrics, and its settings.
pub struct Relay {
    outbox: Outbox,
    convex: Arc<ConvexClient>,
    auth: Arc<Auth>,
    metrics: Arc<Metrics>,
    config: OutboxConfig,
    /// How long one delivery may take (`GATEWAY_REQUEST_TIMEOUT`).
    timeout: Duration,
}

impl Relay {
    /// A relay over its dependencies.
    pub fn new(
        outbox: Outbox,
        convex: Arc<ConvexClient>,
        auth: Arc<Auth>,
        metrics: Arc<Metrics>,
        config: OutboxConfig,
        timeout: Duration,
    ) -> Self {
        Self {
            outbox,
            convex,
            auth,
            metrics,
            config,
            timeout,
        }
    }

    /// The outbox it delivers from.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Delivers the head of the queue if it is due, and says how long to wait before the next
    /// step.
    pub async fn step(&self) -> Duration {
        let due = match self.outbox.next().await {
            Ok(Next::Due(due)) => *due,
            Ok(Next::Wait(wait)) => return wait,
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), "reading the outbox failed");
                return Duration::from_secs(1);
            }
        };
        match self.deliver(due).await {
            Ok(wait) => wait,
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), "updating the outbox failed");
                Duration::from_secs(1)
            }
        }
    }

    async fn deliver(&self, due: Due) -> anyhow::Result<Duration> {
        let (outbox, convex, metrics) = (&self.outbox, &self.convex, &self.metrics);
        let Ok(identity) = self.auth.identity_from_snapshot(due.identity.as_ref()) else {
            outbox
                .dead(due.seq, "the caller's identity could not be rebuilt".into())
                .await?;
            metrics.outbox_settled("dead");
            return Ok(Duration::ZERO);
        };
        let ctx = StoreCtx {
            identity,
            request_id: Some(format!("outbox-{}", due.id)),
            idempotency_key: Some(due.idempotency_key.clone()),
            deadline: Some(Instant::now() + self.timeout),
            caller: crate::store::DbCaller::Gateway,
            // A webhook is delivered to `gateway:webhook`, an internal function.
            as_deployment: due.kind == Kind::Webhook,
            dry_run: false,
            // Queued writes carry their history scope in their arguments.
            history: None,
        };
        let result = match due.kind {
            Kind::Apply => apply_encoded(convex, &ctx, due.args.clone())
                .await
                .map(outcomes_json),
            Kind::Mutation | Kind::Webhook => {
                convex
                    .call(&ctx, FunctionKind::Mutation, &due.path, due.args.clone())
                    .await
            }
        };
        let config = &self.config;
        let now = now_ms();
        match result {
            Ok(value) => {
                outbox.delivered(due.seq, value).await?;
                metrics.outbox_settled("delivered");
                tracing::info!(outbox_id = %due.id, attempts = due.attempts + 1, "outbox entry delivered");
                Ok(Duration::ZERO)
            }
            // Waiting for the breaker is no delivery attempt.
            Err(StoreError::CircuitOpen { retry_after }) => {
                let wait = Duration::from_secs(retry_after);
                outbox
                    .retry_later(
                        due.seq,
                        "Convex is failing; the circuit breaker is open".into(),
                        false,
                        now + wait.as_millis() as i64,
                    )
                    .await?;
                Ok(wait)
            }
            Err(StoreError::Saturated) => Ok(Duration::from_millis(100)),
            Err(err) if err.is_outage() => {
                let attempts = due.attempts + 1;
                if attempts >= config.max_attempts {
                    outbox
                        .dead(
                            due.seq,
                            format!("gave up after {attempts} attempts; the last: {err}"),
                        )
                        .await?;
                    metrics.outbox_settled("dead");
                    tracing::warn!(outbox_id = %due.id, attempts, "outbox entry dead-lettered");
                    return Ok(Duration::ZERO);
                }
                let wait = match &err {
                    StoreError::Overloaded {
                        retry_after: Some(secs),
                        ..
                    } => Duration::from_secs(*secs),
                    _ => full_jitter(config.backoff_base, config.backoff_cap, attempts),
                };
                outbox
                    .retry_later(
                        due.seq,
                        err.to_string(),
                        true,
                        now + wait.as_millis() as i64,
                    )
                    .await?;
                Ok(wait)
            }
            Err(err) => {
                // A function error, a failed precondition, a refused identity: sending the same
                // write again cannot succeed.
                let problem = ApiError::from(err).problem();
                outbox
                    .dead(
                        due.seq,
                        format!("{}: {}", problem.code.as_str(), problem.detail),
                    )
                    .await?;
                metrics.outbox_settled("dead");
                tracing::warn!(outbox_id = %due.id, code = problem.code.as_str(), "outbox entry dead-lettered");
                Ok(Duration::ZERO)
            }
        }
    }
}
