//! The keys that verify tokens: where each comes from, the algorithm and claims checks pinned
//! to it, and how keys are read from a PEM public key or a JWK. `Verifier` (jwt.rs) picks among
//! them; the remote JWKS cache (jwks.rs) and the gateway's signer (signer.rs) make them.

use std::collections::HashSet;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::config::AuthConfig;

/// Where a verifying key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `JWT_SECRET`.
    Secret,
    /// `JWT_PUBLIC_KEY`.
    PublicKey,
    /// `JWT_JWKS_URL`.
    Jwks,
    /// The gateway's own signing key.
    Gateway,
}

/// A key that may verify tokens, with the algorithm and claims checks pinned to it.
#[derive(Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
    pub validation: Validation,
    pub source: KeySource,
    /// When (ms since the epoch) the key stops verifying: a retired signing key's end of
    /// publication. Tokens it verified are trusted no longer than that.
    pub retires_at: Option<i64>,
}

/// The claims checks shared by external tokens (issuer, audience, leeway).
#[derive(Debug, Clone)]
pub struct ClaimRules {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: u64,
}

impl ClaimRules {
    /// A `Validation` for `algorithm` only, requiring `exp` and honouring `nbf`. An issuer or
    /// audience that is set is required, not only checked when present: jsonwebtoken checks
    /// `iss` and `aud` only when the token has them unless they are required claims.
    pub fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        let mut required = HashSet::from(["exp".to_owned()]);
        if self.issuer.is_some() {
            required.insert("iss".to_owned());
        }
        if self.audience.is_some() {
            required.insert("aud".to_owned());
        }
        validation.required_spec_claims = required;
        match &self.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        validation
    }
}

/// The claims rules for tokens from external sources.
pub fn external_rules(config: &AuthConfig) -> ClaimRules {
    ClaimRules {
        issuer: config.issuer.clone(),
        audience: config.audience.clone(),
        leeway: config.leeway_seconds,
    }
}

/// Parses a PEM public key and picks the algorithm its type implies.
pub fn public_key_from_pem(pem: &str) -> Result<(DecodingKey, Algorithm), String> {
    use p256::pkcs8::DecodePublicKey as _;
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    let bytes = pem.as_bytes();
    if p256::PublicKey::from_public_key_pem(pem).is_ok() {
        return DecodingKey::from_ec_pem(bytes)
            .map(|k| (k, Algorithm::ES256))
            .map_err(|e| e.to_string());
    }
    if rsa::RsaPublicKey::from_public_key_pem(pem).is_ok()
        || rsa::RsaPublicKey::from_pkcs1_pem(pem).is_ok()
    {
        return DecodingKey::from_rsa_pem(bytes)
            .map(|k| (k, Algorithm::RS256))
            .map_err(|e| e.to_string());
    }
    if let Ok(key) = DecodingKey::from_ed_pem(bytes) {
        return Ok((key, Algorithm::EdDSA));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
        return Ok((key, Algorithm::ES384));
    }
    Err("not a PEM public key (RSA, EC P-256/P-384 or Ed25519)".into())
}

/// Turns one JWK into a verifying key, or `None` for keys that cannot verify signatures.
pub fn key_from_jwk(jwk: &Jwk, rules: &ClaimRules, source: KeySource) -> Option<VerifyKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let algorithm = match &jwk.common.key_algorithm {
        Some(declared) => signing_algorithm(declared)?,
        None => match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
            _ => return None,
        },
    };
    // HMAC keys are never taken from a JWKS: a published secret is no secret.
    if matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key,
        validation: rules.validation(algorithm),
        source,
        retires_at: None,
    })
}

fn signing_algorithm(declared: &KeyAlgorithm) -> Option<Algorithm> {
    Some(match declared {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}
