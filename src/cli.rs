//! The command line: `serve` (the default), `openapi` (print the spec), `healthcheck` (exit 0
//! when the configured server answers `/ready`, for container health checks), and the
//! operator's commands (`token`, `keys`, `postgres`, `sync check`, …).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret as _;

use crate::app::{Application, shutdown_signal};
use crate::config::Config;
use crate::telemetry;

/// convex-gateway: a REST gateway in front of Convex, with an embedded store.
///
/// Configuration comes from environment variables (and `.env`); see `.env.example`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Print the OpenAPI spec as JSON.
    Openapi,
    /// Exit 0 if the gateway at GATEWAY_ADDR answers /ready with 200, else 1.
    Healthcheck {
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Print an access token signed with the gateway's key, for development.
    Token {
        /// The `sub` claim.
        #[arg(long)]
        sub: String,
        /// A role (repeat for several).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Lifetime, e.g. 900, 30m, 1h or 7d (default: JWT_EXPIRY_SECONDS).
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<Duration>,
    },
    /// Print the `convex/auth.config.ts` provider that accepts the tokens this gateway mints.
    ConvexAuthConfig,
    /// Manage the signing keys shared by replicas in GATEWAY_STATE_URL.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Read a client secret on stdin and print its SHA-256, for `secret_sha256` in the policy file.
    HashSecret,
    /// Manage the change log in the Postgres database at DATABASE_URL.
    Postgres {
        #[command(subcommand)]
        action: PostgresAction,
    },
    /// The table sync of GATEWAY_SYNC between DATABASE_URL and CONVEX_URL.
    Sync {
        #[command(subcommand)]
        action: SyncAction,
    },
    /// The Convex deployment at CONVEX_URL, through its admin API with CONVEX_DEPLOYMENT_KEY.
    Convex {
        #[command(subcommand)]
        action: ConvexAction,
    },
}

#[derive(Debug, Subcommand)]
enum ConvexAction {
    /// The deployment's environment variables.
    Env {
        #[command(subcommand)]
        action: EnvAction,
    },
    /// Make Convex accept the identity this gateway mints: print the `auth.config.ts` block,
    /// set the variables it reads, and prove it with a probe query as a minted identity (exit
    /// 0 only when Convex saw the probe's identity).
    Trust,
}

#[derive(Debug, Subcommand)]
enum EnvAction {
    /// List the variables; values are masked unless --reveal.
    List {
        #[arg(long)]
        reveal: bool,
    },
    /// Print one variable's value (exit 1 when it is not set).
    Get { name: String },
    /// Set a variable; a value of `-` reads it from stdin (kept out of the shell's history).
    Set { name: String, value: String },
    /// Unset a variable.
    Unset { name: String },
}

#[derive(Debug, Subcommand)]
enum SyncAction {
    /// Compare both sides of each synced pair (row counts, a checksum per table, and each row
    /// through the key map) and print the differences; exit 0 only when all are equal.
    Check,
}

#[derive(Debug, Subcommand)]
enum PostgresAction {
    /// Create the `gateway` schema, its change log and a trigger on every served table (safe to
    /// run again: it adds triggers to new tables).
    Install,
    /// Remove the triggers and the `gateway` schema with its change log.
    Uninstall,
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Add a new signing key: published at once, it signs after `--publish-ahead` (default 6m:
    /// the JWKS's cache lifetime of 5 minutes plus the replicas' 30 s reload), and the old key then
    /// stays published, and verifies, for `--keep` (default: the access-token lifetime plus the
    /// leeway).
    Rotate {
        /// How long the new key is published before it signs, e.g. 0s, 6m.
        #[arg(long, value_parser = parse_duration)]
        publish_ahead: Option<Duration>,
        /// How long the old key keeps verifying once it stops signing, e.g. 15m, 1h or 7d.
        #[arg(long, value_parser = parse_ttl)]
        keep: Option<Duration>,
    },
    /// List the keys: the one that signs, and retired ones still published.
    List,
}

/// Parses a duration like [`parse_ttl`], zero included.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let digits = raw.trim_end_matches(['s', 'm', 'h', 'd']);
    if !digits.is_empty() && digits.bytes().all(|b| b == b'0') {
        return Ok(Duration::ZERO);
    }
    parse_ttl(raw)
}

/// Parses `900`, `30s`, `30m`, `1h` or `7d`.
fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let (digits, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, ""), |i| raw.split_at(i));
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration like 900, 30m, 1h or 7d"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        "d" => value * 86_400,
        _ => return Err(format!("`{raw}`: the unit must be s, m, h or d")),
    };
    if seconds == 0 {
        return Err("the lifetime must be at least 1 second".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => match crate::app::spec().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("cannot render the OpenAPI spec: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Serve => with_config(|config| {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = config.worker_threads {
                builder.worker_threads(threads);
            }
            builder.enable_all().build()?.block_on(serve(config))
        }),
        Command::Healthcheck { timeout } => with_config(|config| {
            runtime()?.block_on(healthcheck(config.addr, Duration::from_secs(timeout)))
        }),
        Command::Token { sub, roles, ttl } => with_config(|config| {
            let signer = existing_signer(&config)?;
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), sub.into());
            claims.insert(config.auth.role_claim.clone(), roles.into());
            let ttl = ttl.unwrap_or(config.auth.access_ttl);
            println!("{}", signer.sign(claims, signer.issuer(), ttl)?);
            eprintln!(
                "signed with key {} for issuer and audience {}, valid {} s; a gateway with another GATEWAY_PUBLIC_URL (or GATEWAY_ADDR) answers wrong_issuer",
                signer.kid(),
                signer.issuer(),
                ttl.as_secs()
            );
            Ok(())
        }),
        Command::ConvexAuthConfig => with_config(|config| {
            let runtime = runtime()?;
            let auth = runtime.block_on(async {
                let http =
                    crate::http_client::client(Duration::from_secs(5), Duration::from_secs(10))?;
                let shared = state_db(&config).await?;
                crate::auth::Auth::build(&config.auth, &config.data_dir, http, shared.as_ref())
                    .await
            })?;
            print!("{}", auth.convex_auth_config());
            Ok(())
        }),
        Command::Postgres { action } => with_config(|config| {
            anyhow::ensure!(
                !config.postgres.url.expose_secret().is_empty(),
                "DATABASE_URL is not set"
            );
            let runtime = runtime()?;
            let pg = &config.postgres;
            match action {
                PostgresAction::Install => {
                    let tables = runtime.block_on(crate::store::postgres::feed::install(pg))?;
                    println!(
                        "installed the change log in schema gateway, with triggers on {} table(s) of schema {}: {}",
                        tables.len(),
                        pg.schema,
                        tables.join(", ")
                    );
                }
                PostgresAction::Uninstall => {
                    let tables = runtime.block_on(crate::store::postgres::feed::uninstall(pg))?;
                    println!(
                        "removed the gateway schema and the triggers on {} table(s): {}",
                        tables.len(),
                        tables.join(", ")
                    );
                }
            }
            Ok(())
        }),
        Command::Sync {
            action: SyncAction::Check,
        } => {
            let mut equal = true;
            let outcome = with_config(|config| {
                let reports = runtime()?.block_on(sync_check(&config))?;
                for report in &reports {
                    print!("{}", report.render());
                    equal &= report.equal();
                }
                Ok(())
            });
            if outcome == ExitCode::SUCCESS && !equal {
                return ExitCode::FAILURE;
            }
            outcome
        }
        Command::Convex { action } => {
            with_config(|config| runtime()?.block_on(convex(config, action)))
        }
        Command::Keys { action } => with_config(|config| {
            runtime()?.block_on(async {
                let db = state_db(&config).await?.ok_or_else(|| {
                    anyhow::anyhow!(
                        "GATEWAY_STATE_URL is not set: a single replica's key is the file in its data folder (or GATEWAY_SIGNING_KEY); replace it and restart to rotate"
                    )
                })?;
                anyhow::ensure!(
                    config.auth.signing_key_pem.is_none(),
                    "GATEWAY_SIGNING_KEY is set, so the gateway signs with that key and not with the shared ones; rotate it by changing the variable"
                );
                if let KeysAction::Rotate { publish_ahead, keep } = action {
                    let ahead = publish_ahead.unwrap_or(Duration::from_secs(360));
                    let keep = keep.unwrap_or(
                        config
                            .auth
                            .access_ttl
                            .max(config.auth.convex_token_ttl)
                            + Duration::from_secs(config.auth.leeway_seconds),
                    );
                    let kid = crate::auth::keyring::rotate(&db, &config.auth, ahead, keep).await?;
                    println!(
                        "new signing key {kid}; published now, it signs in {} s (replicas switch within {} s of that, or at once on SIGHUP), and the old key verifies for {} s after that",
                        ahead.as_secs(),
                        crate::auth::keyring::RELOAD_EVERY.as_secs(),
                        keep.as_secs()
                    );
                }
                let now = crate::outbox::now_ms();
                for key in crate::auth::keyring::list(&db).await? {
                    let seconds = |at: i64| (at - now).max(0) / 1000;
                    let state = match (key.activates_at, key.retired_at, key.publish_until) {
                        _ if key.signs_at(now) => "signing".to_owned(),
                        (Some(at), _, _) if at > now => format!("next, signs in {} s", seconds(at)),
                        (_, _, Some(until)) if until > now => {
                            format!("retired, verifies for {} s more", seconds(until))
                        }
                        _ => "retired, expired".to_owned(),
                    };
                    println!("{}  {state}", key.kid);
                }
                Ok(())
            })
        }),
        Command::HashSecret => {
            let mut secret = String::new();
            if std::io::stdin().read_line(&mut secret).is_err() || secret.trim().is_empty() {
                eprintln!(
                    "pipe the secret on stdin: echo -n \"$SECRET\" | convex-gateway hash-secret"
                );
                return ExitCode::FAILURE;
            }
            println!(
                "{}",
                crate::auth::tokens::sha256_hex(secret.trim_end_matches(['\r', '\n']))
            );
            ExitCode::SUCCESS
        }
    }
}

/// The deployment's environment-variable client, from `CONVEX_URL` and its deploy key.
fn env_client(config: &Config) -> anyhow::Result<crate::deployment::env::EnvClient> {
    let convex = config
        .convex
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("CONVEX_URL is not set"))?;
    let key = convex
        .deploy_key
        .clone()
        .ok_or_else(|| anyhow::anyhow!("CONVEX_DEPLOYMENT_KEY is not set"))?;
    let http = crate::http_client::client(Duration::from_secs(5), Duration::from_secs(30))?;
    Ok(crate::deployment::env::EnvClient::new(
        http,
        &convex.url,
        key,
    ))
}

/// `convex env …` and `convex trust`.
async fn convex(config: Config, action: ConvexAction) -> anyhow::Result<()> {
    let env = env_client(&config)?;
    match action {
        ConvexAction::Env {
            action: EnvAction::List { reveal },
        } => {
            for (name, value) in env.list().await? {
                if reveal {
                    println!("{name}={value}");
                } else {
                    println!("{name}=•••••• ({} bytes)", value.len());
                }
            }
        }
        ConvexAction::Env {
            action: EnvAction::Get { name },
        } => match env.get(&name).await? {
            Some(value) => println!("{value}"),
            None => anyhow::bail!("{name} is not set"),
        },
        ConvexAction::Env {
            action: EnvAction::Set { name, value },
        } => {
            let value = if value == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
                text.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                value
            };
            env.update(&[(name.clone(), Some(value))]).await?;
            eprintln!("set {name}");
        }
        ConvexAction::Env {
            action: EnvAction::Unset { name },
        } => {
            env.update(&[(name.clone(), None)]).await?;
            eprintln!("unset {name}");
        }
        ConvexAction::Trust => {
            let http = crate::http_client::client(Duration::from_secs(5), Duration::from_secs(10))?;
            let shared = state_db(&config).await?;
            let auth =
                crate::auth::Auth::build(&config.auth, &config.data_dir, http, shared.as_ref())
                    .await?;
            let convex_config = config
                .convex
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("CONVEX_URL is not set"))?;
            let client =
                std::sync::Arc::new(crate::store::convex::ConvexClient::new(convex_config)?);
            print!("{}", crate::deployment::trust::auth_config(&auth));
            let report = crate::deployment::trust::trust(&auth, &env, &client).await?;
            for name in &report.set {
                eprintln!("set {name}");
            }
            for name in &report.unchanged {
                eprintln!("{name} already set");
            }
            match report.probe {
                Ok(seen) => eprintln!(
                    "Convex accepts the gateway's identity: the probe ran as {}",
                    seen["tokenIdentifier"].as_str().unwrap_or_default()
                ),
                Err(why) => anyhow::bail!("{why}"),
            }
        }
    }
    Ok(())
}

/// Compares both sides of each pair of `GATEWAY_SYNC`.
async fn sync_check(config: &Config) -> anyhow::Result<Vec<crate::table_sync::check::PairReport>> {
    let path = config
        .sync_file
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("GATEWAY_SYNC is not set"))?;
    let sync = crate::table_sync::config::load(path)
        .map_err(|err| anyhow::anyhow!("GATEWAY_SYNC: {err}"))?;
    let convex = config
        .convex
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("CONVEX_URL is not set"))?;
    let key = convex
        .deploy_key
        .clone()
        .ok_or_else(|| anyhow::anyhow!("CONVEX_DEPLOYMENT_KEY is not set"))?;
    anyhow::ensure!(
        !config.postgres.url.expose_secret().is_empty(),
        "DATABASE_URL is not set"
    );
    let http = crate::http_client::client(Duration::from_secs(5), Duration::from_secs(60))?;
    let export = crate::table_sync::export::ExportClient::new(http, &convex.url, key);
    crate::table_sync::check::check(&sync, &config.postgres, &export).await
}

/// The shared state store, when `GATEWAY_STATE_URL` is set.
async fn state_db(config: &Config) -> anyhow::Result<Option<crate::shared::StateDb>> {
    match config.state_store() {
        Some(state) => Ok(Some(
            crate::shared::StateDb::connect(&state, "cli", Duration::from_secs(10))
                .await?
                .sealed_with(config.state_key.as_ref().map(|k| k.expose_secret()))?,
        )),
        None => Ok(None),
    }
}

/// The gateway's signing key, as `serve` loads it. Never generated here: a token signed with a
/// key the server does not have would only answer `unknown_key`.
fn existing_signer(config: &Config) -> anyhow::Result<std::sync::Arc<crate::auth::signer::Signer>> {
    use crate::auth::signer::{KEY_FILE, Signer};
    if config.auth.signing_key_pem.is_none() && config.state.is_some() {
        return runtime()?.block_on(async {
            let db = state_db(config)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no state store"))?;
            let seed = std::fs::read_to_string(config.data_dir.join(KEY_FILE)).ok();
            let keyring = crate::auth::keyring::Keyring::shared(db, &config.auth, seed).await?;
            Ok(keyring.signer())
        });
    }
    match Signer::load(&config.auth, &config.data_dir)? {
        Some((signer, _)) => Ok(std::sync::Arc::new(signer)),
        None => anyhow::bail!(
            "no signing key at {}: start the gateway once to generate it there, or point GATEWAY_DATA_DIR at the server's data folder (or set GATEWAY_SIGNING_KEY as the server has it)",
            config
                .data_dir
                .join(KEY_FILE)
                .canonicalize()
                .unwrap_or_else(|_| {
                    std::env::current_dir()
                        .unwrap_or_default()
                        .join(&config.data_dir)
                        .join(KEY_FILE)
                })
                .display()
        ),
    }
}

fn with_config(run: impl FnOnce(Config) -> anyhow::Result<()>) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    telemetry::init(config.log_format);
    tracing::info!(
        worker_threads = tokio::runtime::Handle::current().metrics().num_workers(),
        "async runtime started"
    );
    let app = Application::build(config).await?;
    app.run_until_stopped(shutdown_signal()).await
}

async fn healthcheck(addr: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    // A server bound to every interface is reached on loopback.
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/ready", SocketAddr::new(ip, addr.port()));
    let response = crate::http_client::client(timeout, timeout)?
        .get(&url)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    Ok(())
}
