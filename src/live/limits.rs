//! How many watches may be open: per caller and in all, on this replica. A watch holds a
//! [`Permit`] for as long as its stream lives; dropping the stream gives the place back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{ApiError, ApiResult, ErrorCode};

/// The open-watch counts.
pub(super) struct Limits {
    per_caller: usize,
    max_total: usize,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_caller: HashMap<String, usize>,
}

/// One open watch's place; given back on drop.
pub(super) struct Permit {
    caller: String,
    counts: Arc<Mutex<Counts>>,
}

impl Limits {
    pub(super) fn new(per_caller: usize, max_total: usize) -> Self {
        Self {
            per_caller,
            max_total,
            counts: Arc::default(),
        }
    }

    /// A place for one more watch of `caller`, or 429 (the caller's limit) or 503 (the
    /// replica's).
    pub(super) fn acquire(&self, caller: &str) -> ApiResult<Permit> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.total >= self.max_total {
            return Err(ApiError::new(
                ErrorCode::WatchCapacity,
                format!(
                    "this gateway already holds {} open watches (GATEWAY_WATCH_MAX); try again, or another replica",
                    self.max_total
                ),
            )
            .with_retry_after(5));
        }
        let mine = counts.by_caller.get(caller).copied().unwrap_or(0);
        if mine >= self.per_caller {
            return Err(ApiError::new(
                ErrorCode::TooManyWatches,
                format!(
                    "this caller already has {mine} open watches, the most allowed (GATEWAY_WATCH_PER_CALLER); close one first"
                ),
            ));
        }
        counts.total += 1;
        counts.by_caller.insert(caller.to_owned(), mine + 1);
        Ok(Permit {
            caller: caller.to_owned(),
            counts: Arc::clone(&self.counts),
        })
    }

    /// Open watches in all.
    pub(super) fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(mine) = counts.by_caller.get_mut(&self.caller) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                counts.by_caller.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_caller_and_in_all_and_given_back() {
        let limits = Limits::new(2, 3);
        let a1 = limits.acquire("a").unwrap();
        let _a2 = limits.acquire("a").unwrap();
        assert_eq!(
            limits.acquire("a").err().map(|e| e.code()),
            Some(ErrorCode::TooManyWatches)
        );
        let _b1 = limits.acquire("b").unwrap();
        assert_eq!(
            limits.acquire("c").err().map(|e| e.code()),
            Some(ErrorCode::WatchCapacity)
        );
        drop(a1);
        assert_eq!(limits.open(), 2);
        assert!(limits.acquire("a").is_ok());
    }
}
