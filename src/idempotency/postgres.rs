//! Idempotency keys in the shared state store (`gateway.idempotency`). A fresh key costs one
//! statement (an insert that also takes over an expired or abandoned claim); a repeat costs one
//! more (the read of what is stored). A claim carries a lease: a replica that dies mid-request
//! leaves a claim that a retry may take over once the lease has passed, instead of answering
//! 409 until the key expires.

use std::time::Duration;

use super::{Begin, StoredResponse};
use crate::shared::{Chore, StateDb};

/// Claims the key, unless a live claim or an unexpired response holds it.
const CLAIM: &str = "
INSERT INTO gateway.idempotency AS i (caller, key, fingerprint, expires_at, lease_until)
VALUES ($1, $2, $3, now() + make_interval(secs => $4), now() + make_interval(secs => $5))
ON CONFLICT (caller, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, status = NULL, headers = NULL, body = NULL,
        expires_at = EXCLUDED.expires_at, lease_until = EXCLUDED.lease_until
    WHERE i.expires_at <= now() OR (i.status IS NULL AND i.lease_until <= now())
RETURNING 1";

/// The records, shared by every replica.
#[derive(Clone)]
pub(super) struct SharedKeys {
    db: StateDb,
    lease: Duration,
}

impl SharedKeys {
    pub(super) fn new(db: StateDb, lease: Duration) -> Self {
        Self { db, lease }
    }

    pub(super) async fn begin(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> anyhow::Result<Begin> {
        let conn = self.db.conn().await?;
        let claim = conn.prepare_cached(CLAIM).await?;
        let read = conn
            .prepare_cached(
                "SELECT fingerprint, status, headers, body FROM gateway.idempotency WHERE caller = $1 AND key = $2",
            )
            .await?;
        // A row deleted between the claim and the read (expired and swept) means: claim again.
        for _ in 0..3 {
            let claimed = conn
                .query_opt(
                    &claim,
                    &[
                        &caller,
                        &key,
                        &fingerprint,
                        &ttl.as_secs_f64(),
                        &self.lease.as_secs_f64(),
                    ],
                )
                .await?;
            if claimed.is_some() {
                return Ok(Begin::Fresh);
            }
            let Some(row) = conn.query_opt(&read, &[&caller, &key]).await? else {
                continue;
            };
            let stored: String = row.get(0);
            let status: Option<i32> = row.get(1);
            return Ok(match status {
                _ if stored != fingerprint => Begin::Mismatch,
                None => Begin::InFlight,
                Some(status) => {
                    let headers: Option<serde_json::Value> = row.get(2);
                    Begin::Replay(StoredResponse {
                        status: u16::try_from(status).unwrap_or(500),
                        headers: headers
                            .map(serde_json::from_value)
                            .transpose()?
                            .unwrap_or_default(),
                        body: row.get::<_, Option<Vec<u8>>>(3).unwrap_or_default(),
                    })
                }
            });
        }
        anyhow::bail!("the idempotency key kept changing while it was claimed")
    }

    pub(super) async fn complete(
        &self,
        caller: &str,
        key: &str,
        response: StoredResponse,
    ) -> anyhow::Result<()> {
        let conn = self.db.conn().await?;
        let statement = conn
            .prepare_cached(
                "UPDATE gateway.idempotency SET status = $3, headers = $4, body = $5, lease_until = NULL
                 WHERE caller = $1 AND key = $2 AND status IS NULL",
            )
            .await?;
        conn.execute(
            &statement,
            &[
                &caller,
                &key,
                &i32::from(response.status),
                &serde_json::to_value(&response.headers)?,
                &response.body,
            ],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn abandon(&self, caller: &str, key: &str) -> anyhow::Result<()> {
        self.db
            .conn()
            .await?
            .execute(
                "DELETE FROM gateway.idempotency WHERE caller = $1 AND key = $2 AND status IS NULL",
                &[&caller, &key],
            )
            .await?;
        Ok(())
    }

    /// Deletes expired keys and abandoned claims, unless another replica is doing it now.
    pub(super) async fn sweep(&self) -> anyhow::Result<()> {
        self.db
            .exclusively(Chore::IdempotencySweep, async |tx| {
                let gone = tx
                    .execute(
                        "DELETE FROM gateway.idempotency
                         WHERE expires_at <= now() AND (status IS NOT NULL OR lease_until <= now())",
                        &[],
                    )
                    .await?;
                if gone > 0 {
                    tracing::debug!(gone, "expired idempotency keys deleted");
                }
                Ok(())
            })
            .await?;
        Ok(())
    }
}
