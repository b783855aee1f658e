//! Recent read results, kept per caller when `GATEWAY_STALE_READS=on`, so that reads can still
//! be answered, marked stale, while Convex is unavailable. A `moka` cache: at most
//! `GATEWAY_STALE_CACHE_ENTRIES` results, the least recently used evicted first, and none older
//! than `GATEWAY_STALE_MAX_AGE` ever answered.

use std::time::{Duration, Instant};

use moka::policy::EvictionPolicy;

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;

use crate::store::{Document, RawPage};

/// Set to `true` on a response answered from the cache.
pub const STALE_HEADER: HeaderName = HeaderName::from_static("x-gateway-stale");

/// A cached read.
#[derive(Debug, Clone)]
pub enum CachedRead {
    /// A document by id (`None`: it did not exist).
    Doc(Option<Document>),
    /// A page of a list.
    Page(RawPage),
}

/// The bounded, expiring cache.
#[derive(Debug, Clone)]
pub struct StaleCache {
    entries: moka::sync::Cache<String, (CachedRead, Instant)>,
}

impl StaleCache {
    /// A cache of at most `capacity` results, each kept for at most `max_age`.
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity.max(1) as u64)
                .time_to_live(max_age)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
        }
    }

    /// The cache key of a read: who asked (results differ per caller), and what.
    pub fn key(caller: &str, what: &[&str]) -> String {
        let mut key = caller.to_owned();
        for part in what {
            key.push('\u{1f}');
            key.push_str(part);
        }
        key
    }

    /// Remembers a fresh result (replacing an older one, which restarts its age).
    pub fn put(&self, key: String, read: CachedRead) {
        self.entries.insert(key, (read, Instant::now()));
    }

    /// The last result for `key` and its age.
    pub fn get(&self, key: &str) -> Option<(CachedRead, Duration)> {
        self.entries.get(key).map(|(read, at)| (read, at.elapsed()))
    }
}

/// Marks a response as answered from the cache: `X-Gateway-Stale: true`, `Age`, and the
/// RFC 7234 `Warning: 110` that older clients understand.
pub fn mark(response: &mut Response, age: Duration) {
    let headers = response.headers_mut();
    headers.insert(STALE_HEADER, HeaderValue::from_static("true"));
    headers.insert(
        header::WARNING,
        HeaderValue::from_static("110 convex-gateway \"Response is Stale\""),
    );
    headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many results the cache holds once its pending evictions ran.
    fn held(cache: &StaleCache) -> u64 {
        cache.entries.run_pending_tasks();
        cache.entries.entry_count()
    }

    fn page(n: usize) -> CachedRead {
        CachedRead::Page(RawPage {
            items: Vec::new(),
            next_cursor: Some(n.to_string()),
        })
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let cache = StaleCache::new(2, Duration::from_secs(600));
        cache.put("a".into(), page(1));
        cache.put("b".into(), page(2));
        cache.entries.run_pending_tasks();
        // Reading `a` makes `b` the least recently used.
        assert!(cache.get("a").is_some());
        cache.entries.run_pending_tasks();
        cache.put("c".into(), page(3));
        assert!(held(&cache) <= 2);
        assert!(
            cache.get("b").is_none(),
            "the least recently used was evicted"
        );
        assert!(
            matches!(cache.get("a"), Some((CachedRead::Page(p), _)) if p.next_cursor.as_deref() == Some("1"))
        );
        assert!(cache.get("c").is_some());
        assert_ne!(
            StaleCache::key("user:a", &["t", "1"]),
            StaleCache::key("user:a", &["t1"])
        );
    }

    #[test]
    fn entries_expire() {
        let cache = StaleCache::new(10, Duration::from_millis(50));
        cache.put("a".into(), page(1));
        assert!(cache.get("a").is_some());
        let deadline = Instant::now() + Duration::from_secs(10);
        while cache.get("a").is_some() {
            assert!(Instant::now() < deadline, "the entry never expired");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(held(&cache), 0);
    }
}
