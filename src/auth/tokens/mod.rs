//! Service accounts (client credentials) and refresh tokens, kept in SQLite in the data folder
//! (`auth.sqlite3`). Secrets and refresh tokens are stored only as SHA-256 hashes: they are long
//! random strings, so a fast hash is enough and a leaked database reveals none of them.
//!
//! Refresh tokens rotate: each use returns a new one in the same family and retires the old.
//! Presenting a retired token again means it was stolen or replayed, so the whole family is
//! revoked (RFC 9700 §4.14.2).
//!
//! With `GATEWAY_STATE_URL` the same records live in the shared state store (`postgres`), so a
//! token rotated on one replica is spent on all, and reuse is caught wherever it is tried.

mod postgres;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest as _, Sha256};

use super::policy::ClientFile;
use super::signer::unix_now;
use crate::shared::StateDb;
use crate::sqlite::SmallDb;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS clients (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    roles         TEXT NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('policy', 'admin')),
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_sha256 TEXT PRIMARY KEY,
    family       TEXT NOT NULL,
    sub          TEXT NOT NULL,
    roles        TEXT NOT NULL,
    client_id    TEXT,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_family ON refresh_tokens (family);
";

/// A service account as listed by the admin API (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub id: String,
    pub roles: Vec<String>,
    /// `policy` (from the policy file) or `admin` (created through the admin API).
    pub source: String,
    pub created_at: u64,
}

/// The identity a refresh token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub sub: String,
    pub roles: Vec<String>,
    pub client_id: Option<String>,
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is unknown, expired or revoked")]
    Invalid,
    #[error("the refresh token was already used; its whole family is now revoked")]
    Reused,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Why a client could not be created or removed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("a client with this id already exists")]
    Exists,
    #[error("no such client")]
    NotFound,
    #[error("this client is declared in the policy file; remove it there")]
    ManagedByPolicy,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// The token and client store.
#[derive(Clone)]
pub struct TokenStore {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Local(LocalTokens),
    Shared(postgres::SharedTokens),
}

/// Dispatches a call to the backend in use.
macro_rules! dispatch {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match &$self.backend {
            Backend::Local(store) => store.$method($($arg),*).await,
            Backend::Shared(store) => store.$method($($arg),*).await,
        }
    };
}

impl TokenStore {
    /// Opens `auth.sqlite3` in `data_dir` and syncs the policy file's clients into it.
    pub fn open(data_dir: &Path, policy_clients: &[ClientFile]) -> anyhow::Result<Self> {
        Ok(Self {
            backend: Backend::Local(LocalTokens::open(data_dir, policy_clients)?),
        })
    }

    /// The records in the shared state store; syncs the policy file's clients into it.
    pub async fn shared(db: StateDb, policy_clients: &[ClientFile]) -> anyhow::Result<Self> {
        Ok(Self {
            backend: Backend::Shared(postgres::SharedTokens::open(db, policy_clients).await?),
        })
    }

    /// The roles of client `id` if `secret` is its secret.
    pub async fn verify_client(
        &self,
        id: &str,
        secret: &str,
    ) -> anyhow::Result<Option<Vec<String>>> {
        dispatch!(self.verify_client(id, secret))
    }

    /// Creates a service account and returns its secret (shown once, stored hashed).
    pub async fn create_client(&self, id: &str, roles: &[String]) -> Result<String, ClientError> {
        dispatch!(self.create_client(id, roles))
    }

    /// Every service account, without secrets.
    pub async fn list_clients(&self) -> anyhow::Result<Vec<ClientInfo>> {
        dispatch!(self.list_clients())
    }

    /// Deletes an admin-created service account and revokes its refresh tokens.
    pub async fn delete_client(&self, id: &str) -> Result<(), ClientError> {
        dispatch!(self.delete_client(id))
    }

    /// Issues a refresh token for `grant` in a new family.
    pub async fn issue_refresh(&self, grant: &Grant, ttl: Duration) -> anyhow::Result<String> {
        dispatch!(self.issue_refresh(grant, ttl))
    }

    /// Exchanges a refresh token for a new one in the same family, and returns what it grants.
    /// Reuse of a rotated token revokes the family.
    pub async fn rotate_refresh(
        &self,
        token: &str,
        ttl: Duration,
    ) -> Result<(Grant, String), RefreshError> {
        dispatch!(self.rotate_refresh(token, ttl))
    }

    /// Revokes the family of a refresh token. Unknown tokens are ignored (RFC 7009 §2.2).
    pub async fn revoke(&self, token: &str) -> anyhow::Result<()> {
        dispatch!(self.revoke(token))
    }
}

/// The records in `auth.sqlite3`.
#[derive(Clone)]
struct LocalTokens {
    db: SmallDb,
}

impl LocalTokens {
    fn open(data_dir: &Path, policy_clients: &[ClientFile]) -> anyhow::Result<Self> {
        let db = SmallDb::open(data_dir, "auth.sqlite3", SCHEMA, |conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM clients WHERE source = 'policy'", [])?;
            for client in policy_clients {
                tx.execute(
                    "INSERT INTO clients (id, secret_sha256, roles, source, created_at) VALUES (?1, ?2, ?3, 'policy', ?4)
                     ON CONFLICT (id) DO UPDATE SET secret_sha256 = excluded.secret_sha256, roles = excluded.roles, source = 'policy'",
                    params![
                        client.id,
                        client.secret_sha256.to_ascii_lowercase(),
                        serde_json::to_string(&client.roles)?,
                        unix_now() as i64
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })?;
        Ok(Self { db })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.db.run(f).await
    }

    async fn verify_client(&self, id: &str, secret: &str) -> anyhow::Result<Option<Vec<String>>> {
        let (id, presented) = (id.to_owned(), sha256_hex(secret));
        self.with_conn(move |conn| -> anyhow::Result<Option<Vec<String>>> {
            let row: Option<(String, String)> = conn
                .query_row(
                    "SELECT secret_sha256, roles FROM clients WHERE id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((stored, roles)) = row else {
                return Ok(None);
            };
            if !constant_time_eq(stored.as_bytes(), presented.as_bytes()) {
                return Ok(None);
            }
            Ok(Some(serde_json::from_str(&roles)?))
        })
        .await?
    }

    async fn create_client(&self, id: &str, roles: &[String]) -> Result<String, ClientError> {
        let secret = random_token("cgs_");
        let (id, hash, roles) = (
            id.to_owned(),
            sha256_hex(&secret),
            serde_json::to_string(roles).map_err(anyhow::Error::from)?,
        );
        let inserted = self
            .with_conn(move |conn| {
                conn.execute(
                    "INSERT INTO clients (id, secret_sha256, roles, source, created_at) VALUES (?1, ?2, ?3, 'admin', ?4)
                     ON CONFLICT (id) DO NOTHING",
                    params![id, hash, roles, unix_now() as i64],
                )
            })
            .await?
            .map_err(anyhow::Error::from)?;
        if inserted == 0 {
            return Err(ClientError::Exists);
        }
        Ok(secret)
    }

    async fn list_clients(&self) -> anyhow::Result<Vec<ClientInfo>> {
        self.with_conn(|conn| -> anyhow::Result<Vec<ClientInfo>> {
            let mut stmt =
                conn.prepare("SELECT id, roles, source, created_at FROM clients ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            let mut clients = Vec::new();
            for row in rows {
                let (id, roles, source, created_at) = row?;
                clients.push(ClientInfo {
                    id,
                    roles: serde_json::from_str(&roles)?,
                    source,
                    created_at: u64::try_from(created_at).unwrap_or_default(),
                });
            }
            Ok(clients)
        })
        .await?
    }

    async fn delete_client(&self, id: &str) -> Result<(), ClientError> {
        let id = id.to_owned();
        self.with_conn(move |conn| -> Result<(), ClientError> {
            let tx = conn.transaction().map_err(anyhow::Error::from)?;
            let source: Option<String> = tx
                .query_row("SELECT source FROM clients WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .map_err(anyhow::Error::from)?;
            match source.as_deref() {
                None => return Err(ClientError::NotFound),
                Some("policy") => return Err(ClientError::ManagedByPolicy),
                Some(_) => {}
            }
            tx.execute("DELETE FROM clients WHERE id = ?1", [&id])
                .map_err(anyhow::Error::from)?;
            tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
                params![id, unix_now() as i64],
            )
            .map_err(anyhow::Error::from)?;
            tx.commit().map_err(anyhow::Error::from)?;
            Ok(())
        })
        .await?
    }

    async fn issue_refresh(&self, grant: &Grant, ttl: Duration) -> anyhow::Result<String> {
        let token = random_token("cgr_");
        let family = uuid::Uuid::new_v4().simple().to_string();
        let (hash, grant, expires) = (
            sha256_hex(&token),
            grant.clone(),
            (unix_now() + ttl.as_secs()) as i64,
        );
        self.with_conn(move |conn| -> anyhow::Result<()> {
            insert_refresh(conn, &hash, &family, &grant, expires)?;
            Ok(())
        })
        .await??;
        Ok(token)
    }

    async fn rotate_refresh(
        &self,
        token: &str,
        ttl: Duration,
    ) -> Result<(Grant, String), RefreshError> {
        let presented = sha256_hex(token);
        let next = random_token("cgr_");
        let next_hash = sha256_hex(&next);
        let outcome = self
            .with_conn(move |conn| -> Result<Grant, RefreshError> {
                let tx = conn.transaction().map_err(anyhow::Error::from)?;
                let now = unix_now() as i64;
                let row = tx
                    .query_row(
                        "SELECT family, sub, roles, client_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_sha256 = ?1",
                        [&presented],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, Option<String>>(3)?,
                                r.get::<_, i64>(4)?,
                                r.get::<_, Option<i64>>(5)?,
                                r.get::<_, Option<i64>>(6)?,
                            ))
                        },
                    )
                    .optional()
                    .map_err(anyhow::Error::from)?;
                let Some((family, sub, roles, client_id, expires_at, used_at, revoked_at)) = row else {
                    return Err(RefreshError::Invalid);
                };
                if revoked_at.is_some() || expires_at <= now {
                    return Err(RefreshError::Invalid);
                }
                if used_at.is_some() {
                    tx.execute(
                        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family = ?1 AND revoked_at IS NULL",
                        params![family, now],
                    )
                    .map_err(anyhow::Error::from)?;
                    tx.commit().map_err(anyhow::Error::from)?;
                    return Err(RefreshError::Reused);
                }
                // A client's tokens carry its current roles, and die with it.
                let roles: Vec<String> = match &client_id {
                    Some(id) => {
                        let current: Option<String> = tx
                            .query_row("SELECT roles FROM clients WHERE id = ?1", [id], |r| r.get(0))
                            .optional()
                            .map_err(anyhow::Error::from)?;
                        let Some(current) = current else {
                            return Err(RefreshError::Invalid);
                        };
                        serde_json::from_str(&current).map_err(anyhow::Error::from)?
                    }
                    None => serde_json::from_str(&roles).map_err(anyhow::Error::from)?,
                };
                let grant = Grant { sub, roles, client_id };
                tx.execute(
                    "UPDATE refresh_tokens SET used_at = ?2 WHERE token_sha256 = ?1",
                    params![presented, now],
                )
                .map_err(anyhow::Error::from)?;
                insert_refresh(&tx, &next_hash, &family, &grant, now + ttl.as_secs() as i64)?;
                tx.commit().map_err(anyhow::Error::from)?;
                Ok(grant)
            })
            .await??;
        Ok((outcome, next))
    }

    async fn revoke(&self, token: &str) -> anyhow::Result<()> {
        let presented = sha256_hex(token);
        self.with_conn(move |conn| -> anyhow::Result<()> {
            conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ?2
                 WHERE family = (SELECT family FROM refresh_tokens WHERE token_sha256 = ?1) AND revoked_at IS NULL",
                params![presented, unix_now() as i64],
            )?;
            Ok(())
        })
        .await?
    }
}

fn insert_refresh(
    conn: &Connection,
    hash: &str,
    family: &str,
    grant: &Grant,
    expires_at: i64,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO refresh_tokens (token_sha256, family, sub, roles, client_id, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            hash,
            family,
            grant.sub,
            serde_json::to_string(&grant.roles)?,
            grant.client_id,
            expires_at
        ],
    )?;
    Ok(())
}

/// Lowercase hex SHA-256 of `value`.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `prefix` + 32 random bytes, base64url.
fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = TokenStore::open(dir.path(), &[]).unwrap();
        let grant = Grant {
            sub: "alice".into(),
            roles: vec!["editor".into()],
            client_id: None,
        };
        let ttl = Duration::from_secs(60);
        let first = store.issue_refresh(&grant, ttl).await.unwrap();
        let (got, second) = store.rotate_refresh(&first, ttl).await.unwrap();
        assert_eq!(got, grant);
        let (_, third) = store.rotate_refresh(&second, ttl).await.unwrap();
        // Replaying the first token revokes the family, including the newest token.
        assert!(matches!(
            store.rotate_refresh(&first, ttl).await,
            Err(RefreshError::Reused)
        ));
        assert!(matches!(
            store.rotate_refresh(&third, ttl).await,
            Err(RefreshError::Invalid)
        ));
        assert!(matches!(
            store.rotate_refresh("cgr_unknown", ttl).await,
            Err(RefreshError::Invalid)
        ));
    }

    #[tokio::test]
    async fn client_secrets_are_stored_hashed_and_checked() {
        let dir = tempfile::TempDir::new().unwrap();
        let policy_client = ClientFile {
            id: "pipeline".into(),
            secret_sha256: sha256_hex("s3cret-from-policy"),
            roles: vec!["pipeline".into()],
        };
        let store = TokenStore::open(dir.path(), &[policy_client]).unwrap();
        assert_eq!(
            store
                .verify_client("pipeline", "s3cret-from-policy")
                .await
                .unwrap(),
            Some(vec!["pipeline".to_owned()])
        );
        assert_eq!(
            store.verify_client("pipeline", "wrong").await.unwrap(),
            None
        );
        let secret = store
            .create_client("etl", &["writer".into()])
            .await
            .unwrap();
        assert!(secret.starts_with("cgs_"));
        assert!(matches!(
            store.create_client("etl", &[]).await,
            Err(ClientError::Exists)
        ));
        assert!(store.verify_client("etl", &secret).await.unwrap().is_some());
        // Neither the database nor its WAL holds the secret in clear.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let raw = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret stored in clear"
            );
        }
        assert!(matches!(
            store.delete_client("pipeline").await,
            Err(ClientError::ManagedByPolicy)
        ));
        store.delete_client("etl").await.unwrap();
        assert!(store.verify_client("etl", &secret).await.unwrap().is_none());
    }
}
