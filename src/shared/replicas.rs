//! The replica list: each replica upserts its row every few seconds (the heartbeat), and
//! `/admin/status` lists the rows with when each was last seen. Rows unseen for an hour are
//! deleted by whichever replica runs that chore.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use super::{Chore, StateDb};

/// How often a replica reports itself.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A replica unseen for this long is listed as not live.
pub(super) const LIVE_WINDOW: Duration = Duration::from_secs(30);

/// One replica as `/admin/status` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replica {
    /// `GATEWAY_INSTANCE_ID`, or host name and process id.
    pub id: String,
    /// The gateway's version.
    pub version: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it last reported (RFC 3339).
    pub last_seen: String,
    /// Whether it reported within the last 30 seconds.
    pub live: bool,
}

impl StateDb {
    /// Records that this replica is alive.
    pub async fn heartbeat(
        &self,
        version: &str,
        started: std::time::SystemTime,
    ) -> anyhow::Result<()> {
        let conn = self.conn().await?;
        conn.execute(
            "INSERT INTO gateway.replicas (id, version, started_at, last_seen) VALUES ($1, $2, $3, now())
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, started_at = EXCLUDED.started_at, last_seen = now()",
            &[&self.instance, &version, &started],
        )
        .await?;
        Ok(())
    }

    /// Removes this replica from the list (on a clean shutdown).
    pub async fn leave(&self) -> anyhow::Result<()> {
        self.conn()
            .await?
            .execute(
                "DELETE FROM gateway.replicas WHERE id = $1",
                &[&self.instance],
            )
            .await?;
        Ok(())
    }

    /// Every replica seen in the last hour, the most recently started first.
    pub async fn replicas(&self) -> anyhow::Result<Vec<Replica>> {
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT id, version,
                        to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                        to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                        last_seen > now() - make_interval(secs => $1)
                 FROM gateway.replicas ORDER BY started_at DESC, id",
                &[&LIVE_WINDOW.as_secs_f64()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| Replica {
                id: row.get(0),
                version: row.get(1),
                started: row.get(2),
                last_seen: row.get(3),
                live: row.get(4),
            })
            .collect())
    }

    /// Deletes replicas unseen for an hour, if no other replica is doing it.
    pub async fn forget_gone_replicas(&self) -> anyhow::Result<()> {
        self.exclusively(Chore::ReplicaSweep, async |tx| {
            tx.execute(
                "DELETE FROM gateway.replicas WHERE last_seen < now() - interval '1 hour'",
                &[],
            )
            .await?;
            Ok(())
        })
        .await?;
        Ok(())
    }
}
