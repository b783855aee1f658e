//! Convex to Postgres: applies a page of Convex revisions (a snapshot's documents, or deltas) to
//! the paired Postgres tables in one transaction, together with the checkpoint the page reached,
//! so that a crash neither loses nor repeats a change.
//!
//! - A document whose `_id` has no Postgres row yet is inserted, and the pair of keys is recorded
//!   in `gateway.sync_keys`; a known one updates its row; a tombstone deletes it.
//! - Reference fields (`references`) hold a Convex `_id` and become the referenced row's key.
//! - The transaction sets `gateway.sync_origin = 'convex'`, so the change feed marks these writes
//!   and the other direction does not send them back.
//! - A row that cannot be carried (a value the mapping refuses, a field with no column, a
//!   constraint Postgres enforces) is rolled back to its own savepoint and recorded in
//!   `gateway.sync_errors`; the rest of the page applies.

use serde_json::{Map, Value};
use tokio_postgres::Transaction;

use super::config::{SyncConfig, TablePair};
use super::export::Revision;
use super::types::to_postgres;
use crate::store::postgres::catalog::{Catalog, TableInfo};

/// The schema the sync keeps its state in (beside the change feed's).
pub const INSTALL: &str = r#"
CREATE SCHEMA IF NOT EXISTS gateway;
CREATE TABLE IF NOT EXISTS gateway.sync_keys (
    pair text NOT NULL,
    pg_key text NOT NULL,
    convex_id text NOT NULL,
    PRIMARY KEY (pair, pg_key),
    UNIQUE (pair, convex_id)
);
CREATE TABLE IF NOT EXISTS gateway.sync_checkpoints (
    direction text PRIMARY KEY CHECK (direction IN ('to_postgres', 'to_convex')),
    checkpoint jsonb NOT NULL,
    applied bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS gateway.sync_errors (
    seq bigserial PRIMARY KEY,
    direction text NOT NULL,
    pair text NOT NULL,
    row_id text NOT NULL,
    error text NOT NULL,
    document jsonb,
    at timestamptz NOT NULL DEFAULT now()
);
"#;

/// Fields of a Convex document that are not carried: Convex's own and the gateway's.
const NOT_CARRIED: [&str; 4] = ["_id", "_creationTime", "gwVersion", "gwUpdatedTime"];

/// What applying a page did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    /// Rows recorded in `gateway.sync_errors` instead.
    pub failed: u64,
    /// Revisions of tables that are not synced this way.
    pub skipped: u64,
}

/// Applies `revisions` in order, then stores `checkpoint` as where the Convex-to-Postgres
/// direction has reached; all in `tx`, which the caller commits.
pub async fn apply_page(
    tx: &Transaction<'_>,
    config: &SyncConfig,
    catalog: &Catalog,
    revisions: &[Revision],
    checkpoint: &Value,
) -> Result<Applied, tokio_postgres::Error> {
    tx.batch_execute("SET LOCAL gateway.sync_origin = 'convex'")
        .await?;
    let mut applied = Applied::default();
    for revision in revisions {
        let Some(pair) = config
            .tables
            .iter()
            .find(|p| p.convex == revision.table && p.direction.to_postgres())
        else {
            applied.skipped += 1;
            continue;
        };
        let table = match catalog.table(&pair.postgres) {
            Ok(table) => table,
            Err(err) => {
                record(tx, pair, revision, &err.to_string()).await?;
                applied.failed += 1;
                continue;
            }
        };
        tx.batch_execute("SAVEPOINT sync_row").await?;
        match apply_one(tx, pair, table, revision).await {
            Ok(Outcome::Inserted) => applied.inserted += 1,
            Ok(Outcome::Updated) => applied.updated += 1,
            Ok(Outcome::Deleted) => applied.deleted += 1,
            Ok(Outcome::Nothing) => {}
            Err(reason) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT sync_row").await?;
                record(tx, pair, revision, &reason).await?;
                applied.failed += 1;
            }
        }
        tx.batch_execute("RELEASE SAVEPOINT sync_row").await?;
    }
    let count = i64::try_from(revisions.len()).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO gateway.sync_checkpoints (direction, checkpoint, applied) \
         VALUES ('to_postgres', $1::text::jsonb, $2) \
         ON CONFLICT (direction) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, \
             applied = gateway.sync_checkpoints.applied + EXCLUDED.applied, updated_at = now()",
        &[&checkpoint.to_string(), &count],
    )
    .await?;
    Ok(applied)
}

/// Where the Convex-to-Postgres direction had reached, if it has started.
pub async fn checkpoint(
    client: &impl tokio_postgres::GenericClient,
) -> Result<Option<Value>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT checkpoint::text FROM gateway.sync_checkpoints WHERE direction = 'to_postgres'",
            &[],
        )
        .await?;
    Ok(row.and_then(|row| serde_json::from_str(&row.get::<_, String>(0)).ok()))
}

enum Outcome {
    Inserted,
    Updated,
    Deleted,
    Nothing,
}

async fn apply_one(
    tx: &Transaction<'_>,
    pair: &TablePair,
    table: &TableInfo,
    revision: &Revision,
) -> Result<Outcome, String> {
    let known = pg_key(tx, &pair.postgres, &revision.id).await?;
    let key = &table.key;
    let Some(document) = &revision.document else {
        let Some(pg_key) = known else {
            return Ok(Outcome::Nothing);
        };
        tx.execute(
            &format!(
                "DELETE FROM {} WHERE {}::text = $1",
                table.qualified, key.ident
            ),
            &[&pg_key],
        )
        .await
        .map_err(|e| e.to_string())?;
        tx.execute(
            "DELETE FROM gateway.sync_keys WHERE pair = $1 AND convex_id = $2",
            &[&pair.postgres, &revision.id],
        )
        .await
        .map_err(|e| e.to_string())?;
        return Ok(Outcome::Deleted);
    };
    let row = row_of(tx, pair, table, document).await?;
    let columns: Vec<&str> = table
        .fields
        .iter()
        .chain(std::iter::once(key))
        .filter(|c| {
            !c.generated && (row.contains_key(&c.name) || (!c.has_default && c.name != key.name))
        })
        .map(|c| c.ident.as_str())
        .collect();
    if columns.is_empty() {
        return Err("the document sets no column".into());
    }
    let list = columns.join(", ");
    let row_text = Value::Object(row).to_string();
    match known {
        Some(pg_key) => {
            tx.execute(
                &format!(
                    "UPDATE {t} SET ({list}) = (SELECT {list} FROM jsonb_populate_record(NULL::{t}, $1::text::jsonb)) \
                     WHERE {k}::text = $2",
                    t = table.qualified,
                    k = key.ident,
                ),
                &[&row_text, &pg_key],
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok(Outcome::Updated)
        }
        None => {
            let inserted = tx
                .query_one(
                    &format!(
                        "INSERT INTO {t} ({list}) SELECT {list} FROM jsonb_populate_record(NULL::{t}, $1::text::jsonb) \
                         RETURNING {k}::text",
                        t = table.qualified,
                        k = key.ident,
                    ),
                    &[&row_text],
                )
                .await
                .map_err(|e| e.to_string())?;
            let pg_key: String = inserted.get(0);
            tx.execute(
                "INSERT INTO gateway.sync_keys (pair, pg_key, convex_id) VALUES ($1, $2, $3)",
                &[&pair.postgres, &pg_key, &revision.id],
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok(Outcome::Inserted)
        }
    }
}

/// The document's fields as the row object for `jsonb_populate_record`.
async fn row_of(
    tx: &Transaction<'_>,
    pair: &TablePair,
    table: &TableInfo,
    document: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut row = Map::new();
    for (field, value) in document {
        if NOT_CARRIED.contains(&field.as_str()) {
            continue;
        }
        let name = pair.postgres_column(field);
        let column = if table.key.name == name {
            &table.key
        } else {
            table
                .field(name)
                .ok_or_else(|| format!("`{field}` has no column in {}", pair.postgres))?
        };
        let carried = match pair.references.get(name) {
            Some(target) if !value.is_null() => {
                let id = value
                    .as_str()
                    .ok_or_else(|| format!("`{field}` refers to {target} but is not an id"))?;
                // The configuration names only synced tables here (`config::parse`).
                let key = pg_key(tx, target, id).await?;
                Value::from(key.ok_or_else(|| {
                    format!("`{field}` refers to {id} in {target}, which has no row in Postgres")
                })?)
            }
            _ => to_postgres(column, field, value).map_err(|e| e.to_string())?,
        };
        row.insert(name.to_owned(), carried);
    }
    Ok(row)
}

/// The Postgres key of the row of `pair` that Convex document `convex_id` was synced to.
async fn pg_key(
    tx: &Transaction<'_>,
    pair: &str,
    convex_id: &str,
) -> Result<Option<String>, String> {
    Ok(tx
        .query_opt(
            "SELECT pg_key FROM gateway.sync_keys WHERE pair = $1 AND convex_id = $2",
            &[&pair, &convex_id],
        )
        .await
        .map_err(|e| e.to_string())?
        .map(|row| row.get(0)))
}

/// Records a row that could not be applied.
async fn record(
    tx: &Transaction<'_>,
    pair: &TablePair,
    revision: &Revision,
    error: &str,
) -> Result<(), tokio_postgres::Error> {
    let document = revision
        .document
        .as_ref()
        .map(|d| Value::Object(d.clone()).to_string());
    tx.execute(
        "INSERT INTO gateway.sync_errors (direction, pair, row_id, error, document) \
         VALUES ('to_postgres', $1, $2, $3, $4::text::jsonb)",
        &[&pair.postgres, &revision.id, &error, &document],
    )
    .await?;
    Ok(())
}
