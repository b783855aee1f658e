//! How many watches (or relayed sync sockets) may be open: per caller and in all, on this
//! replica. Each holds a [`Permit`] for as long as it lives; dropping it gives the place back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{ApiError, ApiResult, ErrorCode};

/// The open counts.
pub struct Limits {
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
pub struct Permit {
    /// The caller it counts for, if any.
    caller: Option<String>,
    /// Whether it counts in the total.
    total: bool,
    counts: Arc<Mutex<Counts>>,
}

impl Limits {
    /// At most `per_caller` per caller and `max_total` in all.
    pub fn new(per_caller: usize, max_total: usize) -> Self {
        Self {
            per_caller,
            max_total,
            counts: Arc::default(),
        }
    }

    /// A place for one more of `caller`'s, or 429 (the caller's limit) or 503 (the replica's).
    pub fn acquire(&self, caller: &str) -> ApiResult<Permit> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        self.check_total(&counts)?;
        self.check_caller(&counts, caller)?;
        counts.total += 1;
        *counts.by_caller.entry(caller.to_owned()).or_default() += 1;
        Ok(self.permit(Some(caller), true))
    }

    /// A place in the total only (the caller is not known yet).
    pub fn acquire_total(&self) -> ApiResult<Permit> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        self.check_total(&counts)?;
        counts.total += 1;
        Ok(self.permit(None, true))
    }

    /// A place among `caller`'s only (already counted in the total).
    pub fn acquire_caller(&self, caller: &str) -> ApiResult<Permit> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        self.check_caller(&counts, caller)?;
        *counts.by_caller.entry(caller.to_owned()).or_default() += 1;
        Ok(self.permit(Some(caller), false))
    }

    fn check_total(&self, counts: &Counts) -> ApiResult<()> {
        if counts.total >= self.max_total {
            return Err(ApiError::new(
                ErrorCode::WatchCapacity,
                format!(
                    "this gateway already holds {} open watches or sync sockets, the most it may; try again, or another replica",
                    self.max_total
                ),
            )
            .with_retry_after(5));
        }
        Ok(())
    }

    fn check_caller(&self, counts: &Counts, caller: &str) -> ApiResult<()> {
        let mine = counts.by_caller.get(caller).copied().unwrap_or(0);
        if mine >= self.per_caller {
            return Err(ApiError::new(
                ErrorCode::TooManyWatches,
                format!(
                    "this caller already has {mine} open, the most allowed per caller; close one first"
                ),
            ));
        }
        Ok(())
    }

    fn permit(&self, caller: Option<&str>, total: bool) -> Permit {
        Permit {
            caller: caller.map(str::to_owned),
            total,
            counts: Arc::clone(&self.counts),
        }
    }

    /// Open in all.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if self.total {
            counts.total = counts.total.saturating_sub(1);
        }
        if let Some(caller) = &self.caller
            && let Some(mine) = counts.by_caller.get_mut(caller)
        {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                counts.by_caller.remove(caller);
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
