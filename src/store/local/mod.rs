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
//!
//! The files: `mod.rs` is the adapter; `readers` the reader threads; `writer` the group-commit
//! writer; `sql` compiles list queries (filters, order, keyset cursors) to SQL, the template for
//! another SQL dialect; `rows` reads documents from rows; `schema` creates the table and indexes.

mod changes;
mod history;
mod readers;
mod rows;
mod schema;
mod sql;
mod writer;

pub use schema::IndexSpec;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::store::{
    Capabilities, ChangePage, Document, DocumentStore, ListQuery, Page, RawDocument, RawPage,
    StoreCtx, StoreError, TableName, WriteOp, WriteOutcome,
};

use readers::ReaderPool;
use rows::*;
use schema::{migrate, sync_indexes};
use sql::ListPlan;
use writer::Writer;

/// The file name of the database inside the data folder.
pub const DB_FILE: &str = "gateway.sqlite3";
/// The most write batches the writer commits together.
const MAX_GROUP: usize = 128;
/// Write jobs waiting for the writer thread at most: eight full groups.
const WRITER_QUEUE: usize = 8 * MAX_GROUP;
/// How long a connection waits on a lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 5_000;

/// What one write batch produced: its outcomes, or the error that undid it.
type JobResult = Result<Vec<WriteOutcome>, StoreError>;
type Reply = oneshot::Sender<JobResult>;

struct WriteJob {
    ops: Vec<WriteOp>,
    /// Run the operations, answer their outcomes, and roll them back.
    dry_run: bool,
    /// Tables whose versions are recorded, and who writes.
    history: Option<crate::store::HistoryScope>,
    /// Instead of `ops`: forget the histories of documents deleted before this time (ms).
    purge_history_before: Option<f64>,
    reply: Reply,
}

/// The embedded SQLite adapter.
pub struct LocalStore {
    writer: mpsc::Sender<WriteJob>,
    readers: Arc<ReaderPool>,
    /// Moves on after every commit of the writer.
    committed: tokio::sync::watch::Receiver<u64>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.readers.path)
            .finish_non_exhaustive()
    }
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
    /// How long the change log keeps a change (`GATEWAY_CHANGES_RETENTION`).
    pub change_retention: std::time::Duration,
}

/// The change log keeps changes for a week unless configured otherwise.
pub const DEFAULT_CHANGE_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 3600);

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
            change_retention: DEFAULT_CHANGE_RETENTION,
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
        let change_retention = options.change_retention;
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
        let mut conn = conn;
        migrate(&mut conn)?;
        sync_indexes(&conn, indexes)?;
        let last_creation_time: f64 = conn.query_row(
            "SELECT COALESCE(MAX(creation_time), 0) FROM documents",
            [],
            |r| r.get(0),
        )?;

        // Bounded: under overload, writers wait for room (within the request's deadline) instead
        // of queueing without limit.
        let (tx, rx) = mpsc::channel(WRITER_QUEUE);
        let (committed_tx, committed) = tokio::sync::watch::channel(0);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                Writer {
                    conn,
                    last_creation_time,
                    change_retention,
                    last_prune: std::time::Instant::now(),
                    committed: committed_tx,
                    history: None,
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
            committed,
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

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            free_form_documents: true,
            any_order: true,
            mixed_directions: true,
            caller_identity: false,
            change_feed: true,
        }
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
        ctx: &StoreCtx,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteJob {
                ops,
                dry_run: ctx.dry_run,
                history: ctx.history.clone(),
                purge_history_before: None,
                reply,
            })
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the SQLite writer stopped before answering".into())
        })?
    }

    async fn history(
        &self,
        _: &StoreCtx,
        table: &TableName,
        id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<crate::store::HistoryPage, StoreError> {
        let (table, id) = (table.to_string(), id.to_owned());
        self.read(move |conn| history::read(conn, &table, &id, before, limit))
            .await
    }

    async fn purge_history(&self, retention: std::time::Duration) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteJob {
                ops: Vec::new(),
                dry_run: false,
                history: None,
                purge_history_before: Some(now_ms() - retention.as_millis() as f64),
                reply,
            })
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the SQLite writer stopped before answering".into())
        })??;
        Ok(())
    }

    async fn changes(
        &self,
        since: u64,
        table: Option<&TableName>,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        let table = table.map(TableName::to_string);
        self.read(move |conn| changes::read(conn, since, table.as_deref(), limit))
            .await
    }

    async fn change_head(&self) -> Result<u64, StoreError> {
        self.read(changes::head).await
    }

    fn change_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.committed.clone())
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rusqlite::params_from_iter;
    use rusqlite::types::Value as SqlValue;

    use super::sql::*;
    use super::*;
    use crate::store::Fields;
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
    async fn a_deleted_documents_history_is_purged_after_the_retention_and_a_live_one_is_kept() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let table = TableName::parse("videos").unwrap();
        let ctx = StoreCtx {
            history: Some(crate::store::HistoryScope {
                tables: vec!["videos".to_owned()].into(),
                sub: Some("worker".into()),
                revert: false,
            }),
            ..StoreCtx::default()
        };
        let docs = store
            .insert(
                &ctx,
                &table,
                vec![fields(json!({"s": "gone"})), fields(json!({"s": "kept"}))],
            )
            .await
            .unwrap();
        let (gone, kept) = (docs[0].id.clone(), docs[1].id.clone());
        store
            .apply(
                &ctx,
                vec![WriteOp::Delete {
                    table: table.clone(),
                    id: gone.as_str().into(),
                    precondition: None,
                }],
            )
            .await
            .unwrap();
        let count = |id: String| {
            let store = &store;
            let table = table.clone();
            async move {
                store
                    .history(&ctx_none(), &table, &id, None, 10)
                    .await
                    .unwrap()
                    .items
                    .len()
            }
        };
        assert_eq!(
            (count(gone.clone()).await, count(kept.clone()).await),
            (2, 1)
        );
        // Within the retention nothing goes; past it, the deleted document's versions go.
        store
            .purge_history(std::time::Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(
            (count(gone.clone()).await, count(kept.clone()).await),
            (2, 1)
        );
        store
            .purge_history(std::time::Duration::ZERO)
            .await
            .unwrap();
        assert_eq!((count(gone).await, count(kept).await), (0, 1));
        // A dry run records nothing.
        let dry = StoreCtx {
            dry_run: true,
            ..ctx.clone()
        };
        store
            .apply(
                &dry,
                vec![WriteOp::Patch {
                    table: table.clone(),
                    id: docs[1].id.as_str().into(),
                    patch: fields(json!({"s": "x"})),
                    precondition: None,
                }],
            )
            .await
            .unwrap();
        assert_eq!(count(docs[1].id.clone()).await, 1);
    }

    fn ctx_none() -> StoreCtx {
        StoreCtx::default()
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
        let times: Vec<f64> = page
            .items
            .iter()
            .map(|d| d.creation_time.unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }
}
