//! Document history on Postgres: `gateway.history` (installed with the change log), read newest
//! first, and purged of deleted documents' histories after `GATEWAY_HISTORY_TTL`.

use deadpool_postgres::Object;
use serde_json::Value;

use super::errors::map;
use crate::store::{Fields, HistoryEntry, HistoryPage, StoreError};

/// Versions of `table`/`id` below `before` (all when `None`), newest first, at most `limit`.
pub(super) async fn read(
    conn: &Object,
    table: &str,
    id: &str,
    before: Option<u64>,
    limit: usize,
) -> Result<HistoryPage, StoreError> {
    let before = before.map_or(i64::MAX, |v| v.min(i64::MAX as u64) as i64);
    let statement = conn
        .prepare_cached(
            "SELECT version, op, extract(epoch FROM at)::float8 * 1000, sub, doc FROM gateway.history \
             WHERE tbl = $1 AND id = $2 AND version < $3 ORDER BY version DESC LIMIT $4",
        )
        .await
        .map_err(|e| map(e, None))?;
    let rows = conn
        .query(&statement, &[&table, &id, &before, &(limit as i64 + 1)])
        .await
        .map_err(|e| map(e, None))?;
    let items: Vec<HistoryEntry> = rows
        .iter()
        .map(|row| {
            let fields: Option<Value> = row.get(4);
            HistoryEntry {
                version: row.get::<_, i64>(0) as u64,
                op: row.get(1),
                at: row.get(2),
                sub: row.get(3),
                fields: fields.and_then(|v| match v {
                    Value::Object(map) => Some(map as Fields),
                    _ => None,
                }),
            }
        })
        .collect();
    Ok(HistoryPage::from_read(items, limit))
}

/// Deletes the histories of documents deleted longer than `retention` ago.
pub(super) async fn purge(
    conn: &Object,
    retention: std::time::Duration,
) -> Result<u64, StoreError> {
    conn.execute(
        "DELETE FROM gateway.history h USING (
             SELECT tbl, id, version FROM gateway.history WHERE op = 'delete' AND at < clock_timestamp() - make_interval(secs => $1)
         ) d WHERE h.tbl = d.tbl AND h.id = d.id AND h.version <= d.version",
        &[&retention.as_secs_f64()],
    )
    .await
    .map_err(|e| map(e, None))
}
