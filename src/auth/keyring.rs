//! The gateway's signing keys: the one that signs now, and every key whose tokens may still be
//! alive, which verify and are published in the JWKS.
//!
//! A single replica has one key (`GATEWAY_SIGNING_KEY`, or the key file in its data folder).
//! With `GATEWAY_STATE_URL` the keys live in `gateway.signing_keys`, so every replica signs with
//! the same key and serves the same JWKS. `convex-gateway keys rotate` adds a key that is
//! published at once and signs after `--publish-ahead` (so verifiers that cache the JWKS, Convex
//! among them, know it before they see a token it signed); the old key then stops signing and
//! is still published and verifies for `--keep`, until the tokens it signed have expired.
//! Replicas reload the keys every [`RELOAD_EVERY`], on `SIGHUP`, and at once (at most once a
//! second) when a token names a key they do not know.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use super::keys::VerifyKey;
use super::signer::{Signer, generate_p256_pem};
use crate::config::AuthConfig;
use crate::shared::StateDb;

/// How often replicas read the shared keys again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// The least time between two reloads caused by unknown key ids.
const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(1);
/// Serialises the creation of the first shared key and rotations.
const KEYS_LOCK: i64 = 0x6761_7465_7761_7930;

/// The keys in force.
struct KeySet {
    signer: Arc<Signer>,
    /// Every key that verifies, the signing key first, each with the time (ms since the epoch)
    /// after which it no longer does (retired keys).
    verify: Vec<(VerifyKey, Option<i64>)>,
    /// The public keys, with the same limits.
    jwks: Vec<(Value, Option<i64>)>,
}

impl KeySet {
    fn new(signer: Signer, retired: Vec<(Signer, Option<i64>)>) -> Self {
        let all: Vec<(&Signer, Option<i64>)> = std::iter::once((&signer, None))
            .chain(retired.iter().map(|(s, until)| (s, *until)))
            .collect();
        let verify = all
            .iter()
            .map(|(s, until)| (s.verify_key(), *until))
            .collect();
        let jwks = all
            .iter()
            .map(|(s, until)| (serde_json::to_value(s.jwk()).unwrap_or(Value::Null), *until))
            .collect();
        Self {
            signer: Arc::new(signer),
            verify,
            jwks,
        }
    }
}

/// Whether a key limited to `until` is still in force.
fn in_force(until: Option<i64>) -> bool {
    until.is_none_or(|until| until > crate::outbox::now_ms())
}

/// The shared keys' source.
struct SharedSource {
    db: StateDb,
    config: AuthConfig,
    last_unknown_reload: Mutex<Option<Instant>>,
}

/// The signing key and the keys that still verify.
pub struct Keyring {
    keys: RwLock<Arc<KeySet>>,
    /// Bumped whenever the keys change, so caches of verified tokens know to check again.
    generation: std::sync::atomic::AtomicU64,
    shared: Option<SharedSource>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("signer", &self.signer().kid().to_owned())
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

/// A key as stored in `gateway.signing_keys`, with its times (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    /// When it starts signing (`None`: since it was created).
    pub activates_at: Option<i64>,
    /// When it stops signing.
    pub retired_at: Option<i64>,
    /// Until when it is still published and verifies.
    pub publish_until: Option<i64>,
}

impl StoredKey {
    /// Whether it may sign at `now`.
    pub fn signs_at(&self, now: i64) -> bool {
        self.activates_at.is_none_or(|at| at <= now) && self.retired_at.is_none_or(|at| at > now)
    }
}

impl Keyring {
    /// One key that never changes (a single replica, or `GATEWAY_SIGNING_KEY`).
    pub fn fixed(signer: Signer) -> Self {
        Self {
            keys: RwLock::new(Arc::new(KeySet::new(signer, Vec::new()))),
            generation: std::sync::atomic::AtomicU64::new(0),
            shared: None,
        }
    }

    /// The keys in the shared state store; the first replica to start creates the first one:
    /// `seed` (the key a single replica used so far, so its tokens stay valid) or a new one.
    pub async fn shared(
        db: StateDb,
        config: &AuthConfig,
        seed: Option<String>,
    ) -> anyhow::Result<Self> {
        {
            let mut conn = db.conn().await?;
            let tx = conn.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEYS_LOCK])
                .await?;
            let any: i64 = tx
                .query_one(
                    "SELECT count(*) FROM gateway.signing_keys WHERE retired_at IS NULL",
                    &[],
                )
                .await?
                .get(0);
            if any == 0 {
                match seed {
                    Some(pem) => {
                        let kid = Signer::from_pem(&pem, config)
                            .context("the data folder's signing key")?
                            .kid()
                            .to_owned();
                        tx.execute(
                            "INSERT INTO gateway.signing_keys (kid, pem, created_at) VALUES ($1, $2, $3)",
                            &[&kid, &db.seal(&pem)?, &crate::outbox::now_ms()],
                        )
                        .await?;
                        tracing::info!(kid, "the data folder's signing key is now the shared one");
                    }
                    None => {
                        insert_key(&db, &tx, config, None).await?;
                        tracing::info!("created the first shared signing key");
                    }
                }
            }
            tx.commit().await?;
        }
        let set = load(&db, config).await?;
        Ok(Self {
            keys: RwLock::new(Arc::new(set)),
            generation: std::sync::atomic::AtomicU64::new(0),
            shared: Some(SharedSource {
                db,
                config: config.clone(),
                last_unknown_reload: Mutex::new(None),
            }),
        })
    }

    fn current(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The key that signs now.
    pub fn signer(&self) -> Arc<Signer> {
        Arc::clone(&self.current().signer)
    }

    /// Every key that verifies, as a JWK set.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .current()
            .jwks
            .iter()
            .filter(|(_, until)| in_force(*until))
            .map(|(jwk, _)| jwk.clone())
            .collect();
        json!({ "keys": keys })
    }

    /// The verifying key with id `kid`, if it is in force: a retired key stops verifying when
    /// its publication ends, whether or not the keys were read again since.
    pub fn find(&self, kid: &str) -> Option<VerifyKey> {
        self.current()
            .verify
            .iter()
            .find(|(k, until)| k.kid.as_deref() == Some(kid) && in_force(*until))
            .map(|(k, until)| VerifyKey {
                retires_at: *until,
                ..k.clone()
            })
    }

    /// A number that changes whenever the keys do.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads the shared keys again.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let set = load(&shared.db, &shared.config).await?;
        let changed = set.signer.kid() != self.signer().kid()
            || set.verify.len() != self.current().verify.len();
        if changed {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(
                kid = set.signer.kid(),
                verifying = set.verify.len(),
                "signing keys changed"
            );
        }
        if let Ok(mut keys) = self.keys.write() {
            *keys = Arc::new(set);
        }
        Ok(())
    }

    /// Reads the shared keys again because a token named an unknown key, unless that happened
    /// less than a second ago. Answers whether it read them.
    pub async fn reload_for_unknown_kid(&self) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        {
            let Ok(mut last) = shared.last_unknown_reload.lock() else {
                return false;
            };
            if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_RELOAD) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match self.reload().await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "reading the signing keys failed"
                );
                false
            }
        }
    }
}

async fn insert_key(
    db: &StateDb,
    conn: &impl deadpool_postgres::GenericClient,
    config: &AuthConfig,
    activates_at: Option<i64>,
) -> anyhow::Result<String> {
    let pem = generate_p256_pem()?;
    let kid = Signer::from_pem(&pem, config)?.kid().to_owned();
    conn.execute(
        "INSERT INTO gateway.signing_keys (kid, pem, created_at, activates_at) VALUES ($1, $2, $3, $4)",
        &[&kid, &db.seal(&pem)?, &crate::outbox::now_ms(), &activates_at],
    )
    .await?;
    Ok(kid)
}

/// The newest key that signs now signs; every other key still published verifies (a retired
/// one until `publish_until`, a pending one from the start, though it has signed nothing yet).
async fn load(db: &StateDb, config: &AuthConfig) -> anyhow::Result<KeySet> {
    let now = crate::outbox::now_ms();
    let rows = db
        .conn()
        .await?
        .query(
            "SELECT pem, kid, activates_at, retired_at, publish_until FROM gateway.signing_keys
             WHERE publish_until IS NULL OR publish_until > $1
             ORDER BY created_at DESC",
            &[&now],
        )
        .await?;
    let mut others = Vec::with_capacity(rows.len());
    let mut signing = None;
    for row in rows {
        let stored = StoredKey {
            kid: row.get(1),
            activates_at: row.get(2),
            retired_at: row.get(3),
            publish_until: row.get(4),
        };
        let signer = Signer::from_pem(&db.unseal(row.get(0))?, config)
            .with_context(|| format!("the shared signing key {}", stored.kid))?;
        if signing.is_none() && stored.signs_at(now) {
            signing = Some(signer);
        } else {
            others.push((signer, stored.retired_at.and(stored.publish_until)));
        }
    }
    let signer =
        signing.ok_or_else(|| anyhow::anyhow!("gateway.signing_keys has no key that signs now"))?;
    Ok(KeySet::new(signer, others))
}

/// Adds a new signing key, published at once, which signs from `ahead` on; the keys that sign
/// until then stop at that moment and stay published for `keep` more (the longest lifetime of
/// a token they signed). Answers the new key's id.
pub async fn rotate(
    db: &StateDb,
    config: &AuthConfig,
    ahead: Duration,
    keep: Duration,
) -> anyhow::Result<String> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEYS_LOCK])
        .await?;
    let now = crate::outbox::now_ms();
    let activates = now + ahead.as_millis() as i64;
    tx.execute(
        "UPDATE gateway.signing_keys SET retired_at = $1, publish_until = $2
         WHERE retired_at IS NULL OR retired_at > $1",
        &[&activates, &(activates + keep.as_millis() as i64)],
    )
    .await?;
    let kid = insert_key(db, &tx, config, Some(activates)).await?;
    tx.execute(
        "DELETE FROM gateway.signing_keys WHERE publish_until <= $1",
        &[&now],
    )
    .await?;
    tx.commit().await?;
    Ok(kid)
}

/// The stored keys, newest first.
pub async fn list(db: &StateDb) -> anyhow::Result<Vec<StoredKey>> {
    let rows = db
        .conn()
        .await?
        .query(
            "SELECT kid, activates_at, retired_at, publish_until FROM gateway.signing_keys ORDER BY created_at DESC",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| StoredKey {
            kid: row.get(0),
            activates_at: row.get(1),
            retired_at: row.get(2),
            publish_until: row.get(3),
        })
        .collect())
}
