//! Conflicts: a row changed on both sides since it was last synced. They are found, and settled,
//! where both versions are in view: when a Convex revision reaches a row that also has a
//! Postgres change not yet sent (`pending`). The pair's policy names the winner (`judge`); the
//! conflict is recorded with both versions (`record`), and the Postgres changes not yet sent are
//! marked to be skipped (Convex won) or sent over Convex's version (Postgres won).
//!
//! The other direction cannot overwrite a Convex change it has not seen: `gateway:syncApply`
//! writes only while the document still holds what was last synced, and otherwise answers
//! `conflict`, and the Postgres change waits until its Convex rival arrives here.

use serde_json::{Map, Value};
use tokio_postgres::GenericClient;

use super::config::{ConflictPolicy, DeleteConflict, TablePair};

/// A Postgres change to a synced row that has not been sent to Convex yet.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The latest such change's sequence number in `gateway.changes`.
    pub seq: i64,
    /// Whether it deleted the row.
    pub deleted: bool,
    /// The row after it (`None` for a delete).
    pub row: Option<Value>,
    /// Its commit time in milliseconds since the epoch.
    pub committed_ms: f64,
}

/// Which side's version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Convex,
    Postgres,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Self::Convex => "convex",
            Self::Postgres => "postgres",
        }
    }
}

/// A settled conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub winner: Side,
    /// `update` (two updates) or `delete` (a delete against an update).
    pub kind: &'static str,
    /// The rule that decided: the pair's `conflict` or `on_delete` policy.
    pub policy: &'static str,
}

/// The latest Postgres change to `pg_key` of table `table` after `sent` (what the
/// Postgres-to-Convex direction has sent) that the sync did not make itself.
pub async fn pending(
    tx: &impl GenericClient,
    table: &str,
    pg_key: &str,
    sent: i64,
) -> Result<Option<Pending>, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "SELECT seq, op, document::text, (extract(epoch FROM committed_at) * 1000)::float8 \
             FROM gateway.changes \
             WHERE tbl = $1 AND id = $2 AND origin IS NULL AND (position IS NULL OR position > $3) \
             ORDER BY seq DESC LIMIT 1",
            &[&table, &pg_key, &sent],
        )
        .await?;
    Ok(row.map(|row| {
        let op: String = row.get(1);
        let document: Option<String> = row.get(2);
        Pending {
            seq: row.get(0),
            deleted: op == "delete",
            row: document.and_then(|text| serde_json::from_str(&text).ok()),
            committed_ms: row.get(3),
        }
    }))
}

/// Who wins when Convex's revision (`convex_deleted`, committed at `convex_ms`) meets a pending
/// Postgres change; `None` when both deleted the row, which is no conflict.
pub fn judge(
    pair: &TablePair,
    convex_deleted: bool,
    convex_ms: f64,
    postgres: &Pending,
) -> Option<Verdict> {
    if convex_deleted && postgres.deleted {
        return None;
    }
    if convex_deleted != postgres.deleted {
        let deleter = if convex_deleted {
            Side::Convex
        } else {
            Side::Postgres
        };
        let (winner, policy) = match pair.on_delete {
            DeleteConflict::DeleteWins => (deleter, "delete_wins"),
            DeleteConflict::UpdateWins => (other(deleter), "update_wins"),
        };
        return Some(Verdict {
            winner,
            kind: "delete",
            policy,
        });
    }
    let (winner, policy) = match pair.conflict {
        ConflictPolicy::ConvexWins => (Side::Convex, "convex_wins"),
        ConflictPolicy::PostgresWins => (Side::Postgres, "postgres_wins"),
        // Each side's own commit time; a tie goes to Convex.
        ConflictPolicy::LastModified if postgres.committed_ms > convex_ms => {
            (Side::Postgres, "last_modified")
        }
        ConflictPolicy::LastModified => (Side::Convex, "last_modified"),
    };
    Some(Verdict {
        winner,
        kind: "update",
        policy,
    })
}

fn other(side: Side) -> Side {
    match side {
        Side::Convex => Side::Postgres,
        Side::Postgres => Side::Convex,
    }
}

/// Both versions of a conflict.
pub struct Versions<'a> {
    pub pg_key: &'a str,
    pub convex_id: &'a str,
    pub convex: Option<&'a Map<String, Value>>,
    pub convex_ms: f64,
    pub postgres: &'a Pending,
}

/// Records a settled conflict, and what the Postgres-to-Convex direction does with the row's
/// pending changes: skip them (Convex won) or send them over Convex's version (Postgres won).
pub async fn record(
    tx: &impl GenericClient,
    pair: &TablePair,
    verdict: Verdict,
    versions: &Versions<'_>,
) -> Result<(), tokio_postgres::Error> {
    let convex = versions
        .convex
        .map(|d| Value::Object(d.clone()).to_string());
    let postgres = versions.postgres.row.as_ref().map(Value::to_string);
    tx.execute(
        "INSERT INTO gateway.sync_conflicts (pair, pg_key, convex_id, kind, policy, winner, \
             convex_version, postgres_version, convex_time, postgres_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::jsonb, $9, $10)",
        &[
            &pair.postgres,
            &versions.pg_key,
            &versions.convex_id,
            &verdict.kind,
            &verdict.policy,
            &verdict.winner.as_str(),
            &convex,
            &postgres,
            &versions.convex_ms,
            &versions.postgres.committed_ms,
        ],
    )
    .await?;
    let action = match verdict.winner {
        Side::Convex => "skip",
        Side::Postgres => "force",
    };
    tx.execute(
        "INSERT INTO gateway.sync_resolved (pair, pg_key, through_seq, action) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (pair, pg_key) DO UPDATE SET through_seq = EXCLUDED.through_seq, action = EXCLUDED.action",
        &[&pair.postgres, &versions.pg_key, &versions.postgres.seq, &action],
    )
    .await?;
    Ok(())
}

/// What to do with a Postgres change (sequence `seq`) of a row with a settled conflict:
/// `Some("skip")` or `Some("force")` while the change is one the verdict covered. The mark is
/// forgotten with the last change it covers.
pub async fn resolution(
    tx: &impl GenericClient,
    pair: &str,
    pg_key: &str,
    seq: i64,
) -> Result<Option<String>, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "SELECT through_seq, action FROM gateway.sync_resolved WHERE pair = $1 AND pg_key = $2",
            &[&pair, &pg_key],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let through: i64 = row.get(0);
    if seq > through {
        return Ok(None);
    }
    if seq == through {
        tx.execute(
            "DELETE FROM gateway.sync_resolved WHERE pair = $1 AND pg_key = $2",
            &[&pair, &pg_key],
        )
        .await?;
    }
    Ok(Some(row.get(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table_sync::config::parse;

    fn pair(conflict: &str, on_delete: &str) -> TablePair {
        let text = format!(
            "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\nconflict = \"{conflict}\"\non_delete = \"{on_delete}\"\n"
        );
        parse(&text).unwrap().tables.remove(0)
    }

    fn change(deleted: bool, committed_ms: f64) -> Pending {
        Pending {
            seq: 1,
            deleted,
            row: None,
            committed_ms,
        }
    }

    #[test]
    fn each_policy_names_its_winner() {
        let winner = |p: &TablePair, convex_deleted, convex_ms, pg: Pending| {
            judge(p, convex_deleted, convex_ms, &pg).map(|v| (v.winner, v.kind, v.policy))
        };
        let last = pair("last_modified", "delete_wins");
        assert_eq!(
            winner(&last, false, 10.0, change(false, 20.0)),
            Some((Side::Postgres, "update", "last_modified"))
        );
        assert_eq!(
            winner(&last, false, 30.0, change(false, 20.0)),
            Some((Side::Convex, "update", "last_modified"))
        );
        assert_eq!(
            winner(&last, false, 20.0, change(false, 20.0)).map(|w| w.0),
            Some(Side::Convex)
        );
        let convex = pair("convex_wins", "delete_wins");
        assert_eq!(
            winner(&convex, false, 1.0, change(false, 99.0)).map(|w| w.0),
            Some(Side::Convex)
        );
        let postgres = pair("postgres_wins", "delete_wins");
        assert_eq!(
            winner(&postgres, false, 99.0, change(false, 1.0)).map(|w| w.0),
            Some(Side::Postgres)
        );
        // A delete against an update: the delete wins, whichever side made it …
        assert_eq!(
            winner(&postgres, true, 1.0, change(false, 99.0)),
            Some((Side::Convex, "delete", "delete_wins"))
        );
        assert_eq!(
            winner(&convex, false, 99.0, change(true, 1.0)),
            Some((Side::Postgres, "delete", "delete_wins"))
        );
        // … or the update does.
        let update = pair("last_modified", "update_wins");
        assert_eq!(
            winner(&update, true, 99.0, change(false, 1.0)),
            Some((Side::Postgres, "delete", "update_wins"))
        );
        assert_eq!(
            winner(&update, false, 1.0, change(true, 99.0)),
            Some((Side::Convex, "delete", "update_wins"))
        );
        // Both deleted: no conflict.
        assert_eq!(winner(&update, true, 1.0, change(true, 2.0)), None);
    }
}
