//! `AppState`: the parts the routes and middleware call, built once by `app` and handed to
//! every handler. It sits below the HTTP layer and above the domain modules, which never see
//! it: each of them takes its own dependencies.

use std::sync::{Arc, Weak};

use crate::auth::Auth;
use crate::config::Config;
use crate::deployment::env::EnvClient;
use crate::documents::Documents;
use crate::functions::Functions;
use crate::idempotency::IdempotencyStore;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::ratelimit::RateLimits;
use crate::relay::Relay;
use crate::shared::StateDb;
use crate::store::SharedStore;
use crate::store::convex::ConvexClient;
use crate::sync_relay::SyncRelay;
use crate::table_sync::admin::SyncAdmin;
use crate::webhooks::Webhooks;
use crate::writes::WritePath;

/// Shared, cheaply cloned state for handlers and middleware.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Parts>,
}

/// A handle that does not keep the state alive: background workers hold it and stop once the
/// application is dropped.
#[derive(Clone)]
pub struct WeakState(Weak<Parts>);

impl WeakState {
    /// The state, while the application lives.
    pub fn upgrade(&self) -> Option<AppState> {
        self.0.upgrade().map(|inner| AppState { inner })
    }
}

/// Everything [`AppState`] holds.
pub struct Parts {
    /// The store adapter, wrapped in metrics.
    pub store: SharedStore,
    /// The Convex deployment, when the gateway fronts one (for the function passthrough).
    pub convex: Option<Arc<ConvexClient>>,
    pub metrics: Arc<Metrics>,
    pub auth: Arc<Auth>,
    pub idempotency: IdempotencyStore,
    /// The shared state store (`GATEWAY_STATE_URL`), when replicas share state.
    pub shared: Option<StateDb>,
    pub config: Arc<Config>,
    pub outbox: Option<Outbox>,
    pub rate_limits: RateLimits,
    pub writes: WritePath,
    pub documents: Documents,
    pub functions: Functions,
    pub relay: Option<Relay>,
    /// Live queries.
    pub live: Arc<Live>,
    /// Convex's sync protocol, relayed.
    pub sync_relay: SyncRelay,
    /// The table sync's admin handle (`GATEWAY_SYNC`).
    pub table_sync: Option<SyncAdmin>,
    /// Inbound webhooks (`GATEWAY_WEBHOOKS`).
    pub webhooks: Webhooks,
    /// The Convex deployment's environment variables, with a deploy key.
    pub deployment_env: Option<EnvClient>,
}

impl AppState {
    /// State over its parts.
    pub fn new(parts: Parts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }

    /// A handle for background workers.
    pub fn downgrade(&self) -> WeakState {
        WeakState(Arc::downgrade(&self.inner))
    }

    /// The table sync's admin handle, when `GATEWAY_SYNC` is set.
    pub fn table_sync(&self) -> Option<&SyncAdmin> {
        self.inner.table_sync.as_ref()
    }

    /// The Convex deployment's environment variables, when it has a deploy key.
    pub fn deployment_env(&self) -> Option<&EnvClient> {
        self.inner.deployment_env.as_ref()
    }

    /// Inbound webhooks.
    pub fn webhooks(&self) -> &Webhooks {
        &self.inner.webhooks
    }

    /// The offline outbox, when the gateway fronts Convex with `GATEWAY_OUTBOX` on.
    pub fn outbox(&self) -> Option<&Outbox> {
        self.inner.outbox.as_ref()
    }

    /// The outbox relay, when there is an outbox.
    pub fn relay(&self) -> Option<&Relay> {
        self.inner.relay.as_ref()
    }

    /// The per-role rate limiters.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.inner.rate_limits
    }

    /// The shared state store, when `GATEWAY_STATE_URL` is set.
    pub fn shared(&self) -> Option<&StateDb> {
        self.inner.shared.as_ref()
    }

    /// Idempotency-key records.
    pub fn idempotency(&self) -> &IdempotencyStore {
        &self.inner.idempotency
    }

    /// Tables, batches and interactive transactions.
    pub fn documents(&self) -> &Documents {
        &self.inner.documents
    }

    /// Convex functions: the passthrough and the REST form.
    pub fn functions(&self) -> &Functions {
        &self.inner.functions
    }

    /// Live queries: table and document watches.
    pub fn live(&self) -> &Live {
        &self.inner.live
    }

    /// The sync-protocol relay.
    pub fn sync_relay(&self) -> &SyncRelay {
        &self.inner.sync_relay
    }

    /// Apply now, or queue.
    pub fn writes(&self) -> &WritePath {
        &self.inner.writes
    }

    /// The Convex deployment, when the gateway fronts one (for the function passthrough).
    pub fn convex(&self) -> Option<&Arc<ConvexClient>> {
        self.inner.convex.as_ref()
    }

    /// Authentication, policy and token issuing.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// The store adapter, wrapped in metrics.
    pub fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The configuration the app was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}
