//! Recent read results, kept per caller when `GATEWAY_STALE_READS=on`, so that reads can still
//! be answered, marked stale, while Convex is unavailable. Bounded by
//! `GATEWAY_STALE_CACHE_ENTRIES`; the oldest entry goes first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Results by key with when they were read, and the keys oldest first.
type Entries = (HashMap<String, (CachedRead, Instant)>, VecDeque<String>);

/// The bounded cache.
#[derive(Debug)]
pub struct StaleCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

impl StaleCache {
    /// A cache of at most `capacity` results.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new((HashMap::new(), VecDeque::new())),
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

    /// Remembers a fresh result.
    pub fn put(&self, key: String, read: CachedRead) {
        let Ok(mut guard) = self.entries.lock() else {
            return;
        };
        let (map, order) = &mut *guard;
        if map.insert(key.clone(), (read, Instant::now())).is_none() {
            order.push_back(key);
            while map.len() > self.capacity {
                match order.pop_front() {
                    Some(oldest) => {
                        map.remove(&oldest);
                    }
                    None => break,
                }
            }
        }
    }

    /// The last result for `key` and its age.
    pub fn get(&self, key: &str) -> Option<(CachedRead, Duration)> {
        let guard = self.entries.lock().ok()?;
        guard
            .0
            .get(key)
            .map(|(read, at)| (read.clone(), at.elapsed()))
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

    fn page(n: usize) -> CachedRead {
        CachedRead::Page(RawPage {
            items: Vec::new(),
            next_cursor: Some(n.to_string()),
        })
    }

    #[test]
    fn the_oldest_entry_goes_first() {
        let cache = StaleCache::new(2);
        cache.put("a".into(), page(1));
        cache.put("b".into(), page(2));
        cache.put("a".into(), page(3));
        cache.put("c".into(), page(4));
        assert!(cache.get("a").is_none());
        assert!(
            matches!(cache.get("b"), Some((CachedRead::Page(p), _)) if p.next_cursor.as_deref() == Some("2"))
        );
        assert!(cache.get("c").is_some());
        assert_ne!(
            StaleCache::key("user:a", &["t", "1"]),
            StaleCache::key("user:a", &["t1"])
        );
    }
}
