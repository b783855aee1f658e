//! JWT verification: every configured key source (an HMAC secret, a PEM public key, a remote
//! JWKS, and the gateway's own signing key), each with its algorithm pinned.
//!
//! The token's shape is checked first (`compact`). Its header then only selects keys: a `kid`
//! selects the one key with that id and nothing else, and a token without one is tried against
//! the keys of its algorithm. The algorithm that verifies it is always the key's own, so
//! `alg: none` and HS/RS confusion fail. Each failure maps to a precise `AuthError` so clients
//! learn which check failed.

use std::collections::HashSet;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::compact;
use super::error::AuthError;
use super::jwks::RemoteJwks;
use super::keyring::Keyring;
use super::keys::{KeySource, VerifyKey, external_rules, public_key_from_pem};
use crate::config::AuthConfig;

/// A verified token: its claims and the source of the key that verified it.
#[derive(Debug, Clone)]
pub struct Verified {
    pub claims: Map<String, Value>,
    pub source: KeySource,
    /// When the key that verified it stops verifying, if it does (ms since the epoch).
    pub retires_at: Option<i64>,
}

/// Verifies bearer tokens against every configured key source.
pub struct Verifier {
    static_keys: Vec<VerifyKey>,
    gateway: Option<Arc<Keyring>>,
    jwks: Option<RemoteJwks>,
}

impl Verifier {
    /// Builds the static keys from configuration; `gateway` verifies the gateway's own tokens.
    pub fn new(
        config: &AuthConfig,
        gateway: Option<Arc<Keyring>>,
        jwks: Option<RemoteJwks>,
    ) -> anyhow::Result<Self> {
        let rules = external_rules(config);
        let mut static_keys = Vec::new();
        if let Some(secret) = &config.jwt_secret {
            static_keys.push(VerifyKey {
                kid: config.jwt_secret_kid.clone(),
                algorithm: config.jwt_algorithm,
                key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                validation: rules.validation(config.jwt_algorithm),
                source: KeySource::Secret,
                retires_at: None,
            });
        }
        if let Some(pem) = &config.public_key_pem {
            let (key, algorithm) = public_key_from_pem(pem)
                .map_err(|reason| anyhow::anyhow!("JWT_PUBLIC_KEY: {reason}"))?;
            static_keys.push(VerifyKey {
                kid: config.public_key_kid.clone(),
                algorithm,
                key,
                validation: rules.validation(algorithm),
                source: KeySource::PublicKey,
                retires_at: None,
            });
        }
        Ok(Self {
            static_keys,
            gateway,
            jwks,
        })
    }

    /// The remote JWKS, if one is configured.
    pub fn jwks(&self) -> Option<&RemoteJwks> {
        self.jwks.as_ref()
    }

    /// Verifies a compact JWS and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let header = compact::inspect(token)?;
        let candidates = self.candidates(header.kid.as_deref(), header.alg).await?;
        let mut best: Option<AuthError> = None;
        for key in &candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &key.validation) {
                Ok(data) => {
                    return Ok(Verified {
                        claims: data.claims,
                        source: key.source,
                        retires_at: key.retires_at,
                    });
                }
                Err(err) => {
                    let err = AuthError::from_jwt(err.kind(), &key.validation);
                    // A claims failure means the signature held: that is the precise answer.
                    if best.as_ref().is_none_or(|b| err.rank() > b.rank()) {
                        best = Some(err);
                    }
                }
            }
        }
        Err(best.unwrap_or(AuthError::UnknownKey))
    }

    /// The keys a token may be verified with. A `kid` selects the key with that id (the
    /// gateway's own, a static key given one, or the JWKS after a rate-limited refetch) and no
    /// other: a `kid` that names no key is `unknown_key`, never a fallback to the keys without
    /// one. A token without a `kid` is tried against every key of its algorithm.
    async fn candidates(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<VerifyKey>, AuthError> {
        if let Some(kid) = kid {
            let named = |k: &&VerifyKey| k.kid.as_deref() == Some(kid);
            if let Some(key) = self.gateway.as_ref().and_then(|g| g.find(kid)) {
                return Ok(vec![key]);
            }
            if let Some(key) = self.static_keys.iter().find(named) {
                return Ok(vec![key.clone()]);
            }
            if let Some(jwks) = &self.jwks
                && let Some(key) = jwks.find(kid).await
            {
                return Ok(vec![key]);
            }
            // A key another replica created since this one last read the shared keys.
            if let Some(gateway) = &self.gateway
                && gateway.reload_for_unknown_kid().await
                && let Some(key) = gateway.find(kid)
            {
                return Ok(vec![key]);
            }
            return Err(AuthError::UnknownKey);
        }
        let mut keys: Vec<VerifyKey> = self
            .static_keys
            .iter()
            .filter(|k| k.algorithm == alg)
            .cloned()
            .collect();
        if let Some(jwks) = &self.jwks {
            keys.extend(jwks.cached().into_iter().filter(|k| k.algorithm == alg));
        }
        if keys.is_empty() {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        Ok(keys)
    }
}

impl AuthError {
    /// Maps a jsonwebtoken failure to the check that failed. A wrong issuer or audience names
    /// the accepted value (not a secret), so a caller can see what to fix.
    fn from_jwt(kind: &ErrorKind, validation: &Validation) -> Self {
        let accepted = |values: Option<&HashSet<String>>| {
            let mut values: Vec<String> = values
                .into_iter()
                .flatten()
                .map(|v| format!("`{v}`"))
                .collect();
            values.sort();
            values.join(" or ")
        };
        match kind {
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidIssuer => Self::WrongIssuer(accepted(validation.iss.as_ref())),
            ErrorKind::InvalidAudience => Self::WrongAudience(accepted(validation.aud.as_ref())),
            ErrorKind::MissingRequiredClaim(claim) => Self::MissingClaim(claim.clone()),
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm => Self::UnsupportedAlgorithm,
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_)
            | ErrorKind::InvalidClaimFormat(_) => Self::Malformed,
            // A signature that cannot be checked with this key (wrong key type or shape).
            _ => Self::BadSignature,
        }
    }

    /// How specific an error is when several keys were tried: claims errors mean a key verified
    /// the signature, so they win over signature errors.
    fn rank(&self) -> u8 {
        match self {
            Self::UnknownKey | Self::UnsupportedAlgorithm | Self::UnsupportedHeader(_) => 0,
            Self::BadSignature => 1,
            Self::Malformed => 2,
            _ => 3,
        }
    }
}
