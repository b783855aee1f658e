//! A small bounded cache of values that expire, so signature work is done once per token rather
//! than once per request: verified bearer tokens (as PostgREST's JWT cache does), and the Convex
//! tokens minted for each caller. Keys are whole tokens or whole claim sets, so a different token
//! or a different caller never hits another's entry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Entries by key, each with the instant it stops being served.
#[derive(Debug)]
pub struct TtlCache<V> {
    capacity: usize,
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V: Clone> TtlCache<V> {
    /// A cache of at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value for `key`, unless it has expired.
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((value, until)) if Instant::now() < *until => Some(value.clone()),
            _ => None,
        }
    }

    /// Keeps `value` until `until`. A full cache first drops what expired, then, if still full,
    /// everything: a burst of new keys costs a refill, never unbounded memory.
    pub fn insert(&self, key: String, value: V, until: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_expire_and_the_cache_stays_bounded() {
        let cache = TtlCache::new(2);
        let later = Instant::now() + Duration::from_secs(60);
        cache.insert("a".into(), 1, later);
        cache.insert("gone".into(), 2, Instant::now());
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("gone"), None);
        // Full: the expired entry makes room.
        cache.insert("b".into(), 3, later);
        assert_eq!((cache.get("a"), cache.get("b")), (Some(1), Some(3)));
        // Full of live entries: it starts over rather than grow.
        cache.insert("c".into(), 4, later);
        assert_eq!(cache.get("c"), Some(4));
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
    }
}
