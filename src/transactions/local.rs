//! Open transactions in this process's memory: one replica's, lost on restart (as the
//! transaction's TTL would lose them anyway).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::{EXPIRED_MEMORY, MAX_OPEN_PER_CALLER, Transaction, TxError, now_ms};

/// The map of open transactions, and the ids of recently expired ones.
#[derive(Debug, Default)]
pub(super) struct LocalTxs {
    open: Mutex<HashMap<String, Transaction>>,
    expired: Mutex<HashMap<String, Instant>>,
    /// Expirations not yet counted in metrics.
    uncounted_expired: AtomicUsize,
}

impl LocalTxs {
    pub(super) fn begin(&self, tx: Transaction) -> Result<(), TxError> {
        let mut open = self.open.lock().map_err(|_| TxError::NotFound)?;
        if open.values().filter(|t| t.owner == tx.owner).count() >= MAX_OPEN_PER_CALLER {
            return Err(TxError::TooMany);
        }
        open.insert(tx.id.clone(), tx);
        Ok(())
    }

    /// Runs `f` on the caller's transaction.
    pub(super) fn with<T>(
        &self,
        id: &str,
        owner: &str,
        f: impl FnOnce(&mut Transaction) -> T,
    ) -> Result<T, TxError> {
        let mut open = self.open.lock().map_err(|_| TxError::NotFound)?;
        match open.get_mut(id) {
            Some(tx) if tx.owner != owner => Err(TxError::NotFound),
            Some(tx) if tx.expired(now_ms()) => {
                open.remove(id);
                self.remember_expired(id);
                Err(TxError::Expired)
            }
            Some(tx) => Ok(f(tx)),
            None if self.was_expired(id) => Err(TxError::Expired),
            None => Err(TxError::NotFound),
        }
    }

    pub(super) fn take(&self, id: &str, owner: &str) -> Result<Transaction, TxError> {
        self.with(id, owner, |_| ())?;
        self.open
            .lock()
            .map_err(|_| TxError::NotFound)?
            .remove(id)
            .ok_or(TxError::NotFound)
    }

    /// Rolls back every expired transaction; answers how many.
    pub(super) fn sweep(&self) -> usize {
        let Ok(mut open) = self.open.lock() else {
            return 0;
        };
        let now = now_ms();
        let expired: Vec<String> = open
            .values()
            .filter(|t| t.expired(now))
            .map(|t| t.id.clone())
            .collect();
        for id in &expired {
            open.remove(id);
            self.remember_expired(id);
        }
        expired.len()
    }

    /// Expirations since the last call.
    pub(super) fn take_expired_count(&self) -> usize {
        self.uncounted_expired.swap(0, Ordering::Relaxed)
    }

    fn remember_expired(&self, id: &str) {
        self.uncounted_expired.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut expired) = self.expired.lock() {
            let now = Instant::now();
            expired.retain(|_, at| now.duration_since(*at) < EXPIRED_MEMORY);
            expired.insert(id.to_owned(), now);
        }
    }

    fn was_expired(&self, id: &str) -> bool {
        self.expired.lock().is_ok_and(|e| e.contains_key(id))
    }

    pub(super) fn snapshot(&self) -> Vec<(String, String, u64, usize)> {
        self.open
            .lock()
            .map(|open| {
                open.values()
                    .map(|t| (t.id.clone(), t.owner.clone(), t.started_at, t.staged.len()))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn active(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or_default()
    }
}
