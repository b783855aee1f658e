//! Rate limits shared by every replica (`GATEWAY_RATE_LIMIT_URL`): the same GCRA as the
//! in-memory limiter, done atomically in Redis by one Lua script per request (one round trip),
//! on Redis's clock, so replicas with drifting clocks still share one budget.
//!
//! When Redis cannot be reached, `GATEWAY_RATE_LIMIT_FAIL` decides: `open` (the default) lets
//! requests through, `closed` refuses them; either way the failure is counted and logged at
//! most once a minute.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

/// GCRA on Redis's clock. KEYS[1]: the bucket; ARGV[1]: microseconds between requests;
/// ARGV[2]: the burst. Answers {allowed (1/0), remaining, retry after µs, reset µs}.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local tolerance = interval * burst
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(tolerance / 1000) + 1000)
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
";

/// What to do with requests while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Let them through (counted and logged).
    Open,
    /// Refuse them with 503.
    Closed,
}

impl std::str::FromStr for FailMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            other => Err(format!("expected `open` or `closed`, got `{other}`")),
        }
    }
}

/// The settings of the shared limiter.
#[derive(Debug, Clone)]
pub struct SharedLimitConfig {
    /// `GATEWAY_RATE_LIMIT_URL` (`redis://` or `rediss://`; a secret: it may hold a password).
    pub url: SecretString,
    /// `GATEWAY_RATE_LIMIT_FAIL`.
    pub fail: FailMode,
    /// `GATEWAY_RATE_LIMIT_PREFIX`: the prefix of the gateway's keys in Redis.
    pub prefix: String,
}

/// One request's verdict from Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub remaining: u32,
    pub retry_after: Duration,
    pub reset: Duration,
}

/// The Redis-backed limiter: a connection made on first use (and again after it breaks).
pub struct SharedLimiter {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    script: redis::Script,
    config: SharedLimitConfig,
    last_logged: Mutex<Option<Instant>>,
    /// After a failure, Redis is not asked again for a second: requests meanwhile get the
    /// fail mode's answer at once instead of waiting for a timeout each.
    down_until: Mutex<Option<Instant>>,
}

impl SharedLimiter {
    /// A limiter for the Redis at `config.url`; nothing is connected yet.
    pub fn new(config: SharedLimitConfig) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.url.expose_secret())
            .map_err(|err| anyhow::anyhow!("GATEWAY_RATE_LIMIT_URL: {err}"))?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            script: redis::Script::new(GCRA),
            config,
            last_logged: Mutex::new(None),
            down_until: Mutex::new(None),
        })
    }

    /// What to do when Redis cannot be reached.
    pub fn fail_mode(&self) -> FailMode {
        self.config.fail
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        self.connection
            .get_or_try_init(|| {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_millis(500)))
                    .set_response_timeout(Some(Duration::from_millis(500)))
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await
            .cloned()
    }

    /// Counts one request against `bucket`, allowing one every `interval` with bursts of
    /// `burst`.
    pub async fn check(
        &self,
        bucket: &str,
        interval: Duration,
        burst: u32,
    ) -> redis::RedisResult<Verdict> {
        if self
            .down_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis failed within the last second",
            )));
        }
        let result = self.run(bucket, interval, burst).await;
        if result.is_err() {
            *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Instant::now() + Duration::from_secs(1));
        }
        result
    }

    async fn run(
        &self,
        bucket: &str,
        interval: Duration,
        burst: u32,
    ) -> redis::RedisResult<Verdict> {
        let mut connection = self.connection().await?;
        let interval_us = u64::try_from(interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let (allowed, remaining, retry_after, reset): (i64, i64, i64, i64) = self
            .script
            .key(format!("{}{bucket}", self.config.prefix))
            .arg(interval_us)
            .arg(burst)
            .invoke_async(&mut connection)
            .await?;
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or_default());
        Ok(Verdict {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            retry_after: micros(retry_after),
            reset: micros(reset),
        })
    }

    /// Whether Redis answers (for `/ready`).
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut connection = self.connection().await?;
        redis::cmd("PING").query_async::<()>(&mut connection).await
    }

    /// Logs a failure to reach Redis, at most once a minute.
    pub fn log_failure(&self, err: &redis::RedisError) {
        let mut last = self.last_logged.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(
                error = %err,
                fail = ?self.config.fail,
                "the shared rate limiter cannot reach Redis (logged once a minute)"
            );
        }
    }
}
