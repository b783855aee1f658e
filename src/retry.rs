//! Retries for idempotent upstream calls: full-jitter exponential backoff (AWS: sleep a random
//! time between 0 and `min(cap, base·2^attempt)`), a retry budget shared per upstream so retries
//! never exceed a share of the traffic (Envoy, Finagle), and the request's deadline, which no
//! retry may run past.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng as _;
use tower::retry::budget::{Budget as _, TpsBudget};

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
    pub budget_ratio: f32,
    /// …plus this many per second of the window, always.
    pub budget_min_per_sec: u32,
    /// The window the budget counts over (1 to 60 seconds).
    pub budget_window: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            budget_ratio: 0.2,
            budget_min_per_sec: 1,
            budget_window: Duration::from_secs(10),
        }
    }
}

/// The retry policy of one upstream, with its budget (tower's `TpsBudget`, as Finagle's).
pub struct Retrier {
    config: RetryConfig,
    budget: TpsBudget,
    total: AtomicU64,
}

impl std::fmt::Debug for Retrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Retrier {
    /// A retrier with `config`.
    pub fn new(config: RetryConfig) -> Self {
        // TpsBudget's own bounds: a window of 1 to 60 seconds, a share of 0 to 1000.
        let window = config
            .budget_window
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        let ratio = config.budget_ratio.clamp(0.0, 1000.0);
        let min_per_sec = config.budget_min_per_sec.min(i32::MAX as u32 - 1);
        Self {
            budget: TpsBudget::new(window, min_per_sec, ratio),
            config,
            total: AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// Counts a first attempt (it earns the budget its share of a retry).
    pub fn record_call(&self) {
        self.budget.deposit();
    }

    /// Whether retry number `retry` (1-based) may happen now, taking it from the budget.
    pub fn allow(&self, retry: u32) -> bool {
        if retry > self.config.max_retries || !self.budget.withdraw() {
            return false;
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Retries granted so far.
    pub fn retries_total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
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
        // With no traffic, the minimum applies: 1 a second over the 10-second window.
        let floor = (0..50).filter(|_| retrier.allow(1)).count();
        assert_eq!(floor, 10);
        // 100 calls earn 20% of a retry each.
        for _ in 0..100 {
            retrier.record_call();
        }
        let granted = (0..50).filter(|_| retrier.allow(1)).count();
        assert_eq!(granted, 20);
        assert_eq!(retrier.retries_total(), 30);
    }
}
