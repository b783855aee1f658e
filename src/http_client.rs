//! Outbound HTTP clients other than Convex function calls (those go through
//! `store::convex::transport`): JWKS fetches, the deployment's env-var API and the CLI's calls.
//! reqwest over rustls with the *ring* crypto provider (no aws-lc-rs to build), with timeouts
//! always set.

use std::time::Duration;

/// Installs *ring* as the process's rustls provider. reqwest is built without one and needs it
/// before any client is built; repeated calls do nothing.
pub fn install_crypto_provider() {
    // `Err` means a provider is already installed, which is the goal.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client with connect and overall timeouts, for one upstream.
pub fn client(connect_timeout: Duration, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    install_crypto_provider();
    Ok(reqwest::Client::builder()
        .user_agent(concat!("convex-gateway/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()?)
}
