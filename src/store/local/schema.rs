//! The embedded store's schema: the `documents` table, and the expression indexes declared in
//! `GATEWAY_INDEXES`, created and dropped to match the declaration at startup.

use anyhow::Context as _;
use rusqlite::Connection;

use crate::store::{FieldPath, TableName};

use super::sql::field_expr;

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
-- The change log: one row per committed insert, update or delete, written in the same
-- transaction as the write. AUTOINCREMENT: positions grow in commit order and are never reused,
-- even after pruning.
CREATE TABLE IF NOT EXISTS changes (
    pos           INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl           TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    op            TEXT    NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    version       INTEGER NOT NULL,
    creation_time REAL,
    doc           TEXT    CHECK (doc IS NULL OR json_valid(doc)),
    at            REAL    NOT NULL,
    prev          TEXT    CHECK (prev IS NULL OR json_valid(prev))
);
CREATE INDEX IF NOT EXISTS changes_by_table ON changes (tbl, pos);
-- The last position retention pruned: a consumer behind it must resync.
CREATE TABLE IF NOT EXISTS change_horizon (
    one            INTEGER PRIMARY KEY CHECK (one = 1),
    pruned_through INTEGER NOT NULL
);
INSERT OR IGNORE INTO change_horizon (one, pruned_through) VALUES (1, 0);
-- Every version of the documents of tables that keep history (`history = true` in the policy),
-- written in the write's own transaction; a delete is one past the last version, without a doc.
CREATE TABLE IF NOT EXISTS history (
    tbl     TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    version INTEGER NOT NULL,
    op      TEXT    NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'revert')),
    at      REAL    NOT NULL,
    sub     TEXT,
    doc     TEXT    CHECK (doc IS NULL OR json_valid(doc)),
    PRIMARY KEY (tbl, id, version)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS history_deletes ON history (at) WHERE op = 'delete';
";

/// The schema's version (`PRAGMA user_version`), and the steps that bring an older data folder
/// to it: step N takes version N to N + 1.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: a new database (or one made before versions were counted) has the tables above.
    "",
    // 1 → 2: changes keep the document as it was before an update or a delete.
    "ALTER TABLE changes ADD COLUMN prev TEXT CHECK (prev IS NULL OR json_valid(prev));",
];

/// Creates the schema, or brings an older one up to date, in one transaction.
pub(super) fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn.transaction()?;
    let fresh: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'changes'",
        [],
        |r| r.get(0),
    )?;
    tx.execute_batch(SCHEMA)
        .context("creating the document schema")?;
    let mut version: usize = if fresh == 0 {
        MIGRATIONS.len()
    } else {
        tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?
            .max(1) as usize
    };
    anyhow::ensure!(
        version <= MIGRATIONS.len(),
        "the data folder's schema (version {version}) is newer than this gateway's ({}); run a newer gateway",
        MIGRATIONS.len()
    );
    while version < MIGRATIONS.len() {
        tx.execute_batch(MIGRATIONS[version]).with_context(|| {
            format!(
                "upgrading the data folder's schema to version {}",
                version + 1
            )
        })?;
        version += 1;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {version};"))?;
    tx.commit()?;
    Ok(())
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
    pub(super) fn name(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(format!("{}|{}", self.table, self.columns()));
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("gwx_{}_{hex}", self.table)
    }
}

/// Creates the declared indexes that are missing and drops the ones no longer declared (so
/// writes do not keep paying for them). Index names start with `gwx_`.
pub(super) fn sync_indexes(conn: &Connection, indexes: &[IndexSpec]) -> anyhow::Result<()> {
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
