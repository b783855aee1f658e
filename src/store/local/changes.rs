//! Reading the embedded store's change log (written by the writer in each write's own
//! transaction): the changes after a position, in commit order, or `ResyncNeeded` when
//! retention has pruned past it.

use rusqlite::{Connection, params};

use crate::store::{Change, ChangeOp, ChangePage, Document, StoreError};

use super::rows::internal;

/// Changes after `since`, of `table` or of every table, at most `limit`.
pub(super) fn read(
    conn: &Connection,
    since: u64,
    table: Option<&str>,
    limit: usize,
) -> Result<ChangePage, StoreError> {
    let pruned_through: i64 = conn
        .query_row(
            "SELECT pruned_through FROM change_horizon WHERE one = 1",
            [],
            |row| row.get(0),
        )
        .map_err(internal)?;
    let pruned_through = pruned_through.max(0) as u64;
    if since < pruned_through {
        return Err(StoreError::ResyncNeeded { pruned_through });
    }
    let since_sql = i64::try_from(since).unwrap_or(i64::MAX);
    let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = match table {
        Some(_) => {
            "SELECT pos, tbl, id, op, version, creation_time, doc, at, prev FROM changes \
             WHERE tbl = ?3 AND pos > ?1 ORDER BY pos LIMIT ?2"
        }
        None => {
            "SELECT pos, tbl, id, op, version, creation_time, doc, at, prev FROM changes \
             WHERE pos > ?1 ORDER BY pos LIMIT ?2"
        }
    };
    let mut stmt = conn.prepare_cached(sql).map_err(internal)?;
    let map = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Result<Change, StoreError>> {
        let position: i64 = row.get(0)?;
        let table: String = row.get(1)?;
        let id: String = row.get(2)?;
        let op: String = row.get(3)?;
        let version: i64 = row.get(4)?;
        let creation_time: Option<f64> = row.get(5)?;
        let doc: Option<String> = row.get(6)?;
        let committed_at: f64 = row.get(7)?;
        let previous: Option<String> = row.get(8)?;
        Ok(change(
            position,
            table,
            id,
            &op,
            version,
            creation_time,
            [doc, previous],
            committed_at,
        ))
    };
    let rows = match table {
        Some(table) => stmt.query_map(params![since_sql, limit_sql, table], map),
        None => stmt.query_map(params![since_sql, limit_sql], map),
    }
    .map_err(internal)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(row.map_err(internal)??);
    }
    let next_since = items.last().map_or(since, |c| c.position);
    Ok(ChangePage { items, next_since })
}

#[expect(clippy::too_many_arguments, reason = "one row's columns")]
fn change(
    position: i64,
    table: String,
    id: String,
    op: &str,
    version: i64,
    creation_time: Option<f64>,
    [doc, previous]: [Option<String>; 2],
    committed_at: f64,
) -> Result<Change, StoreError> {
    let corrupt = || StoreError::Internal(anyhow::anyhow!("change {position} is corrupt"));
    let op = ChangeOp::parse(op).ok_or_else(corrupt)?;
    let version = version.max(0) as u64;
    let image = |text: Option<String>, version: u64| -> Result<Option<Document>, StoreError> {
        match (text, creation_time) {
            (Some(text), Some(creation_time)) => Ok(Some(Document {
                id: id.clone(),
                creation_time: Some(creation_time),
                version,
                fields: serde_json::from_str(&text).map_err(|_| corrupt())?,
            })),
            _ => Ok(None),
        }
    };
    let document = image(doc, version)?;
    let previous = image(previous, op.previous_version(version))?;
    Ok(Change {
        position: position.max(0) as u64,
        table,
        id,
        op,
        version,
        document,
        previous,
        committed_at,
    })
}

/// The last position written (0 for an empty log that was never pruned).
pub(super) fn head(conn: &Connection) -> Result<u64, StoreError> {
    let head: i64 = conn
        .query_row(
            "SELECT MAX(COALESCE((SELECT MAX(pos) FROM changes), 0), pruned_through) \
             FROM change_horizon WHERE one = 1",
            [],
            |row| row.get(0),
        )
        .map_err(internal)?;
    Ok(head.max(0) as u64)
}
