//! The offline outbox: writes accepted while Convex cannot be reached. Each is stored durably
//! before the caller hears `202 Accepted`, then delivered at least once with the write's
//! idempotency key, which Convex's `gateway:apply` dedupes inside its own transaction, so each
//! write is applied exactly once.
//!
//! One replica keeps the queue in `outbox.sqlite3` (`local`, committed with `synchronous=FULL`)
//! and its one relay delivers it in the order it was accepted. With `GATEWAY_STATE_URL` the
//! queue is `gateway.outbox` (`postgres`): every replica's relay claims entries with
//! `FOR UPDATE SKIP LOCKED` under a lease, an entry whose replica died is claimed again once its
//! lease has passed, and an entry is never claimed while an earlier queued entry touches one of
//! its documents, so a document's writes still land in the order they were accepted.
//!
//! The relay backs off (full jitter) while Convex stays down; it waits without counting attempts
//! while the circuit breaker is open. After `GATEWAY_OUTBOX_MAX_ATTEMPTS` failed deliveries, or at
//! once on an error that a retry cannot fix (a function error, a version mismatch, a refused
//! identity), an entry is dead-lettered with its reason. Admins requeue or discard entries.

mod local;
mod postgres;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use self::local::LocalOutbox;
use self::postgres::SharedOutbox;
use crate::shared::StateDb;

/// The outbox settings.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// `GATEWAY_OUTBOX`: queue writes while Convex is unreachable (only with the Convex adapter).
    pub enabled: bool,
    /// `GATEWAY_OUTBOX_MAX_ATTEMPTS`: failed deliveries before an entry is dead-lettered.
    pub max_attempts: u32,
    /// `GATEWAY_OUTBOX_MUTATIONS`: mutation paths (globs) the passthrough may queue.
    pub mutations: Vec<String>,
    /// The first backoff's ceiling between deliveries.
    pub backoff_base: Duration,
    /// The largest backoff between deliveries.
    pub backoff_cap: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_attempts: 50,
            mutations: Vec::new(),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
        }
    }
}

/// What a queued write calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Table writes, batches and transaction commits, through `gateway:apply`.
    Apply,
    /// An allow-listed mutation through the passthrough.
    Mutation,
    /// A verified inbound webhook, through `gateway:webhook` under the deploy key.
    Webhook,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Mutation => "mutation",
            Self::Webhook => "webhook",
        }
    }

    /// The kind a stored name stands for (`apply` for anything unknown, as before there were
    /// more kinds).
    pub(crate) fn parse(raw: &str) -> Self {
        match raw {
            "mutation" => Self::Mutation,
            "webhook" => Self::Webhook,
            _ => Self::Apply,
        }
    }
}

/// Where an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for delivery.
    Queued,
    /// Applied by Convex; `result` holds what it returned.
    Delivered,
    /// Given up; `lastError` says why. An admin may requeue it.
    Dead,
    /// Dropped by an admin; it will not be delivered.
    Discarded,
}

impl Status {
    /// The status as it appears in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Discarded => "discarded",
        }
    }

    /// Parses a status name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "queued" => Some(Self::Queued),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            "discarded" => Some(Self::Discarded),
            _ => None,
        }
    }
}

/// One outbox entry as callers and admins see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub outbox_id: String,
    pub status: Status,
    pub kind: Kind,
    /// The Convex function the write calls.
    pub path: String,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// When the write was accepted (ms since the epoch).
    pub created_at: i64,
    /// When the entry last changed (ms since the epoch).
    pub updated_at: i64,
    /// Why the last delivery failed, or why the entry is dead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// What Convex returned, once delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub result: Option<Value>,
    /// Who queued it (`user:<sub>` or `anonymous`).
    #[serde(skip)]
    pub caller: String,
}

/// A write to queue.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub caller: String,
    pub kind: Kind,
    pub path: String,
    pub args: Value,
    pub idempotency_key: String,
    /// `table/id` of every existing document the write touches.
    pub doc_keys: Vec<String>,
    pub identity: Option<Value>,
}

/// The head of the queue, as the relay needs it.
#[derive(Debug, Clone)]
pub struct Due {
    pub seq: i64,
    pub id: String,
    pub kind: Kind,
    pub path: String,
    pub args: Value,
    pub idempotency_key: String,
    pub identity: Option<Value>,
    pub attempts: u32,
    pub next_attempt_at: i64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The single replica's outbox file in the data folder.
pub const LOCAL_FILE: &str = "outbox.sqlite3";

/// How long the relay sleeps when nothing is queued (a new entry on this replica wakes it at
/// once; with the shared outbox, another replica's entry is seen within this time).
pub const IDLE: Duration = Duration::from_secs(1);

/// What the relay does next.
#[derive(Debug)]
pub enum Next {
    /// Deliver this entry.
    Due(Box<Due>),
    /// Nothing is due; look again after this long.
    Wait(Duration),
}

/// The durable queue, in the data folder or in the shared state store.
#[derive(Clone)]
pub struct Outbox {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Local(LocalOutbox),
    Shared(std::sync::Arc<SharedOutbox>),
}

/// Calls the method both backends have under the same name.
macro_rules! dispatch {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match &$self.backend {
            Backend::Local(outbox) => outbox.$method($($arg),*).await,
            Backend::Shared(outbox) => outbox.$method($($arg),*).await,
        }
    };
}

impl Outbox {
    /// Opens `outbox.sqlite3` in `data_dir` and loads the queued entries.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            backend: Backend::Local(LocalOutbox::open(data_dir)?),
        })
    }

    /// The queue in the shared state store; a claim holds an entry for `lease`.
    pub fn shared(db: StateDb, lease: Duration) -> Self {
        Self {
            backend: Backend::Shared(std::sync::Arc::new(SharedOutbox::new(db, lease))),
        }
    }

    /// Whether a queued entry touches any of `doc_keys` (a new write to them must queue
    /// behind it, or it would overtake it). When that cannot be known, it answers yes.
    pub async fn touches_pending(&self, doc_keys: &[String]) -> bool {
        match &self.backend {
            Backend::Local(local) => local.touches_pending(doc_keys),
            Backend::Shared(shared) => shared.touches_pending(doc_keys).await.unwrap_or(true),
        }
    }

    /// Queued entries (with the shared outbox: across replicas, counted at most a second ago).
    pub fn depth(&self) -> usize {
        match &self.backend {
            Backend::Local(local) => local.depth(),
            Backend::Shared(shared) => shared.depth(),
        }
    }

    /// How long the oldest queued entry has waited.
    pub fn oldest_age(&self) -> Option<Duration> {
        match &self.backend {
            Backend::Local(local) => local.oldest_age(),
            Backend::Shared(shared) => shared.oldest_age(),
        }
    }

    /// Stores `entry` durably and wakes the relay. Returns the new entry.
    pub async fn enqueue(&self, entry: NewEntry) -> anyhow::Result<Entry> {
        dispatch!(self.enqueue(entry))
    }

    /// One entry by id.
    pub async fn get(&self, id: &str) -> anyhow::Result<Option<Entry>> {
        dispatch!(self.get(id))
    }

    /// Entries in queue order, optionally of one status.
    pub async fn list(&self, status: Option<Status>, limit: usize) -> anyhow::Result<Vec<Entry>> {
        dispatch!(self.list(status, limit))
    }

    /// Counts by status.
    pub async fn counts(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        dispatch!(self.counts())
    }

    /// Moves a dead entry back to the queue with a fresh attempt count. `None` when there is no
    /// such entry; `Err(status)` when it is not dead.
    pub async fn requeue(&self, id: &str) -> anyhow::Result<Option<Result<Entry, Status>>> {
        match &self.backend {
            Backend::Local(local) => local.requeue(id).await,
            Backend::Shared(shared) => shared.transition(id, &[Status::Dead], Status::Queued).await,
        }
    }

    /// Drops a queued or dead entry.
    pub async fn discard(&self, id: &str) -> anyhow::Result<Option<Result<Entry, Status>>> {
        match &self.backend {
            Backend::Local(local) => local.discard(id).await,
            Backend::Shared(shared) => {
                shared
                    .transition(id, &[Status::Queued, Status::Dead], Status::Discarded)
                    .await
            }
        }
    }

    /// The next entry to deliver, or how long to wait: the head of the queue once it is due
    /// (one replica), or an entry claimed under a lease (the shared outbox).
    pub async fn next(&self) -> anyhow::Result<Next> {
        match &self.backend {
            Backend::Local(local) => {
                // The queue is mirrored in memory: an empty outbox costs no SQLite query.
                if local.depth() == 0 {
                    return Ok(Next::Wait(IDLE));
                }
                let Some(due) = local.head().await? else {
                    return Ok(Next::Wait(IDLE));
                };
                let now = now_ms();
                if due.next_attempt_at > now {
                    return Ok(Next::Wait(Duration::from_millis(
                        (due.next_attempt_at - now) as u64,
                    )));
                }
                Ok(Next::Due(Box::new(due)))
            }
            Backend::Shared(shared) => {
                shared.refresh_stats().await?;
                Ok(match shared.claim().await? {
                    Some(due) => Next::Due(Box::new(due)),
                    None if shared.depth() > 0 => Next::Wait(Duration::from_millis(200)),
                    None => Next::Wait(IDLE),
                })
            }
        }
    }

    /// Records a delivery: the attempt that delivered counts, and earlier errors are cleared.
    pub async fn delivered(&self, seq: i64, result: Value) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Local(local) => local.delivered(seq, result).await,
            Backend::Shared(shared) => {
                shared
                    .settle(seq, Status::Delivered, None, Some(result))
                    .await
            }
        }
    }

    /// Dead-letters an entry with its reason.
    pub async fn dead(&self, seq: i64, reason: String) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Local(local) => local.dead(seq, reason).await,
            Backend::Shared(shared) => shared.settle(seq, Status::Dead, Some(reason), None).await,
        }
    }

    /// Records a failed delivery (`counted`: whether it counts towards the attempt limit) and
    /// when to try again.
    pub async fn retry_later(
        &self,
        seq: i64,
        error: String,
        counted: bool,
        at: i64,
    ) -> anyhow::Result<()> {
        dispatch!(self.retry_later(seq, error, counted, at))
    }

    /// Deletes delivered and discarded entries settled before `before` (ms since the epoch).
    pub async fn purge(&self, before: i64) -> anyhow::Result<usize> {
        dispatch!(self.purge(before))
    }

    /// Waits until an entry is queued or requeued here, or `timeout` passes.
    pub async fn wait(&self, timeout: Duration) {
        dispatch!(self.wait(timeout))
    }
}
