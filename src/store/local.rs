//! The embedded store: documents in one SQLite database (rusqlite, bundled) in the data folder.
//!
//! Concurrency model:
//! - **One writer thread** owns the only read-write connection. Write batches reach it over a
//!   channel. It groups the batches that are waiting into one SQLite transaction (group commit),
//!   gives each batch its own savepoint so that one failing batch rolls back alone, and answers
//!   only after `COMMIT` has returned. With `synchronous=FULL` in WAL mode an acknowledged write
//!   is on disk and survives `kill -9` or a power cut.
//! - **Readers** are a few threads, each with its own read-only connection, fed from one queue.
//!   WAL lets them read the last committed state while the writer works.
//!
//! Filters and order become SQL over `json_extract`, so SQLite does the filtering and sorting, and
//! expression indexes can serve them. Pages use keyset cursors on the order keys plus an insert
//! sequence number, so concurrent inserts never make a page skip or repeat a document.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::config::DbConfig;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::{
    Document, DocumentStore, FieldPath, Fields, Filter, FilterOp, ListQuery, Literal, OrderKey,
    Page, Precondition, RawDocument, RawPage, SortDirection, StoreCtx, StoreError, TableName,
    WriteOp, WriteOutcome, document_json, merge_patch, normalize_numbers, resolve_field_refs,
    validate_fields,
};

/// The file name of the database inside the data folder.
pub const DB_FILE: &str = "gateway.sqlite3";
/// The most write batches the writer commits together.
const MAX_GROUP: usize = 128;
/// Write jobs waiting for the writer thread at most: eight full groups.
const WRITER_QUEUE: usize = 8 * MAX_GROUP;
/// How long a connection waits on a lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 5_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl           TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    creation_time REAL    NOT NULL,
    version       INTEGER NOT NULL,
    doc           TEXT    NOT NULL CHECK (json_valid(doc) AND json_type(doc) = 'object'),
    UNIQUE (tbl, id)
);
CREATE INDEX IF NOT EXISTS documents_by_creation ON documents (tbl, creation_time, seq);
PRAGMA user_version = 1;
";

/// What one write batch produced: its outcomes, or the error that undid it.
type JobResult = Result<Vec<WriteOutcome>, StoreError>;
type Reply = oneshot::Sender<JobResult>;

struct WriteJob {
    ops: Vec<WriteOp>,
    reply: Reply,
}

/// The embedded SQLite adapter.
pub struct LocalStore {
    writer: mpsc::Sender<WriteJob>,
    readers: Arc<ReaderPool>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.readers.path)
            .finish_non_exhaustive()
    }
}

/// A secondary index declared with `GATEWAY_INDEXES`: `table(field, field, …)`. Equality
/// filters on its leading fields and an order on the next ones are served from it, instead of a
/// scan of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub table: TableName,
    pub fields: Vec<FieldPath>,
}

impl IndexSpec {
    /// Parses `;`-separated `table(field, field)` declarations.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, String> {
        raw.split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|decl| {
                let bad = || format!("`{decl}` must look like `table(field, field)`");
                let (table, rest) = decl.split_once('(').ok_or_else(bad)?;
                let fields = rest.trim().strip_suffix(')').ok_or_else(bad)?;
                let table = TableName::parse(table.trim())?;
                let fields = fields
                    .split(',')
                    .map(|f| FieldPath::parse(f.trim()))
                    .collect::<Result<Vec<_>, _>>()?;
                if fields.is_empty() || fields.len() > 8 {
                    return Err(format!("`{decl}` must name 1 to 8 fields"));
                }
                Ok(Self { table, fields })
            })
            .collect()
    }

    /// The index's columns: the table, each field as the same expression queries use, and the
    /// insertion sequence that breaks ties.
    fn columns(&self) -> String {
        let fields: Vec<String> = self.fields.iter().map(field_expr).collect();
        format!("tbl, {}, seq", fields.join(", "))
    }

    /// A stable name for these columns on this table.
    fn name(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(format!("{}|{}", self.table, self.columns()));
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("gwx_{}_{hex}", self.table)
    }
}

/// Creates the declared indexes that are missing and drops the ones no longer declared (so
/// writes do not keep paying for them). Index names start with `gwx_`.
fn sync_indexes(conn: &Connection, indexes: &[IndexSpec]) -> anyhow::Result<()> {
    let wanted: Vec<(String, &IndexSpec)> = indexes.iter().map(|i| (i.name(), i)).collect();
    let existing: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'gwx\\_%' ESCAPE '\\'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for name in &existing {
        if !wanted.iter().any(|(w, _)| w == name) {
            tracing::info!(index = %name, "dropping an index no longer in GATEWAY_INDEXES");
            conn.execute_batch(&format!("DROP INDEX IF EXISTS \"{name}\""))?;
        }
    }
    for (name, spec) in wanted {
        if !existing.contains(&name) {
            let started = std::time::Instant::now();
            conn.execute_batch(&format!(
                "CREATE INDEX IF NOT EXISTS \"{name}\" ON documents ({})",
                spec.columns()
            ))
            .with_context(|| format!("creating the index {name} for GATEWAY_INDEXES"))?;
            tracing::info!(index = %name, table = %spec.table, elapsed_ms = started.elapsed().as_millis() as u64, "created an index");
        }
    }
    Ok(())
}

/// How the embedded store is opened.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Secondary indexes (`GATEWAY_INDEXES`).
    pub indexes: Vec<IndexSpec>,
    /// How much of the database file readers map into memory (`GATEWAY_SQLITE_MMAP_BYTES`);
    /// 0 reads through SQLite's own page cache only.
    pub mmap_bytes: u64,
    /// Reader threads, each with its own connection (`GATEWAY_SQLITE_READERS`).
    pub readers: usize,
}

/// Reader threads by default: one per available core, and at least two, so that one long scan
/// does not hold up every read. Reads are CPU work; more readers than cores only adds switching
/// (measured: two readers instead of four on two cores made lists 24% and reads by id 7%
/// faster under load).
pub fn default_readers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

/// Readers map up to this much of the database by default: reads of a database larger than
/// SQLite's per-connection page cache (2 MB) then come from the shared OS page cache without a
/// copy and a system call per page. It is address space, not memory: pages are only resident
/// once read, and the kernel can drop them.
pub const DEFAULT_MMAP_BYTES: u64 = 256 * 1024 * 1024;

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            indexes: Vec::new(),
            mmap_bytes: DEFAULT_MMAP_BYTES,
            readers: default_readers(),
        }
    }
}

impl LocalStore {
    /// Opens (creating if needed) the database in `data_dir` and starts the writer thread.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Self::open_with(data_dir, &LocalOptions::default())
    }

    /// Like [`Self::open`], with options.
    pub fn open_with(data_dir: &Path, options: &LocalOptions) -> anyhow::Result<Self> {
        let indexes = &options.indexes;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data folder {}", data_dir.display()))?;
        let path = data_dir.join(DB_FILE);
        let conn = Connection::open(&path)
            .with_context(|| format!("opening database {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        anyhow::ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "SQLite refused WAL mode (got {mode}) for {}",
            path.display()
        );
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
        conn.execute_batch(SCHEMA)
            .context("creating the document schema")?;
        sync_indexes(&conn, indexes)?;
        let last_creation_time: f64 = conn.query_row(
            "SELECT COALESCE(MAX(creation_time), 0) FROM documents",
            [],
            |r| r.get(0),
        )?;

        // Bounded: under overload, writers wait for room (within the request's deadline) instead
        // of queueing without limit.
        let (tx, rx) = mpsc::channel(WRITER_QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                Writer {
                    conn,
                    last_creation_time,
                }
                .run(rx);
            })
            .context("starting the SQLite writer thread")?;

        // Every reader opens now, so a broken database fails at startup rather than on a request.
        let readers = Arc::new(ReaderPool::start(
            path,
            options.mmap_bytes,
            options.readers,
        )?);
        Ok(Self {
            writer: tx,
            readers,
        })
    }

    /// One page of a list, each item read from its row by `item`, and the next page's cursor.
    async fn page<T: Send + 'static>(
        &self,
        table: &TableName,
        query: &ListQuery,
        item: RowReader<T>,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        let plan = ListPlan::build(table, query)?;
        let limit = query.limit as usize;
        self.read(move |conn| plan.run(conn, limit, item)).await
    }

    /// Runs `f` on a reader thread and waits for its answer.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.readers.submit(Box::new(move |conn| {
            // A request that gave up (timed out, client gone) costs no read.
            if !reply.is_closed() {
                let _ = reply.send(f(conn));
            }
        }))?;
        answer.await.map_err(|_| {
            StoreError::Internal(anyhow::anyhow!("a SQLite reader failed during a read"))
        })?
    }
}

#[async_trait]
impl DocumentStore for LocalStore {
    fn adapter(&self) -> &'static str {
        "local"
    }

    async fn list(
        &self,
        _: &StoreCtx,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let (items, next_cursor) = self.page(table, query, row_to_document).await?;
        Ok(Page { items, next_cursor })
    }

    async fn list_json(
        &self,
        _: &StoreCtx,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<RawPage, StoreError> {
        let (items, next_cursor) = self.page(table, query, row_to_json).await?;
        Ok(RawPage { items, next_cursor })
    }

    async fn get(
        &self,
        _: &StoreCtx,
        table: &TableName,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        let (table, id) = (table.to_string(), id.to_owned());
        self.read(move |conn| fetch(conn, &table, &id).map(|row| row.map(|(_, doc)| doc)))
            .await
    }

    async fn get_json(
        &self,
        _: &StoreCtx,
        table: &TableName,
        id: &str,
    ) -> Result<Option<RawDocument>, StoreError> {
        let (table, id) = (table.to_string(), id.to_owned());
        self.read(move |conn| {
            fetch_with(conn, &table, &id, row_to_raw_document).map(|row| row.map(|(_, doc)| doc))
        })
        .await
    }

    async fn apply(
        &self,
        _: &StoreCtx,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteJob { ops, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the SQLite writer stopped before answering".into())
        })?
    }

    async fn health(&self) -> Result<(), StoreError> {
        if self.writer.is_closed() {
            return Err(StoreError::Unavailable(
                "the SQLite writer has stopped".into(),
            ));
        }
        self.read(|conn| {
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|_| ())
            .map_err(internal)
        })
        .await
    }
}

/// Prepared statements kept per reader connection (rusqlite's default is 16).
const READER_STATEMENT_CACHE: usize = 64;

// === impl ReaderPool ===

/// A read, run on a reader thread with its connection.
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Read-only connections, each owned by its own thread, fed from one queue. A reader that
/// finishes a read takes the next queued one without being woken, and an idle reader is woken
/// only when a read arrives; under load most reads reach a reader that is already awake. (A
/// `spawn_blocking` per read woke a parked thread every time: measured at about a fifth of a
/// read by id's CPU.) The queue is as long as the reads in flight, which the open connections
/// and the request timeout bound.
struct ReaderPool {
    path: std::path::PathBuf,
    mmap_bytes: u64,
    queue: Arc<ReadQueue>,
    /// How many reader threads serve the queue.
    size: usize,
}

struct ReadQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

struct QueueState {
    jobs: VecDeque<ReadJob>,
    /// Readers waiting for a job.
    idle: usize,
    /// Set when the store is dropped: readers finish the queue and exit.
    closed: bool,
}

impl ReaderPool {
    /// Opens `size` connections and starts a thread for each.
    fn start(path: std::path::PathBuf, mmap_bytes: u64, size: usize) -> anyhow::Result<Self> {
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

    fn open(&self) -> anyhow::Result<Connection> {
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
    fn submit(&self, job: ReadJob) -> Result<(), StoreError> {
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

// === impl Writer ===

struct Writer {
    conn: Connection,
    /// `_creationTime` never goes backwards, even if the wall clock does.
    last_creation_time: f64,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<WriteJob>) {
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.commit_group(jobs);
        }
        tracing::debug!("SQLite writer stopped: every store handle is gone");
    }

    /// Runs each job under its own savepoint inside one transaction, commits, then answers.
    ///
    /// A job that fails is rolled back to its savepoint and answered with its error; the others
    /// still commit. If SQLite itself fails (a savepoint cannot be set or undone, or the commit
    /// fails), the transaction is in an unknown state: the whole group is rolled back and every
    /// job is told it was not applied.
    fn commit_group(&mut self, jobs: Vec<WriteJob>) {
        let saved_clock = self.last_creation_time;
        if let Err(err) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let message = format!("cannot start a write transaction: {err}");
            for job in jobs {
                let _ = job
                    .reply
                    .send(Err(StoreError::Unavailable(message.clone())));
            }
            return;
        }
        let mut answers = Vec::with_capacity(jobs.len());
        let mut fatal = None;
        for job in jobs {
            if fatal.is_some() {
                answers.push((job.reply, None));
                continue;
            }
            match self.run_job(job.ops) {
                Ok(result) => answers.push((job.reply, Some(result))),
                Err(err) => {
                    fatal = Some(err);
                    answers.push((job.reply, None));
                }
            }
        }
        let fatal = match fatal {
            Some(err) => Some(err),
            None => self.conn.execute_batch("COMMIT").err(),
        };
        if let Some(err) = fatal {
            tracing::error!(error = %err, "SQLite write failed; the whole group is rolled back");
            let _ = self.conn.execute_batch("ROLLBACK");
            self.last_creation_time = saved_clock;
            for (reply, _) in answers {
                let _ = reply.send(Err(StoreError::Unavailable(format!(
                    "the write was not applied: {err}"
                ))));
            }
            return;
        }
        for (reply, result) in answers {
            // The caller may have gone away (timeout, disconnect); the write stands regardless.
            if let Some(result) = result {
                let _ = reply.send(result);
            }
        }
    }

    /// Runs one job under a savepoint. The outer error means SQLite failed and the transaction
    /// can no longer be trusted; the inner one is the job's own failure, already rolled back.
    fn run_job(&mut self, ops: Vec<WriteOp>) -> Result<JobResult, rusqlite::Error> {
        let saved_clock = self.last_creation_time;
        self.conn.execute_batch("SAVEPOINT job")?;
        let mut outcomes = Vec::with_capacity(ops.len());
        for (index, op) in ops.into_iter().enumerate() {
            match self.run_op(op, &outcomes) {
                Ok(outcome) => outcomes.push(outcome),
                Err(err) => {
                    self.last_creation_time = saved_clock;
                    self.conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
                    return Ok(Err(err.at_op(index)));
                }
            }
        }
        self.conn.execute_batch("RELEASE job")?;
        Ok(Ok(outcomes))
    }

    fn run_op(
        &mut self,
        op: WriteOp,
        earlier: &[WriteOutcome],
    ) -> Result<WriteOutcome, StoreError> {
        match op {
            WriteOp::Insert { table, mut fields } => {
                resolve_field_refs(&mut fields, earlier)?;
                validate_fields(&fields).map_err(StoreError::InvalidDocument)?;
                normalize_numbers(&mut fields);
                let now = now_ms().max(self.last_creation_time);
                self.last_creation_time = now;
                let doc = Document {
                    id: uuid::Uuid::now_v7().simple().to_string(),
                    creation_time: now,
                    version: 1,
                    fields,
                };
                self.conn
                    .prepare_cached(
                        "INSERT INTO documents (tbl, id, creation_time, version, doc) VALUES (?1, ?2, ?3, 1, ?4)",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            table.as_str(),
                            doc.id,
                            doc.creation_time,
                            encode_fields(&doc.fields)
                        ])
                    })
                    .map_err(internal)?;
                Ok(WriteOutcome::Inserted(doc))
            }
            WriteOp::Patch {
                table,
                id,
                mut patch,
                precondition,
            } => {
                resolve_field_refs(&mut patch, earlier)?;
                validate_fields(&patch).map_err(StoreError::InvalidDocument)?;
                normalize_numbers(&mut patch);
                let id = id.resolve(earlier)?;
                let (seq, mut doc) = self.current(&table, &id, precondition.as_ref())?;
                merge_patch(&mut doc.fields, &patch);
                self.update(seq, &mut doc)?;
                Ok(WriteOutcome::Updated(doc))
            }
            WriteOp::Replace {
                table,
                id,
                mut fields,
                precondition,
            } => {
                resolve_field_refs(&mut fields, earlier)?;
                validate_fields(&fields).map_err(StoreError::InvalidDocument)?;
                normalize_numbers(&mut fields);
                let id = id.resolve(earlier)?;
                let (seq, mut doc) = self.current(&table, &id, precondition.as_ref())?;
                doc.fields = fields;
                self.update(seq, &mut doc)?;
                Ok(WriteOutcome::Updated(doc))
            }
            WriteOp::Delete {
                table,
                id,
                precondition,
            } => {
                let id = id.resolve(earlier)?;
                let (seq, doc) = self.current(&table, &id, precondition.as_ref())?;
                self.conn
                    .prepare_cached("DELETE FROM documents WHERE seq = ?1")
                    .and_then(|mut stmt| stmt.execute([seq]))
                    .map_err(internal)?;
                Ok(WriteOutcome::Deleted { id: doc.id })
            }
            WriteOp::Check {
                table,
                id,
                precondition,
            } => {
                let id = id.resolve(earlier)?;
                let (_, doc) = self.current(&table, &id, Some(&precondition))?;
                Ok(WriteOutcome::Checked(doc))
            }
        }
    }

    /// The document as it stands, after checking that it exists and meets the precondition.
    fn current(
        &self,
        table: &TableName,
        id: &str,
        precondition: Option<&Precondition>,
    ) -> Result<(i64, Document), StoreError> {
        let (seq, doc) =
            fetch(&self.conn, table.as_str(), id)?.ok_or_else(|| StoreError::NotFound {
                table: table.to_string(),
                id: id.to_owned(),
                op: None,
            })?;
        if let Some(pre) = precondition
            && !pre.holds_for(doc.version)
        {
            return Err(StoreError::VersionMismatch {
                id: id.to_owned(),
                actual: doc.version,
                op: None,
            });
        }
        Ok((seq, doc))
    }

    fn update(&self, seq: i64, doc: &mut Document) -> Result<(), StoreError> {
        doc.version += 1;
        self.conn
            .prepare_cached("UPDATE documents SET doc = ?1, version = ?2 WHERE seq = ?3")
            .and_then(|mut stmt| {
                stmt.execute(params![encode_fields(&doc.fields), doc.version as i64, seq])
            })
            .map_err(internal)?;
        Ok(())
    }
}

// === rows ===

const COLUMNS: &str = "seq, id, creation_time, version, doc";

fn fetch(conn: &Connection, table: &str, id: &str) -> Result<Option<(i64, Document)>, StoreError> {
    fetch_with(conn, table, id, row_to_document)
}

/// One document's `seq` and its item, read by `item`.
fn fetch_with<T>(
    conn: &Connection,
    table: &str,
    id: &str,
    item: RowReader<T>,
) -> Result<Option<(i64, T)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM documents WHERE tbl = ?1 AND id = ?2"
        ))
        .map_err(internal)?;
    stmt.query_row(params![table, id], |row| {
        let seq: i64 = row.get(0)?;
        Ok(item(row)?.map(|doc| (seq, doc)))
    })
    .optional()
    .map_err(internal)?
    .transpose()
}

/// Reads one row's item, or the error that makes the row unreadable: rusqlite's errors outside,
/// decoding errors inside, so a corrupt row is reported instead of panicking.
type RowReader<T> = fn(&rusqlite::Row<'_>) -> rusqlite::Result<Result<T, StoreError>>;

/// Reads the leading columns (after `seq`) into a document.
fn row_to_document(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Document, StoreError>> {
    let id: String = row.get(1)?;
    let creation_time: f64 = row.get(2)?;
    let version: i64 = row.get(3)?;
    let raw = row.get_ref(4)?.as_str()?;
    Ok(serde_json::from_str::<Fields>(raw)
        .map_err(|err| StoreError::Internal(anyhow::anyhow!("document {id} is corrupt: {err}")))
        .map(|fields| Document {
            id,
            creation_time,
            version: u64::try_from(version).unwrap_or_default(),
            fields,
        }))
}

/// Reads the leading columns (after `seq`) into the API's JSON text for the document, from the
/// stored text as it is: no parse into values and back.
fn row_to_json(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<String, StoreError>> {
    let id = row.get_ref(1)?.as_str()?;
    let creation_time: f64 = row.get(2)?;
    let version: i64 = row.get(3)?;
    let fields = row.get_ref(4)?.as_str()?;
    Ok(document_json(
        id,
        creation_time,
        u64::try_from(version).unwrap_or_default(),
        fields,
    ))
}

/// Reads the leading columns (after `seq`) into the document's JSON text and version.
fn row_to_raw_document(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<RawDocument, StoreError>> {
    let version: i64 = row.get(3)?;
    Ok(row_to_json(row)?.map(|json| RawDocument {
        json,
        version: u64::try_from(version).unwrap_or_default(),
    }))
}

fn encode_fields(fields: &Fields) -> String {
    serde_json::Value::Object(fields.clone()).to_string()
}

fn internal(err: rusqlite::Error) -> StoreError {
    StoreError::Internal(anyhow::Error::new(err).context("SQLite"))
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or_default()
}

// === list queries ===

/// The SQL for one list call, built before it runs on a reader thread.
struct ListPlan {
    sql: String,
    params: Vec<SqlValue>,
    /// How many sort-key columns follow the document columns.
    key_count: usize,
    order_tag: String,
}

/// What a cursor carries: the order it was made for, the last row's sort keys, and its sequence.
#[derive(Serialize, Deserialize)]
struct CursorData {
    /// The order spec the cursor belongs to.
    o: String,
    /// The sort-key values of the last row returned.
    k: Vec<serde_json::Value>,
    /// The last row's insert sequence, the final tie-breaker.
    s: i64,
}

impl ListPlan {
    fn build(table: &TableName, query: &ListQuery) -> Result<Self, StoreError> {
        let mut params: Vec<SqlValue> = vec![SqlValue::Text(table.to_string())];
        let mut conditions = vec!["tbl = ?1".to_owned()];
        for filter in &query.filters {
            conditions.push(filter_sql(filter, &mut params));
        }

        let order_tag = query.order_tag();
        let key_exprs: Vec<String> = query.order.iter().map(|k| field_expr(&k.field)).collect();
        let tie_direction = query
            .order
            .last()
            .map_or(SortDirection::Asc, |k| k.direction);

        if let Some(raw) = &query.cursor {
            let cursor = decode_cursor(raw)?;
            if cursor.o != order_tag || cursor.k.len() != query.order.len() {
                return Err(StoreError::InvalidCursor(
                    "the cursor belongs to a different `order`; pass the same `order` as the first page".into(),
                ));
            }
            let values = cursor
                .k
                .iter()
                .map(json_to_sql)
                .collect::<Result<Vec<_>, _>>()?;
            conditions.push(keyset_sql(
                &query.order,
                &key_exprs,
                &values,
                cursor.s,
                tie_direction,
                &mut params,
            ));
        }

        let mut order_by: Vec<String> = query
            .order
            .iter()
            .zip(&key_exprs)
            .map(|(key, expr)| format!("{expr} {}", direction_sql(key.direction)))
            .collect();
        order_by.push(format!("seq {}", direction_sql(tie_direction)));

        let key_columns: String = key_exprs.iter().map(|e| format!(", {e}")).collect();
        let sql = format!(
            "SELECT {COLUMNS}{key_columns} FROM documents WHERE {} ORDER BY {} LIMIT ?",
            conditions.join(" AND "),
            order_by.join(", ")
        );
        Ok(Self {
            sql,
            params,
            key_count: key_exprs.len(),
            order_tag,
        })
    }

    /// Runs the plan: up to `limit` items, each read from its row by `item`, and the cursor of
    /// the next page.
    fn run<T>(
        mut self,
        conn: &Connection,
        limit: usize,
        item: RowReader<T>,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        // One extra row tells whether another page follows.
        self.params.push(SqlValue::Integer(limit as i64 + 1));
        let mut stmt = conn.prepare_cached(&self.sql).map_err(internal)?;
        let mut rows = stmt
            .query(params_from_iter(self.params.iter()))
            .map_err(internal)?;
        let mut items = Vec::with_capacity(limit.min(128));
        // The sequence and sort keys of the page's last row, read only once the page is full:
        // the next page starts after them.
        let mut last: Option<(i64, Vec<SqlValue>)> = None;
        let mut more = false;
        while let Some(row) = rows.next().map_err(internal)? {
            if items.len() == limit {
                // The extra row: it is not read, only seen.
                more = true;
                break;
            }
            items.push(item(row).map_err(internal)??);
            if items.len() == limit {
                let keys = (0..self.key_count)
                    .map(|i| row.get::<_, SqlValue>(5 + i))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(internal)?;
                last = Some((row.get(0).map_err(internal)?, keys));
            }
        }
        let next_cursor = match (more, last) {
            (true, Some((seq, keys))) => Some(encode_cursor(&CursorData {
                o: self.order_tag,
                k: keys.iter().map(sql_to_json).collect(),
                s: seq,
            })?),
            _ => None,
        };
        Ok((items, next_cursor))
    }
}

fn direction_sql(direction: SortDirection) -> &'static str {
    match direction {
        SortDirection::Asc => "ASC",
        SortDirection::Desc => "DESC",
    }
}

/// `'$."a"."b"'`: segments are `[A-Za-z0-9_]+` (checked by the parser), so quoting is safe.
fn json_path(segments: &[String]) -> String {
    let mut path = String::from("'$");
    for segment in segments {
        path.push_str(".\"");
        path.push_str(segment);
        path.push('"');
    }
    path.push('\'');
    path
}

fn field_expr(field: &FieldPath) -> String {
    match field {
        FieldPath::Id => "id".into(),
        FieldPath::CreationTime => "creation_time".into(),
        FieldPath::User(segments) => format!("json_extract(doc, {})", json_path(segments)),
    }
}

fn literal_sql(literal: &Literal) -> SqlValue {
    match literal {
        Literal::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Literal::Int(i) => SqlValue::Integer(*i),
        Literal::Float(f) => SqlValue::Real(*f),
        Literal::Str(s) => SqlValue::Text(s.clone()),
        // Only system columns bind a literal directly, and they were given the number alone.
        Literal::NumberOrText(number, _) => literal_sql(number),
    }
}

/// The condition for one filter. Every comparison on a user field is guarded by the value's JSON
/// type, so `30` never matches `"30"` or `true`, and a string never compares with a number.
fn filter_sql(filter: &Filter, params: &mut Vec<SqlValue>) -> String {
    let cond = match &filter.field {
        FieldPath::User(segments) => user_filter_sql(segments, &filter.op, params),
        system => system_filter_sql(&field_expr(system), &filter.op, params),
    };
    if filter.negated {
        format!("NOT COALESCE(({cond}), 0)")
    } else {
        cond
    }
}

fn user_filter_sql(segments: &[String], op: &FilterOp, params: &mut Vec<SqlValue>) -> String {
    let path = json_path(segments);
    let value = format!("json_extract(doc, {path})");
    let ty = format!("json_type(doc, {path})");
    // One typed comparison. Booleans are matched by their JSON type alone; numbers and strings
    // are bound as parameters and compared only with values of their own type.
    fn compare(
        literal: &Literal,
        comparison: &str,
        (value, ty): (&str, &str),
        params: &mut Vec<SqlValue>,
    ) -> String {
        let guard = match literal {
            Literal::Bool(b) => return format!("COALESCE({ty}, '') = '{b}'"),
            // The number, or a string spelled the same: `json_extract` gives a string's text,
            // which never equals a number (SQLite compares no-affinity values by type first).
            Literal::NumberOrText(number, text) => {
                let number = compare(number, comparison, (value, ty), params);
                params.push(SqlValue::Text(text.clone()));
                return format!("({number} OR {value} = ?)");
            }
            Literal::Int(_) | Literal::Float(_) => "IN ('integer', 'real')",
            // `json_extract` yields a string's text, a number as a number and an object or
            // array as JSON text starting with `{` or `[`. So a text literal that cannot be
            // such JSON text is equal only to a string, and the type check (which parses the
            // document again for every row) can go.
            Literal::Str(s) if comparison == "=" && !s.starts_with(['{', '[']) => {
                params.push(literal_sql(literal));
                return format!("{value} = ?");
            }
            Literal::Str(_) => "= 'text'",
        };
        params.push(literal_sql(literal));
        format!("({ty} {guard} AND {value} {comparison} ?)")
    }
    let mut compare =
        |literal: &Literal, comparison: &str| compare(literal, comparison, (&value, &ty), params);
    match op {
        FilterOp::Eq(l) => compare(l, "="),
        FilterOp::Neq(l) => format!(
            "(COALESCE({ty}, 'null') <> 'null' AND NOT {})",
            compare(l, "=")
        ),
        FilterOp::Gt(l) => compare(l, ">"),
        FilterOp::Gte(l) => compare(l, ">="),
        FilterOp::Lt(l) => compare(l, "<"),
        FilterOp::Lte(l) => compare(l, "<="),
        FilterOp::In(literals) => {
            let parts: Vec<String> = literals.iter().map(|l| compare(l, "=")).collect();
            format!("({})", parts.join(" OR "))
        }
        FilterOp::Like(pattern) => {
            params.push(SqlValue::Text(like_to_glob(pattern)));
            format!("({ty} = 'text' AND {value} GLOB ?)")
        }
        FilterOp::Ilike(pattern) => {
            params.push(SqlValue::Text(like_to_glob(&pattern.to_ascii_lowercase())));
            format!("({ty} = 'text' AND lower({value}) GLOB ?)")
        }
        FilterOp::IsNull => format!("COALESCE({ty}, 'null') = 'null'"),
        FilterOp::IsTrue => format!("COALESCE({ty}, '') = 'true'"),
        FilterOp::IsFalse => format!("COALESCE({ty}, '') = 'false'"),
    }
}

/// System columns have fixed types (the parser has already coerced literals to match).
fn system_filter_sql(column: &str, op: &FilterOp, params: &mut Vec<SqlValue>) -> String {
    let (operator, literal) = match op {
        FilterOp::Eq(l) => ("=", l),
        FilterOp::Neq(l) => ("<>", l),
        FilterOp::Gt(l) => (">", l),
        FilterOp::Gte(l) => (">=", l),
        FilterOp::Lt(l) => ("<", l),
        FilterOp::Lte(l) => ("<=", l),
        FilterOp::In(literals) => {
            params.extend(literals.iter().map(literal_sql));
            return format!("{column} IN ({})", vec!["?"; literals.len()].join(", "));
        }
        // System fields are never null and are not booleans or free text.
        FilterOp::IsNull | FilterOp::IsTrue | FilterOp::IsFalse => return "0".into(),
        FilterOp::Like(_) | FilterOp::Ilike(_) => return "0".into(),
    };
    params.push(literal_sql(literal));
    format!("{column} {operator} ?")
}

/// PostgREST's `*` wildcard to a SQLite GLOB pattern, escaping GLOB's own special characters.
fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '?' => glob.push_str("[?]"),
            '[' => glob.push_str("[[]"),
            ']' => glob.push_str("[]]"),
            other => glob.push(other),
        }
    }
    glob
}

/// "After the cursor" in the query's order. SQLite sorts NULL first ascending and last
/// descending; the expansion below follows that exactly, and `seq` breaks ties.
fn keyset_sql(
    order: &[OrderKey],
    exprs: &[String],
    values: &[SqlValue],
    seq: i64,
    tie_direction: SortDirection,
    params: &mut Vec<SqlValue>,
) -> String {
    let tie_op = match tie_direction {
        SortDirection::Asc => ">",
        SortDirection::Desc => "<",
    };
    // System columns are never NULL; with one direction throughout, a row-value comparison lets
    // SQLite walk the index.
    let all_system = order.iter().all(|k| !matches!(k.field, FieldPath::User(_)));
    let one_direction = order.iter().all(|k| k.direction == tie_direction);
    if all_system && one_direction {
        params.extend(values.iter().cloned());
        params.push(SqlValue::Integer(seq));
        let placeholders = vec!["?"; values.len() + 1].join(", ");
        return format!("({}, seq) {tie_op} ({placeholders})", exprs.join(", "));
    }
    let mut alternatives = Vec::with_capacity(order.len() + 1);
    for i in 0..=order.len() {
        let mut parts = Vec::with_capacity(i + 1);
        for j in 0..i {
            params.push(values[j].clone());
            parts.push(format!("{} IS ?", exprs[j]));
        }
        if i == order.len() {
            params.push(SqlValue::Integer(seq));
            parts.push(format!("seq {tie_op} ?"));
        } else {
            let expr = &exprs[i];
            let after = match (order[i].direction, &values[i]) {
                (SortDirection::Asc, SqlValue::Null) => format!("{expr} IS NOT NULL"),
                (SortDirection::Desc, SqlValue::Null) => "0".to_owned(),
                (SortDirection::Asc, v) => {
                    params.push(v.clone());
                    format!("{expr} > ?")
                }
                (SortDirection::Desc, v) => {
                    params.push(v.clone());
                    format!("({expr} < ? OR {expr} IS NULL)")
                }
            };
            parts.push(after);
        }
        alternatives.push(format!("({})", parts.join(" AND ")));
    }
    format!("({})", alternatives.join(" OR "))
}

fn sql_to_json(value: &SqlValue) -> serde_json::Value {
    match value {
        SqlValue::Null => serde_json::Value::Null,
        SqlValue::Integer(i) => serde_json::Value::from(*i),
        SqlValue::Real(f) => serde_json::Value::from(*f),
        SqlValue::Text(s) => serde_json::Value::String(s.clone()),
        // json_extract never yields blobs; keep the cursor valid anyway.
        SqlValue::Blob(_) => serde_json::Value::Null,
    }
}

fn json_to_sql(value: &serde_json::Value) -> Result<SqlValue, StoreError> {
    Ok(match value {
        serde_json::Value::Null => SqlValue::Null,
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => SqlValue::Text(s.clone()),
        _ => return Err(bad_cursor()),
    })
}

fn encode_cursor(data: &CursorData) -> Result<String, StoreError> {
    let json = serde_json::to_vec(data)
        .map_err(|err| StoreError::Internal(anyhow::Error::new(err).context("encoding cursor")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(raw: &str) -> Result<CursorData, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad_cursor())?;
    serde_json::from_slice(&bytes).map_err(|_| bad_cursor())
}

fn bad_cursor() -> StoreError {
    StoreError::InvalidCursor("the cursor is not one this gateway issued".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: serde_json::Value) -> Fields {
        match value {
            serde_json::Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn with_indexes(specs: &[IndexSpec]) -> LocalOptions {
        LocalOptions {
            indexes: specs.to_vec(),
            ..LocalOptions::default()
        }
    }

    /// Occupies every reader until the returned sender is dropped.
    fn occupy_readers(store: &LocalStore) -> std::sync::mpsc::Sender<()> {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let (started_tx, started) = std::sync::mpsc::channel();
        for _ in 0..store.readers.size {
            let (wait, started_tx) = (Arc::clone(&wait), started_tx.clone());
            store
                .readers
                .submit(Box::new(move |_| {
                    started_tx.send(()).unwrap();
                    // Each reader waits its turn for the lock, then for the sender's drop.
                    let _ = wait.lock().unwrap().recv();
                }))
                .unwrap();
        }
        for _ in 0..store.readers.size {
            started
                .recv_timeout(std::time::Duration::from_secs(5))
                .unwrap();
        }
        release
    }

    #[tokio::test]
    async fn reads_abandoned_while_queued_are_skipped() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let release = occupy_readers(&store);
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let read = store.read(move |_| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        });
        // The caller gives up while every reader is busy.
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(50), read).await;
        assert!(gave_up.is_err());
        drop(release);
        // A read queued after it is answered, so the abandoned one has been taken and skipped.
        let answer = store.read(|_| Ok(7)).await.unwrap();
        assert_eq!(answer, 7);
        // Time for another reader to finish the abandoned one, had it run it.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_panicking_read_fails_alone_and_the_readers_go_on() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        // More panics than readers: every reader survives its own.
        for _ in 0..store.readers.size * 2 {
            let err = store
                .read(|_| -> Result<(), StoreError> { panic!("a bug in a read") })
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
        }
        let count = store
            .read(|conn| {
                conn.query_row("SELECT count(*) FROM documents", [], |r| r.get::<_, i64>(0))
                    .map_err(internal)
            })
            .await
            .unwrap();
        assert_eq!(count, 0);
    }

    #[test]
    fn reader_threads_exit_when_the_store_is_dropped() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let queue = Arc::downgrade(&store.readers.queue);
        drop(store);
        // Each reader thread holds the queue until it exits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while queue.upgrade().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "reader threads still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn declared_indexes_serve_filtered_ordered_lists_and_are_dropped_when_undeclared() {
        let dir = tempfile::TempDir::new().unwrap();
        let specs = IndexSpec::parse_list("items(status, score); other(meta.rank)").unwrap();
        assert_eq!(specs.len(), 2);
        for bad in ["items", "items()", "1x(a)", "items(_secret)", "items(a"] {
            assert!(IndexSpec::parse_list(bad).is_err(), "{bad}");
        }
        drop(LocalStore::open_with(dir.path(), &with_indexes(&specs)).unwrap());
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let table = TableName::parse("items").unwrap();
        let pairs = vec![
            ("status".to_owned(), "eq.Queued".to_owned()),
            ("order".to_owned(), "score.desc".to_owned()),
            ("limit".to_owned(), "50".to_owned()),
        ];
        let query = ListQuery::from_pairs(pairs).unwrap();
        let plan = ListPlan::build(&table, &query).unwrap();
        let explain: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", plan.sql))
            .unwrap()
            .query_map(
                params_from_iter(plan.params.iter().chain([&SqlValue::Integer(51)])),
                |r| r.get::<_, String>(3),
            )
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let text = explain.join("\n");
        assert!(text.contains(&specs[0].name()), "{text}");
        assert!(
            !text.contains("TEMP B-TREE"),
            "the order should come from the index: {text}"
        );
        drop(conn);

        // Undeclared: dropped at the next open.
        drop(LocalStore::open_with(dir.path(), &with_indexes(&specs[1..])).unwrap());
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'gwx%'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(names, vec![specs[1].name()]);
    }

    #[test]
    fn readers_map_as_much_of_the_database_as_configured() {
        let dir = tempfile::TempDir::new().unwrap();
        for bytes in [0, 1 << 20] {
            let options = LocalOptions {
                mmap_bytes: bytes,
                ..LocalOptions::default()
            };
            let store = LocalStore::open_with(dir.path(), &options).unwrap();
            let conn = store.readers.open().unwrap();
            let mapped: i64 = conn
                .query_row("PRAGMA mmap_size", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mapped, i64::try_from(bytes).unwrap());
        }
    }

    #[tokio::test]
    async fn reader_statements_for_lists_are_not_re_prepared_per_call() {
        let dir = tempfile::TempDir::new().unwrap();
        let specs = IndexSpec::parse_list("items(status, score)").unwrap();
        let store = LocalStore::open_with(dir.path(), &with_indexes(&specs)).unwrap();
        let table = TableName::parse("items").unwrap();
        let docs = (0..20)
            .map(|n| {
                let status = if n % 2 == 0 { "Queued" } else { "Done" };
                fields(json!({"status": status, "score": n}))
            })
            .collect();
        store
            .insert(&StoreCtx::default(), &table, docs)
            .await
            .unwrap();
        // Different filter values and limits through one cached statement: SQLite would
        // re-prepare it on every new binding unless the reader pins its plans (QPSG).
        let conn = store.readers.open().unwrap();
        let mut sql = String::new();
        for (status, limit) in [("Queued", 5), ("Done", 3), ("Queued", 50)] {
            let pairs = vec![
                ("status".to_owned(), format!("eq.{status}")),
                ("order".to_owned(), "score.desc".to_owned()),
                ("limit".to_owned(), limit.to_string()),
            ];
            let plan = ListPlan::build(&table, &ListQuery::from_pairs(pairs).unwrap()).unwrap();
            sql.clone_from(&plan.sql);
            let (items, _) = plan.run(&conn, limit, row_to_document).unwrap();
            assert_eq!(items.len(), limit.min(10));
            assert!(items.iter().all(|d| d.fields["status"] == json!(status)));
        }
        let stmt = conn.prepare_cached(&sql).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_batch_rolls_back_alone_within_a_group() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Arc::new(LocalStore::open(dir.path()).unwrap());
        let table = TableName::parse("t").unwrap();
        let mut tasks = Vec::new();
        for i in 0..60 {
            let store = Arc::clone(&store);
            let table = table.clone();
            tasks.push(tokio::spawn(async move {
                // Odd batches write first and then fail: their insert must not survive.
                let mut ops = vec![WriteOp::Insert {
                    table: table.clone(),
                    fields: fields(json!({"i": i})),
                }];
                if i % 2 == 1 {
                    ops.push(WriteOp::Delete {
                        table,
                        id: "missing".into(),
                        precondition: None,
                    });
                }
                store.apply(&StoreCtx::default(), ops).await
            }));
        }
        for (i, task) in tasks.into_iter().enumerate() {
            let result = task.await.unwrap();
            if i % 2 == 1 {
                assert!(
                    matches!(result, Err(StoreError::NotFound { op: Some(1), .. })),
                    "batch {i}: {result:?}"
                );
            } else {
                assert_eq!(result.unwrap().len(), 1, "batch {i}");
            }
        }
        let query = ListQuery {
            limit: 1000,
            ..ListQuery::default()
        };
        let page = store
            .list(&StoreCtx::default(), &table, &query)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 30);
        assert!(
            page.items
                .iter()
                .all(|d| d.fields["i"].as_i64().unwrap() % 2 == 0)
        );
        // Creation times never go backwards in insertion order.
        let times: Vec<f64> = page.items.iter().map(|d| d.creation_time).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn glob_translation_escapes_glob_syntax() {
        assert_eq!(like_to_glob("a*b"), "a*b");
        assert_eq!(like_to_glob("what?"), "what[?]");
        assert_eq!(like_to_glob("[x]"), "[[]x[]]");
    }

    #[test]
    fn json_paths_are_quoted() {
        assert_eq!(json_path(&["a".into(), "b_1".into()]), "'$.\"a\".\"b_1\"'");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let data = CursorData {
            o: "_creationTime.ASC".into(),
            k: vec![serde_json::json!(1.5), serde_json::Value::Null],
            s: 7,
        };
        let decoded = decode_cursor(&encode_cursor(&data).unwrap()).unwrap();
        assert_eq!(decoded.o, data.o);
        assert_eq!(decoded.k, data.k);
        assert_eq!(decoded.s, 7);
        assert!(decode_cursor("not base64!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("{}")).is_err());
    }
}
