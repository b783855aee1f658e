//! The application: `Application::build` opens the store, binds the listener and assembles the
//! router; `run_until_stopped` serves until a shutdown signal, then drains requests in flight.
//!
//! This is the composition root: every part (store, auth, outbox, write path, document service,
//! relay) is built here once, handed the parts it depends on, and gathered into `AppState` for
//! the routes; the background workers (transaction sweeper, outbox relay) start here too.
//! Nothing lives in globals, so tests can run many independent apps in one process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::table_sync::admin::SyncAdmin;
use crate::table_sync::runner::SyncTask;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Auth;
use crate::config::Config;
use crate::documents::{Documents, DocumentsParts};
use crate::functions::Functions;
use crate::idempotency::IdempotencyStore;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::ratelimit::RateLimits;
use crate::relay::Relay;
use crate::shared::StateDb;
use crate::stale::StaleCache;
use crate::state::{AppState, Parts, WeakState};
use crate::store::SharedStore;
use crate::store::convex::ConvexClient;
use crate::store::metered::MeteredStore;
use crate::transactions::TxManager;
use crate::writes::WritePath;
use crate::{middleware, routes};

/// A built, bound, not yet serving gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    config: Arc<Config>,
    /// The shared state store, to leave the replica list on a clean stop.
    shared: Option<StateDb>,
    /// Live queries, ended when the gateway stops so their streams do not hold it open.
    live: Arc<Live>,
    /// The sync from Convex to Postgres (`GATEWAY_SYNC`), stopped when this is dropped.
    _sync: Option<SyncTask>,
}

impl Application {
    /// Builds the store adapter the configuration names (`store::build`: the embedded store in
    /// `GATEWAY_DATA_DIR`, or Convex) and binds `config.addr` (port 0 picks a free port; see
    /// [`Self::port`]).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let built = crate::store::build(&config.backend()).await?;
        Self::assemble(config, built.store, built.convex).await
    }

    /// Like [`Self::build`], on a store adapter the caller provides (another adapter, or a
    /// fault-injecting one in tests). The Convex function routes answer 404.
    pub async fn build_with_store(config: Config, adapter: SharedStore) -> anyhow::Result<Self> {
        Self::assemble(config, adapter, None).await
    }

    async fn assemble(
        config: Config,
        adapter: SharedStore,
        convex: Option<Arc<ConvexClient>>,
    ) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let metrics = Arc::new(
            Metrics::new(adapter.adapter(), &config.instance_id())
                .context("registering metrics")?,
        );
        let store: SharedStore = Arc::new(MeteredStore::new(adapter, Arc::clone(&metrics)));
        let http = crate::http_client::client(Duration::from_secs(5), Duration::from_secs(30))?;
        let (sync, sync_admin) = start_sync(&config, &http, &metrics)?.unzip();
        let shared = match config.state_store() {
            Some(state) => Some(
                StateDb::connect(&state, &config.instance_id(), Duration::from_secs(30))
                    .await?
                    .sealed_with(config.state_key.as_ref().map(|k| k.expose_secret()))?,
            ),
            None => None,
        };
        let auth = Auth::build(
            &config.auth,
            &config.data_dir,
            http.clone(),
            shared.as_ref(),
        )
        .await
        .context("setting up authentication")?;
        let idempotency = match &shared {
            // A claim outlives its request by a margin; after that, a retry may take it over.
            Some(db) => IdempotencyStore::shared(
                db.clone(),
                config.request_timeout * 2 + Duration::from_secs(10),
            ),
            None => {
                let data_dir = config.data_dir.clone();
                tokio::task::spawn_blocking(move || IdempotencyStore::open(&data_dir))
                    .await
                    .context("opening the idempotency store")??
            }
        };
        let outbox = match (&shared, convex.is_some() && config.outbox.enabled) {
            (_, false) => None,
            // A claim outlives a delivery attempt by a margin; then another replica may take it.
            (Some(db), true) => {
                refuse_stranded_outbox(&config.data_dir).await?;
                Some(Outbox::shared(
                    db.clone(),
                    config.request_timeout * 2 + Duration::from_secs(5),
                ))
            }
            (None, true) => {
                let data_dir = config.data_dir.clone();
                Some(
                    tokio::task::spawn_blocking(move || Outbox::open(&data_dir))
                        .await
                        .context("opening the outbox")??,
                )
            }
        };
        let auth = Arc::new(auth);
        let transactions = Arc::new(match &shared {
            Some(db) => TxManager::shared(db.clone(), config.tx_ttl, config.tx_max_ops),
            None => TxManager::new(config.tx_ttl, config.tx_max_ops),
        });
        // Stale reads only make sense in front of a remote store.
        let stale = (config.stale_reads && convex.is_some())
            .then(|| StaleCache::new(config.stale_cache_entries, config.stale_max_age));
        let writes = WritePath::new(
            Arc::clone(&store),
            outbox.clone(),
            Arc::clone(&auth),
            &config.outbox.mutations,
        );
        let documents = Documents::new(DocumentsParts {
            store: Arc::clone(&store),
            auth: Arc::clone(&auth),
            transactions,
            writes: writes.clone(),
            stale,
            metrics: Arc::clone(&metrics),
            tables: config.tables.clone(),
            max_ops: config.tx_max_ops,
        });
        let relay = match (&outbox, &convex) {
            (Some(outbox), Some(convex)) => Some(Relay::new(
                outbox.clone(),
                Arc::clone(convex),
                Arc::clone(&auth),
                Arc::clone(&metrics),
                config.outbox.clone(),
                config.request_timeout,
            )),
            _ => None,
        };
        let functions = Functions::new(
            convex.clone(),
            Arc::clone(&auth),
            Arc::clone(&metrics),
            writes.clone(),
        );
        let mut rate_limits = RateLimits::new(auth.policy().rate_limits());
        if let Some(shared) = &config.shared_limits {
            rate_limits = rate_limits.shared_by(Arc::new(
                crate::ratelimit::shared::SharedLimiter::new(shared.clone())?,
            ));
        }
        let live = Arc::new(Live::new(
            Arc::clone(&store),
            convex.as_ref().map(|c| c.url().to_owned()),
            Arc::clone(&auth),
            config.watches.clone(),
            config.request_timeout,
            &metrics,
        )?);
        let sync_relay = crate::sync_relay::SyncRelay::new(
            convex.as_ref().map(|c| c.url().to_owned()),
            Arc::clone(&auth),
            config.sync_relay.clone(),
            &metrics,
        )?;
        let webhooks = crate::webhooks::Webhooks::new(crate::webhooks::WebhooksParts {
            hooks: Arc::clone(&config.webhooks),
            store: Arc::clone(&store),
            convex: convex.clone(),
            outbox: outbox.clone(),
            idempotency: idempotency.clone(),
            metrics: crate::webhooks::WebhookMetrics::register(&metrics)
                .context("registering the webhooks' metrics")?,
            deploy_key: config
                .convex
                .as_ref()
                .is_some_and(|c| c.deploy_key.is_some()),
            timeout: config.request_timeout,
        })
        .context("GATEWAY_WEBHOOKS")?;
        let deployment_env = config.convex.as_ref().and_then(|convex| {
            let key = convex.deploy_key.clone()?;
            Some(crate::deployment::env::EnvClient::new(
                http.clone(),
                &convex.url,
                key,
            ))
        });
        let state = AppState::new(Parts {
            store,
            convex,
            rate_limits,
            metrics,
            auth,
            idempotency,
            shared,
            config: Arc::clone(&config),
            outbox,
            writes,
            documents,
            functions,
            relay,
            live: Arc::clone(&live),
            sync_relay,
            table_sync: sync_admin,
            webhooks,
            deployment_env,
        });
        spawn_sweeper(state.downgrade());
        if !config.history_ttl.is_zero() && !state.auth().policy().history_tables().is_empty() {
            spawn_history_purge(state.downgrade(), config.history_ttl);
        }
        spawn_reloader(state.downgrade());
        if state.shared().is_some() {
            spawn_shared_chores(state.downgrade());
        }
        if state.relay().is_some() {
            spawn_relay(state.downgrade(), config.idempotency_ttl);
        }
        let shared = state.shared().cloned();
        let router = router(state);
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding GATEWAY_ADDR {}", config.addr))?;
        Ok(Self {
            listener,
            router,
            config,
            shared,
            live,
            _sync: sync,
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
        let server = crate::serve::serve(self.listener, self.router, async move {
            let _ = stop_rx.await;
        });
        let mut server = tokio::spawn(server);
        tokio::select! {
            result = &mut server => return result.context("server task"),
            () = shutdown => {}
        }
        tracing::info!(
            grace_seconds = grace.as_secs(),
            "shutting down: draining requests in flight"
        );
        let _ = stop_tx.send(());
        self.live.stop();
        let drained = match tokio::time::timeout(grace, &mut server).await {
            Ok(result) => result.context("server task"),
            Err(_) => {
                tracing::warn!("shutdown grace elapsed with requests still in flight");
                server.abort();
                Ok(())
            }
        };
        // Gone from the replica list at once, not after the heartbeat's window.
        if let Some(shared) = &self.shared
            && let Err(err) = shared.leave().await
        {
            tracing::warn!(
                error = format!("{err:#}"),
                "leaving the replica list failed"
            );
        }
        drained
    }
}

/// Refuses to start on the shared outbox while the data folder's own outbox still holds queued
/// writes: they were acknowledged, and nothing would deliver them.
async fn refuse_stranded_outbox(data_dir: &std::path::Path) -> anyhow::Result<()> {
    if !data_dir.join(crate::outbox::LOCAL_FILE).exists() {
        return Ok(());
    }
    let data_dir = data_dir.to_owned();
    let local = tokio::task::spawn_blocking(move || Outbox::open(&data_dir))
        .await
        .context("opening the data folder's outbox")??;
    let queued = local.depth();
    anyhow::ensure!(
        queued == 0,
        "the data folder's outbox.sqlite3 still holds {queued} queued write(s) that the shared outbox (GATEWAY_STATE_URL) would never deliver: start this gateway once without GATEWAY_STATE_URL until /admin/status shows the outbox empty, then switch"
    );
    Ok(())
}

/// The full spec, as served at `/openapi.json` and printed by `convex-gateway openapi`.
pub fn spec() -> utoipa::openapi::OpenApi {
    crate::openapi::tidy(routes::api().split_for_parts().1)
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

/// Starts the sync of `GATEWAY_SYNC`, after checking that it can run: its file is valid, and
/// `DATABASE_URL`, `CONVEX_URL` and `CONVEX_DEPLOYMENT_KEY` are set.
fn start_sync(
    config: &Config,
    http: &reqwest::Client,
    metrics: &Metrics,
) -> anyhow::Result<Option<(SyncTask, SyncAdmin)>> {
    let Some(path) = &config.sync_file else {
        return Ok(None);
    };
    let sync = crate::table_sync::config::load(path)
        .map_err(|err| anyhow::anyhow!("GATEWAY_SYNC: {err}"))?;
    let convex = config
        .convex
        .as_ref()
        .context("GATEWAY_SYNC needs CONVEX_URL (the deployment to sync with)")?;
    let key = convex
        .deploy_key
        .clone()
        .context("GATEWAY_SYNC needs CONVEX_DEPLOYMENT_KEY (the sync reads Convex's streaming export with it)")?;
    anyhow::ensure!(
        !config.postgres.url.expose_secret().is_empty(),
        "GATEWAY_SYNC needs DATABASE_URL (the Postgres database to sync with)"
    );
    // The sync's calls pass a circuit breaker with the request path's settings (its own: the
    // sync's faults do not fail requests fast, nor the other way round).
    let export = crate::table_sync::export::ExportClient::new(http.clone(), &convex.url, key)
        .with_breaker(convex.breaker.clone());
    let metrics = crate::table_sync::metrics::SyncMetrics::register(metrics)
        .context("registering the sync's metrics")?;
    let sync = Arc::new(sync);
    let admin = SyncAdmin::new(Arc::clone(&sync), config.postgres.clone(), export.clone());
    let task =
        crate::table_sync::runner::spawn(sync, config.postgres.clone(), export, Some(metrics));
    Ok(Some((task, admin)))
}

/// Rolls back expired transactions within a second, not only when next touched, and forgets
/// idle rate-limit buckets, until the application is dropped.
fn spawn_sweeper(weak: WeakState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else {
                break;
            };
            if state.shared().is_some() {
                state.documents().sweep_shared().await;
            } else {
                state.documents().sweep();
            }
            state.rate_limits().sweep();
        }
    });
}

/// Every minute, forgets the history of documents deleted longer than `ttl` ago
/// (`GATEWAY_HISTORY_TTL`), until the application is dropped. On Convex the deployment's cron
/// (`gateway:purgeHistory`) does it instead.
fn spawn_history_purge(weak: WeakState, ttl: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else {
                break;
            };
            if let Err(err) = state.store().purge_history(ttl).await {
                tracing::warn!(error = %err, "purging old history failed; retrying in a minute");
            }
        }
    });
}

/// With the shared state store: the heartbeat every few seconds, the signing keys read again
/// every 30 s, and the chores one replica at a time runs (expired idempotency keys, gone
/// replicas) every minute, until the application is dropped.
fn spawn_shared_chores(weak: WeakState) {
    tokio::spawn(async move {
        let started = std::time::SystemTime::now();
        let version = env!("CARGO_PKG_VERSION");
        let mut tick = tokio::time::interval(crate::shared::HEARTBEAT);
        let mut beats: u64 = 0;
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else {
                break;
            };
            let Some(db) = state.shared() else {
                break;
            };
            if let Err(err) = db.heartbeat(version, started).await {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "the heartbeat to the shared state store failed"
                );
            }
            let every = |period: Duration| {
                beats.is_multiple_of((period.as_secs() / crate::shared::HEARTBEAT.as_secs()).max(1))
            };
            if beats > 0
                && every(crate::auth::keyring::RELOAD_EVERY)
                && let Err(err) = state.auth().keyring().reload().await
            {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "reading the shared signing keys failed"
                );
            }
            if every(Duration::from_secs(60)) {
                if let Err(err) = state.idempotency().sweep().await {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "sweeping idempotency keys failed"
                    );
                }
                if let Err(err) = db.forget_gone_replicas().await {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "sweeping the replica list failed"
                    );
                }
            }
            beats += 1;
        }
    });
}

/// Reads the store's schema (Postgres introspects its tables) and the shared signing keys again on
/// each `SIGHUP`, until the application is dropped.
fn spawn_reloader(weak: WeakState) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; the store's schema is read at startup only");
            return;
        };
        while hangups.recv().await.is_some() {
            let Some(state) = weak.upgrade() else {
                break;
            };
            if let Err(err) = state.store().reload().await {
                tracing::error!(error = %err, "reading the store's schema again failed; the previous one stays");
            }
            if let Err(err) = state.auth().keyring().reload().await {
                tracing::error!(
                    error = format!("{err:#}"),
                    "reading the shared signing keys again failed; the previous ones stay"
                );
            }
        }
    });
    #[cfg(not(unix))]
    let _ = weak;
}

/// Runs the outbox relay until the application is dropped; delivered and discarded entries are
/// purged once they are older than `retention` (`GATEWAY_IDEMPOTENCY_TTL`).
fn spawn_relay(weak: WeakState, retention: Duration) {
    tokio::spawn(async move {
        let mut last_purge = std::time::Instant::now();
        loop {
            let (wait, outbox) = {
                let Some(state) = weak.upgrade() else {
                    break;
                };
                let Some(relay) = state.relay() else {
                    break;
                };
                (relay.step().await, relay.outbox().clone())
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
