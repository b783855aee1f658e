//! convex-gateway: an HTTP API gateway in front of Convex, with an embedded SQLite store when no
//! Convex deployment is configured. `main.rs` only calls [`cli::main`]; everything else is here.

/// The composition root: `Application::build`, the router, the spec and the background workers.
pub mod app;
/// JWT validation, policy, token issuing and Convex identity.
pub mod auth;
/// The circuit breaker in front of Convex.
pub mod breaker;
/// The command line: `serve`, `openapi`, `healthcheck`.
pub mod cli;
/// Typed configuration from the environment.
pub mod config;
/// What a domain call knows about its request: caller, store context, transaction.
pub mod context;
/// Convex deployment settings: environment variables and `convex trust`.
pub mod deployment;
/// The document service: tables, batches and interactive transactions.
pub mod documents;
/// `ApiError` and the problem+json error codes.
pub mod error;
/// Convex functions: the passthrough and the REST form, authorized and metered.
pub mod functions;
/// Outbound HTTP clients (rustls with *ring*).
pub mod http_client;
/// Idempotency keys: stored responses for replay.
pub mod idempotency;
/// Live queries: watches of tables and documents over the change feed.
pub mod live;
/// Prometheus metrics held in state.
pub mod metrics;
/// The middleware stack.
pub mod middleware;
/// The OpenAPI document.
pub mod openapi;
/// The offline outbox: writes queued while Convex is unreachable.
pub mod outbox;
/// The `Prefer` request header (RFC 7240): dry runs and strict handling.
pub mod prefer;
/// Per-caller rate limits, configured per role.
pub mod ratelimit;
/// The outbox relay: delivers queued writes to Convex, handed its dependencies.
pub mod relay;
/// Retries: full-jitter backoff, a retry budget, the request deadline.
pub mod retry;
/// Route handlers, one module per resource.
pub mod routes;
pub mod serve;
/// The shared state store (`GATEWAY_STATE_URL`): the gateway's own state in Postgres.
pub mod shared;
/// Small SQLite databases beside the embedded store.
pub mod sqlite;
/// Recent read results, answered while Convex is down (`GATEWAY_STALE_READS`).
pub mod stale;
/// `AppState`: the parts the routes and middleware call.
pub mod state;
/// The `DocumentStore` seam and its adapters.
pub mod store;
/// Convex's WebSocket sync protocol, relayed under the gateway's rules.
pub mod sync_relay;
pub mod table_sync;
/// Log setup.
pub mod telemetry;
/// Interactive transactions: staged writes and optimistic commit.
pub mod transactions;
/// Inbound webhooks: verified, deduped, delivered once.
pub mod webhooks;
/// The write path: apply now, or queue in the outbox.
pub mod writes;

pub use app::Application;
pub use config::Config;
pub use state::AppState;
