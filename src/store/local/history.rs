//! Document history on the embedded store: the versions the writer records in `history` (see
//! `schema.rs`), read newest first, and the purge of deleted documents' histories after
//! `GATEWAY_HISTORY_TTL`.

use rusqlite::{Connection, params};

use crate::store::{Fields, HistoryEntry, HistoryPage, StoreError};

use super::rows::internal;

/// Versions of `table`/`id` below `before` (all when `None`), newest first, at most `limit`.
pub(super) fn read(
    conn: &Connection,
    table: &str,
    id: &str,
    before: Option<u64>,
    limit: usize,
) -> Result<HistoryPage, StoreError> {
    let before = before.map_or(i64::MAX, |v| v.min(i64::MAX as u64) as i64);
    let mut stmt = conn
        .prepare_cached(
            "SELECT version, op, at, sub, doc FROM history WHERE tbl = ?1 AND id = ?2 AND version < ?3 ORDER BY version DESC LIMIT ?4",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(params![table, id, before, limit as i64 + 1], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, f64>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(internal)?;
    let mut items = Vec::new();
    for row in rows {
        let (version, op, at, sub, doc) = row.map_err(internal)?;
        let fields = doc
            .map(|text| serde_json::from_str::<Fields>(&text))
            .transpose()
            .map_err(|err| StoreError::Internal(anyhow::anyhow!("a history entry: {err}")))?;
        items.push(HistoryEntry {
            version: version as u64,
            op,
            at,
            sub,
            fields,
        });
    }
    Ok(HistoryPage::from_read(items, limit))
}

/// Deletes the histories of documents deleted before `before_ms` (milliseconds since the epoch).
pub(super) fn purge(conn: &Connection, before_ms: f64) -> Result<usize, rusqlite::Error> {
    conn.execute(
        "DELETE FROM history WHERE (tbl, id) IN (SELECT tbl, id FROM history WHERE op = 'delete' AND at < ?1)",
        params![before_ms],
    )
}
