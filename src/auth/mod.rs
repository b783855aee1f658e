//! Authentication and authorization: `Auth` (token verification and issuing), the `AuthUser`
//! and `MaybeAuthUser` extractors, table authorization with row ownership, and the identity the
//! gateway hands to Convex.
//!
//! A request without `Authorization` is anonymous. A request with one must carry a valid bearer
//! token: a bad token is answered 401 at once and is never treated as anonymous (the seed's
//! mistake). Tokens in the query string are refused.

pub mod cache;
pub mod compact;
pub mod error;
pub mod grants;
pub mod jwks;
pub mod jwt;
pub mod keyring;
pub mod keys;
pub mod policy;
pub mod signer;
pub mod tokens;

use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cache::TtlCache;

pub use self::error::AuthError;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use self::jwks::RemoteJwks;
use self::jwt::Verifier;
use self::keyring::Keyring;
use self::keys::{KeySource, external_rules};
use self::policy::{ANONYMOUS, AUTHENTICATED, FunctionKind, Policy, TableAction};
use self::signer::{KeyOrigin, Signer};
use self::tokens::TokenStore;
use crate::config::{AuthConfig, ConvexAuthMode};
use crate::error::{ApiError, ErrorCode};
use crate::shared::StateDb;

/// A caller with a verified token.
#[derive(Clone)]
pub struct AuthUser {
    /// The `sub` claim.
    pub sub: String,
    /// Roles from the role claim, plus `authenticated`.
    pub roles: Vec<String>,
    /// Every claim of the token.
    pub claims: Map<String, Value>,
    /// Which key source verified the token.
    pub source: KeySource,
    token: Arc<SecretString>,
    /// The gateway keys' generation when the token was verified (see `Keyring::generation`).
    key_generation: u64,
}

impl std::fmt::Debug for AuthUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthUser")
            .field("sub", &self.sub)
            .field("roles", &self.roles)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl AuthUser {
    /// The bearer token as the caller sent it (for `CONVEX_AUTH_MODE=forward`).
    pub fn bearer_token(&self) -> &SecretString {
        &self.token
    }

    /// How long the token has left (`exp`, zero once past, at most a year), or `None` for a
    /// token without an expiry: what ends a watch or a relayed socket opened with it.
    pub fn expires_in(&self) -> Option<std::time::Duration> {
        let exp = self.claims.get("exp")?.as_f64()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let left = std::time::Duration::try_from_secs_f64((exp - now).max(0.0))
            .unwrap_or(std::time::Duration::MAX);
        Some(left.min(std::time::Duration::from_secs(365 * 24 * 3600)))
    }
}

/// The caller of a route that anonymous callers may reach (when the policy allows).
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

static ANONYMOUS_ROLES: LazyLock<Vec<String>> = LazyLock::new(|| vec![ANONYMOUS.to_owned()]);

impl MaybeAuthUser {
    /// The roles the policy sees: the token's roles plus `authenticated`, or `anonymous`.
    pub fn roles(&self) -> &[String] {
        match &self.0 {
            Some(user) => &user.roles,
            None => &ANONYMOUS_ROLES,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuthUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<MaybeAuthUser>()
            .cloned()
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "the authenticate middleware did not run for this route"
                ))
            })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        MaybeAuthUser::from_request_parts(parts, state)
            .await?
            .0
            .ok_or_else(|| AuthError::Missing.into())
    }
}

/// Row ownership in force for a request: only rows whose `field` equals `sub` are visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub field: String,
    pub sub: String,
}

impl Owner {
    /// Whether a document with these fields belongs to the owner.
    pub fn owns(&self, fields: &Map<String, Value>) -> bool {
        fields.get(&self.field).and_then(Value::as_str) == Some(self.sub.as_str())
    }

    /// Stamps the owner into `fields` (when `stamp`), and refuses an owner field naming
    /// someone else.
    pub fn claim(&self, fields: &mut Map<String, Value>, stamp: bool) -> Result<(), ApiError> {
        match fields.get(&self.field) {
            None if stamp => {
                fields.insert(self.field.clone(), Value::String(self.sub.clone()));
                Ok(())
            }
            None => Ok(()),
            Some(Value::String(sub)) if *sub == self.sub => Ok(()),
            Some(_) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("`{}` must be your own subject id", self.field),
            )),
        }
    }
}

/// Whether a document with these fields is visible under `owner` (always, when none applies).
pub fn visible(owner: Option<&Owner>, fields: &Map<String, Value>) -> bool {
    owner.is_none_or(|o| o.owns(fields))
}

/// Everything authentication needs, built once in `Application::build`.
pub struct Auth {
    verifier: Verifier,
    keyring: Arc<Keyring>,
    policy: Policy,
    tokens: TokenStore,
    config: AuthConfig,
    /// Verified bearer tokens, until they expire (at most [`VERIFIED_TTL`]).
    verified: TtlCache<AuthUser>,
    /// Convex tokens minted per claim set, reused for half their lifetime.
    minted: TtlCache<SecretString>,
}

/// How long a verified token is trusted without checking its signature again.
const VERIFIED_TTL: Duration = Duration::from_secs(300);
/// The most tokens each cache holds.
const CACHE_ENTRIES: usize = 10_000;

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("keyring", &self.keyring)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Loads the signing key (generating it on first start), the policy, the token store and
    /// the key sources; fetches the remote JWKS once (a failure there is logged, not fatal).
    ///
    /// With `shared` (the shared state store), refresh tokens, service accounts and, unless
    /// `GATEWAY_SIGNING_KEY` is set, the signing keys live there instead of the data folder.
    pub async fn build(
        config: &AuthConfig,
        data_dir: &Path,
        http: reqwest::Client,
        shared: Option<&StateDb>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|err| {
            anyhow::anyhow!("creating GATEWAY_DATA_DIR {}: {err}", data_dir.display())
        })?;
        let keyring = match shared {
            Some(db) if config.signing_key_pem.is_none() => {
                // A single replica's key moves into the shared store, so its tokens stay valid.
                let seed = std::fs::read_to_string(data_dir.join(signer::KEY_FILE)).ok();
                let keyring = Keyring::shared(db.clone(), config, seed)
                    .await
                    .context("loading the shared signing keys")?;
                tracing::info!(kid = keyring.signer().kid(), "shared signing keys loaded");
                keyring
            }
            _ => Keyring::fixed(Self::local_signer(config, data_dir)?),
        };
        let keyring = Arc::new(keyring);
        let policy = Policy::load(config.policy_path.as_deref())?;
        tracing::info!(policy = policy.source(), "authorization policy loaded");
        let jwks = config
            .jwks_url
            .clone()
            .map(|url| RemoteJwks::new(url, http, external_rules(config), config.jwks_min_refresh));
        if let Some(jwks) = &jwks {
            jwks.refresh().await;
        }
        let verifier = Verifier::new(config, Some(Arc::clone(&keyring)), jwks)?;
        let tokens = match shared {
            Some(db) => TokenStore::shared(db.clone(), policy.clients()).await?,
            None => TokenStore::open(data_dir, policy.clients())?,
        };
        Ok(Self {
            verifier,
            keyring,
            policy,
            tokens,
            config: config.clone(),
            verified: TtlCache::new(CACHE_ENTRIES),
            minted: TtlCache::new(CACHE_ENTRIES),
        })
    }

    /// `GATEWAY_SIGNING_KEY`, else the key file in the data folder (generated on first start).
    fn local_signer(config: &AuthConfig, data_dir: &Path) -> anyhow::Result<Signer> {
        let (signer, origin) = Signer::load_or_generate(config, data_dir)?;
        match origin {
            KeyOrigin::Generated => tracing::info!(
                kid = signer.kid(),
                "generated a new ES256 signing key in the data folder; mint a development token with `convex-gateway token --sub you --role admin`"
            ),
            KeyOrigin::Loaded | KeyOrigin::Configured => {
                tracing::info!(kid = signer.kid(), algorithm = ?signer.algorithm(), "signing key loaded");
            }
        }
        Ok(signer)
    }

    /// The key that signs now.
    pub fn signer(&self) -> Arc<Signer> {
        self.keyring.signer()
    }

    /// The signing key and every key that still verifies.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The authorization policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Refresh tokens and service accounts.
    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// The remote JWKS, when `JWT_JWKS_URL` is set.
    pub fn jwks(&self) -> Option<&RemoteJwks> {
        self.verifier.jwks()
    }

    /// The authentication settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Verifies a bearer token and builds the caller.
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser, AuthError> {
        if let Some(user) = self.verified.get(token) {
            // A token of the gateway's own keys is checked again once the keys changed (a
            // rotation may have ended the key that signed it).
            if user.source != KeySource::Gateway || user.key_generation == self.keyring.generation()
            {
                return Ok(user);
            }
        }
        let key_generation = self.keyring.generation();
        let verified = self.verifier.verify(token).await?;
        let sub = verified
            .claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::MissingClaim("sub".into()))?
            .to_owned();
        let mut roles = roles_from_claims(&verified.claims, &self.config.role_claim);
        roles.push(AUTHENTICATED.to_owned());
        // Trusted again without a signature check until it expires (with the leeway that
        // verification allows), and for at most VERIFIED_TTL.
        let now = signer::unix_now();
        let expires = verified.claims.get("exp").and_then(Value::as_u64);
        let user = AuthUser {
            sub,
            roles,
            claims: verified.claims,
            source: verified.source,
            token: Arc::new(SecretString::from(token.to_owned())),
            key_generation,
        };
        if let Some(exp) = expires {
            let left = (exp + self.config.leeway_seconds).saturating_sub(now);
            let mut ttl = Duration::from_secs(left).min(VERIFIED_TTL);
            // A token verified by a retired key is trusted only while that key verifies.
            if let Some(retires) = verified.retires_at {
                let until = u64::try_from(retires - crate::outbox::now_ms()).unwrap_or(0);
                ttl = ttl.min(Duration::from_millis(until));
            }
            if !ttl.is_zero() {
                self.verified
                    .insert(token.to_owned(), user.clone(), Instant::now() + ttl);
            }
        }
        Ok(user)
    }

    /// Whether the caller holds an admin role.
    pub fn is_admin(&self, caller: &MaybeAuthUser) -> bool {
        self.policy.is_admin(caller.roles())
    }

    /// Checks that the caller may perform `action` on `table`, and returns the row-ownership
    /// scope in force. Anonymous callers are told to authenticate (401); authenticated callers
    /// are refused (403).
    pub fn authorize_table(
        &self,
        caller: &MaybeAuthUser,
        table: &str,
        action: TableAction,
    ) -> Result<Option<Owner>, ApiError> {
        if !self.policy.allows_table(caller.roles(), table, action) {
            return Err(self.denied(caller, &format!("{action:?} on table `{table}`")));
        }
        let Some(field) = self.policy.owner_field(table) else {
            return Ok(None);
        };
        if self.is_admin(caller) {
            return Ok(None);
        }
        match &caller.0 {
            Some(user) => Ok(Some(Owner {
                field: field.to_owned(),
                sub: user.sub.clone(),
            })),
            // Rows of an owned table belong to someone; an anonymous caller owns none.
            None => Err(AuthError::Missing.into()),
        }
    }

    /// Checks that the caller may call the Convex function at `path` as `kind`.
    pub fn authorize_function(
        &self,
        caller: &MaybeAuthUser,
        path: &str,
        kind: FunctionKind,
    ) -> Result<(), ApiError> {
        if self.policy.allows_function(caller.roles(), path, kind) {
            Ok(())
        } else {
            Err(self.denied(caller, &format!("{kind:?} `{path}`")))
        }
    }

    /// Requires an admin caller.
    pub fn require_admin(&self, caller: &MaybeAuthUser) -> Result<(), ApiError> {
        if self.is_admin(caller) {
            Ok(())
        } else {
            Err(self.denied(caller, "the admin endpoints"))
        }
    }

    fn denied(&self, caller: &MaybeAuthUser, what: &str) -> ApiError {
        match caller.0 {
            None => AuthError::Missing.into(),
            Some(_) => ApiError::new(
                ErrorCode::Forbidden,
                format!("your roles do not allow {what}"),
            ),
        }
    }

    /// Signs an access token for `sub` with `roles`, valid for `ttl` (default `JWT_EXPIRY_SECONDS`).
    pub fn issue_access_token(
        &self,
        sub: &str,
        roles: &[String],
        extra: Map<String, Value>,
        ttl: Option<Duration>,
    ) -> Result<(String, Duration), ApiError> {
        let ttl = ttl.unwrap_or(self.config.access_ttl);
        let mut claims = extra;
        claims.insert("sub".into(), Value::from(sub));
        claims.insert(self.config.role_claim.clone(), Value::from(roles.to_vec()));
        let signer = self.signer();
        let token = signer
            .sign(claims, signer.issuer(), ttl)
            .map_err(ApiError::internal)?;
        Ok((token, ttl))
    }

    /// The bearer token to send to Convex for this caller, per `CONVEX_AUTH_MODE`. Built per
    /// request and never stored on a shared client, so one caller's identity cannot reach
    /// another caller's request.
    pub fn convex_identity(
        &self,
        caller: &MaybeAuthUser,
    ) -> Result<Option<SecretString>, ApiError> {
        let Some(user) = &caller.0 else {
            return Ok(None);
        };
        match self.config.convex_auth_mode {
            ConvexAuthMode::None => Ok(None),
            ConvexAuthMode::Forward => Ok(Some(SecretString::from(
                user.bearer_token().expose_secret().to_owned(),
            ))),
            // The caller's token determines the claims, so it keys the cache cheaply.
            ConvexAuthMode::Mint => self
                .minted_for(user.bearer_token().expose_secret(), || mint_claims(user))
                .map(Some),
        }
    }

    /// The Convex token cached under `key` while it has more than half its lifetime left, else
    /// one freshly signed over `claims()`.
    fn minted_for(
        &self,
        key: &str,
        claims: impl FnOnce() -> Map<String, Value>,
    ) -> Result<SecretString, ApiError> {
        if let Some(token) = self.minted.get(key) {
            return Ok(token);
        }
        let token = SecretString::from(
            self.signer()
                .sign(
                    claims(),
                    &self.config.convex_application_id,
                    self.config.convex_token_ttl,
                )
                .map_err(ApiError::internal)?,
        );
        self.minted.insert(
            key.to_owned(),
            token.clone(),
            Instant::now() + self.config.convex_token_ttl / 2,
        );
        Ok(token)
    }

    /// What the outbox keeps to present this caller to Convex later, per `CONVEX_AUTH_MODE`:
    /// the claims to mint from (`mint`), the caller's own token (`forward`), or nothing.
    pub fn identity_snapshot(&self, caller: &MaybeAuthUser) -> Option<Value> {
        let user = caller.0.as_ref()?;
        match self.config.convex_auth_mode {
            ConvexAuthMode::None => None,
            ConvexAuthMode::Forward => Some(serde_json::json!({
                "mode": "forward",
                "token": user.bearer_token().expose_secret(),
            })),
            ConvexAuthMode::Mint => Some(serde_json::json!({
                "mode": "mint",
                "claims": mint_claims(user),
            })),
        }
    }

    /// The bearer token for a delivery from the outbox: freshly minted from the kept claims, or
    /// the caller's kept token (which Convex refuses once it has expired).
    pub fn identity_from_snapshot(
        &self,
        snapshot: Option<&Value>,
    ) -> Result<Option<SecretString>, ApiError> {
        let Some(snapshot) = snapshot else {
            return Ok(None);
        };
        match snapshot.get("mode").and_then(Value::as_str) {
            Some("forward") => Ok(snapshot
                .get("token")
                .and_then(Value::as_str)
                .map(|t| SecretString::from(t.to_owned()))),
            Some("mint") => match snapshot.get("claims") {
                Some(Value::Object(claims)) => self
                    .minted_for(&Value::Object(claims.clone()).to_string(), || {
                        claims.clone()
                    })
                    .map(Some),
                _ => Err(ApiError::internal(anyhow::anyhow!(
                    "an outbox identity without claims"
                ))),
            },
            _ => Err(ApiError::internal(anyhow::anyhow!(
                "an outbox identity of unknown mode"
            ))),
        }
    }

    /// A token for Convex as the gateway mints them, for `sub` without roles (the probe of
    /// `convex-gateway convex trust`).
    pub fn mint_for_convex(&self, sub: &str) -> anyhow::Result<SecretString> {
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from(sub));
        Ok(SecretString::from(self.signer().sign(
            claims,
            &self.config.convex_application_id,
            self.config.convex_token_ttl,
        )?))
    }

    /// The `applicationID` (audience) of the tokens minted for Convex.
    pub fn convex_application_id(&self) -> &str {
        &self.config.convex_application_id
    }

    /// The `convex/auth.config.ts` that makes Convex accept the tokens this gateway mints.
    pub fn convex_auth_config(&self) -> String {
        format!(
            r#"// convex/auth.config.ts — generated by `convex-gateway convex-auth-config`
export default {{
  providers: [
    {{
      type: "customJwt",
      applicationID: "{app}",
      issuer: "{iss}",
      jwks: "{iss}/.well-known/jwks.json",
      algorithm: "{alg:?}",
    }},
  ],
}};
"#,
            app = self.config.convex_application_id,
            iss = self.signer().issuer(),
            alg = self.signer().algorithm(),
        )
    }
}

/// Roles from the role claim: a string or an array of strings, found by exact claim name first
/// (claims such as `https://example.com/roles`), then by dotted path (`app_metadata.roles`).
fn roles_from_claims(claims: &Map<String, Value>, claim: &str) -> Vec<String> {
    let value = claims.get(claim).or_else(|| {
        let mut parts = claim.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |v, part| v.get(part))
    });
    match value {
        Some(Value::String(role)) if !role.is_empty() => vec![role.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|r| !r.is_empty() && *r != ANONYMOUS)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|r| r != ANONYMOUS)
    .collect()
}

/// The claims a minted Convex token carries for `user`: `sub`, its roles (without the implicit
/// `authenticated`), and the profile claims Convex's `UserIdentity` knows.
fn mint_claims(user: &AuthUser) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::from(user.sub.clone()));
    let roles: Vec<&str> = user
        .roles
        .iter()
        .map(String::as_str)
        .filter(|r| *r != AUTHENTICATED)
        .collect();
    claims.insert("roles".into(), Value::from(roles));
    for claim in [
        "name",
        "email",
        "email_verified",
        "given_name",
        "family_name",
        "picture",
    ] {
        if let Some(value) = user.claims.get(claim) {
            claims.insert(claim.into(), value.clone());
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn roles_come_from_a_string_an_array_or_a_path() {
        assert_eq!(
            roles_from_claims(&claims(json!({"role": "admin"})), "role"),
            ["admin"]
        );
        assert_eq!(
            roles_from_claims(&claims(json!({"roles": ["a", "b", 3]})), "roles"),
            ["a", "b"]
        );
        assert_eq!(
            roles_from_claims(
                &claims(json!({"app_metadata": {"roles": ["x"]}})),
                "app_metadata.roles"
            ),
            ["x"]
        );
        assert_eq!(
            roles_from_claims(
                &claims(json!({"https://ex.com/roles": ["y"]})),
                "https://ex.com/roles"
            ),
            ["y"]
        );
        // Nobody can claim to be anonymous, and a missing claim means no extra roles.
        assert!(roles_from_claims(&claims(json!({"role": "anonymous"})), "role").is_empty());
        assert!(roles_from_claims(&claims(json!({})), "role").is_empty());
    }
}
