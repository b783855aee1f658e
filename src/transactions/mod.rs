//! Interactive transactions: staged writes kept in the gateway, committed through the store's
//! atomic batch with optimistic concurrency.
//!
//! A transaction records the version of every document it reads and keeps an overlay of the
//! documents it writes (staged inserts get provisional ids). Commit turns that into one batch:
//! a `check` of every read at its recorded version, then the staged writes in order, with
//! provisional ids turned into `$ref`s. If any document changed since it was read, the check
//! fails and nothing is applied. The same path serves every adapter.
//!
//! This module holds the transaction and its commit batch; `manager` keeps the open ones, in
//! memory (`local`) or, with `GATEWAY_STATE_URL`, in the shared state store (`postgres`), where
//! a transaction begun on one replica is read, written and committed on any; `staged` reads and
//! stages table operations inside one. Committing goes through the write path (`documents`).

mod local;
mod manager;
mod pairs;
mod postgres;
mod staged;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::manager::TxManager;
use crate::error::{ApiError, ErrorCode};
use crate::store::{DocId, Document, Fields, Precondition, TableName, WriteOp};

/// The most transactions one caller may have open.
pub const MAX_OPEN_PER_CALLER: usize = 8;
/// How long an expired transaction's id keeps answering 410 instead of 404.
const EXPIRED_MEMORY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The transaction a request runs in (`X-Transaction-Id`), resolved by the scoping middleware
/// once the caller is known.
#[derive(Debug, Clone)]
pub struct TxScope {
    pub id: String,
    pub owner: String,
}

/// A staged write, in the order it was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
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

/// One open transaction. It serializes whole, as the shared state store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub owner: String,
    /// Milliseconds since the Unix epoch when it began.
    pub started_at: u64,
    /// Milliseconds since the Unix epoch when it expires.
    pub expires_at: u64,
    pub staged: Vec<Staged>,
    /// The version each document had when the transaction first read it.
    #[serde(with = "pairs")]
    pub reads: HashMap<(TableName, String), u64>,
    /// The transaction's own view of the documents it wrote; `None` means deleted.
    #[serde(with = "pairs")]
    pub overlay: HashMap<(TableName, String), Option<Document>>,
    /// The documents as the transaction first read them from the store.
    #[serde(with = "pairs")]
    pub base: HashMap<(TableName, String), Document>,
    inserts: usize,
}

impl Transaction {
    /// A new, empty transaction.
    pub fn new(id: String, owner: String, started_at: u64, expires_at: u64) -> Self {
        Self {
            id,
            owner,
            started_at,
            expires_at,
            staged: Vec::new(),
            reads: HashMap::new(),
            overlay: HashMap::new(),
            base: HashMap::new(),
            inserts: 0,
        }
    }

    /// Whether it has expired at `now` (ms since the epoch).
    pub fn expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

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
        // Checks in a fixed order, so two commits lock the rows they read in the same order.
        let mut reads: Vec<_> = self.reads.iter().collect();
        reads.sort_by(|a, b| a.0.cmp(b.0));
        let mut ops: Vec<WriteOp> = reads
            .into_iter()
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
    /// The shared state store that keeps it cannot be reached.
    Unavailable(String),
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
            TxError::Unavailable(reason) => ApiError::new(
                ErrorCode::StateStoreUnavailable,
                format!("the shared state store that keeps transactions does not answer: {reason}"),
            ),
        }
    }
}
