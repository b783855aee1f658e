//! The application: `Application::build` opens the store, binds the listener and assembles the
//! router; `run_until_stopped` serves until a shutdown signal, then drains requests in flight.
//!
//! Everything a handler needs is built here once and passed down in `AppState`; nothing lives in
//! globals, so tests can run many independent apps in one process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Auth;
use crate::config::{Config, StoreKind};
use crate::idempotency::IdempotencyStore;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::ratelimit::RateLimits;
use crate::stale::StaleCache;
use crate::store::SharedStore;
use crate::store::convex::ConvexStore;
use crate::store::local::{LocalOptions, LocalStore};
use crate::store::metered::MeteredStore;
use crate::transactions::TxManager;
use crate::{middleware, routes};

/// Shared, cheaply cloned state for handlers and middleware.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: SharedStore,
    convex: Option<Arc<ConvexStore>>,
    metrics: Arc<Metrics>,
    auth: Arc<Auth>,
    transactions: Arc<TxManager>,
    idempotency: IdempotencyStore,
    config: Arc<Config>,
    outbox: Option<Outbox>,
    stale: Option<StaleCache>,
    rate_limits: RateLimits,
}

impl AppState {
    /// Assembles state from its parts.
    pub fn new(
        store: SharedStore,
        convex: Option<Arc<ConvexStore>>,
        metrics: Arc<Metrics>,
        auth: Arc<Auth>,
        idempotency: IdempotencyStore,
        config: Arc<Config>,
        outbox: Option<Outbox>,
    ) -> Self {
        let transactions = Arc::new(TxManager::new(config.tx_ttl));
        // Stale reads only make sense in front of a remote store.
        let stale = (config.stale_reads && convex.is_some())
            .then(|| StaleCache::new(config.stale_cache_entries));
        let rate_limits = RateLimits::new(auth.policy().rate_limits());
        Self {
            inner: Arc::new(Inner {
                store,
                convex,
                metrics,
                auth,
                transactions,
                idempotency,
                config,
                outbox,
                stale,
                rate_limits,
            }),
        }
    }

    /// The offline outbox, when the gateway fronts Convex with `GATEWAY_OUTBOX` on.
    pub fn outbox(&self) -> Option<&Outbox> {
        self.inner.outbox.as_ref()
    }

    /// Recent read results, with `GATEWAY_STALE_READS=on` in front of Convex.
    pub fn stale(&self) -> Option<&StaleCache> {
        self.inner.stale.as_ref()
    }

    /// The per-role rate limiters.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.inner.rate_limits
    }

    /// Idempotency-key records.
    pub fn idempotency(&self) -> &IdempotencyStore {
        &self.inner.idempotency
    }

    /// Open interactive transactions.
    pub fn transactions(&self) -> &TxManager {
        &self.inner.transactions
    }

    /// Rolls back expired transactions and updates the transaction gauges.
    pub fn sweep_transactions(&self) {
        self.inner.transactions.sweep();
        let expired = self.inner.transactions.take_expired_count();
        self.inner.metrics.transactions_ended("expired", expired);
        self.inner
            .metrics
            .set_transactions_active(self.inner.transactions.active());
    }

    /// The Convex deployment, when the gateway fronts one (for the function passthrough).
    pub fn convex(&self) -> Option<&Arc<ConvexStore>> {
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

/// A built, bound, not yet serving gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    config: Arc<Config>,
}

impl Application {
    /// Opens the embedded store in `GATEWAY_DATA_DIR` and binds `config.addr` (port 0 picks a
    /// free port; see [`Self::port`]).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        match (&config.store, &config.convex) {
            (StoreKind::Convex, Some(convex)) => {
                tracing::info!(url = %convex.url, "fronting a Convex deployment");
                let convex =
                    Arc::new(ConvexStore::new(convex).context("setting up the Convex adapter")?);
                Self::assemble(config, convex.clone(), Some(convex)).await
            }
            _ => {
                let data_dir = config.data_dir.clone();
                let options = LocalOptions {
                    indexes: config.indexes.clone(),
                    mmap_bytes: config.sqlite_mmap_bytes,
                    readers: config.sqlite_readers,
                };
                let local =
                    tokio::task::spawn_blocking(move || LocalStore::open_with(&data_dir, &options))
                        .await
                        .context("opening the embedded store")??;
                Self::assemble(config, Arc::new(local), None).await
            }
        }
    }

    /// Like [`Self::build`], on a store adapter the caller provides (another adapter, or a
    /// fault-injecting one in tests). The Convex function routes answer 501.
    pub async fn build_with_store(config: Config, adapter: SharedStore) -> anyhow::Result<Self> {
        Self::assemble(config, adapter, None).await
    }

    async fn assemble(
        config: Config,
        adapter: SharedStore,
        convex: Option<Arc<ConvexStore>>,
    ) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new(adapter.adapter()).context("registering metrics")?);
        let store: SharedStore = Arc::new(MeteredStore::new(adapter, Arc::clone(&metrics)));
        let http = crate::http_client::client(Duration::from_secs(5), Duration::from_secs(30))?;
        let auth = Auth::build(&config.auth, &config.data_dir, http)
            .await
            .context("setting up authentication")?;
        let data_dir = config.data_dir.clone();
        let idempotency = tokio::task::spawn_blocking(move || IdempotencyStore::open(&data_dir))
            .await
            .context("opening the idempotency store")??;
        let outbox = if convex.is_some() && config.outbox.enabled {
            let data_dir = config.data_dir.clone();
            Some(
                tokio::task::spawn_blocking(move || Outbox::open(&data_dir))
                    .await
                    .context("opening the outbox")??,
            )
        } else {
            None
        };
        let state = AppState::new(
            store,
            convex,
            metrics,
            Arc::new(auth),
            idempotency,
            Arc::clone(&config),
            outbox,
        );
        // Expired transactions are rolled back within a second, not only when next touched;
        // idle rate-limit buckets are forgotten.
        let sweeper = Arc::downgrade(&state.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(inner) = sweeper.upgrade() else {
                    break;
                };
                let state = AppState { inner };
                state.sweep_transactions();
                state.rate_limits().sweep();
            }
        });
        if let Some(outbox) = state.outbox().cloned() {
            spawn_relay(&state, outbox);
        }
        let router = router(state);
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding GATEWAY_ADDR {}", config.addr))?;
        Ok(Self {
            listener,
            router,
            config,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.addr)
    }

    /// The router, for in-process tests with `tower::ServiceExt::oneshot`.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting and lets requests in flight
    /// finish, for at most `GATEWAY_SHUTDOWN_GRACE`.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let grace = self.config.shutdown_grace;
        tracing::info!(%addr, "listening on http://{addr}");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(self.listener, service).with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        });
        let mut server = tokio::spawn(async move { server.await });
        tokio::select! {
            result = &mut server => return result.context("server task")?.context("serving"),
            () = shutdown => {}
        }
        tracing::info!(
            grace_seconds = grace.as_secs(),
            "shutting down: draining requests in flight"
        );
        let _ = stop_tx.send(());
        match tokio::time::timeout(grace, &mut server).await {
            Ok(result) => result.context("server task")?.context("serving"),
            Err(_) => {
                tracing::warn!("shutdown grace elapsed with requests still in flight");
                server.abort();
                Ok(())
            }
        }
    }
}

/// The complete router: documented API routes, Swagger UI at `/docs`, the spec at
/// `/openapi.json`, the not-found fallback, all behind the middleware stack.
pub fn router(state: AppState) -> Router {
    let (api, spec) = routes::api().split_for_parts();
    let spec = crate::openapi::tidy(spec);
    let router = api
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(middleware::route_not_found)
        .with_state(state.clone());
    middleware::apply(router, &state)
}

/// Runs the outbox relay until the application is dropped; delivered and discarded entries are
/// purged once they are older than `GATEWAY_IDEMPOTENCY_TTL`.
fn spawn_relay(state: &AppState, outbox: Outbox) {
    let weak = Arc::downgrade(&state.inner);
    let retention = state.config().idempotency_ttl;
    tokio::spawn(async move {
        let mut last_purge = std::time::Instant::now();
        loop {
            let wait = {
                let Some(inner) = weak.upgrade() else {
                    break;
                };
                crate::relay::step(&AppState { inner }).await
            };
            if last_purge.elapsed() > Duration::from_secs(60) {
                last_purge = std::time::Instant::now();
                let before = crate::outbox::now_ms() - retention.as_millis() as i64;
                if let Err(err) = outbox.purge(before).await {
                    tracing::warn!(error = format!("{err:#}"), "purging the outbox failed");
                }
            }
            if !wait.is_zero() {
                // Short naps, so a dropped application stops its relay soon.
                outbox.wait(wait.min(Duration::from_secs(1))).await;
            }
        }
    });
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
