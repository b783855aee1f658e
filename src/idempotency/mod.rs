//! Idempotency keys (Stripe's semantics, IETF `draft-ietf-httpapi-idempotency-key-header`):
//! the first response to a write carrying `Idempotency-Key` is stored per caller and key, and a
//! repeat with the same payload gets it back instead of writing again. The same key with another
//! payload answers 422; one still in flight answers 409. Keys expire after
//! `GATEWAY_IDEMPOTENCY_TTL`. The records live in `idempotency.sqlite3` in the data folder, or, with
//! `GATEWAY_STATE_URL`, in the shared state store (`postgres`), where a key claimed on one replica
//! is seen by all.

mod postgres;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use crate::auth::signer::unix_now;
use crate::shared::StateDb;
use crate::sqlite::SmallDb;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS idempotency (
    caller      TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    status      INTEGER,            -- NULL while the first request is in flight
    headers     TEXT,
    body        BLOB,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at);
";

/// A row: fingerprint, then status, headers and body once the first request finished.
type Record = (String, Option<u16>, Option<String>, Option<Vec<u8>>);

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First use: run the request, then `complete` or `abandon`.
    Fresh,
    /// Seen and finished: answer this.
    Replay(StoredResponse),
    /// Seen with a different payload.
    Mismatch,
    /// Seen and still running.
    InFlight,
}

/// The key records.
#[derive(Clone)]
pub struct IdempotencyStore {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Local(LocalKeys),
    Shared(postgres::SharedKeys),
}

/// Calls the method both backends have under the same name.
macro_rules! dispatch {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match &$self.backend {
            Backend::Local(keys) => keys.$method($($arg),*).await,
            Backend::Shared(keys) => keys.$method($($arg),*).await,
        }
    };
}

impl IdempotencyStore {
    /// Opens `idempotency.sqlite3` in `data_dir`.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            backend: Backend::Local(LocalKeys::open(data_dir)?),
        })
    }

    /// Keys in the shared state store. A claim not completed within `lease` (a replica that
    /// died mid-request) may be taken over by a retry.
    pub fn shared(db: StateDb, lease: Duration) -> Self {
        Self {
            backend: Backend::Shared(postgres::SharedKeys::new(db, lease)),
        }
    }

    /// Claims `key` for `caller` with the request's `fingerprint`, or says why not.
    pub async fn begin(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> anyhow::Result<Begin> {
        dispatch!(self.begin(caller, key, fingerprint, ttl))
    }

    /// Stores the response of a fresh request.
    pub async fn complete(
        &self,
        caller: &str,
        key: &str,
        response: StoredResponse,
    ) -> anyhow::Result<()> {
        dispatch!(self.complete(caller, key, response))
    }

    /// Forgets a fresh request that produced nothing worth replaying (a transient failure, or a
    /// request that never finished), so a retry runs again.
    pub async fn abandon(&self, caller: &str, key: &str) -> anyhow::Result<()> {
        dispatch!(self.abandon(caller, key))
    }

    /// Deletes expired keys (the shared store's sweeper; one replica at a time runs it, and the
    /// local store sweeps as it goes).
    pub async fn sweep(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Local(_) => Ok(()),
            Backend::Shared(keys) => keys.sweep().await,
        }
    }
}

/// The records in `idempotency.sqlite3`.
#[derive(Clone)]
struct LocalKeys {
    db: SmallDb,
    last_cleanup: Arc<Mutex<Instant>>,
}

impl LocalKeys {
    fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let db = SmallDb::open(data_dir, "idempotency.sqlite3", SCHEMA, |conn| {
            // Requests that were in flight when the process stopped will never finish.
            conn.execute("DELETE FROM idempotency WHERE status IS NULL", [])?;
            Ok(())
        })?;
        Ok(Self {
            db,
            last_cleanup: Arc::new(Mutex::new(Instant::now())),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.db.run(f).await?
    }

    async fn begin(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> anyhow::Result<Begin> {
        let cleanup = self
            .last_cleanup
            .lock()
            .map(|mut last| {
                let due = last.elapsed() > Duration::from_secs(60);
                if due {
                    *last = Instant::now();
                }
                due
            })
            .unwrap_or(false);
        let (caller, key, fingerprint) =
            (caller.to_owned(), key.to_owned(), fingerprint.to_owned());
        self.with_conn(move |conn| {
            let now = unix_now() as i64;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if cleanup {
                tx.execute("DELETE FROM idempotency WHERE expires_at <= ?1 AND status IS NOT NULL", [now])?;
            }
            tx.execute(
                "DELETE FROM idempotency WHERE caller = ?1 AND key = ?2 AND expires_at <= ?3",
                params![caller, key, now],
            )?;
            let row: Option<Record> = tx
                .query_row(
                    "SELECT fingerprint, status, headers, body FROM idempotency WHERE caller = ?1 AND key = ?2",
                    params![caller, key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let outcome = match row {
                None => {
                    tx.execute(
                        "INSERT INTO idempotency (caller, key, fingerprint, expires_at) VALUES (?1, ?2, ?3, ?4)",
                        params![caller, key, fingerprint, now + ttl.as_secs() as i64],
                    )?;
                    Begin::Fresh
                }
                Some((stored, _, _, _)) if stored != fingerprint => Begin::Mismatch,
                Some((_, None, _, _)) => Begin::InFlight,
                Some((_, Some(status), headers, body)) => Begin::Replay(StoredResponse {
                    status,
                    headers: serde_json::from_str(headers.as_deref().unwrap_or("[]"))?,
                    body: body.unwrap_or_default(),
                }),
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn complete(
        &self,
        caller: &str,
        key: &str,
        response: StoredResponse,
    ) -> anyhow::Result<()> {
        let (caller, key) = (caller.to_owned(), key.to_owned());
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE idempotency SET status = ?3, headers = ?4, body = ?5 WHERE caller = ?1 AND key = ?2",
                params![caller, key, response.status, serde_json::to_string(&response.headers)?, response.body],
            )?;
            Ok(())
        })
        .await
    }

    async fn abandon(&self, caller: &str, key: &str) -> anyhow::Result<()> {
        let (caller, key) = (caller.to_owned(), key.to_owned());
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM idempotency WHERE caller = ?1 AND key = ?2 AND status IS NULL",
                params![caller, key],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16) -> StoredResponse {
        StoredResponse {
            status,
            headers: vec![("etag".into(), "\"1\"".into())],
            body: b"{}".to_vec(),
        }
    }

    #[tokio::test]
    async fn keys_replay_refuse_mismatches_and_expire() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = IdempotencyStore::open(dir.path()).unwrap();
        let ttl = Duration::from_secs(60);
        assert_eq!(
            store.begin("alice", "k", "f1", ttl).await.unwrap(),
            Begin::Fresh
        );
        assert_eq!(
            store.begin("alice", "k", "f1", ttl).await.unwrap(),
            Begin::InFlight
        );
        assert_eq!(
            store.begin("alice", "k", "f2", ttl).await.unwrap(),
            Begin::Mismatch
        );
        store.complete("alice", "k", response(201)).await.unwrap();
        assert_eq!(
            store.begin("alice", "k", "f1", ttl).await.unwrap(),
            Begin::Replay(response(201))
        );
        // Keys belong to their caller.
        assert_eq!(
            store.begin("bob", "k", "f2", ttl).await.unwrap(),
            Begin::Fresh
        );
        store.abandon("bob", "k").await.unwrap();
        assert_eq!(
            store.begin("bob", "k", "f2", ttl).await.unwrap(),
            Begin::Fresh
        );
        // An expired key starts over.
        assert_eq!(
            store
                .begin("carol", "k", "f", Duration::ZERO)
                .await
                .unwrap(),
            Begin::Fresh
        );
        store.complete("carol", "k", response(200)).await.unwrap();
        assert_eq!(
            store.begin("carol", "k", "other", ttl).await.unwrap(),
            Begin::Fresh
        );
    }
}
