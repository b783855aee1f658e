//! The sync's own tables in the `gateway` schema, beside the change feed's, and each direction's
//! checkpoint. Everything the sync knows lives here, in the database it syncs, so any replica
//! can take over and any replica can report on it.
//!
//! - `sync_keys`: which Convex `_id` each synced Postgres row is (user tables need no column).
//! - `sync_checkpoints`: where each direction has reached, written with the changes it covers.
//! - `sync_errors`: rows that could not be carried, with the reason.
//! - `sync_inflight`: each batch for Convex, written (and committed) before it is sent and
//!   deleted with the page that records its outcomes; one left by a crash is sent again (its
//!   idempotency keys answer as before) and recorded before anything else runs.
//! - `sync_echoes`: Convex revisions the sync itself is about to cause (written by
//!   `gateway:syncApply`), so the Convex-to-Postgres direction does not carry them back.
//! - `sync_resolved`: conflicts settled for a row whose Postgres changes have not been sent yet:
//!   skip them (Convex won) or send them over Convex's change (Postgres won).
//! - `sync_conflicts`: every conflict, with both versions and the winner.
//! - `sync_state`: per pair, paused or not, rows applied, the last error and the lag, and a
//!   resync an admin asked for.
//! - `sync_held`: changes of a paused pair (Convex revisions, or feed positions), in order, to
//!   apply when it resumes.

use serde_json::Value;

/// Creates the sync's tables (safe to run again).
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
CREATE TABLE IF NOT EXISTS gateway.sync_echoes (
    seq bigserial PRIMARY KEY,
    pair text NOT NULL,
    convex_id text NOT NULL,
    fingerprint text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sync_echoes_doc ON gateway.sync_echoes (pair, convex_id);
CREATE TABLE IF NOT EXISTS gateway.sync_resolved (
    pair text NOT NULL,
    pg_key text NOT NULL,
    through_seq bigint NOT NULL,
    action text NOT NULL CHECK (action IN ('skip', 'force')),
    PRIMARY KEY (pair, pg_key)
);
CREATE TABLE IF NOT EXISTS gateway.sync_conflicts (
    seq bigserial PRIMARY KEY,
    pair text NOT NULL,
    pg_key text NOT NULL,
    convex_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('update', 'delete')),
    policy text NOT NULL,
    winner text NOT NULL CHECK (winner IN ('convex', 'postgres')),
    convex_version jsonb,
    postgres_version jsonb,
    convex_time double precision,
    postgres_time double precision,
    at timestamptz NOT NULL DEFAULT now(),
    reapplied_at timestamptz
);
CREATE TABLE IF NOT EXISTS gateway.sync_state (
    pair text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('to_postgres', 'to_convex')),
    paused boolean NOT NULL DEFAULT false,
    applied bigint NOT NULL DEFAULT 0,
    lag_seconds double precision NOT NULL DEFAULT 0,
    last_error text,
    last_error_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    resync_requested_at timestamptz,
    PRIMARY KEY (pair, direction)
);
CREATE TABLE IF NOT EXISTS gateway.sync_inflight (
    seq bigserial PRIMARY KEY,
    batch jsonb NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS gateway.sync_held (
    seq bigserial PRIMARY KEY,
    pair text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('to_postgres', 'to_convex')),
    revision jsonb,
    position bigint
);
DO $$ BEGIN
    IF to_regclass('gateway.changes') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS changes_row ON gateway.changes (tbl, id);
    END IF;
END $$;
"#;

/// Which way a direction flows, as the tables name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    ToPostgres,
    ToConvex,
}

impl Way {
    /// The name in the tables and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToPostgres => "to_postgres",
            Self::ToConvex => "to_convex",
        }
    }
}

/// Stores where `way` has reached, adding `count` to its rows applied; in the caller's
/// transaction, with the changes it covers.
pub async fn store_checkpoint(
    tx: &impl tokio_postgres::GenericClient,
    way: Way,
    checkpoint: &Value,
    count: u64,
) -> Result<(), tokio_postgres::Error> {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO gateway.sync_checkpoints (direction, checkpoint, applied) \
         VALUES ($1, $2::text::jsonb, $3) \
         ON CONFLICT (direction) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, \
             applied = gateway.sync_checkpoints.applied + EXCLUDED.applied, updated_at = now()",
        &[&way.as_str(), &checkpoint.to_string(), &count],
    )
    .await?;
    Ok(())
}

/// Where `way` had reached, if it has started.
pub async fn checkpoint(
    client: &impl tokio_postgres::GenericClient,
    way: Way,
) -> Result<Option<Value>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT checkpoint::text FROM gateway.sync_checkpoints WHERE direction = $1",
            &[&way.as_str()],
        )
        .await?;
    Ok(row.and_then(|row| serde_json::from_str(&row.get::<_, String>(0)).ok()))
}

/// Adds a page's work to a pair's state: rows applied and the lag of its newest change.
pub async fn note_applied(
    tx: &impl tokio_postgres::GenericClient,
    pair: &str,
    way: Way,
    applied: u64,
    lag_seconds: f64,
) -> Result<(), tokio_postgres::Error> {
    let applied = i64::try_from(applied).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO gateway.sync_state (pair, direction, applied, lag_seconds) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (pair, direction) DO UPDATE SET applied = gateway.sync_state.applied + EXCLUDED.applied, \
             lag_seconds = EXCLUDED.lag_seconds, updated_at = now()",
        &[&pair, &way.as_str(), &applied, &lag_seconds],
    )
    .await?;
    Ok(())
}

/// Records a failure of a direction against each of its pairs (what `GET /admin/sync` shows).
pub async fn note_error(
    client: &impl tokio_postgres::GenericClient,
    pairs: &[&str],
    way: Way,
    error: &str,
) -> Result<(), tokio_postgres::Error> {
    for pair in pairs {
        client
            .execute(
                "INSERT INTO gateway.sync_state (pair, direction, last_error, last_error_at) VALUES ($1, $2, $3, now()) \
                 ON CONFLICT (pair, direction) DO UPDATE SET last_error = EXCLUDED.last_error, \
                     last_error_at = now()",
                &[pair, &way.as_str(), &error],
            )
            .await?;
    }
    Ok(())
}
