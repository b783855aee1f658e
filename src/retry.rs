//! Retries for idempotent upstream calls: full-jitter exponential backoff (AWS: sleep a random
//! time between 0 and `min(cap, base·2^attempt)`), a retry budget shared per upstream so retries
//! never exceed a share of the traffic (Envoy, Finagle), and the request's deadline, which no
//! retry may run past.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng as _;

/// The retry settings.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// `CONVEX_RETRY_COUNT`: the most retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff's ceiling.
    pub base: Duration,
    /// The largest backoff.
    pub cap: Duration,
    /// Retries may be at most this share of recent calls…
    pub budget_ratio: f64,
    /// …but this many are always allowed per window.
    pub budget_min: usize,
    /// The window the budget counts over.
    pub budget_window: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            budget_ratio: 0.2,
            budget_min: 3,
            budget_window: Duration::from_secs(10),
        }
    }
}

/// The retry policy and budget of one upstream.
#[derive(Debug)]
pub struct Retrier {
    config: RetryConfig,
    calls: Mutex<VecDeque<Instant>>,
    retries: Mutex<VecDeque<Instant>>,
    total: std::sync::atomic::AtomicU64,
}

impl Retrier {
    /// A retrier with `config`.
    pub fn new(config: RetryConfig) -> Self {
        Self {
            config,
            calls: Mutex::new(VecDeque::new()),
            retries: Mutex::new(VecDeque::new()),
            total: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// Counts a first attempt (the budget's denominator).
    pub fn record_call(&self) {
        if let Ok(mut calls) = self.calls.lock() {
            let now = Instant::now();
            trim(&mut calls, now, self.config.budget_window);
            calls.push_back(now);
        }
    }

    /// Whether retry number `retry` (1-based) may happen now, taking it from the budget.
    pub fn allow(&self, retry: u32) -> bool {
        if retry > self.config.max_retries {
            return false;
        }
        let now = Instant::now();
        let (Ok(mut calls), Ok(mut retries)) = (self.calls.lock(), self.retries.lock()) else {
            return false;
        };
        trim(&mut calls, now, self.config.budget_window);
        trim(&mut retries, now, self.config.budget_window);
        let allowed = (calls.len() as f64 * self.config.budget_ratio) as usize;
        if retries.len() >= allowed.max(self.config.budget_min) {
            return false;
        }
        retries.push_back(now);
        self.total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// Retries granted so far.
    pub fn retries_total(&self) -> u64 {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How long to wait before retry number `retry`: full jitter, or the upstream's
    /// `Retry-After` when it gave one.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait;
        }
        full_jitter(self.config.base, self.config.cap, retry)
    }
}

/// Full jitter: a random wait between 0 and `min(cap, base·2^(retry-1))`.
pub fn full_jitter(base: Duration, cap: Duration, retry: u32) -> Duration {
    let exp = base.saturating_mul(
        1u32.checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX),
    );
    let ceiling = exp.min(cap);
    let millis = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
}

fn trim(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) > window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_under_a_growing_ceiling() {
        let retrier = Retrier::new(RetryConfig::default());
        for retry in 1..=6 {
            let ceiling =
                Duration::from_millis(50 * 2u64.pow(retry - 1)).min(Duration::from_secs(2));
            for _ in 0..50 {
                assert!(retrier.backoff(retry, None) <= ceiling);
            }
        }
        // Spread, not a fixed delay: across many draws they differ.
        let draws: std::collections::HashSet<_> =
            (0..50).map(|_| retrier.backoff(4, None)).collect();
        assert!(draws.len() > 5);
        assert_eq!(
            retrier.backoff(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn the_budget_caps_retries_to_a_share_of_traffic() {
        let retrier = Retrier::new(RetryConfig::default());
        assert!(!retrier.allow(4), "past max_retries");
        // With little traffic, the minimum applies: 3 retries, then no more.
        assert!(retrier.allow(1) && retrier.allow(1) && retrier.allow(1));
        assert!(!retrier.allow(1));
        // With 100 calls in the window, 20% may be retried.
        for _ in 0..100 {
            retrier.record_call();
        }
        let granted = (0..50).filter(|_| retrier.allow(1)).count();
        assert_eq!(granted, 17, "20 allowed in all, 3 already used");
    }
}
