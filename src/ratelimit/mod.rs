//! Per-caller rate limits, configured per role in the policy file (`rate_limit = "100/s"`),
//! enforced with GCRA (`governor`): a caller is keyed by its token's `sub`, or without a token
//! by its client IP (the `X-Forwarded-For` hop a trusted proxy saw, when the peer is one of
//! `GATEWAY_TRUSTED_PROXIES`). A caller whose roles carry several limits gets the most generous;
//! `unlimited` on any role lifts the limit.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

pub mod shared;

use std::sync::Arc;

use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// A role's limit as written in the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSpec {
    /// No limit.
    Unlimited,
    /// `requests` per `period`, with bursts of up to `burst`.
    Limit {
        requests: NonZeroU32,
        period: Duration,
        burst: NonZeroU32,
    },
}

impl RateSpec {
    /// Parses `N/s`, `N/min` (or `N/m`), `N/h`, or `unlimited`; `burst` defaults to N.
    pub fn parse(raw: &str, burst: Option<u32>) -> Result<Self, String> {
        let raw = raw.trim();
        if raw == "unlimited" {
            return Ok(Self::Unlimited);
        }
        let bad = || {
            format!("rate_limit `{raw}` must look like `100/s`, `600/min`, `5000/h` or `unlimited`")
        };
        let (count, unit) = raw.split_once('/').ok_or_else(bad)?;
        let requests: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let burst = match burst {
            None => requests,
            Some(b) => NonZeroU32::new(b).ok_or("rate_burst must be at least 1")?,
        };
        Ok(Self::Limit {
            requests,
            period,
            burst,
        })
    }

    /// Requests per second, for picking the most generous limit.
    fn per_second(&self) -> f64 {
        match self {
            Self::Unlimited => f64::INFINITY,
            Self::Limit {
                requests, period, ..
            } => f64::from(requests.get()) / period.as_secs_f64(),
        }
    }
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

struct RoleLimiter {
    limiter: Keyed,
    quota: Quota,
    spec: RateSpec,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No limit applies to the caller.
    Unlimited,
    /// Allowed; the headers to send.
    Allowed(RateHeaders),
    /// Refused; the headers to send, and the role whose limit applied.
    Limited {
        headers: RateHeaders,
        retry_after: Duration,
        role: String,
    },
    /// The shared limiter could not be asked (Redis is down): let the request through
    /// (`open`) or refuse it (`closed`).
    Unavailable { fail_closed: bool },
}

/// What the `RateLimit-*` headers say (draft-ietf-httpapi-ratelimit-headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateHeaders {
    /// `RateLimit-Limit`: the burst size.
    pub limit: u32,
    /// `RateLimit-Remaining`: requests left right now.
    pub remaining: u32,
    /// `RateLimit-Reset`: seconds until the quota is whole again.
    pub reset: u64,
    /// `RateLimit-Policy`: `N;w=window seconds`.
    pub policy: String,
}

/// Every role's limiter: in memory, or shared by every replica through Redis.
pub struct RateLimits {
    roles: BTreeMap<String, RoleLimiter>,
    shared: Option<Arc<shared::SharedLimiter>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("roles", &self.roles.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl RateLimits {
    /// Limiters for the roles that declare a limit.
    pub fn new(specs: &BTreeMap<String, RateSpec>) -> Self {
        let roles = specs
            .iter()
            .map(|(role, spec)| {
                let quota = match spec {
                    RateSpec::Unlimited => Quota::per_second(NonZeroU32::MIN),
                    RateSpec::Limit {
                        requests,
                        period,
                        burst,
                    } => Quota::with_period(*period / requests.get())
                        .unwrap_or_else(|| Quota::per_second(*requests))
                        .allow_burst(*burst),
                };
                let limiter =
                    RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>();
                (
                    role.clone(),
                    RoleLimiter {
                        limiter,
                        quota,
                        spec: *spec,
                    },
                )
            })
            .collect();
        Self {
            roles,
            shared: None,
        }
    }

    /// Counts every request in Redis, shared by every replica, instead of in memory.
    pub fn shared_by(mut self, limiter: Arc<shared::SharedLimiter>) -> Self {
        self.shared = Some(limiter);
        self
    }

    /// The shared limiter, when there is one (for `/ready`).
    pub fn shared(&self) -> Option<&shared::SharedLimiter> {
        self.shared.as_deref()
    }

    /// Whether any role has a limit at all.
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
    }

    /// Counts a request of the caller `key` holding `roles`.
    pub async fn check(&self, roles: &[String], key: &str) -> Decision {
        let Some((role, limiter)) = roles
            .iter()
            .filter_map(|r| self.roles.get(r).map(|l| (r, l)))
            .max_by(|a, b| a.1.spec.per_second().total_cmp(&b.1.spec.per_second()))
        else {
            return Decision::Unlimited;
        };
        let RateSpec::Limit {
            requests, period, ..
        } = limiter.spec
        else {
            return Decision::Unlimited;
        };
        let burst = limiter.quota.burst_size().get();
        let interval = limiter.quota.replenish_interval();
        let policy = format!("{};w={}", requests.get(), period.as_secs());
        // The key carries the role, so switching roles does not share a bucket.
        let key = format!("{role}\u{1f}{key}");
        if let Some(shared) = &self.shared {
            return match shared.check(&key, interval, burst).await {
                Ok(verdict) if verdict.allowed => Decision::Allowed(RateHeaders {
                    limit: burst,
                    remaining: verdict.remaining.min(burst),
                    reset: ceil_secs(verdict.reset),
                    policy,
                }),
                Ok(verdict) => Decision::Limited {
                    headers: RateHeaders {
                        limit: burst,
                        remaining: 0,
                        reset: ceil_secs(verdict.reset),
                        policy,
                    },
                    retry_after: verdict.retry_after,
                    role: role.clone(),
                },
                Err(err) => {
                    shared.log_failure(&err);
                    Decision::Unavailable {
                        fail_closed: shared.fail_mode() == shared::FailMode::Closed,
                    }
                }
            };
        }
        match limiter.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let reset = interval.saturating_mul(burst - remaining.min(burst));
                Decision::Allowed(RateHeaders {
                    limit: burst,
                    remaining,
                    reset: ceil_secs(reset),
                    policy,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.limiter.clock().now());
                Decision::Limited {
                    headers: RateHeaders {
                        limit: burst,
                        remaining: 0,
                        reset: ceil_secs(interval.saturating_mul(burst)),
                        policy,
                    },
                    retry_after: wait,
                    role: role.clone(),
                }
            }
        }
    }

    /// Forgets callers whose buckets are full again (bounded memory).
    pub fn sweep(&self) {
        for limiter in self.roles.values() {
            limiter.limiter.retain_recent();
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The client address a request is keyed by: the peer, or — when the peer is a trusted proxy —
/// the rightmost `X-Forwarded-For` address that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(chain) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in chain.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(role: &str, spec: &str, burst: Option<u32>) -> RateLimits {
        let mut specs = BTreeMap::new();
        specs.insert(role.to_owned(), RateSpec::parse(spec, burst).unwrap());
        RateLimits::new(&specs)
    }

    #[test]
    fn specs_parse_and_refuse_nonsense() {
        assert_eq!(RateSpec::parse("unlimited", None), Ok(RateSpec::Unlimited));
        assert!(matches!(
            RateSpec::parse("600/min", Some(10)),
            Ok(RateSpec::Limit { period, burst, .. }) if period == Duration::from_secs(60) && burst.get() == 10
        ));
        for bad in ["", "10", "0/s", "x/s", "10/week", "-1/s"] {
            assert!(RateSpec::parse(bad, None).is_err(), "{bad}");
        }
        assert!(RateSpec::parse("1/s", Some(0)).is_err());
    }

    #[tokio::test]
    async fn a_burst_is_allowed_then_refused_per_key() {
        let limits = limits("anonymous", "1/min", Some(3));
        let roles = vec!["anonymous".to_owned()];
        for left in [2, 1, 0] {
            match limits.check(&roles, "ip:1").await {
                Decision::Allowed(h) => assert_eq!((h.limit, h.remaining), (3, left)),
                other => panic!("{other:?}"),
            }
        }
        match limits.check(&roles, "ip:1").await {
            Decision::Limited {
                retry_after, role, ..
            } => {
                assert_eq!(role, "anonymous");
                // One request per minute: the next is a minute away.
                assert!(
                    retry_after > Duration::from_secs(50) && retry_after <= Duration::from_secs(60)
                );
            }
            other => panic!("{other:?}"),
        }
        // Another caller has its own bucket; a role without a limit is not limited.
        assert!(matches!(
            limits.check(&roles, "ip:2").await,
            Decision::Allowed(_)
        ));
        assert_eq!(
            limits.check(&["other".into()], "ip:1").await,
            Decision::Unlimited
        );
    }

    #[tokio::test]
    async fn the_most_generous_role_wins() {
        let mut specs = BTreeMap::new();
        specs.insert(
            "authenticated".to_owned(),
            RateSpec::parse("1/min", Some(1)).unwrap(),
        );
        specs.insert(
            "service".to_owned(),
            RateSpec::parse("unlimited", None).unwrap(),
        );
        let limits = RateLimits::new(&specs);
        let both = vec!["authenticated".to_owned(), "service".to_owned()];
        for _ in 0..5 {
            assert_eq!(limits.check(&both, "sub:a").await, Decision::Unlimited);
        }
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.1.1.1".parse().unwrap();
        let outside: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(outside, Some("1.2.3.4"), &trusted), outside);
        assert_eq!(
            client_ip(peer, Some("1.2.3.4, 198.51.100.7, 10.2.2.2"), &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(peer, None, &trusted), peer);
        assert_eq!(client_ip(peer, Some("garbage"), &trusted), peer);
    }
}
