//! Outbound HTTP clients (JWKS fetches now, Convex later): reqwest over rustls with the *ring*
//! crypto provider (no aws-lc-rs to build), with timeouts always set.

use std::time::Duration;

/// Installs *ring* as the process's rustls provider. reqwest is built without one and needs it
/// before any client is built; repeated calls do nothing.
pub fn install_crypto_provider() {
    // `Err` means a provider is already installed, which is the goal.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client with connect and overall timeouts, for one upstream.
pub fn client(connect_timeout: Duration, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(builder(connect_timeout, timeout).build()?)
}

/// The same for an API that never redirects (Convex): redirects are not followed, so a caller's
/// token can never be carried to another host, and no redirect bookkeeping is paid per call.
pub fn api_client(connect_timeout: Duration, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(builder(connect_timeout, timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

fn builder(connect_timeout: Duration, timeout: Duration) -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("convex-gateway/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
}
