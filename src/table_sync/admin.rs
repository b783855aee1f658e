//! What an operator sees and does with the sync, from any replica: each pair's state per
//! direction (read from the sync's tables in Postgres, so every replica answers the same), the
//! conflicts, re-applying a conflict's losing side, and pausing, resuming and resyncing a pair
//! (flags in `gateway.sync_state` that the running sync acts on).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::config::{SyncConfig, TablePair};
use super::echo::NOT_CARRIED;
use super::export::ExportClient;
use super::schema::{self, Way};
use super::sync_apply::{ApplyError, Item, Outcome, sync_apply};
use crate::store::postgres::PostgresConfig;
use crate::store::postgres::catalog::Catalog;

/// Why an admin action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The table is not a synced Postgres table.
    #[error("`{0}` is not a synced table")]
    UnknownTable(String),
    /// No conflict has that number.
    #[error("no conflict {0}")]
    UnknownConflict(i64),
    /// The conflict cannot be re-applied (again).
    #[error("{0}")]
    State(String),
    /// Postgres or Convex cannot be reached.
    #[error("the sync's database or deployment is unavailable: {0}")]
    Unavailable(String),
}

impl From<tokio_postgres::Error> for AdminError {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Unavailable(err.to_string())
    }
}

/// One pair in one direction.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectionStatus {
    /// The Postgres table.
    pub table: String,
    /// The Convex table.
    pub convex_table: String,
    /// `to_postgres` or `to_convex`.
    pub direction: String,
    /// `starting`, `backfilling`, `live`, `paused` or `failed` (the last attempt failed; it is
    /// retried).
    pub state: String,
    /// Where the direction has reached: its checkpoint (Convex's cursor, or the change feed's
    /// position, and the backfill's progress).
    #[schema(value_type = Object)]
    pub position: Value,
    /// Seconds from the commit of the newest change applied to its arrival; for `to_convex`,
    /// the age of the oldest change still waiting.
    pub lag_seconds: f64,
    /// Changes waiting to be sent (`to_convex`; Convex's log does not say, so `null` for
    /// `to_postgres`).
    pub lag_changes: Option<i64>,
    /// Rows written on the other side.
    pub applied: i64,
    /// The last failure, until a later page succeeds.
    pub last_error: Option<String>,
    /// Rows recorded in `gateway.sync_errors` for this pair and direction.
    pub row_errors: i64,
}

/// The sync at a glance.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// Per pair and direction, in the configuration's order.
    pub tables: Vec<DirectionStatus>,
    /// Conflicts recorded, and how many were re-applied.
    pub conflicts: i64,
    pub conflicts_reapplied: i64,
}

/// A recorded conflict.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConflictRecord {
    pub seq: i64,
    /// The Postgres table.
    pub table: String,
    /// The row's Postgres key.
    pub pg_key: String,
    /// The document's Convex `_id`.
    pub convex_id: String,
    /// `update` (both updated) or `delete` (a delete against an update).
    pub kind: String,
    /// The rule that decided: `last_modified`, `convex_wins`, `postgres_wins`, `delete_wins`
    /// or `update_wins`.
    pub policy: String,
    /// `convex` or `postgres`.
    pub winner: String,
    /// Convex's version (`convex_encoded_json`), `null` if it was a delete.
    #[schema(value_type = Option<Object>)]
    pub convex_version: Option<Value>,
    /// Postgres's version (the row), `null` if it was a delete.
    #[schema(value_type = Option<Object>)]
    pub postgres_version: Option<Value>,
    /// Each side's commit time, in milliseconds since the epoch.
    pub convex_time: Option<f64>,
    pub postgres_time: Option<f64>,
    /// When it was recorded (RFC 3339).
    pub at: String,
    /// When an admin re-applied the losing side, if so.
    pub reapplied_at: Option<String>,
}

/// Which conflicts to list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConflictFilter {
    pub table: Option<String>,
    /// Only conflicts after this `seq`.
    pub after: Option<i64>,
    pub limit: i64,
}

/// The operator's handle on the sync.
#[derive(Clone)]
pub struct SyncAdmin {
    config: Arc<SyncConfig>,
    postgres: PostgresConfig,
    export: ExportClient,
}

impl std::fmt::Debug for SyncAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncAdmin").finish_non_exhaustive()
    }
}

impl SyncAdmin {
    pub fn new(config: Arc<SyncConfig>, postgres: PostgresConfig, export: ExportClient) -> Self {
        Self {
            config,
            postgres,
            export,
        }
    }

    async fn connect(&self) -> Result<tokio_postgres::Client, AdminError> {
        let client = crate::store::postgres::connect::connect_one(&self.postgres)
            .await
            .map_err(|e| AdminError::Unavailable(format!("{e:#}")))?;
        client.batch_execute(schema::INSTALL).await?;
        Ok(client)
    }

    fn pair(&self, table: &str) -> Result<&TablePair, AdminError> {
        self.config
            .tables
            .iter()
            .find(|p| p.postgres == table)
            .ok_or_else(|| AdminError::UnknownTable(table.to_owned()))
    }

    /// Each pair's state per direction.
    pub async fn status(&self) -> Result<SyncStatus, AdminError> {
        let client = self.connect().await?;
        let mut tables = Vec::new();
        for way in [Way::ToPostgres, Way::ToConvex] {
            let checkpoint = schema::checkpoint(&client, way).await?;
            for pair in &self.config.tables {
                let flows = match way {
                    Way::ToPostgres => pair.direction.to_postgres(),
                    Way::ToConvex => pair.direction.to_convex(),
                };
                if flows {
                    tables.push(
                        self.direction(&client, pair, way, checkpoint.as_ref())
                            .await?,
                    );
                }
            }
        }
        let counts = client
            .query_one(
                "SELECT count(*), count(reapplied_at) FROM gateway.sync_conflicts",
                &[],
            )
            .await?;
        Ok(SyncStatus {
            tables,
            conflicts: counts.get(0),
            conflicts_reapplied: counts.get(1),
        })
    }

    async fn direction(
        &self,
        client: &tokio_postgres::Client,
        pair: &TablePair,
        way: Way,
        checkpoint: Option<&Value>,
    ) -> Result<DirectionStatus, AdminError> {
        let row = client
            .query_opt(
                "SELECT paused, applied, lag_seconds, last_error, \
                        coalesce(last_error_at > updated_at, false) \
                 FROM gateway.sync_state WHERE pair = $1 AND direction = $2",
                &[&pair.postgres, &way.as_str()],
            )
            .await?;
        let (paused, applied, mut lag_seconds, last_error, failing) = match &row {
            Some(r) => (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)),
            None => (false, 0, 0.0, None, false),
        };
        let row_errors: i64 = client
            .query_one(
                "SELECT count(*) FROM gateway.sync_errors WHERE pair = $1 AND direction = $2",
                &[&pair.postgres, &way.as_str()],
            )
            .await?
            .get(0);
        let mut lag_changes = None;
        if way == Way::ToConvex
            && let Some(position) = checkpoint.and_then(|c| c["position"].as_i64())
        {
            let waiting = client
                .query_one(
                    "SELECT count(*), extract(epoch FROM now() - min(committed_at))::float8 \
                     FROM gateway.changes \
                     WHERE tbl = $1 AND origin IS NULL AND (position IS NULL OR position > $2)",
                    &[&pair.postgres, &position],
                )
                .await?;
            lag_changes = Some(waiting.get(0));
            lag_seconds = waiting.get::<_, Option<f64>>(1).unwrap_or(0.0);
        }
        let state = match checkpoint {
            _ if paused => "paused",
            _ if failing => "failed",
            None => "starting",
            Some(c) if c["phase"] == "backfill" => "backfilling",
            Some(_) => "live",
        };
        Ok(DirectionStatus {
            table: pair.postgres.clone(),
            convex_table: pair.convex.clone(),
            direction: way.as_str().to_owned(),
            state: state.to_owned(),
            position: checkpoint.cloned().unwrap_or(Value::Null),
            lag_seconds,
            lag_changes,
            applied,
            last_error: if failing { last_error } else { None },
            row_errors,
        })
    }

    /// Recorded conflicts, oldest first.
    pub async fn conflicts(
        &self,
        filter: &ConflictFilter,
    ) -> Result<Vec<ConflictRecord>, AdminError> {
        if let Some(table) = &filter.table {
            self.pair(table)?;
        }
        let client = self.connect().await?;
        let rows = client
            .query(
                &format!(
                    "{SELECT_CONFLICT} WHERE ($1::text IS NULL OR pair = $1) AND seq > $2 \
                     ORDER BY seq LIMIT $3"
                ),
                &[&filter.table, &filter.after.unwrap_or(0), &filter.limit],
            )
            .await?;
        Ok(rows.iter().map(conflict_record).collect())
    }

    /// Writes a conflict's losing version again on its own side, as a new change there, which
    /// the sync then carries to the other side.
    pub async fn reapply(&self, seq: i64) -> Result<ConflictRecord, AdminError> {
        let mut client = self.connect().await?;
        let row = client
            .query_opt(&format!("{SELECT_CONFLICT} WHERE seq = $1"), &[&seq])
            .await?
            .ok_or(AdminError::UnknownConflict(seq))?;
        let conflict = conflict_record(&row);
        if conflict.reapplied_at.is_some() {
            return Err(AdminError::State(format!(
                "conflict {seq} was re-applied already"
            )));
        }
        let pair = self.pair(&conflict.table)?.clone();
        if conflict.winner == "convex" {
            self.reapply_in_postgres(&mut client, &pair, &conflict)
                .await?;
        } else {
            self.reapply_in_convex(&client, &pair, &conflict).await?;
        }
        let row = client
            .query_one(
                &format!(
                    "WITH done AS (UPDATE gateway.sync_conflicts SET reapplied_at = now() WHERE seq = $1 RETURNING *) \
                     {}",
                    SELECT_CONFLICT.replace("gateway.sync_conflicts", "done")
                ),
                &[&seq],
            )
            .await?;
        Ok(conflict_record(&row))
    }

    /// Postgres lost: its version is written into the row again (or the row deleted again).
    async fn reapply_in_postgres(
        &self,
        client: &mut tokio_postgres::Client,
        pair: &TablePair,
        conflict: &ConflictRecord,
    ) -> Result<(), AdminError> {
        let catalog = Catalog::load(
            &*client,
            &self.postgres.schema,
            &self.postgres.creation_column,
            &[],
        )
        .await
        .map_err(|e| AdminError::Unavailable(format!("{e:#}")))?;
        let table = catalog
            .table(&pair.postgres)
            .map_err(|e| AdminError::State(e.to_string()))?;
        let key = &table.key;
        let tx = client.transaction().await?;
        match &conflict.postgres_version {
            None => {
                tx.execute(
                    &format!(
                        "DELETE FROM {} WHERE {} = $1::text::{}",
                        table.qualified, key.ident, key.sql_type
                    ),
                    &[&conflict.pg_key],
                )
                .await?;
            }
            Some(Value::Object(version)) => {
                let columns: Vec<&str> = std::iter::once(key)
                    .chain(&table.fields)
                    .filter(|c| !c.generated && version.contains_key(&c.name))
                    .map(|c| c.ident.as_str())
                    .collect();
                tx.execute(
                    &super::to_postgres::upsert(table, &columns),
                    &[&Value::Object(version.clone()).to_string()],
                )
                .await
                .map_err(|e| AdminError::State(format!("Postgres refused the version: {e}")))?;
            }
            Some(_) => return Err(AdminError::State("the stored version is not a row".into())),
        }
        tx.commit().await?;
        Ok(())
    }

    /// Convex lost: its version is written into the document again (or the document deleted
    /// again), as a change the sync carries back to Postgres.
    async fn reapply_in_convex(
        &self,
        client: &tokio_postgres::Client,
        pair: &TablePair,
        conflict: &ConflictRecord,
    ) -> Result<(), AdminError> {
        let current: Option<String> = client
            .query_opt(
                "SELECT convex_id FROM gateway.sync_keys WHERE pair = $1 AND pg_key = $2",
                &[&pair.postgres, &conflict.pg_key],
            )
            .await?
            .map(|row| row.get(0));
        let Some(id) = current else {
            return Err(AdminError::State(
                "the row has no Convex document now; change it in Postgres instead".into(),
            ));
        };
        let fields: Option<Map<String, Value>> = match &conflict.convex_version {
            Some(Value::Object(version)) => Some(
                version
                    .iter()
                    .filter(|(k, _)| !NOT_CARRIED.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            _ => None,
        };
        let item = Item {
            key: format!("sync:reapply:{}:{}", pair.postgres, conflict.seq),
            table: pair.convex.clone(),
            op: if fields.is_some() { "update" } else { "delete" },
            id: Some(id),
            fields,
            expect: None,
            force: true,
        };
        match sync_apply(&self.export, std::slice::from_ref(&item)).await {
            Ok(answers)
                if matches!(
                    answers.first().map(|a| &a.outcome),
                    Some(Outcome::Inserted(_))
                ) =>
            {
                Err(AdminError::State(
                    "the document was gone; it was written again as a new one".into(),
                ))
            }
            Ok(_) => Ok(()),
            Err(ApplyError::Rejected(reason)) => Err(AdminError::State(format!(
                "Convex refused the version: {reason}"
            ))),
            Err(err) => Err(AdminError::Unavailable(err.to_string())),
        }
    }

    /// Pauses (`true`) or resumes a pair, both ways. While paused, its changes are held in
    /// order, and applied when it resumes.
    pub async fn set_paused(&self, table: &str, paused: bool) -> Result<(), AdminError> {
        self.pair(table)?;
        let client = self.connect().await?;
        for way in [Way::ToPostgres, Way::ToConvex] {
            client
                .execute(
                    "INSERT INTO gateway.sync_state (pair, direction, paused) VALUES ($1, $2, $3) \
                     ON CONFLICT (pair, direction) DO UPDATE SET paused = EXCLUDED.paused",
                    &[&table, &way.as_str(), &paused],
                )
                .await?;
        }
        Ok(())
    }

    /// Asks the running sync to copy a pair again: Convex's table as it stands now into
    /// Postgres, then Postgres's rows that Convex lacks into Convex.
    pub async fn request_resync(&self, table: &str) -> Result<(), AdminError> {
        self.pair(table)?;
        let client = self.connect().await?;
        client
            .execute(
                "INSERT INTO gateway.sync_state (pair, direction, resync_requested_at) VALUES ($1, 'to_postgres', now()) \
                 ON CONFLICT (pair, direction) DO UPDATE SET resync_requested_at = now()",
                &[&table],
            )
            .await?;
        Ok(())
    }
}

const SELECT_CONFLICT: &str = "SELECT seq, pair, pg_key, convex_id, kind, policy, winner, \
     convex_version::text, postgres_version::text, convex_time, postgres_time, \
     to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
     to_char(reapplied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
     FROM gateway.sync_conflicts";

fn conflict_record(row: &tokio_postgres::Row) -> ConflictRecord {
    let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    ConflictRecord {
        seq: row.get(0),
        table: row.get(1),
        pg_key: row.get(2),
        convex_id: row.get(3),
        kind: row.get(4),
        policy: row.get(5),
        winner: row.get(6),
        convex_version: json(row.get(7)),
        postgres_version: json(row.get(8)),
        convex_time: row.get(9),
        postgres_time: row.get(10),
        at: row.get(11),
        reapplied_at: row.get(12),
    }
}
