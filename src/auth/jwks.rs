//! A remote JWKS (`JWT_JWKS_URL`), cached in memory.
//!
//! Rules:
//! - Keys live for the response's `Cache-Control: max-age` (default 5 minutes, 24 hours at most).
//! - An unknown `kid` triggers a refetch, at most once per `JWT_JWKS_MIN_REFRESH_SECONDS`, so a
//!   stream of forged kids cannot hammer the identity provider.
//! - If the endpoint fails, the cached keys stay in use: an IdP outage never logs everyone out.
//! - Fetches are single-flight: concurrent misses wait for one request.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use reqwest::header::CACHE_CONTROL;

use super::keys::{ClaimRules, KeySource, VerifyKey, key_from_jwk};

const DEFAULT_TTL: Duration = Duration::from_secs(300);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Snapshot {
    keys: Vec<VerifyKey>,
    expires_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// The cached key set of one JWKS URL.
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    client: reqwest::Client,
    rules: ClaimRules,
    min_refresh: Duration,
    snapshot: RwLock<Snapshot>,
    fetching: tokio::sync::Mutex<()>,
    fetches: std::sync::atomic::AtomicU64,
}

impl RemoteJwks {
    /// A cache for `url`; nothing is fetched until [`Self::refresh`] or the first lookup.
    pub fn new(
        url: String,
        client: reqwest::Client,
        rules: ClaimRules,
        min_refresh: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                url,
                client,
                rules,
                min_refresh,
                snapshot: RwLock::new(Snapshot::default()),
                fetching: tokio::sync::Mutex::new(()),
                fetches: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// How many fetches were attempted (for metrics and tests).
    pub fn fetch_count(&self) -> u64 {
        self.inner
            .fetches
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The keys as cached now, without fetching.
    pub fn cached(&self) -> Vec<VerifyKey> {
        self.inner
            .snapshot
            .read()
            .map(|s| s.keys.clone())
            .unwrap_or_default()
    }

    /// The key with `kid`, refetching (within the rate limit) when it is unknown or stale.
    pub async fn find(&self, kid: &str) -> Option<VerifyKey> {
        let (found, stale) = self.lookup(kid);
        if found.is_some() && !stale {
            return found;
        }
        self.refresh_if_allowed().await;
        self.lookup(kid).0.or(found)
    }

    fn lookup(&self, kid: &str) -> (Option<VerifyKey>, bool) {
        let Ok(snapshot) = self.inner.snapshot.read() else {
            return (None, true);
        };
        let found = snapshot
            .keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .cloned();
        let stale = snapshot.expires_at.is_none_or(|at| Instant::now() >= at);
        (found, stale)
    }

    /// Refetches unless a fetch happened within the minimum refresh interval.
    pub async fn refresh_if_allowed(&self) {
        let attempted_at = self.inner.snapshot.read().ok().and_then(|s| s.last_attempt);
        let _guard = self.inner.fetching.lock().await;
        // Someone else may have fetched while we waited for the lock.
        let last = self.inner.snapshot.read().ok().and_then(|s| s.last_attempt);
        if last != attempted_at {
            return;
        }
        if last.is_some_and(|at| at.elapsed() < self.inner.min_refresh) {
            return;
        }
        self.fetch().await;
    }

    /// Fetches the key set now; on failure the cached keys are kept.
    pub async fn refresh(&self) {
        let _guard = self.inner.fetching.lock().await;
        self.fetch().await;
    }

    async fn fetch(&self) {
        self.inner
            .fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let result = self.download().await;
        let Ok(mut snapshot) = self.inner.snapshot.write() else {
            return;
        };
        snapshot.last_attempt = Some(started);
        match result {
            Ok((keys, ttl)) => {
                tracing::info!(url = %self.inner.url, keys = keys.len(), ttl_seconds = ttl.as_secs(), "JWKS refreshed");
                snapshot.keys = keys;
                snapshot.expires_at = Some(started + ttl);
            }
            Err(err) => {
                tracing::warn!(url = %self.inner.url, error = %err, cached_keys = snapshot.keys.len(), "JWKS fetch failed; keeping the cached keys");
            }
        }
    }

    async fn download(&self) -> anyhow::Result<(Vec<VerifyKey>, Duration)> {
        let response = self
            .inner
            .client
            .get(&self.inner.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(FETCH_TIMEOUT)
            .send()
            .await?
            .error_for_status()?;
        let ttl = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map_or(DEFAULT_TTL, |v| cache_ttl(v, self.inner.min_refresh));
        let set: JwkSet = response.json().await?;
        let keys: Vec<VerifyKey> = set
            .keys
            .iter()
            .filter_map(|jwk| key_from_jwk(jwk, &self.inner.rules, KeySource::Jwks))
            .collect();
        anyhow::ensure!(!keys.is_empty(), "the JWKS holds no usable signing key");
        Ok((keys, ttl))
    }
}

/// The lifetime a `Cache-Control` value grants: `max-age` within bounds, the minimum refresh
/// interval for `no-cache`/`no-store`, the default otherwise.
fn cache_ttl(value: &str, min_refresh: Duration) -> Duration {
    let mut ttl = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return min_refresh;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=")
            && let Ok(seconds) = seconds.trim_matches('"').parse::<u64>()
        {
            ttl = Some(Duration::from_secs(seconds));
        }
    }
    ttl.unwrap_or(DEFAULT_TTL).clamp(min_refresh, MAX_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_sets_the_lifetime_within_bounds() {
        let min = Duration::from_secs(30);
        assert_eq!(
            cache_ttl("public, max-age=600", min),
            Duration::from_secs(600)
        );
        assert_eq!(cache_ttl("max-age=5", min), min);
        assert_eq!(cache_ttl("max-age=9999999", min), MAX_TTL);
        assert_eq!(cache_ttl("no-store", min), min);
        assert_eq!(cache_ttl("public", min), DEFAULT_TTL);
    }
}
