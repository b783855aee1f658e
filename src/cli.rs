//! The command line: `serve` (the default), `openapi` (print the spec) and `healthcheck` (exit 0
//! when the configured server answers `/ready`, for container health checks).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::app::{Application, shutdown_signal};
use crate::config::Config;
use crate::{openapi, telemetry};

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
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => match openapi::spec().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("cannot render the OpenAPI spec: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Serve => with_config(|config| runtime()?.block_on(serve(config))),
        Command::Healthcheck { timeout } => with_config(|config| {
            runtime()?.block_on(healthcheck(config.addr, Duration::from_secs(timeout)))
        }),
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
    let response = reqwest::Client::builder()
        .timeout(timeout)
        .build()?
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
