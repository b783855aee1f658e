//! Typed configuration read from environment variables (and `.env`), validated once at startup.
//!
//! Every variable is parsed here, and a bad value is an error that names the variable, so a
//! misconfigured gateway refuses to start instead of failing on its first request. The reader
//! takes a lookup function rather than touching the process environment directly, so tests can
//! build configurations side by side without `set_var`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use secrecy::{ExposeSecret, SecretString};

use crate::breaker::BreakerConfig;
use crate::outbox::OutboxConfig;
use crate::ratelimit::shared::{FailMode, SharedLimitConfig};
use crate::retry::RetryConfig;
use crate::store::convex::ConvexConfig;
use crate::store::local::{
    DEFAULT_CHANGE_RETENTION, DEFAULT_MMAP_BYTES, IndexSpec, LocalOptions, default_readers,
};
use crate::store::postgres::{DbRoles, PostgresConfig};
use crate::store::{Backend, TableName};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when the output is a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!("expected `pretty` or `json`, got `{other}`")),
        }
    }
}

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers are sent: browsers block cross-origin calls.
    None,
    /// `*`: any origin (credentials are then never allowed).
    Any,
    /// An explicit list of origins such as `https://app.example.com`.
    List(Vec<String>),
}

/// Convex's sync protocol through the gateway (`GATEWAY_SYNC_*`).
#[derive(Debug, Clone)]
pub struct SyncRelayConfig {
    /// `GATEWAY_SYNC_PER_CALLER`: relayed sockets per authenticated caller.
    pub per_caller: usize,
    /// `GATEWAY_SYNC_MAX`: relayed sockets on this replica, in all.
    pub max_total: usize,
    /// `GATEWAY_SYNC_MAX_MESSAGE`: the largest message (bytes) a client may send.
    pub max_message: usize,
    /// How long connecting to the deployment may take.
    pub connect_timeout: Duration,
}

/// Live queries over Server-Sent Events (`GATEWAY_WATCH_*`).
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// `GATEWAY_WATCH_MAX`: open watches on this replica, in all.
    pub max_total: usize,
    /// `GATEWAY_WATCH_PER_CALLER`: open watches per caller (per `sub`; anonymous callers share
    /// one count).
    pub per_caller: usize,
    /// `GATEWAY_WATCH_QUEUE`: how many batches of changes a subscriber may fall behind before it
    /// is cut off as too slow.
    pub queue: usize,
    /// `GATEWAY_WATCH_HEARTBEAT`: seconds between the comment lines that keep an idle stream
    /// open through proxies.
    pub heartbeat: Duration,
    /// `GATEWAY_WATCH_MAX_LIFETIME`: seconds after which a watch ends (the client reconnects);
    /// 0, the default, keeps it open until the token expires.
    pub max_lifetime: Option<Duration>,
}

/// The gateway's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `GATEWAY_ADDR`: the address the HTTP server binds.
    pub addr: SocketAddr,
    /// `GATEWAY_DATA_DIR`: the folder of the embedded store; created if missing.
    pub data_dir: PathBuf,
    /// `LOG_FORMAT`: `pretty` or `json`.
    pub log_format: LogFormat,
    /// `GATEWAY_ACCESS_LOG`: log one line per request at info level.
    pub access_log: bool,
    /// `GATEWAY_CORS_ORIGINS`: comma-separated origins, `*`, or empty for none.
    pub cors_origins: CorsOrigins,
    /// `GATEWAY_MAX_BODY_BYTES`: the largest request body accepted.
    pub max_body_bytes: usize,
    /// `GATEWAY_REQUEST_TIMEOUT`: seconds a request may take before it is answered 504.
    pub request_timeout: Duration,
    /// `GATEWAY_TABLES`: when set, the only tables the API serves; others answer 404.
    pub tables: Option<Vec<TableName>>,
    /// `GATEWAY_SHUTDOWN_GRACE`: seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Token validation, issuing and Convex identity settings.
    pub auth: AuthConfig,
    /// `GATEWAY_STORE`: which adapter serves the tables.
    pub store: StoreKind,
    /// The Convex deployment, when `CONVEX_URL` is set.
    pub convex: Option<ConvexConfig>,
    /// The Postgres adapter's settings (`DATABASE_URL`, `GATEWAY_PG_*`); used when
    /// `GATEWAY_STORE=postgres`.
    pub postgres: PostgresConfig,
    /// `GATEWAY_TX_MAX_OPS`: the most operations one transaction may hold.
    pub tx_max_ops: usize,
    /// `GATEWAY_TX_TTL_SECONDS`: how long an interactive transaction stays open.
    pub tx_ttl: Duration,
    /// `GATEWAY_IDEMPOTENCY_TTL`: seconds an idempotency key and its response are kept.
    pub idempotency_ttl: Duration,
    /// The offline outbox (`GATEWAY_OUTBOX*`).
    pub outbox: OutboxConfig,
    /// `GATEWAY_STALE_READS`: answer reads from recent results while Convex is down.
    pub stale_reads: bool,
    /// `GATEWAY_STALE_CACHE_ENTRIES`: how many recent read results are kept for stale reads.
    pub stale_cache_entries: usize,
    /// `GATEWAY_STALE_MAX_AGE`: how long a remembered read may be answered for, at most.
    pub stale_max_age: Duration,
    /// `GATEWAY_CHANGES_RETENTION`: how long the change feed keeps a change.
    pub changes_retention: Duration,
    /// `GATEWAY_WORKER_THREADS`: the async runtime's worker threads (`None`: one per core).
    pub worker_threads: Option<usize>,
    /// `GATEWAY_HISTORY_TTL`: how long a deleted document's history is kept (0: for ever).
    pub history_ttl: Duration,
    /// `GATEWAY_CHANGES_MAX_WAIT`: the longest a `GET /admin/changes?wait=…` is held.
    pub changes_max_wait: Duration,
    /// `GATEWAY_WATCH_*`: live queries over Server-Sent Events.
    pub watches: WatchConfig,
    /// `GATEWAY_SYNC_*`: Convex's WebSocket sync protocol relayed through the gateway.
    pub sync_relay: SyncRelayConfig,
    /// `GATEWAY_RATE_LIMIT_URL` and friends: rate limits counted in Redis, shared by replicas.
    pub shared_limits: Option<SharedLimitConfig>,
    /// `GATEWAY_SYNC`: the TOML file whose `[sync]` section pairs Postgres tables
    /// (`DATABASE_URL`) with Convex tables (`CONVEX_URL`, with `CONVEX_DEPLOYMENT_KEY`).
    pub sync_file: Option<PathBuf>,
    /// `GATEWAY_WEBHOOKS`: the TOML file declaring inbound webhooks (`[webhooks.<name>]`), read
    /// at start with its `env:` secrets resolved.
    pub webhooks: std::sync::Arc<[crate::webhooks::config::Webhook]>,
    /// `GATEWAY_STATE_URL` (and `GATEWAY_STATE_POOL_SIZE`): the Postgres database that holds the
    /// gateway's own state (idempotency keys, tokens, signing keys, transactions, the outbox,
    /// the replica list) so that several replicas share it. Without it, the state stays in the
    /// data folder, which serves one replica only.
    pub state: Option<PostgresConfig>,
    /// `GATEWAY_STATE_KEY`: 32 bytes (base64) that seal the signing keys kept in the shared
    /// state store; without it they are stored as they are.
    pub state_key: Option<std::sync::Arc<secrecy::SecretBox<[u8; 32]>>>,
    /// `GATEWAY_INSTANCE_ID`: this replica's name in metrics and status; see
    /// [`Config::instance_id`] for the default.
    pub instance: Option<String>,
    /// `GATEWAY_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client (for rate limits).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `GATEWAY_INDEXES`: secondary indexes of the embedded store.
    pub indexes: Vec<IndexSpec>,
    /// `GATEWAY_SQLITE_MMAP_BYTES`: how much of the embedded database readers memory-map.
    pub sqlite_mmap_bytes: u64,
    /// `GATEWAY_SQLITE_READERS`: reader threads (and connections) of the embedded store.
    pub sqlite_readers: usize,
}

/// The store adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded SQLite store in `GATEWAY_DATA_DIR`.
    Local,
    /// A Convex deployment at `CONVEX_URL`.
    Convex,
    /// Existing tables of the Postgres database at `DATABASE_URL`.
    Postgres,
}

impl FromStr for StoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Self::Local),
            "convex" => Ok(Self::Convex),
            "postgres" => Ok(Self::Postgres),
            other => Err(format!(
                "expected `local`, `convex` or `postgres`, got `{other}`"
            )),
        }
    }
}

/// How the caller's identity reaches Convex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvexAuthMode {
    /// The caller's bearer token goes to Convex unchanged.
    Forward,
    /// The gateway signs a short-lived ES256/RS256 token for Convex.
    Mint,
    /// No identity is sent.
    None,
}

impl FromStr for ConvexAuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "forward" => Ok(Self::Forward),
            "mint" => Ok(Self::Mint),
            "none" => Ok(Self::None),
            other => Err(format!(
                "expected `forward`, `mint` or `none`, got `{other}`"
            )),
        }
    }
}

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_SECRET`: shared secret for HS256/384/512 tokens (at least 32 bytes).
    pub jwt_secret: Option<SecretString>,
    /// `JWT_ALGORITHM`: the HMAC algorithm for `JWT_SECRET` (HS256, HS384 or HS512).
    pub jwt_algorithm: Algorithm,
    /// `JWT_SECRET_KID`: the key id tokens signed with `JWT_SECRET` name in their header.
    pub jwt_secret_kid: Option<String>,
    /// `JWT_JWKS_URL`: a JWKS endpoint of an identity provider (Clerk, Auth0, Supabase, …).
    pub jwks_url: Option<String>,
    /// `JWT_JWKS_MIN_REFRESH_SECONDS`: the JWKS is refetched at most this often.
    pub jwks_min_refresh: Duration,
    /// `JWT_PUBLIC_KEY`: a PEM public key (RSA, EC P-256/P-384 or Ed25519).
    pub public_key_pem: Option<String>,
    /// `JWT_PUBLIC_KEY_KID`: the key id tokens signed for `JWT_PUBLIC_KEY` name in their header.
    pub public_key_kid: Option<String>,
    /// `JWT_ISSUER`: required `iss` of external tokens.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`: required `aud` of external tokens.
    pub audience: Option<String>,
    /// `JWT_LEEWAY_SECONDS`: clock skew allowed on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// `JWT_ROLE_CLAIM`: claim (or dotted path) holding a role or an array of roles.
    pub role_claim: String,
    /// `GATEWAY_POLICY`: path of the TOML policy file.
    pub policy_path: Option<PathBuf>,
    /// `GATEWAY_SIGNING_KEY`: PEM private key (EC P-256 or RSA) for the gateway's own tokens.
    pub signing_key_pem: Option<SecretString>,
    /// `GATEWAY_PUBLIC_URL`: the gateway's external URL, the `iss` of its tokens.
    pub public_url: String,
    /// `JWT_EXPIRY_SECONDS`: lifetime of access tokens the gateway issues.
    pub access_ttl: Duration,
    /// `JWT_REFRESH_EXPIRY_SECONDS`: lifetime of refresh tokens.
    pub refresh_ttl: Duration,
    /// `CONVEX_AUTH_MODE`: how identity reaches Convex.
    pub convex_auth_mode: ConvexAuthMode,
    /// `CONVEX_APPLICATION_ID`: the `aud` of tokens minted for Convex.
    pub convex_application_id: String,
    /// `CONVEX_TOKEN_TTL`: seconds a token minted for Convex lives (300). Calls reuse one while
    /// more than half its life is left; relayed sockets and watches renew theirs at a fifth.
    pub convex_token_ttl: Duration,
}

impl AuthConfig {
    /// Defaults for a gateway reachable at `public_url`, with no external key source.
    pub fn defaults(public_url: String) -> Self {
        Self {
            jwt_secret: None,
            jwt_algorithm: Algorithm::HS256,
            jwt_secret_kid: None,
            jwks_url: None,
            jwks_min_refresh: Duration::from_secs(30),
            public_key_pem: None,
            public_key_kid: None,
            issuer: None,
            audience: None,
            leeway_seconds: 30,
            role_claim: "role".into(),
            policy_path: None,
            signing_key_pem: None,
            public_url,
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            convex_auth_mode: ConvexAuthMode::Mint,
            convex_application_id: "convex-gateway".into(),
            convex_token_ttl: Duration::from_secs(300),
        }
    }
}

/// A variable that was set to something the gateway cannot use.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for {var}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// Why its value was refused.
    pub reason: String,
}

impl Config {
    /// Reads the process environment, after loading `.env` from the working directory if present.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is reported.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(ConfigError {
                var: ".env",
                reason: err.to_string(),
            });
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a configuration from any variable lookup (the process environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned());
        let outbox = OutboxConfig::default();
        let mut config = Self {
            addr: parse_or(&get, "GATEWAY_ADDR", "127.0.0.1:8080")?,
            data_dir: PathBuf::from(get("GATEWAY_DATA_DIR").unwrap_or_else(|| "./data".into())),
            log_format: parse_or(&get, "LOG_FORMAT", "pretty")?,
            access_log: parse_switch(&get, "GATEWAY_ACCESS_LOG", false)?,
            cors_origins: parse_cors(get("GATEWAY_CORS_ORIGINS"))?,
            max_body_bytes: parse_or(&get, "GATEWAY_MAX_BODY_BYTES", "1048576")?,
            request_timeout: Duration::from_secs(parse_or(&get, "GATEWAY_REQUEST_TIMEOUT", "30")?),
            tables: parse_tables(get("GATEWAY_TABLES"))?,
            shutdown_grace: Duration::from_secs(parse_or(&get, "GATEWAY_SHUTDOWN_GRACE", "30")?),
            auth: AuthConfig::defaults(String::new()),
            store: StoreKind::Local,
            convex: None,
            postgres: parse_postgres(&get)?,
            tx_max_ops: parse_or(&get, "GATEWAY_TX_MAX_OPS", "500")?,
            tx_ttl: Duration::from_secs(parse_or(&get, "GATEWAY_TX_TTL_SECONDS", "30")?),
            idempotency_ttl: Duration::from_secs(parse_or(
                &get,
                "GATEWAY_IDEMPOTENCY_TTL",
                "86400",
            )?),
            outbox: OutboxConfig {
                enabled: parse_switch(&get, "GATEWAY_OUTBOX", outbox.enabled)?,
                max_attempts: parse_or(
                    &get,
                    "GATEWAY_OUTBOX_MAX_ATTEMPTS",
                    &outbox.max_attempts.to_string(),
                )?,
                mutations: get("GATEWAY_OUTBOX_MUTATIONS")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
                ..outbox
            },
            stale_reads: parse_switch(&get, "GATEWAY_STALE_READS", false)?,
            stale_cache_entries: parse_or(&get, "GATEWAY_STALE_CACHE_ENTRIES", "10000")?,
            stale_max_age: Duration::from_secs(parse_or(&get, "GATEWAY_STALE_MAX_AGE", "600")?),
            changes_retention: Duration::from_secs(parse_or(
                &get,
                "GATEWAY_CHANGES_RETENTION",
                &DEFAULT_CHANGE_RETENTION.as_secs().to_string(),
            )?),
            history_ttl: Duration::from_secs(parse_or(&get, "GATEWAY_HISTORY_TTL", "2592000")?),
            worker_threads: match get("GATEWAY_WORKER_THREADS").filter(|v| !v.is_empty()) {
                None => None,
                Some(raw) => match raw.parse::<usize>() {
                    Ok(n) if (1..=256).contains(&n) => Some(n),
                    _ => {
                        return Err(ConfigError {
                            var: "GATEWAY_WORKER_THREADS",
                            reason: format!("`{raw}` is not a whole number from 1 to 256"),
                        });
                    }
                },
            },
            sqlite_mmap_bytes: parse_or(
                &get,
                "GATEWAY_SQLITE_MMAP_BYTES",
                &DEFAULT_MMAP_BYTES.to_string(),
            )?,
            sqlite_readers: parse_or(
                &get,
                "GATEWAY_SQLITE_READERS",
                &default_readers().to_string(),
            )?,
            trusted_proxies: parse_proxies(get("GATEWAY_TRUSTED_PROXIES"))?,
            shared_limits: parse_shared_limits(&get)?,
            sync_file: get("GATEWAY_SYNC")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            webhooks: match get("GATEWAY_WEBHOOKS").filter(|v| !v.is_empty()) {
                None => std::sync::Arc::from(Vec::new()),
                Some(path) => crate::webhooks::config::load(std::path::Path::new(&path), get)
                    .map_err(|err| ConfigError {
                        var: "GATEWAY_WEBHOOKS",
                        reason: format!("{err:#}"),
                    })?
                    .into(),
            },
            changes_max_wait: Duration::from_secs(parse_or(
                &get,
                "GATEWAY_CHANGES_MAX_WAIT",
                "60",
            )?),
            watches: WatchConfig {
                max_total: parse_or(&get, "GATEWAY_WATCH_MAX", "20000")?,
                per_caller: parse_or(&get, "GATEWAY_WATCH_PER_CALLER", "32")?,
                queue: parse_or::<usize>(&get, "GATEWAY_WATCH_QUEUE", "1024")?.max(1),
                heartbeat: Duration::from_secs(
                    parse_or::<u64>(&get, "GATEWAY_WATCH_HEARTBEAT", "15")?.max(1),
                ),
                max_lifetime: match parse_or::<u64>(&get, "GATEWAY_WATCH_MAX_LIFETIME", "0")? {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
            },
            sync_relay: SyncRelayConfig {
                per_caller: parse_or(&get, "GATEWAY_SYNC_PER_CALLER", "16")?,
                max_total: parse_or(&get, "GATEWAY_SYNC_MAX", "10000")?,
                max_message: parse_or(&get, "GATEWAY_SYNC_MAX_MESSAGE", "8388608")?,
                connect_timeout: Duration::from_secs(10),
            },
            state: None,
            state_key: match get("GATEWAY_STATE_KEY").filter(|v| !v.is_empty()) {
                Some(raw) => Some(std::sync::Arc::new(secrecy::SecretBox::new(Box::new(
                    crate::shared::sealing::decode_key(&raw).map_err(|reason| ConfigError {
                        var: "GATEWAY_STATE_KEY",
                        reason,
                    })?,
                )))),
                None => None,
            },
            instance: get("GATEWAY_INSTANCE_ID").filter(|v| !v.is_empty()),
            indexes: IndexSpec::parse_list(&get("GATEWAY_INDEXES").unwrap_or_default()).map_err(
                |reason| ConfigError {
                    var: "GATEWAY_INDEXES",
                    reason,
                },
            )?,
        };
        config.auth = parse_auth(&get, &config.addr)?;
        config.convex = parse_convex(&get)?;
        config.state = parse_state(&get, &config.postgres)?;
        config.store = match get("GATEWAY_STORE").filter(|v| !v.is_empty()) {
            None if config.convex.is_some() => StoreKind::Convex,
            None => StoreKind::Local,
            Some(_) => parse_or(&get, "GATEWAY_STORE", "local")?,
        };
        if config.store == StoreKind::Postgres && config.postgres.url.expose_secret().is_empty() {
            return Err(ConfigError {
                var: "GATEWAY_STORE",
                reason: "`postgres` needs DATABASE_URL, which is not set".into(),
            });
        }
        if config.store == StoreKind::Convex && config.convex.is_none() {
            return Err(ConfigError {
                var: "GATEWAY_STORE",
                reason: "`convex` needs CONVEX_URL, which is not set".into(),
            });
        }
        config.validate()?;
        Ok(config)
    }

    /// A configuration for tests and embedding: loopback port 0, the given data folder, and the
    /// defaults of an empty environment everywhere else (the parser is their one source).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::from_lookup(|_| None)
            .unwrap_or_else(|err| unreachable!("the built-in defaults are valid: {err}"));
        config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.data_dir = data_dir.into();
        config.auth.public_url = "http://127.0.0.1".into();
        config
    }

    /// The store adapter this configuration names, with its settings.
    pub fn backend(&self) -> Backend {
        match (&self.store, &self.convex) {
            (StoreKind::Convex, Some(convex)) => Backend::Convex(convex.clone()),
            // The settings Postgres shares with the rest of the gateway come from their one field.
            (StoreKind::Postgres, _) => Backend::Postgres(PostgresConfig {
                change_retention: self.changes_retention,
                statement_timeout: self.request_timeout,
                ..self.postgres.clone()
            }),
            _ => Backend::Local {
                data_dir: self.data_dir.clone(),
                options: LocalOptions {
                    indexes: self.indexes.clone(),
                    mmap_bytes: self.sqlite_mmap_bytes,
                    readers: self.sqlite_readers,
                    change_retention: self.changes_retention,
                },
            },
        }
    }

    /// The shared state store's settings (`GATEWAY_STATE_URL`), with the request timeout as its
    /// statement timeout.
    pub fn state_store(&self) -> Option<PostgresConfig> {
        self.state.as_ref().map(|state| PostgresConfig {
            statement_timeout: self.request_timeout,
            ..state.clone()
        })
    }

    /// This replica's name: `GATEWAY_INSTANCE_ID`, else the host name (a container's id) and the
    /// process id.
    pub fn instance_id(&self) -> String {
        self.instance.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "gateway".to_owned());
            format!("{host}-{}", std::process::id())
        })
    }

    /// Points the configuration at a Convex deployment, with the `CONVEX_*` defaults.
    pub fn with_convex(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.convex = parse_convex(&|name: &str| (name == "CONVEX_URL").then(|| url.clone()))
            .unwrap_or_else(|err| unreachable!("a Convex URL with the built-in defaults: {err}"));
        self.store = StoreKind::Convex;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(ConfigError {
                var: "GATEWAY_MAX_BODY_BYTES",
                reason: "must be at least 1024".into(),
            });
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError {
                var: "GATEWAY_REQUEST_TIMEOUT",
                reason: "must be at least 1 second".into(),
            });
        }
        if !(1..=10_000).contains(&self.tx_max_ops) {
            return Err(ConfigError {
                var: "GATEWAY_TX_MAX_OPS",
                reason: "must be from 1 to 10000".into(),
            });
        }
        if !(1..=64).contains(&self.sqlite_readers) {
            return Err(ConfigError {
                var: "GATEWAY_SQLITE_READERS",
                reason: "must be from 1 to 64".into(),
            });
        }
        if self.changes_retention.is_zero() {
            return Err(ConfigError {
                var: "GATEWAY_CHANGES_RETENTION",
                reason: "must be at least 1 second".into(),
            });
        }
        if self.stale_max_age.is_zero() {
            return Err(ConfigError {
                var: "GATEWAY_STALE_MAX_AGE",
                reason: "must be at least 1 second".into(),
            });
        }
        if self.tx_ttl.is_zero() {
            return Err(ConfigError {
                var: "GATEWAY_TX_TTL_SECONDS",
                reason: "must be at least 1 second".into(),
            });
        }
        if self.outbox.max_attempts == 0 {
            return Err(ConfigError {
                var: "GATEWAY_OUTBOX_MAX_ATTEMPTS",
                reason: "must be at least 1".into(),
            });
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError {
                var: "GATEWAY_DATA_DIR",
                reason: "must not be empty".into(),
            });
        }
        Ok(())
    }
}

fn parse_or<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let raw = get(var).filter(|v| !v.is_empty());
    let raw = raw.as_deref().unwrap_or(default);
    raw.parse().map_err(|err: T::Err| ConfigError {
        var,
        reason: format!("`{raw}`: {err}"),
    })
}

fn parse_auth(
    get: &impl Fn(&str) -> Option<String>,
    addr: &SocketAddr,
) -> Result<AuthConfig, ConfigError> {
    let non_empty = |name: &str| get(name).filter(|v| !v.is_empty());
    let jwt_secret = match non_empty("JWT_SECRET") {
        Some(secret) if secret.len() < 32 || secret == "replace-with-your-secret-key" => {
            return Err(ConfigError {
                var: "JWT_SECRET",
                reason: "must be at least 32 characters of real randomness (e.g. `openssl rand -base64 48`)".into(),
            });
        }
        other => other.map(SecretString::from),
    };
    let jwt_algorithm = match non_empty("JWT_ALGORITHM").as_deref().unwrap_or("HS256") {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        other => {
            return Err(ConfigError {
                var: "JWT_ALGORITHM",
                reason: format!(
                    "`{other}`: JWT_ALGORITHM picks the algorithm of JWT_SECRET and must be HS256, HS384 or HS512 (public keys carry their own algorithm)"
                ),
            });
        }
    };
    let jwks_url = non_empty("JWT_JWKS_URL");
    if let Some(url) = &jwks_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ConfigError {
            var: "JWT_JWKS_URL",
            reason: format!("`{url}` must be an http(s) URL"),
        });
    }
    let public_url = non_empty("GATEWAY_PUBLIC_URL")
        .unwrap_or_else(|| {
            let host = if addr.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                addr.ip().to_string()
            };
            format!("http://{host}:{}", addr.port())
        })
        .trim_end_matches('/')
        .to_owned();
    if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
        return Err(ConfigError {
            var: "GATEWAY_PUBLIC_URL",
            reason: format!("`{public_url}` must be an http(s) URL"),
        });
    }
    for (kid, key) in [
        ("JWT_SECRET_KID", "JWT_SECRET"),
        ("JWT_PUBLIC_KEY_KID", "JWT_PUBLIC_KEY"),
    ] {
        if non_empty(kid).is_some() && non_empty(key).is_none() {
            return Err(ConfigError {
                var: kid,
                reason: format!("names the key id of {key}, which is not set"),
            });
        }
    }
    let defaults = AuthConfig::defaults(public_url);
    let access_ttl: u64 = parse_or(
        get,
        "JWT_EXPIRY_SECONDS",
        &defaults.access_ttl.as_secs().to_string(),
    )?;
    let refresh_ttl: u64 = parse_or(
        get,
        "JWT_REFRESH_EXPIRY_SECONDS",
        &defaults.refresh_ttl.as_secs().to_string(),
    )?;
    if access_ttl == 0 || refresh_ttl == 0 {
        return Err(ConfigError {
            var: if access_ttl == 0 {
                "JWT_EXPIRY_SECONDS"
            } else {
                "JWT_REFRESH_EXPIRY_SECONDS"
            },
            reason: "must be at least 1 second".into(),
        });
    }
    Ok(AuthConfig {
        jwt_secret,
        jwt_algorithm,
        jwt_secret_kid: non_empty("JWT_SECRET_KID"),
        jwks_url,
        jwks_min_refresh: Duration::from_secs(parse_or(
            get,
            "JWT_JWKS_MIN_REFRESH_SECONDS",
            &defaults.jwks_min_refresh.as_secs().to_string(),
        )?),
        public_key_pem: non_empty("JWT_PUBLIC_KEY").map(|pem| pem.replace("\\n", "\n")),
        public_key_kid: non_empty("JWT_PUBLIC_KEY_KID"),
        issuer: non_empty("JWT_ISSUER"),
        audience: non_empty("JWT_AUDIENCE"),
        leeway_seconds: parse_or(
            get,
            "JWT_LEEWAY_SECONDS",
            &defaults.leeway_seconds.to_string(),
        )?,
        role_claim: non_empty("JWT_ROLE_CLAIM").unwrap_or(defaults.role_claim.clone()),
        policy_path: non_empty("GATEWAY_POLICY").map(PathBuf::from),
        signing_key_pem: non_empty("GATEWAY_SIGNING_KEY")
            .map(|pem| SecretString::from(pem.replace("\\n", "\n"))),
        access_ttl: Duration::from_secs(access_ttl),
        refresh_ttl: Duration::from_secs(refresh_ttl),
        convex_auth_mode: parse_or(get, "CONVEX_AUTH_MODE", "mint")?,
        convex_application_id: non_empty("CONVEX_APPLICATION_ID")
            .unwrap_or(defaults.convex_application_id.clone()),
        convex_token_ttl: Duration::from_secs(
            parse_or::<u64>(get, "CONVEX_TOKEN_TTL", "300")?.clamp(10, 24 * 3600),
        ),
        ..defaults
    })
}

fn parse_shared_limits(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SharedLimitConfig>, ConfigError> {
    let fail: FailMode = parse_or(get, "GATEWAY_RATE_LIMIT_FAIL", "open")?;
    let prefix = get("GATEWAY_RATE_LIMIT_PREFIX")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "gateway:rl:".to_owned());
    let Some(url) = get("GATEWAY_RATE_LIMIT_URL").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if redis::Client::open(url.as_str()).is_err() {
        return Err(ConfigError {
            var: "GATEWAY_RATE_LIMIT_URL",
            reason: "is not a Redis URL (redis://host:6379 or rediss://…)".into(),
        });
    }
    Ok(Some(SharedLimitConfig {
        url: SecretString::from(url),
        fail,
        prefix,
    }))
}

/// `GATEWAY_STATE_URL`: the adapter's settings for TLS and timeouts, with its own URL and pool.
fn parse_state(
    get: &impl Fn(&str) -> Option<String>,
    postgres: &PostgresConfig,
) -> Result<Option<PostgresConfig>, ConfigError> {
    let Some(url) = get("GATEWAY_STATE_URL").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Err(reason) = crate::store::postgres::parse_url(&url) {
        return Err(ConfigError {
            var: "GATEWAY_STATE_URL",
            reason,
        });
    }
    let pool_size: usize = parse_or(get, "GATEWAY_STATE_POOL_SIZE", "8")?;
    if !(1..=1000).contains(&pool_size) {
        return Err(ConfigError {
            var: "GATEWAY_STATE_POOL_SIZE",
            reason: "must be from 1 to 1000".into(),
        });
    }
    Ok(Some(PostgresConfig {
        url: SecretString::from(url),
        pool_size,
        ..postgres.clone()
    }))
}

fn parse_postgres(get: &impl Fn(&str) -> Option<String>) -> Result<PostgresConfig, ConfigError> {
    let url = get("DATABASE_URL").unwrap_or_default();
    if !url.is_empty()
        && let Err(reason) = crate::store::postgres::parse_url(&url)
    {
        return Err(ConfigError {
            var: "DATABASE_URL",
            reason,
        });
    }
    let name = |var: &'static str, default: &str| -> Result<String, ConfigError> {
        let value = get(var)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned());
        if value.contains('\0') || value.len() > 63 {
            return Err(ConfigError {
                var,
                reason: "must be a Postgres name of at most 63 bytes".into(),
            });
        }
        Ok(value)
    };
    let pool_size: usize = parse_or(get, "GATEWAY_PG_POOL_SIZE", "16")?;
    if !(1..=1000).contains(&pool_size) {
        return Err(ConfigError {
            var: "GATEWAY_PG_POOL_SIZE",
            reason: "must be from 1 to 1000".into(),
        });
    }
    Ok(PostgresConfig {
        url: SecretString::from(url),
        schema: name("GATEWAY_PG_SCHEMA", "public")?,
        creation_column: name("GATEWAY_PG_CREATION_COLUMN", "created_at")?,
        rls: parse_or(get, "GATEWAY_PG_RLS", "auto")?,
        roles: DbRoles {
            anon: name("GATEWAY_PG_ANON_ROLE", "anon")?,
            user: name("GATEWAY_PG_USER_ROLE", "authenticated")?,
            admin: name("GATEWAY_PG_ADMIN_ROLE", "service_role")?,
        },
        pool_size,
        ca_file: get("GATEWAY_PG_CA_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        change_retention: DEFAULT_CHANGE_RETENTION,
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
    })
}

fn parse_convex(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<ConvexConfig>, ConfigError> {
    let Some(url) = get("CONVEX_URL").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError {
            var: "CONVEX_URL",
            reason: format!(
                "`{url}` must be an http(s) URL such as https://happy-animal-123.convex.cloud"
            ),
        });
    }
    let timeout: f64 = parse_or(get, "CONVEX_TIMEOUT", "10")?;
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= 600.0) {
        return Err(ConfigError {
            var: "CONVEX_TIMEOUT",
            reason: "must be a number of seconds above 0 and at most 600".into(),
        });
    }
    let deploy_key = get("CONVEX_DEPLOYMENT_KEY")
        .or_else(|| get("CONVEX_DEPLOY_KEY"))
        .filter(|v| !v.is_empty())
        .map(SecretString::from);
    let defaults = default_breaker();
    let rate: f64 = parse_or(
        get,
        "CONVEX_CIRCUIT_BREAKER_FAILURE_RATE",
        &(defaults.failure_rate * 100.0).to_string(),
    )?;
    if !(rate > 0.0 && rate <= 100.0) {
        return Err(ConfigError {
            var: "CONVEX_CIRCUIT_BREAKER_FAILURE_RATE",
            reason: "must be a percentage above 0 and at most 100".into(),
        });
    }
    let breaker = BreakerConfig {
        consecutive: parse_or(
            get,
            "CONVEX_CIRCUIT_BREAKER_THRESHOLD",
            &defaults.consecutive.to_string(),
        )?,
        failure_rate: rate / 100.0,
        window: parse_or(
            get,
            "CONVEX_CIRCUIT_BREAKER_WINDOW",
            &defaults.window.to_string(),
        )?,
        min_calls: parse_or(
            get,
            "CONVEX_CIRCUIT_BREAKER_MIN_CALLS",
            &defaults.min_calls.to_string(),
        )?,
        open_for: Duration::from_secs(parse_or(
            get,
            "CONVEX_CIRCUIT_BREAKER_TIMEOUT",
            &defaults.open_for.as_secs().to_string(),
        )?),
        probes: parse_or(
            get,
            "CONVEX_CIRCUIT_BREAKER_PROBES",
            &defaults.probes.to_string(),
        )?,
    };
    for (var, value) in [
        (
            "CONVEX_CIRCUIT_BREAKER_THRESHOLD",
            breaker.consecutive as usize,
        ),
        ("CONVEX_CIRCUIT_BREAKER_WINDOW", breaker.window),
        ("CONVEX_CIRCUIT_BREAKER_PROBES", breaker.probes as usize),
        (
            "CONVEX_CIRCUIT_BREAKER_TIMEOUT",
            breaker.open_for.as_secs() as usize,
        ),
    ] {
        if value == 0 {
            return Err(ConfigError {
                var,
                reason: "must be at least 1".into(),
            });
        }
    }
    Ok(Some(ConvexConfig {
        url: url.trim_end_matches('/').to_owned(),
        deploy_key,
        timeout: Duration::from_secs_f64(timeout),
        breaker,
        retry: RetryConfig {
            max_retries: parse_or(
                get,
                "CONVEX_RETRY_COUNT",
                &RetryConfig::default().max_retries.to_string(),
            )?,
            ..RetryConfig::default()
        },
        max_concurrency: match parse_or(get, "CONVEX_MAX_CONCURRENCY", "256")? {
            0 => {
                return Err(ConfigError {
                    var: "CONVEX_MAX_CONCURRENCY",
                    reason: "must be at least 1".into(),
                });
            }
            n => n,
        },
    }))
}

/// The breaker's defaults: 5 failures in a row, or half of the last 20 calls once 10 were
/// made, open it for 30 seconds; 2 probes close it.
pub fn default_breaker() -> BreakerConfig {
    BreakerConfig {
        consecutive: 5,
        failure_rate: 0.5,
        window: 20,
        min_calls: 10,
        open_for: Duration::from_secs(30),
        probes: 2,
    }
}

fn parse_cors(raw: Option<String>) -> Result<CorsOrigins, ConfigError> {
    let Some(raw) = raw.filter(|v| !v.is_empty()) else {
        return Ok(CorsOrigins::None);
    };
    if raw == "*" {
        return Ok(CorsOrigins::Any);
    }
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.ends_with('/')
            && axum::http::HeaderValue::from_str(origin).is_ok();
        if !valid {
            return Err(ConfigError {
                var: "GATEWAY_CORS_ORIGINS",
                reason: format!(
                    "`{origin}` is not an origin like https://app.example.com (scheme, host, optional port, no path)"
                ),
            });
        }
        origins.push(origin.to_owned());
    }
    Ok(CorsOrigins::List(origins))
}

/// `on`/`off` (also `true`/`false`, `1`/`0`); empty or unset gives `default`.
fn parse_switch(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(default),
        Some("on" | "true" | "1" | "yes") => Ok(true),
        Some("off" | "false" | "0" | "no") => Ok(false),
        Some(other) => Err(ConfigError {
            var,
            reason: format!("expected `on` or `off`, got `{other}`"),
        }),
    }
}

/// Comma-separated IP addresses or CIDR blocks.
fn parse_proxies(raw: Option<String>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError {
                    var: "GATEWAY_TRUSTED_PROXIES",
                    reason: format!("`{p}` is not an IP address or CIDR block"),
                })
        })
        .collect()
}

fn parse_tables(raw: Option<String>) -> Result<Option<Vec<TableName>>, ConfigError> {
    let Some(raw) = raw.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            TableName::parse(t).map_err(|reason| ConfigError {
                var: "GATEWAY_TABLES",
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let cfg = config(&[]).unwrap();
        assert_eq!(cfg.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.data_dir, PathBuf::from("./data"));
        assert_eq!(cfg.log_format, LogFormat::Pretty);
        assert_eq!(cfg.cors_origins, CorsOrigins::None);
        assert_eq!(cfg.max_body_bytes, 1024 * 1024);
        assert!(cfg.tables.is_none());
        assert_eq!(cfg.auth.public_url, "http://127.0.0.1:8080");
        assert_eq!(cfg.auth.convex_auth_mode, ConvexAuthMode::Mint);
        assert_eq!(cfg.auth.leeway_seconds, 30);
        assert_eq!(cfg.auth.role_claim, "role");
        assert_eq!(cfg.auth.access_ttl, Duration::from_secs(900));
        assert_eq!(cfg.store, StoreKind::Local);
    }

    #[test]
    fn resilience_settings_parse() {
        let cfg = config(&[]).unwrap();
        assert!(cfg.outbox.enabled && !cfg.stale_reads);
        assert_eq!(cfg.outbox.max_attempts, 50);
        let cfg = config(&[
            ("GATEWAY_OUTBOX", "off"),
            ("GATEWAY_OUTBOX_MAX_ATTEMPTS", "7"),
            ("GATEWAY_OUTBOX_MUTATIONS", "videos:*, jobs:record"),
            ("GATEWAY_STALE_READS", "on"),
            ("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
        ])
        .unwrap();
        assert!(!cfg.outbox.enabled && cfg.stale_reads);
        assert_eq!(cfg.outbox.max_attempts, 7);
        assert_eq!(cfg.outbox.mutations, ["videos:*", "jobs:record"]);
        assert_eq!(cfg.trusted_proxies.len(), 2);
        assert!(cfg.trusted_proxies[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()));
    }

    #[test]
    fn embedded_store_settings_parse_and_are_bounded() {
        let cfg = config(&[]).unwrap();
        assert!(cfg.sqlite_readers >= 2);
        assert_eq!(cfg.sqlite_mmap_bytes, DEFAULT_MMAP_BYTES);
        let cfg = config(&[
            ("GATEWAY_SQLITE_READERS", "5"),
            ("GATEWAY_SQLITE_MMAP_BYTES", "0"),
        ])
        .unwrap();
        assert_eq!((cfg.sqlite_readers, cfg.sqlite_mmap_bytes), (5, 0));
        for bad in ["0", "65", "-1", "many"] {
            let err = config(&[("GATEWAY_SQLITE_READERS", bad)]).unwrap_err();
            assert_eq!(err.var, "GATEWAY_SQLITE_READERS", "{bad}");
        }
    }

    #[test]
    fn convex_url_selects_the_convex_store_unless_told_otherwise() {
        let cfg = config(&[
            ("CONVEX_URL", "https://a-b-1.convex.cloud/"),
            ("CONVEX_TIMEOUT", "2.5"),
        ])
        .unwrap();
        assert_eq!(cfg.store, StoreKind::Convex);
        let convex = cfg.convex.unwrap();
        assert_eq!(convex.url, "https://a-b-1.convex.cloud");
        assert_eq!(convex.timeout, Duration::from_millis(2500));
        let local = config(&[
            ("CONVEX_URL", "https://a.convex.cloud"),
            ("GATEWAY_STORE", "local"),
        ])
        .unwrap();
        assert_eq!(local.store, StoreKind::Local);
        let err = config(&[
            ("CONVEX_URL", "https://a.convex.cloud"),
            ("CONVEX_TIMEOUT", "0"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "CONVEX_TIMEOUT");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value) in [
            ("GATEWAY_ADDR", "not-an-addr"),
            ("LOG_FORMAT", "xml"),
            ("GATEWAY_MAX_BODY_BYTES", "lots"),
            ("GATEWAY_MAX_BODY_BYTES", "10"),
            ("GATEWAY_CORS_ORIGINS", "example.com"),
            ("GATEWAY_TABLES", "ok,1bad"),
            ("GATEWAY_REQUEST_TIMEOUT", "0"),
            ("GATEWAY_OUTBOX", "maybe"),
            ("GATEWAY_OUTBOX_MAX_ATTEMPTS", "0"),
            ("GATEWAY_STALE_READS", "sometimes"),
            ("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"),
            ("GATEWAY_INDEXES", "items(status"),
            ("JWT_SECRET", "too-short"),
            ("JWT_SECRET", "replace-with-your-secret-key"),
            ("JWT_ALGORITHM", "RS256"),
            ("JWT_SECRET_KID", "k1"),
            ("JWT_PUBLIC_KEY_KID", "k1"),
            ("JWT_JWKS_URL", "ftp://keys"),
            ("JWT_LEEWAY_SECONDS", "-1"),
            ("CONVEX_AUTH_MODE", "sometimes"),
            ("GATEWAY_PUBLIC_URL", "gateway.example.com"),
            ("JWT_EXPIRY_SECONDS", "0"),
            ("CONVEX_URL", "happy-animal.convex.cloud"),
            ("GATEWAY_STORE", "postgres"),
            ("GATEWAY_STORE", "convex"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn cors_and_tables_lists_are_parsed() {
        let cfg = config(&[
            (
                "GATEWAY_CORS_ORIGINS",
                "https://a.example, http://localhost:3000",
            ),
            ("GATEWAY_TABLES", "videos, users"),
        ])
        .unwrap();
        assert_eq!(
            cfg.cors_origins,
            CorsOrigins::List(vec![
                "https://a.example".into(),
                "http://localhost:3000".into()
            ])
        );
        let tables: Vec<_> = cfg.tables.unwrap().iter().map(|t| t.to_string()).collect();
        assert_eq!(tables, ["videos", "users"]);
        assert_eq!(
            config(&[("GATEWAY_CORS_ORIGINS", "*")])
                .unwrap()
                .cors_origins,
            CorsOrigins::Any
        );
    }
}
