//! The small SQLite databases the gateway keeps in its data folder beside the embedded store
//! (tokens and service accounts, idempotency keys): opened the same durable way, one connection
//! behind a mutex, used from blocking threads so the async runtime never waits on SQLite.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::Connection;

/// One small database file.
#[derive(Clone)]
pub struct SmallDb {
    conn: Arc<Mutex<Connection>>,
}

impl SmallDb {
    /// Opens (creating) `data_dir/file` in WAL mode with `synchronous=FULL`, applies `schema`,
    /// then runs `init` on the connection before anyone else can use it.
    pub fn open(
        data_dir: &Path,
        file: &str,
        schema: &str,
        init: impl FnOnce(&mut Connection) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(file);
        let mut conn =
            Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
        conn.execute_batch(schema)
            .with_context(|| format!("creating the schema of {}", path.display()))?;
        init(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| anyhow::anyhow!("a database lock is poisoned"))?;
            Ok(f(&mut guard))
        })
        .await?
    }
}
