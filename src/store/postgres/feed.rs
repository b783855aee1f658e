//! The change log on Postgres: `AFTER INSERT OR UPDATE OR DELETE` triggers on the served tables
//! append every committed change, by the gateway or any other program, to `gateway.changes`
//! (no logical replication, no replication slot, no superuser: it works on hosted Supabase).
//! `pg_notify('gateway_changes', …)` is only a wake-up; the table is the truth.
//!
//! Sequence numbers taken inside writing transactions are not commit order (a transaction that
//! started first may commit last), so the triggers leave `position` empty and a sequencer gives
//! positions, under an advisory lock, to the rows it can see: only committed rows, in the order
//! they were written. A reader that resumes from a position therefore never misses a change
//! that committed late.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_postgres::Object;

use super::catalog::{Catalog, Kind, VERSION_COLUMN};
use super::errors::map;
use super::values::bytea_hex_to_base64;
use super::{PostgresConfig, quote_ident};
use crate::store::{Change, ChangeOp, ChangePage, Document, Fields, StoreError, TableName};

/// The schema, tables and trigger function, created if missing (safe to run again).
const INSTALL: &str = r#"
CREATE SCHEMA IF NOT EXISTS gateway;
CREATE TABLE IF NOT EXISTS gateway.changes (
    seq bigserial PRIMARY KEY,
    position bigint UNIQUE,
    tbl text NOT NULL,
    id text NOT NULL,
    op text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    version bigint NOT NULL,
    creation_time double precision,
    document jsonb,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE gateway.changes ADD COLUMN IF NOT EXISTS previous jsonb;
-- Who made the change: NULL for the gateway and other programs, `convex` for the sync's own
-- writes from Convex (`SET LOCAL gateway.sync_origin`), so that they are not sent back.
ALTER TABLE gateway.changes ADD COLUMN IF NOT EXISTS origin text
    DEFAULT NULLIF(current_setting('gateway.sync_origin', true), '');
CREATE INDEX IF NOT EXISTS changes_unsequenced ON gateway.changes (seq) WHERE position IS NULL;
CREATE TABLE IF NOT EXISTS gateway.feed (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_position bigint NOT NULL DEFAULT 0,
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO gateway.feed DEFAULT VALUES ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION gateway.record_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
DECLARE
    key text := TG_ARGV[0];
    created text := TG_ARGV[1];
    counted text := TG_ARGV[2];
    new_row jsonb;
    old_row jsonb;
    version bigint := txid_current() % 4294967296;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
    IF counted <> '' THEN
        version := COALESCE((COALESCE(new_row, old_row) ->> counted)::bigint, 0);
        new_row := new_row - counted;
    END IF;
    IF old_row IS NOT NULL AND counted <> '' THEN
        old_row := old_row - counted;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (old_row ->> key) IS DISTINCT FROM (new_row ->> key)) THEN
        INSERT INTO gateway.changes (tbl, id, op, version, creation_time, previous)
        VALUES (TG_TABLE_NAME, old_row ->> key, 'delete', version,
                CASE WHEN created <> '' THEN extract(epoch FROM (old_row ->> created)::timestamptz) * 1000 END,
                old_row);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (old_row ->> key) IS DISTINCT FROM (new_row ->> key)) THEN
        INSERT INTO gateway.changes (tbl, id, op, version, creation_time, document)
        VALUES (TG_TABLE_NAME, new_row ->> key, 'insert', version,
                CASE WHEN created <> '' THEN extract(epoch FROM (new_row ->> created)::timestamptz) * 1000 END,
                new_row);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO gateway.changes (tbl, id, op, version, creation_time, document, previous)
        VALUES (TG_TABLE_NAME, new_row ->> key, 'update', version,
                CASE WHEN created <> '' THEN extract(epoch FROM (new_row ->> created)::timestamptz) * 1000 END,
                new_row, old_row);
    END IF;
    PERFORM pg_notify('gateway_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$fn$;
-- Every version of the documents of tables that keep history (`history = true` in the
-- gateway's policy), recorded by the gateway in the write's own transaction.
CREATE TABLE IF NOT EXISTS gateway.history (
    tbl text NOT NULL,
    id text NOT NULL,
    version bigint NOT NULL,
    op text NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'revert')),
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    sub text,
    doc jsonb,
    PRIMARY KEY (tbl, id, version)
);
CREATE INDEX IF NOT EXISTS history_deletes ON gateway.history (at) WHERE op = 'delete';
-- A delete (no version given) is recorded one past the document's last recorded version.
CREATE OR REPLACE FUNCTION gateway.record_history(p_tbl text, p_id text, p_version bigint, p_op text, p_sub text, p_doc jsonb)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
    INSERT INTO gateway.history (tbl, id, version, op, sub, doc)
    VALUES (p_tbl, p_id,
            COALESCE(p_version, (SELECT COALESCE(max(version), 0) + 1 FROM gateway.history WHERE tbl = p_tbl AND id = p_id)),
            p_op, p_sub, p_doc)
    ON CONFLICT (tbl, id, version) DO UPDATE
        SET op = EXCLUDED.op, at = EXCLUDED.at, sub = EXCLUDED.sub, doc = EXCLUDED.doc
$fn$;
-- Requests run under the caller's role (Supabase's `authenticated`), which calls it.
GRANT USAGE ON SCHEMA gateway TO PUBLIC;
GRANT EXECUTE ON FUNCTION gateway.record_history(text, text, bigint, text, text, jsonb) TO PUBLIC;
CREATE OR REPLACE FUNCTION gateway.bump_version() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
BEGIN
    NEW._version := OLD._version + 1;
    RETURN NEW;
END
$fn$;
"#;

/// Creates the change log and a trigger on every served table. Safe to run twice: it replaces
/// what it made before. Answers the tables it installed on.
pub async fn install(config: &PostgresConfig) -> anyhow::Result<Vec<String>> {
    let mut client = super::connect::connect_one(config).await?;
    let tx = client.transaction().await?;
    tx.batch_execute(INSTALL).await?;
    let catalog = Catalog::load(&tx, &config.schema, &config.creation_column, &[]).await?;
    let mut names: Vec<String> = catalog.tables.keys().cloned().collect();
    names.sort();
    for name in &names {
        let Some(table) = catalog.tables.get(name) else {
            continue;
        };
        let created = table.created.as_ref().map_or("", |c| c.name.as_str());
        let has_version_column = table.counted_versions || table.field(VERSION_COLUMN).is_some();
        if has_version_column && !table.counted_versions {
            anyhow::bail!(
                "table {name} has a column {VERSION_COLUMN} of its own; the gateway keeps versions in a bigint column of that name, so it cannot install on this table"
            );
        }
        tx.batch_execute(&format!(
            "ALTER TABLE {q} ADD COLUMN IF NOT EXISTS {v} bigint NOT NULL DEFAULT 1;
             DROP TRIGGER IF EXISTS gateway_version ON {q};
             CREATE TRIGGER gateway_version BEFORE UPDATE ON {q}
             FOR EACH ROW EXECUTE FUNCTION gateway.bump_version();
             DROP TRIGGER IF EXISTS gateway_change_log ON {q};
             CREATE TRIGGER gateway_change_log AFTER INSERT OR UPDATE OR DELETE ON {q}
             FOR EACH ROW EXECUTE FUNCTION gateway.record_change({key}, {created}, {counted});",
            q = table.qualified,
            v = quote_ident(VERSION_COLUMN),
            key = quote_literal(&table.key.name),
            created = quote_literal(created),
            counted = quote_literal(VERSION_COLUMN),
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(names)
}

/// Removes the triggers and the change log. The `gateway` schema itself goes too, unless the
/// shared state store (`GATEWAY_STATE_URL`) keeps its tables there.
pub async fn uninstall(config: &PostgresConfig) -> anyhow::Result<Vec<String>> {
    let mut client = super::connect::connect_one(config).await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "SELECT c.relname::text FROM pg_trigger g \
             JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND g.tgname = 'gateway_change_log' ORDER BY 1",
            &[&config.schema],
        )
        .await?;
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for name in &names {
        let q = format!("{}.{}", quote_ident(&config.schema), quote_ident(name));
        tx.batch_execute(&format!(
            "DROP TRIGGER IF EXISTS gateway_change_log ON {q};
             DROP TRIGGER IF EXISTS gateway_version ON {q};
             ALTER TABLE {q} DROP COLUMN IF EXISTS {v};",
            v = quote_ident(VERSION_COLUMN)
        ))
        .await?;
    }
    tx.batch_execute(
        "DROP TABLE IF EXISTS gateway.feed, gateway.changes, gateway.history CASCADE;
         DROP FUNCTION IF EXISTS gateway.record_change() CASCADE;
         DROP FUNCTION IF EXISTS gateway.bump_version() CASCADE;
         DROP FUNCTION IF EXISTS gateway.record_history(text, text, bigint, text, text, jsonb);",
    )
    .await?;
    // Whatever else is in the schema is the shared state's; an empty schema is dropped.
    let others: i64 = tx
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'gateway'",
            &[],
        )
        .await?
        .get(0);
    if others == 0 {
        tx.batch_execute("DROP SCHEMA IF EXISTS gateway CASCADE")
            .await?;
    }
    tx.commit().await?;
    Ok(names)
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Gives positions to the committed changes that have none yet, oldest write first. Run it in a
/// transaction: it takes the sequencer's advisory lock until the end of it (an arbitrary
/// constant: 0x0067_6174_6577_6179, "gateway" in ASCII).
pub const ASSIGN_POSITIONS: &str = "SELECT pg_advisory_xact_lock(29099075147620729);
     WITH todo AS (
         SELECT seq, row_number() OVER (ORDER BY seq) AS n
         FROM gateway.changes WHERE position IS NULL
     ), moved AS (
         UPDATE gateway.changes c SET position = f.last_position + todo.n
         FROM todo, gateway.feed f WHERE c.seq = todo.seq
         RETURNING c.position
     )
     UPDATE gateway.feed SET last_position = GREATEST(last_position, COALESCE((SELECT max(position) FROM moved), 0))";

/// The reading side of the change log.
pub(crate) struct Feed {
    retention: Duration,
    last_prune: Mutex<Option<Instant>>,
}

impl Feed {
    pub(crate) fn new(retention: Duration) -> Self {
        Self {
            retention,
            last_prune: Mutex::new(None),
        }
    }

    /// Gives positions to the committed changes that have none yet, oldest write first, and
    /// prunes changes older than the retention (at most once a minute).
    async fn sequence(&self, conn: &mut Object) -> Result<(), StoreError> {
        let prune = {
            let mut last = self.last_prune.lock().unwrap_or_else(|p| p.into_inner());
            let every = self.retention.min(Duration::from_secs(60));
            if last.is_none_or(|at| at.elapsed() >= every) {
                *last = Some(Instant::now());
                true
            } else {
                false
            }
        };
        let tx = conn.transaction().await.map_err(|e| map(e, None))?;
        tx.batch_execute(ASSIGN_POSITIONS)
            .await
            .map_err(|e| map(e, None))?;
        if prune {
            let seconds = self.retention.as_secs_f64();
            tx.execute(
                "WITH gone AS (
                     DELETE FROM gateway.changes WHERE position IS NOT NULL AND position <= (
                         SELECT max(position) FROM gateway.changes
                         WHERE position IS NOT NULL AND committed_at < now() - make_interval(secs => $1)
                     ) RETURNING position
                 )
                 UPDATE gateway.feed SET pruned_through = GREATEST(pruned_through, COALESCE((SELECT max(position) FROM gone), 0))",
                &[&seconds],
            )
            .await
            .map_err(|e| map(e, None))?;
        }
        tx.commit().await.map_err(|e| map(e, None))
    }

    /// The last position given (after giving positions to what has committed since).
    pub(crate) async fn head(&self, conn: &mut Object) -> Result<u64, StoreError> {
        self.sequence(conn).await?;
        let last: i64 = conn
            .query_one("SELECT last_position FROM gateway.feed", &[])
            .await
            .map_err(|e| map(e, None))?
            .get(0);
        Ok(u64::try_from(last).unwrap_or_default())
    }

    /// Committed changes after `since`, oldest first.
    pub(crate) async fn changes(
        &self,
        conn: &mut Object,
        catalog: &Catalog,
        since: u64,
        table: Option<&TableName>,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        self.sequence(conn).await?;
        let since_i = i64::try_from(since).unwrap_or(i64::MAX);
        let pruned: i64 = conn
            .query_one("SELECT pruned_through FROM gateway.feed", &[])
            .await
            .map_err(|e| map(e, None))?
            .get(0);
        if since_i < pruned {
            return Err(StoreError::ResyncNeeded {
                pruned_through: u64::try_from(pruned).unwrap_or_default(),
            });
        }
        let table_name = table.map(|t| t.as_str().to_owned());
        let rows = conn
            .query(
                // `previous` through to_jsonb: a log installed by an older gateway has no such
                // column until `postgres install` runs again, and reads on without it.
                "SELECT position, tbl, id, op, version, creation_time, document::text, \
                        (extract(epoch FROM committed_at) * 1000)::float8, \
                        (to_jsonb(c) -> 'previous')::text \
                 FROM gateway.changes c \
                 WHERE position > $1 AND ($2::text IS NULL OR tbl = $2::text) \
                 ORDER BY position LIMIT $3",
                &[
                    &since_i,
                    &table_name,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(|e| map(e, None))?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(change(catalog, row)?);
        }
        let next_since = items.last().map_or(since, |c: &Change| c.position);
        Ok(ChangePage { items, next_since })
    }
}

fn change(catalog: &Catalog, row: &tokio_postgres::Row) -> Result<Change, StoreError> {
    let get_err = |err: tokio_postgres::Error| {
        StoreError::Internal(anyhow::Error::new(err).context("reading the change log"))
    };
    let position: i64 = row.try_get(0).map_err(get_err)?;
    let table: String = row.try_get(1).map_err(get_err)?;
    let id: String = row.try_get(2).map_err(get_err)?;
    let op: String = row.try_get(3).map_err(get_err)?;
    let version: i64 = row.try_get(4).map_err(get_err)?;
    let creation_time: Option<f64> = row.try_get(5).map_err(get_err)?;
    let document: Option<String> = row.try_get(6).map_err(get_err)?;
    let committed_at: f64 = row.try_get(7).map_err(get_err)?;
    let previous: Option<String> = row.try_get(8).map_err(get_err)?;
    let corrupt = || StoreError::Internal(anyhow::anyhow!("change {position} is corrupt"));
    let op = ChangeOp::parse(&op).ok_or_else(corrupt)?;
    let version = u64::try_from(version).unwrap_or_default();
    let document = image(
        catalog,
        &table,
        &id,
        creation_time,
        document,
        version,
        position,
    )?;
    let previous = image(
        catalog,
        &table,
        &id,
        creation_time,
        previous.filter(|text| text != "null"),
        op.previous_version(version),
        position,
    )?;
    Ok(Change {
        position: u64::try_from(position).unwrap_or_default(),
        table,
        id,
        op,
        version,
        document,
        previous,
        committed_at,
    })
}

/// A row image of the log as the API shows a document.
fn image(
    catalog: &Catalog,
    table: &str,
    id: &str,
    creation_time: Option<f64>,
    text: Option<String>,
    version: u64,
    position: i64,
) -> Result<Option<Document>, StoreError> {
    let corrupt = || StoreError::Internal(anyhow::anyhow!("change {position} is corrupt"));
    let document = match text {
        None => None,
        Some(text) => {
            let mut fields: Fields = serde_json::from_str(&text).map_err(|_| corrupt())?;
            // The row as the API shows it: without the key and creation columns, bytea as base64.
            if let Some(info) = catalog.tables.get(table) {
                fields.remove(&info.key.name);
                if let Some(created) = &info.created {
                    fields.remove(&created.name);
                }
                for column in info.fields.iter().filter(|c| c.kind == Kind::Bytea) {
                    if let Some(serde_json::Value::String(hex)) = fields.get(&column.name)
                        && let Some(b64) = bytea_hex_to_base64(hex)
                    {
                        fields.insert(column.name.clone(), serde_json::Value::String(b64));
                    }
                }
            }
            Some(Document {
                id: id.to_owned(),
                creation_time,
                version,
                fields,
            })
        }
    };
    Ok(document)
}
