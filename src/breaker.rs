//! A circuit breaker for the Convex upstream, with Resilience4j's semantics:
//! - **closed**: calls pass, and their outcomes fill a sliding window. The breaker opens when
//!   the window's failure rate reaches the threshold (once it holds `min_calls`), or after
//!   `consecutive` failures in a row (`CONVEX_CIRCUIT_BREAKER_THRESHOLD`, the seed's meaning);
//! - **open**: calls fail fast for `open_for` (`CONVEX_CIRCUIT_BREAKER_TIMEOUT`);
//! - **half-open**: a few probes pass. They close the breaker when they all succeed, and one
//!   failure opens it again. A probe whose call is dropped frees its slot, so half-open cannot
//!   stall.
//!
//! Only upstream faults count (transport errors, timeouts, 502/503/504, 429): the caller
//! classifies. The clock is injected, so tests drive time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The breaker's settings.
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub consecutive: u32,
    /// Failure rate (0 to 1) over the window that opens the breaker.
    pub failure_rate: f64,
    /// How many recent calls the window holds.
    pub window: usize,
    /// The fewest calls in the window before the rate applies.
    pub min_calls: usize,
    /// How long the breaker stays open before probing.
    pub open_for: Duration,
    /// Probes allowed at once in half-open; this many successes close it.
    pub probes: u32,
}

/// The breaker's state, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// The `gateway_circuit_state` value: 0 closed, 1 open, 2 half-open.
    pub fn code(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, successes: u32 },
}

struct Inner {
    state: State,
    window: VecDeque<bool>,
    consecutive: u32,
}

type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The breaker.
pub struct Breaker {
    config: BreakerConfig,
    clock: Clock,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// Permission to make one call; report its outcome with [`Ticket::record`].
pub struct Ticket<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl Ticket<'_> {
    /// Reports the call's outcome: `fault` when the upstream failed.
    pub fn record(mut self, fault: bool) {
        self.recorded = true;
        self.breaker.record(self.probe, Some(fault));
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            // The call was abandoned: neither a success nor a fault, but a probe frees its slot.
            self.breaker.record(self.probe, None);
        }
    }
}

impl Breaker {
    /// A breaker on the real clock.
    pub fn new(config: BreakerConfig) -> Self {
        Self::with_clock(config, Arc::new(Instant::now))
    }

    /// A breaker on the given clock.
    pub fn with_clock(config: BreakerConfig, clock: Clock) -> Self {
        Self {
            config,
            clock,
            inner: Mutex::new(Inner {
                state: State::Closed,
                window: VecDeque::new(),
                consecutive: 0,
            }),
        }
    }

    /// Asks to make a call: a ticket, or how long until the breaker may let calls through.
    pub fn acquire(&self) -> Result<Ticket<'_>, Duration> {
        let now = (self.clock)();
        let Ok(mut inner) = self.inner.lock() else {
            return Ok(Ticket {
                breaker: self,
                probe: false,
                recorded: false,
            });
        };
        if let State::Open { until } = inner.state {
            if now < until {
                return Err(until - now);
            }
            inner.state = State::HalfOpen {
                in_flight: 0,
                successes: 0,
            };
        }
        match &mut inner.state {
            State::Closed | State::Open { .. } => Ok(Ticket {
                breaker: self,
                probe: false,
                recorded: false,
            }),
            State::HalfOpen { in_flight, .. } if *in_flight < self.config.probes => {
                *in_flight += 1;
                Ok(Ticket {
                    breaker: self,
                    probe: true,
                    recorded: false,
                })
            }
            State::HalfOpen { .. } => Err(Duration::from_secs(1)),
        }
    }

    fn record(&self, probe: bool, fault: Option<bool>) {
        let now = (self.clock)();
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if probe {
            if let State::HalfOpen {
                in_flight,
                successes,
            } = &mut inner.state
            {
                *in_flight = in_flight.saturating_sub(1);
                match fault {
                    Some(true) => self.open(&mut inner, now),
                    Some(false) => {
                        *successes += 1;
                        if *successes >= self.config.probes {
                            inner.state = State::Closed;
                            inner.window.clear();
                            inner.consecutive = 0;
                        }
                    }
                    None => {}
                }
            }
            return;
        }
        let Some(fault) = fault else {
            return;
        };
        if !matches!(inner.state, State::Closed) {
            // A call that started before the breaker opened; its outcome is stale.
            return;
        }
        inner.window.push_back(fault);
        while inner.window.len() > self.config.window {
            inner.window.pop_front();
        }
        inner.consecutive = if fault { inner.consecutive + 1 } else { 0 };
        let failures = inner.window.iter().filter(|f| **f).count();
        let rate_tripped = inner.window.len() >= self.config.min_calls
            && failures as f64 >= self.config.failure_rate * inner.window.len() as f64;
        if inner.consecutive >= self.config.consecutive || rate_tripped {
            self.open(&mut inner, now);
        }
    }

    fn open(&self, inner: &mut Inner, now: Instant) {
        tracing::warn!(
            open_seconds = self.config.open_for.as_secs_f64(),
            "circuit breaker opened: Convex is failing"
        );
        inner.state = State::Open {
            until: now + self.config.open_for,
        };
        inner.window.clear();
        inner.consecutive = 0;
    }

    /// The current state (an elapsed open period reads as half-open).
    pub fn state(&self) -> BreakerState {
        let now = (self.clock)();
        match self.inner.lock().map(|i| match i.state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }) {
            Ok(state) => state,
            Err(_) => BreakerState::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn breaker() -> (Breaker, Arc<AtomicU64>) {
        let start = Instant::now();
        let offset = Arc::new(AtomicU64::new(0));
        let clock_offset = Arc::clone(&offset);
        let clock: Clock =
            Arc::new(move || start + Duration::from_millis(clock_offset.load(Ordering::SeqCst)));
        let config = BreakerConfig {
            consecutive: 3,
            failure_rate: 0.5,
            window: 10,
            min_calls: 6,
            open_for: Duration::from_secs(10),
            probes: 2,
        };
        (Breaker::with_clock(config, clock), offset)
    }

    fn call(b: &Breaker, fault: bool) -> bool {
        match b.acquire() {
            Ok(ticket) => {
                ticket.record(fault);
                true
            }
            Err(_) => false,
        }
    }

    #[test]
    fn consecutive_failures_open_it_and_it_fails_fast() {
        let (b, _) = breaker();
        assert!(call(&b, true) && call(&b, true));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(call(&b, true));
        assert_eq!(b.state(), BreakerState::Open);
        let wait = b.acquire().err().unwrap();
        assert!(wait <= Duration::from_secs(10) && wait > Duration::from_secs(9));
    }

    #[test]
    fn the_failure_rate_opens_it_once_the_window_is_full_enough() {
        let (b, _) = breaker();
        // Alternating outcomes: never 3 in a row, but a 50% rate.
        for fault in [true, false, true, false, true] {
            assert!(call(&b, fault));
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "below min_calls the rate does not apply"
        );
        assert!(call(&b, false));
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn probes_close_it_or_open_it_again() {
        let (b, clock) = breaker();
        for _ in 0..3 {
            call(&b, true);
        }
        clock.store(10_001, Ordering::SeqCst);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let (p1, p2) = (b.acquire().ok().unwrap(), b.acquire().ok().unwrap());
        assert!(b.acquire().is_err(), "only two probes at once");
        p1.record(false);
        p2.record(false);
        assert_eq!(b.state(), BreakerState::Closed);

        for _ in 0..3 {
            call(&b, true);
        }
        clock.store(20_002, Ordering::SeqCst);
        let probe = b.acquire().ok().unwrap();
        probe.record(true);
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a failed probe opens it again"
        );
    }

    #[test]
    fn an_abandoned_probe_frees_its_slot() {
        let (b, clock) = breaker();
        for _ in 0..3 {
            call(&b, true);
        }
        clock.store(10_001, Ordering::SeqCst);
        {
            let _a = b.acquire().ok().unwrap();
            let _b = b.acquire().ok().unwrap();
            assert!(b.acquire().is_err());
        }
        assert!(b.acquire().is_ok(), "dropped probes gave their slots back");
    }
}
