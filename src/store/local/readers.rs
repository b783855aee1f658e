//! The reader threads: a few threads, each with its own read-only connection, fed from one
//! queue; WAL lets them read the last committed state while the writer works.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use anyhow::Context as _;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

use super::*;

/// Prepared statements kept per reader connection (rusqlite's default is 16).
pub(super) const READER_STATEMENT_CACHE: usize = 64;

// === impl ReaderPool ===

/// A read, run on a reader thread with its connection.
pub(super) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Read-only connections, each owned by its own thread, fed from one queue. A reader that
/// finishes a read takes the next queued one without being woken, and an idle reader is woken
/// only when a read arrives; under load most reads reach a reader that is already awake. (A
/// `spawn_blocking` per read woke a parked thread every time: measured at about a fifth of a
/// read by id's CPU.) The queue is as long as the reads in flight, which the open connections
/// and the request timeout bound.
pub(super) struct ReaderPool {
    pub(super) path: std::path::PathBuf,
    pub(super) mmap_bytes: u64,
    pub(super) queue: Arc<ReadQueue>,
    /// How many reader threads serve the queue.
    pub(super) size: usize,
}

pub(super) struct ReadQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

pub(super) struct QueueState {
    jobs: VecDeque<ReadJob>,
    /// Readers waiting for a job.
    idle: usize,
    /// Set when the store is dropped: readers finish the queue and exit.
    closed: bool,
}

impl ReaderPool {
    /// Opens `size` connections and starts a thread for each.
    pub(super) fn start(
        path: std::path::PathBuf,
        mmap_bytes: u64,
        size: usize,
    ) -> anyhow::Result<Self> {
        let pool = Self {
            path,
            mmap_bytes,
            size: size.max(1),
            queue: Arc::new(ReadQueue {
                state: Mutex::new(QueueState {
                    jobs: VecDeque::new(),
                    idle: 0,
                    closed: false,
                }),
                ready: Condvar::new(),
            }),
        };
        for n in 0..pool.size {
            let conn = pool.open()?;
            let queue = Arc::clone(&pool.queue);
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{n}"))
                .spawn(move || queue.serve(&conn))
                .context("starting a SQLite reader thread")?;
        }
        Ok(pool)
    }

    pub(super) fn open(&self) -> anyhow::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {} for reading", self.path.display()))?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        conn.execute_batch(&format!(
            "PRAGMA query_only = ON; PRAGMA mmap_size = {};",
            self.mmap_bytes
        ))?;
        // Query-planner stability: without it SQLite marks bound parameters that could sway
        // the plan (a list's `LIMIT ?`, its filter values next to an index-satisfied ORDER BY)
        // and re-prepares the cached statement on every new binding, which cost a full parse
        // and plan per list (about 12% of a list's CPU). The plans do not depend on values here:
        // there are no STAT4 statistics.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        // Lists compile one statement per filter and order shape; keep the common ones.
        conn.set_prepared_statement_cache_capacity(READER_STATEMENT_CACHE);
        Ok(conn)
    }

    /// Queues a read, waking a reader only if none is awake to take it.
    pub(super) fn submit(&self, job: ReadJob) -> Result<(), StoreError> {
        let mut state = self
            .queue
            .state
            .lock()
            .map_err(|_| StoreError::Unavailable("the SQLite readers have stopped".into()))?;
        if state.closed {
            return Err(StoreError::Unavailable("the store is closing".into()));
        }
        state.jobs.push_back(job);
        if state.idle > 0 {
            self.queue.ready.notify_one();
        }
        Ok(())
    }
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        if let Ok(mut state) = self.queue.state.lock() {
            state.closed = true;
        }
        self.queue.ready.notify_all();
    }
}

impl ReadQueue {
    /// A reader thread's loop: run queued reads until the pool is dropped. A read that panics
    /// drops its reply (its request answers 500) and the reader goes on.
    fn serve(&self, conn: &Connection) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn)));
                state = match self.state.lock() {
                    Ok(state) => state,
                    Err(_) => return,
                };
                continue;
            }
            if state.closed {
                return;
            }
            state.idle += 1;
            state = match self.ready.wait(state) {
                Ok(state) => state,
                Err(_) => return,
            };
            state.idle -= 1;
        }
    }
}
