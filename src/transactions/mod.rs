//! Interactive transactions: staged writes kept in the gateway, committed through the store's
//! atomic batch with optimistic concurrency.
//!
//! A transaction records the version of every document it reads and keeps an overlay of the
//! documents it writes (staged inserts get provisional ids). Commit turns that into one batch:
//! a `check` of every read at its recorded version, then the staged writes in order, with
//! provisional ids turned into `$ref`s. If any document changed since it was read, the check
//! fails and nothing is applied. The same path serves every adapter.
//!
//! This module holds the open transactions ([`TxManager`]); `staged` reads and stages table
//! operations inside one. Committing goes through the write path (`documents`).

mod staged;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorCode};
use crate::store::{DocId, Document, Fields, Precondition, TableName, WriteOp};

/// The most transactions one caller may have open.
pub const MAX_OPEN_PER_CALLER: usize = 8;
/// How long an expired transaction's id keeps answering 410 instead of 404.
const EXPIRED_MEMORY: Duration = Duration::from_secs(3600);

/// The transaction a request runs in (`X-Transaction-Id`), resolved by the scoping middleware
/// once the caller is known.
#[derive(Debug, Clone)]
pub struct TxScope {
    pub id: String,
    pub owner: String,
}

/// A staged write, in the order it was made.
#[derive(Debug, Clone)]
pub enum Staged {
    Insert {
        table: TableName,
        provisional: String,
        fields: Fields,
    },
    Patch {
        table: TableName,
        id: String,
        patch: Fields,
    },
    Replace {
        table: TableName,
        id: String,
        fields: Fields,
    },
    Delete {
        table: TableName,
        id: String,
    },
}

/// One open transaction.
#[derive(Debug)]
pub struct Transaction {
    pub id: String,
    pub owner: String,
    pub started: Instant,
    pub expires: Instant,
    /// Milliseconds since the Unix epoch when it expires.
    pub expires_at: u64,
    pub staged: Vec<Staged>,
    /// The version each document had when the transaction first read it.
    pub reads: HashMap<(TableName, String), u64>,
    /// The transaction's own view of the documents it wrote; `None` means deleted.
    pub overlay: HashMap<(TableName, String), Option<Document>>,
    /// The documents as the transaction first read them from the store.
    pub base: HashMap<(TableName, String), Document>,
    inserts: usize,
}

impl Transaction {
    /// The transaction's view of a document, if it wrote it.
    pub fn view(&self, table: &TableName, id: &str) -> Option<&Option<Document>> {
        self.overlay.get(&(table.clone(), id.to_owned()))
    }

    /// Records the version of a document read from the store (the first read counts).
    pub fn record_read(&mut self, table: &TableName, doc: &Document) {
        let key = (table.clone(), doc.id.clone());
        if !self.overlay.contains_key(&key) {
            self.reads.entry(key.clone()).or_insert(doc.version);
            self.base.entry(key).or_insert_with(|| doc.clone());
        }
    }

    /// The next provisional id for a staged insert.
    pub fn provisional_id(&mut self) -> String {
        self.inserts += 1;
        format!("tx-{}-{}", self.id, self.inserts - 1)
    }

    /// Whether `id` is a provisional id of this transaction.
    pub fn is_provisional(&self, id: &str) -> bool {
        id.strip_prefix("tx-")
            .and_then(|rest| rest.strip_prefix(self.id.as_str()))
            .is_some_and(|rest| rest.starts_with('-'))
    }

    /// The batch that commits this transaction: checks of every read, then the writes. Also
    /// returns, for each staged write, the index of its operation in the batch.
    pub fn commit_batch(&self) -> (Vec<WriteOp>, Vec<usize>) {
        let mut ops: Vec<WriteOp> = self
            .reads
            .iter()
            .map(|((table, id), version)| WriteOp::Check {
                table: table.clone(),
                id: DocId::Id(id.clone()),
                precondition: Precondition::VersionIn(vec![*version]),
            })
            .collect();
        let mut provisional: HashMap<String, usize> = HashMap::new();
        let mut positions = Vec::with_capacity(self.staged.len());
        let target = |id: &str, provisional: &HashMap<String, usize>| match provisional.get(id) {
            Some(index) => DocId::Ref(*index),
            None => DocId::Id(id.to_owned()),
        };
        for staged in &self.staged {
            positions.push(ops.len());
            let op = match staged {
                Staged::Insert {
                    table,
                    provisional: pid,
                    fields,
                } => {
                    provisional.insert(pid.clone(), ops.len());
                    WriteOp::Insert {
                        table: table.clone(),
                        fields: with_refs(fields, &provisional),
                    }
                }
                Staged::Patch { table, id, patch } => WriteOp::Patch {
                    table: table.clone(),
                    id: target(id, &provisional),
                    patch: with_refs(patch, &provisional),
                    precondition: None,
                },
                Staged::Replace { table, id, fields } => WriteOp::Replace {
                    table: table.clone(),
                    id: target(id, &provisional),
                    fields: with_refs(fields, &provisional),
                    precondition: None,
                },
                Staged::Delete { table, id } => WriteOp::Delete {
                    table: table.clone(),
                    id: target(id, &provisional),
                    precondition: None,
                },
            };
            ops.push(op);
        }
        (ops, positions)
    }
}

/// Provisional ids inside a document become `{"$ref": "N"}`, resolved at commit.
fn with_refs(fields: &Fields, provisional: &HashMap<String, usize>) -> Fields {
    fn walk(value: &Value, provisional: &HashMap<String, usize>) -> Value {
        match value {
            Value::String(s) => match provisional.get(s) {
                Some(index) => {
                    let mut reference = Map::new();
                    reference.insert("$ref".into(), Value::String(index.to_string()));
                    Value::Object(reference)
                }
                None => value.clone(),
            },
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), walk(v, provisional)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| walk(v, provisional)).collect())
            }
            other => other.clone(),
        }
    }
    fields
        .iter()
        .map(|(k, v)| (k.clone(), walk(v, provisional)))
        .collect()
}

/// Why a transaction could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxError {
    /// No such transaction for this caller.
    NotFound,
    /// It expired and was rolled back.
    Expired,
    /// The caller has too many open.
    TooMany,
}

impl From<TxError> for ApiError {
    fn from(err: TxError) -> Self {
        match err {
            TxError::NotFound => ApiError::new(
                ErrorCode::TransactionNotFound,
                "no open transaction with this id belongs to you",
            ),
            TxError::Expired => ApiError::new(
                ErrorCode::TransactionExpired,
                "the transaction expired (GATEWAY_TX_TTL_SECONDS) and was rolled back",
            ),
            TxError::TooMany => ApiError::new(
                ErrorCode::TooManyTransactions,
                format!("at most {MAX_OPEN_PER_CALLER} transactions may be open per caller"),
            ),
        }
    }
}

/// A transaction that just ended, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Committed,
    RolledBack,
    Conflict,
    Expired,
}

/// All open transactions.
#[derive(Debug)]
pub struct TxManager {
    open: Mutex<HashMap<String, Transaction>>,
    expired: Mutex<HashMap<String, Instant>>,
    ttl: Duration,
    /// The most writes one transaction may stage (`GATEWAY_TX_MAX_OPS`).
    max_ops: usize,
    /// Expirations not yet counted in metrics.
    uncounted_expired: std::sync::atomic::AtomicUsize,
}

impl TxManager {
    /// A manager whose transactions live for `ttl` and stage at most `max_ops` writes.
    pub fn new(ttl: Duration, max_ops: usize) -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
            expired: Mutex::new(HashMap::new()),
            ttl,
            max_ops,
            uncounted_expired: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Opens a transaction for `owner`; returns its id and expiry (ms since the epoch).
    pub fn begin(&self, owner: &str) -> Result<(String, u64), TxError> {
        self.sweep();
        let mut open = self.open.lock().map_err(|_| TxError::NotFound)?;
        if open.values().filter(|t| t.owner == owner).count() >= MAX_OPEN_PER_CALLER {
            return Err(TxError::TooMany);
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let expires_at = now_ms + self.ttl.as_millis() as u64;
        open.insert(
            id.clone(),
            Transaction {
                id: id.clone(),
                owner: owner.to_owned(),
                started: Instant::now(),
                expires: Instant::now() + self.ttl,
                expires_at,
                staged: Vec::new(),
                reads: HashMap::new(),
                overlay: HashMap::new(),
                base: HashMap::new(),
                inserts: 0,
            },
        );
        Ok((id, expires_at))
    }

    /// Runs `f` on the caller's open transaction `id`.
    pub fn with<T>(
        &self,
        id: &str,
        owner: &str,
        f: impl FnOnce(&mut Transaction) -> T,
    ) -> Result<T, TxError> {
        let mut open = self.open.lock().map_err(|_| TxError::NotFound)?;
        match open.get_mut(id) {
            Some(tx) if tx.owner != owner => Err(TxError::NotFound),
            Some(tx) if Instant::now() >= tx.expires => {
                open.remove(id);
                self.remember_expired(id);
                Err(TxError::Expired)
            }
            Some(tx) => Ok(f(tx)),
            None if self.was_expired(id) => Err(TxError::Expired),
            None => Err(TxError::NotFound),
        }
    }

    /// Removes the caller's transaction `id` and returns it (for commit or rollback).
    pub fn take(&self, id: &str, owner: &str) -> Result<Transaction, TxError> {
        self.with(id, owner, |_| ())?;
        self.open
            .lock()
            .map_err(|_| TxError::NotFound)?
            .remove(id)
            .ok_or(TxError::NotFound)
    }

    /// Rolls back every expired transaction; returns how many.
    pub fn sweep(&self) -> usize {
        let Ok(mut open) = self.open.lock() else {
            return 0;
        };
        let now = Instant::now();
        let expired: Vec<String> = open
            .values()
            .filter(|t| now >= t.expires)
            .map(|t| t.id.clone())
            .collect();
        for id in &expired {
            open.remove(id);
            self.remember_expired(id);
        }
        expired.len()
    }

    /// Expirations since the last call (for the `expired` metric).
    pub fn take_expired_count(&self) -> usize {
        self.uncounted_expired
            .swap(0, std::sync::atomic::Ordering::Relaxed)
    }

    fn remember_expired(&self, id: &str) {
        self.uncounted_expired
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut expired) = self.expired.lock() {
            let now = Instant::now();
            expired.retain(|_, at| now.duration_since(*at) < EXPIRED_MEMORY);
            expired.insert(id.to_owned(), now);
        }
    }

    fn was_expired(&self, id: &str) -> bool {
        self.expired.lock().is_ok_and(|e| e.contains_key(id))
    }

    /// Open transactions: id, owner, age and staged operations.
    pub fn snapshot(&self) -> Vec<(String, String, Duration, usize)> {
        self.open
            .lock()
            .map(|open| {
                open.values()
                    .map(|t| {
                        (
                            t.id.clone(),
                            t.owner.clone(),
                            t.started.elapsed(),
                            t.staged.len(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many are open.
    pub fn active(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or_default()
    }
}
