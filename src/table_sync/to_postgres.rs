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

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};
use tokio_postgres::Transaction;

use super::config::{SyncConfig, TablePair};
use super::conflicts::{self, Side, Versions};
use super::echo::{self, NOT_CARRIED};
use super::export::Revision;
use super::schema::{self, Way};
use super::types::to_postgres;
use crate::store::postgres::catalog::{Catalog, TableInfo};

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
    /// Revisions of paused pairs, held for when they resume.
    pub held: u64,
    /// Revisions the sync itself caused in Convex, not carried back.
    pub echoes: u64,
    /// Conflicts settled (recorded in `gateway.sync_conflicts`), by pair and the policy that
    /// decided.
    pub conflicts: BTreeMap<(String, &'static str), u64>,
    /// Rows written, by pair and operation.
    pub by_pair: BTreeMap<(String, &'static str), u64>,
    /// The newest commit time among the revisions applied, in nanoseconds.
    pub newest_ts: Option<i64>,
    /// Conflicts Postgres won: Convex's revision was not applied.
    pub lost: u64,
}

impl Applied {
    /// The rows written.
    pub fn written(&self) -> u64 {
        self.inserted + self.updated + self.deleted
    }
}

/// Applies `revisions` in order, then stores `checkpoint` as where the Convex-to-Postgres
/// direction has reached; all in `tx`, which the caller commits. `sent` is the change-feed
/// position the other direction has sent up to, for pairs that flow both ways: a revision of a
/// row with a Postgres change after it is a conflict. Revisions of the `held` pairs (paused, or
/// with held revisions still to apply) are kept in `gateway.sync_held` instead.
pub async fn apply_page(
    tx: &Transaction<'_>,
    config: &SyncConfig,
    catalog: &Catalog,
    revisions: &[Revision],
    checkpoint: &Value,
    sent: Option<i64>,
    held: &HashSet<String>,
) -> Result<Applied, tokio_postgres::Error> {
    tx.batch_execute("SET LOCAL gateway.sync_origin = 'convex'; SAVEPOINT sync_page")
        .await?;
    let page = Page {
        config,
        catalog,
        revisions,
        sent,
        held,
    };
    // First without a savepoint per row (the common case: every row applies); if one fails, the
    // page is rolled back and applied again row by row, and the failing rows are recorded.
    let mut keys = Keys::prefetch(tx, &page).await?;
    let applied = match apply_all(tx, &page, &mut keys, false).await? {
        Some(applied) => {
            tx.batch_execute("RELEASE SAVEPOINT sync_page").await?;
            applied
        }
        None => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT sync_page").await?;
            let mut keys = Keys::prefetch(tx, &page).await?;
            apply_all(tx, &page, &mut keys, true)
                .await?
                .unwrap_or_default()
        }
    };
    schema::store_checkpoint(tx, Way::ToPostgres, checkpoint, applied.written()).await?;
    Ok(applied)
}

/// A page and what applying it needs.
struct Page<'a> {
    config: &'a SyncConfig,
    catalog: &'a Catalog,
    revisions: &'a [Revision],
    sent: Option<i64>,
    held: &'a HashSet<String>,
}

/// The Postgres keys of Convex documents (`gateway.sync_keys`), read for a whole page at once
/// and kept up to date as the page inserts and deletes rows.
struct Keys(HashMap<(String, String), Option<String>>);

impl Keys {
    async fn prefetch(
        tx: &Transaction<'_>,
        page: &Page<'_>,
    ) -> Result<Self, tokio_postgres::Error> {
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for revision in page.revisions {
            if let Some(pair) = page
                .config
                .tables
                .iter()
                .find(|p| p.convex == revision.table)
            {
                wanted.entry(&pair.postgres).or_default().push(&revision.id);
            }
        }
        let mut known = HashMap::new();
        for (pair, ids) in wanted {
            for id in &ids {
                known.insert((pair.to_owned(), (*id).to_owned()), None);
            }
            let rows = tx
                .query(
                    "SELECT convex_id, pg_key FROM gateway.sync_keys WHERE pair = $1 AND convex_id = ANY($2)",
                    &[&pair, &ids],
                )
                .await?;
            for row in rows {
                known.insert((pair.to_owned(), row.get(0)), Some(row.get(1)));
            }
        }
        Ok(Self(known))
    }

    /// The Postgres key of the row of `pair` that Convex document `convex_id` was synced to.
    async fn get(
        &mut self,
        tx: &Transaction<'_>,
        pair: &str,
        convex_id: &str,
    ) -> Result<Option<String>, String> {
        let at = (pair.to_owned(), convex_id.to_owned());
        if let Some(known) = self.0.get(&at) {
            return Ok(known.clone());
        }
        let key = pg_key(tx, pair, convex_id).await?;
        self.0.insert(at, key.clone());
        Ok(key)
    }

    fn set(&mut self, pair: &str, convex_id: &str, key: Option<String>) {
        self.0.insert((pair.to_owned(), convex_id.to_owned()), key);
    }
}

/// Applies the page's revisions in order. Without `careful`, the first row that fails ends it
/// (answering `None`); with it, each row has its own savepoint and a failing row is recorded.
async fn apply_all(
    tx: &Transaction<'_>,
    page: &Page<'_>,
    keys: &mut Keys,
    careful: bool,
) -> Result<Option<Applied>, tokio_postgres::Error> {
    let mut applied = Applied::default();
    for revision in page.revisions {
        let Some(pair) = page
            .config
            .tables
            .iter()
            .find(|p| p.convex == revision.table && p.direction.to_postgres())
        else {
            applied.skipped += 1;
            continue;
        };
        if page.held.contains(&pair.postgres) {
            // A paused pair: kept in order for when it resumes.
            let revision = serde_json::to_string(revision).unwrap_or_default();
            tx.execute(
                "INSERT INTO gateway.sync_held (pair, direction, revision) VALUES ($1, 'to_postgres', $2::text::jsonb)",
                &[&pair.postgres, &revision],
            )
            .await?;
            applied.held += 1;
            continue;
        }
        let table = match page.catalog.table(&pair.postgres) {
            Ok(table) => table,
            Err(_) if !careful => return Ok(None),
            Err(err) => {
                record(tx, pair, revision, &err.to_string()).await?;
                applied.failed += 1;
                continue;
            }
        };
        if careful {
            tx.batch_execute("SAVEPOINT sync_row").await?;
        }
        let sent = page.sent.filter(|_| pair.direction.to_convex());
        match apply_one(tx, pair, table, revision, sent, keys).await {
            Ok((outcome, conflict)) => {
                if let Some(policy) = conflict {
                    *applied
                        .conflicts
                        .entry((pair.postgres.clone(), policy))
                        .or_default() += 1;
                }
                let op = match outcome {
                    Outcome::Inserted => {
                        applied.inserted += 1;
                        Some("insert")
                    }
                    Outcome::Updated => {
                        applied.updated += 1;
                        Some("update")
                    }
                    Outcome::Deleted => {
                        applied.deleted += 1;
                        Some("delete")
                    }
                    Outcome::Echo => {
                        applied.echoes += 1;
                        None
                    }
                    Outcome::Lost => {
                        applied.lost += 1;
                        None
                    }
                    Outcome::Nothing => None,
                };
                if let Some(op) = op {
                    *applied
                        .by_pair
                        .entry((pair.postgres.clone(), op))
                        .or_default() += 1;
                    applied.newest_ts = Some(applied.newest_ts.unwrap_or(0).max(revision.ts));
                }
            }
            Err(_) if !careful => return Ok(None),
            Err(reason) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT sync_row").await?;
                record(tx, pair, revision, &reason).await?;
                applied.failed += 1;
            }
        }
        if careful {
            tx.batch_execute("RELEASE SAVEPOINT sync_row").await?;
        }
    }
    Ok(Some(applied))
}

enum Outcome {
    Inserted,
    Updated,
    Deleted,
    /// A revision the sync caused itself.
    Echo,
    /// A conflict Postgres won.
    Lost,
    Nothing,
}

/// Applies one revision; answers what it did and whether it settled a conflict.
async fn apply_one(
    tx: &Transaction<'_>,
    pair: &TablePair,
    table: &TableInfo,
    revision: &Revision,
    sent: Option<i64>,
    keys: &mut Keys,
) -> Result<(Outcome, Option<&'static str>), String> {
    let known = keys.get(tx, &pair.postgres, &revision.id).await?;
    let key = &table.key;
    let mut conflict = None;
    if let (Some(sent), Some(pg_key)) = (sent, &known) {
        let sql = |e: tokio_postgres::Error| e.to_string();
        if let Some(document) = &revision.document
            && echo::consume(tx, &pair.postgres, &revision.id, document)
                .await
                .map_err(sql)?
        {
            return Ok((Outcome::Echo, None));
        }
        // The row is locked first, so a Postgres change to it either is in the log now or
        // starts from this revision.
        tx.execute(
            &format!(
                "SELECT 1 FROM {} WHERE {} = $1::text::{} FOR UPDATE",
                table.qualified, key.ident, key.sql_type
            ),
            &[pg_key],
        )
        .await
        .map_err(sql)?;
        let waiting = conflicts::pending(tx, &pair.postgres, pg_key, sent)
            .await
            .map_err(sql)?;
        let convex_ms = revision.ts as f64 / 1e6;
        if let Some(waiting) = waiting
            && let Some(verdict) =
                conflicts::judge(pair, revision.document.is_none(), convex_ms, &waiting)
        {
            let versions = Versions {
                pg_key,
                convex_id: &revision.id,
                convex: revision.document.as_ref(),
                convex_ms,
                postgres: &waiting,
            };
            conflicts::record(tx, pair, verdict, &versions)
                .await
                .map_err(sql)?;
            if verdict.winner == Side::Postgres {
                return Ok((Outcome::Lost, Some(verdict.policy)));
            }
            conflict = Some(verdict.policy);
        }
    }
    let outcome = apply_revision(tx, pair, table, revision, known, keys).await?;
    Ok((outcome, conflict))
}

/// Writes a revision into its row.
async fn apply_revision(
    tx: &Transaction<'_>,
    pair: &TablePair,
    table: &TableInfo,
    revision: &Revision,
    known: Option<String>,
    keys: &mut Keys,
) -> Result<Outcome, String> {
    let key = &table.key;
    let Some(document) = &revision.document else {
        let Some(pg_key) = known else {
            return Ok(Outcome::Nothing);
        };
        tx.execute(
            &format!(
                "DELETE FROM {} WHERE {} = $1::text::{}",
                table.qualified, key.ident, key.sql_type
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
        keys.set(&pair.postgres, &revision.id, None);
        return Ok(Outcome::Deleted);
    };
    let mut row = row_of(tx, pair, table, document, keys).await?;
    if let Some(pg_key) = &known {
        // The row keeps its key; if a delete lost a conflict to this update, it comes back.
        row.insert(key.name.clone(), Value::from(pg_key.as_str()));
    }
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
        Some(_) => {
            tx.execute(&upsert(table, &columns), &[&row_text])
                .await
                .map_err(|e| e.to_string())?;
            Ok(Outcome::Updated)
        }
        None => {
            // The row and its pair of keys in one statement.
            let inserted = tx
                .query_one(
                    &format!(
                        "WITH row AS (INSERT INTO {t} ({list}) \
                             SELECT {list} FROM jsonb_populate_record(NULL::{t}, $1::text::jsonb) \
                             RETURNING {k}::text AS k) \
                         INSERT INTO gateway.sync_keys (pair, pg_key, convex_id) \
                         SELECT $2, k, $3 FROM row RETURNING pg_key",
                        t = table.qualified,
                        k = key.ident,
                    ),
                    &[&row_text, &pair.postgres, &revision.id],
                )
                .await
                .map_err(|e| e.to_string())?;
            keys.set(&pair.postgres, &revision.id, Some(inserted.get(0)));
            Ok(Outcome::Inserted)
        }
    }
}

/// The statement that writes a row object (`$1`, JSON text) into `columns` of `table`, inserting
/// it or updating the row with its key.
pub(super) fn upsert(table: &TableInfo, columns: &[&str]) -> String {
    let list = columns.join(", ");
    let excluded: Vec<String> = columns.iter().map(|c| format!("EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO {t} ({list}) SELECT {list} FROM jsonb_populate_record(NULL::{t}, $1::text::jsonb) \
         ON CONFLICT ({k}) DO UPDATE SET ({list}) = (SELECT {e})",
        t = table.qualified,
        k = table.key.ident,
        e = excluded.join(", "),
    )
}

/// The document's fields as the row object for `jsonb_populate_record`.
async fn row_of(
    tx: &Transaction<'_>,
    pair: &TablePair,
    table: &TableInfo,
    document: &Map<String, Value>,
    keys: &mut Keys,
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
                let key = keys.get(tx, target, id).await?;
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
