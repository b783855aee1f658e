//! Refresh tokens and service accounts in the shared state store (`gateway.clients`,
//! `gateway.refresh_tokens`), with the same rules as the SQLite form: hashes only, rotation
//! within a family, reuse revoking the family. A rotation locks the presented token's row, so
//! two replicas handed the same token at once cannot both spend it.

use std::time::Duration;

use serde_json::Value;

use super::{
    ClientError, ClientFile, ClientInfo, Grant, RefreshError, constant_time_eq, random_token,
    sha256_hex,
};
use crate::auth::signer::unix_now;
use crate::shared::StateDb;

/// Serialises the policy clients' sync when replicas start together.
const POLICY_SYNC_LOCK: i64 = 0x6761_7465_7761_7920;

#[derive(Clone)]
pub(super) struct SharedTokens {
    db: StateDb,
}

fn roles_json(roles: &[String]) -> Value {
    Value::from(roles.to_vec())
}

fn roles_from(value: Value) -> anyhow::Result<Vec<String>> {
    Ok(serde_json::from_value(value)?)
}

impl SharedTokens {
    /// Syncs the policy file's clients: the file is the truth for `policy` clients.
    pub(super) async fn open(db: StateDb, policy_clients: &[ClientFile]) -> anyhow::Result<Self> {
        let mut conn = db.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&POLICY_SYNC_LOCK])
            .await?;
        tx.execute("DELETE FROM gateway.clients WHERE source = 'policy'", &[])
            .await?;
        for client in policy_clients {
            tx.execute(
                "INSERT INTO gateway.clients (id, secret_sha256, roles, source, created_at) VALUES ($1, $2, $3, 'policy', $4)
                 ON CONFLICT (id) DO UPDATE SET secret_sha256 = EXCLUDED.secret_sha256, roles = EXCLUDED.roles, source = 'policy'",
                &[
                    &client.id,
                    &client.secret_sha256.to_ascii_lowercase(),
                    &roles_json(&client.roles),
                    &(unix_now() as i64),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        drop(conn);
        Ok(Self { db })
    }

    pub(super) async fn verify_client(
        &self,
        id: &str,
        secret: &str,
    ) -> anyhow::Result<Option<Vec<String>>> {
        let presented = sha256_hex(secret);
        let row = self
            .db
            .conn()
            .await?
            .query_opt(
                "SELECT secret_sha256, roles FROM gateway.clients WHERE id = $1",
                &[&id],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored: String = row.get(0);
        if !constant_time_eq(stored.as_bytes(), presented.as_bytes()) {
            return Ok(None);
        }
        Ok(Some(roles_from(row.get(1))?))
    }

    pub(super) async fn create_client(
        &self,
        id: &str,
        roles: &[String],
    ) -> Result<String, ClientError> {
        let secret = random_token("cgs_");
        let inserted = self
            .db
            .conn()
            .await?
            .execute(
                "INSERT INTO gateway.clients (id, secret_sha256, roles, source, created_at) VALUES ($1, $2, $3, 'admin', $4)
                 ON CONFLICT (id) DO NOTHING",
                &[&id, &sha256_hex(&secret), &roles_json(roles), &(unix_now() as i64)],
            )
            .await
            .map_err(anyhow::Error::from)?;
        if inserted == 0 {
            return Err(ClientError::Exists);
        }
        Ok(secret)
    }

    pub(super) async fn list_clients(&self) -> anyhow::Result<Vec<ClientInfo>> {
        let rows = self
            .db
            .conn()
            .await?
            .query(
                "SELECT id, roles, source, created_at FROM gateway.clients ORDER BY id",
                &[],
            )
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ClientInfo {
                    id: row.get(0),
                    roles: roles_from(row.get(1))?,
                    source: row.get(2),
                    created_at: u64::try_from(row.get::<_, i64>(3)).unwrap_or_default(),
                })
            })
            .collect()
    }

    pub(super) async fn delete_client(&self, id: &str) -> Result<(), ClientError> {
        let mut conn = self.db.conn().await?;
        let tx = conn.transaction().await.map_err(anyhow::Error::from)?;
        let source: Option<String> = tx
            .query_opt(
                "SELECT source FROM gateway.clients WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(anyhow::Error::from)?
            .map(|row| row.get(0));
        match source.as_deref() {
            None => return Err(ClientError::NotFound),
            Some("policy") => return Err(ClientError::ManagedByPolicy),
            Some(_) => {}
        }
        tx.execute("DELETE FROM gateway.clients WHERE id = $1", &[&id])
            .await
            .map_err(anyhow::Error::from)?;
        tx.execute(
            "UPDATE gateway.refresh_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
            &[&id, &(unix_now() as i64)],
        )
        .await
        .map_err(anyhow::Error::from)?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(())
    }

    pub(super) async fn issue_refresh(
        &self,
        grant: &Grant,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let token = random_token("cgr_");
        let family = uuid::Uuid::new_v4().simple().to_string();
        let conn = self.db.conn().await?;
        insert_refresh(
            &conn,
            &sha256_hex(&token),
            &family,
            grant,
            (unix_now() + ttl.as_secs()) as i64,
        )
        .await?;
        Ok(token)
    }

    pub(super) async fn rotate_refresh(
        &self,
        token: &str,
        ttl: Duration,
    ) -> Result<(Grant, String), RefreshError> {
        let presented = sha256_hex(token);
        let next = random_token("cgr_");
        let mut conn = self.db.conn().await?;
        let tx = conn.transaction().await.map_err(anyhow::Error::from)?;
        let now = unix_now() as i64;
        let row = tx
            .query_opt(
                "SELECT family, sub, roles, client_id, expires_at, used_at, revoked_at
                 FROM gateway.refresh_tokens WHERE token_sha256 = $1 FOR UPDATE",
                &[&presented],
            )
            .await
            .map_err(anyhow::Error::from)?;
        let Some(row) = row else {
            return Err(RefreshError::Invalid);
        };
        let family: String = row.get(0);
        let (expires_at, used_at, revoked_at): (i64, Option<i64>, Option<i64>) =
            (row.get(4), row.get(5), row.get(6));
        if revoked_at.is_some() || expires_at <= now {
            return Err(RefreshError::Invalid);
        }
        if used_at.is_some() {
            tx.execute(
                "UPDATE gateway.refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
                &[&family, &now],
            )
            .await
            .map_err(anyhow::Error::from)?;
            tx.commit().await.map_err(anyhow::Error::from)?;
            return Err(RefreshError::Reused);
        }
        let client_id: Option<String> = row.get(3);
        // A client's tokens carry its current roles, and die with it.
        let roles = match &client_id {
            Some(id) => {
                let current = tx
                    .query_opt("SELECT roles FROM gateway.clients WHERE id = $1", &[id])
                    .await
                    .map_err(anyhow::Error::from)?;
                let Some(current) = current else {
                    return Err(RefreshError::Invalid);
                };
                roles_from(current.get(0))?
            }
            None => roles_from(row.get(2))?,
        };
        let grant = Grant {
            sub: row.get(1),
            roles,
            client_id,
        };
        tx.execute(
            "UPDATE gateway.refresh_tokens SET used_at = $2 WHERE token_sha256 = $1",
            &[&presented, &now],
        )
        .await
        .map_err(anyhow::Error::from)?;
        insert_refresh(
            &tx,
            &sha256_hex(&next),
            &family,
            &grant,
            now + ttl.as_secs() as i64,
        )
        .await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok((grant, next))
    }

    pub(super) async fn revoke(&self, token: &str) -> anyhow::Result<()> {
        self.db
            .conn()
            .await?
            .execute(
                "UPDATE gateway.refresh_tokens SET revoked_at = $2
                 WHERE family = (SELECT family FROM gateway.refresh_tokens WHERE token_sha256 = $1) AND revoked_at IS NULL",
                &[&sha256_hex(token), &(unix_now() as i64)],
            )
            .await?;
        Ok(())
    }
}

async fn insert_refresh(
    conn: &impl deadpool_postgres::GenericClient,
    hash: &str,
    family: &str,
    grant: &Grant,
    expires_at: i64,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO gateway.refresh_tokens (token_sha256, family, sub, roles, client_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&hash, &family, &grant.sub, &roles_json(&grant.roles), &grant.client_id, &expires_at],
    )
    .await?;
    Ok(())
}
