//! The gateway's own signing key: ES256 (generated on first start into the data folder) or a
//! PEM given in `GATEWAY_SIGNING_KEY` (EC P-256 or RSA). It signs access tokens and tokens minted
//! for Convex, and is published as a JWKS so that Convex and other services can verify them.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

use super::keys::{ClaimRules, KeySource, VerifyKey};
use crate::config::AuthConfig;

/// The file the generated key is kept in, inside the data folder.
pub const KEY_FILE: &str = "signing-key.pem";

/// Signs the gateway's tokens.
pub struct Signer {
    algorithm: Algorithm,
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
    issuer: String,
    leeway: u64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// How the key was obtained, for the startup log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    Configured,
    Loaded,
    Generated,
}

impl Signer {
    /// Loads `GATEWAY_SIGNING_KEY`, else the key file in `data_dir`, else generates one there.
    pub fn load_or_generate(
        config: &AuthConfig,
        data_dir: &Path,
    ) -> anyhow::Result<(Self, KeyOrigin)> {
        if let Some(loaded) = Self::load(config, data_dir)? {
            return Ok(loaded);
        }
        let path = data_dir.join(KEY_FILE);
        let pem = generate_p256_pem()?;
        write_private(&path, &pem)?;
        Ok((Self::from_pem(&pem, config)?, KeyOrigin::Generated))
    }

    /// Loads `GATEWAY_SIGNING_KEY`, else the key file in `data_dir`; `None` when neither exists.
    /// Never creates a key.
    pub fn load(config: &AuthConfig, data_dir: &Path) -> anyhow::Result<Option<(Self, KeyOrigin)>> {
        if let Some(pem) = &config.signing_key_pem {
            let signer = Self::from_pem(pem.expose_secret(), config)
                .context("GATEWAY_SIGNING_KEY is not a usable EC P-256 or RSA private key")?;
            return Ok(Some((signer, KeyOrigin::Configured)));
        }
        let path = data_dir.join(KEY_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let signer = Self::from_pem(&pem, config)
            .with_context(|| format!("{} is not a usable private key", path.display()))?;
        Ok(Some((signer, KeyOrigin::Loaded)))
    }

    /// A signer from a PEM private key (PKCS#8 or SEC1 EC P-256, PKCS#8 or PKCS#1 RSA).
    pub fn from_pem(pem: &str, config: &AuthConfig) -> anyhow::Result<Self> {
        use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        use rsa::traits::PublicKeyParts as _;

        let (algorithm, encoding, public_pem) = if let Ok(secret) =
            p256::SecretKey::from_pkcs8_pem(pem).or_else(|_| p256::SecretKey::from_sec1_pem(pem))
        {
            let pkcs8 = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&secret, Default::default())?;
            let encoding = EncodingKey::from_ec_pem(pkcs8.as_bytes())?;
            let public = secret.public_key().to_public_key_pem(Default::default())?;
            (Algorithm::ES256, encoding, public)
        } else if let Ok(private) = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
        {
            anyhow::ensure!(
                private.size() >= 256,
                "RSA signing keys must be at least 2048 bits"
            );
            let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())?;
            let public = private
                .to_public_key()
                .to_public_key_pem(Default::default())?;
            (Algorithm::RS256, encoding, public)
        } else {
            anyhow::bail!("expected a PEM EC P-256 or RSA private key");
        };
        let decoding = match algorithm {
            Algorithm::ES256 => DecodingKey::from_ec_pem(public_pem.as_bytes())?,
            _ => DecodingKey::from_rsa_pem(public_pem.as_bytes())?,
        };
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(match algorithm {
            Algorithm::ES256 => KeyAlgorithm::ES256,
            _ => KeyAlgorithm::RS256,
        });
        Ok(Self {
            algorithm,
            kid,
            encoding,
            decoding,
            jwk,
            issuer: config.public_url.clone(),
            leeway: config.leeway_seconds,
        })
    }

    /// The signing algorithm (`ES256` or `RS256`).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `iss` of every token this signer issues.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public key as a JWK set.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The key that verifies this signer's access tokens (`iss` and `aud` = the gateway's URL).
    pub fn verify_key(&self) -> VerifyKey {
        let rules = ClaimRules {
            issuer: Some(self.issuer.clone()),
            audience: Some(self.issuer.clone()),
            leeway: self.leeway,
        };
        VerifyKey {
            kid: Some(self.kid.clone()),
            algorithm: self.algorithm,
            key: self.decoding.clone(),
            validation: rules.validation(self.algorithm),
            source: KeySource::Gateway,
            retires_at: None,
        }
    }

    /// Signs `claims` for `audience`, valid for `ttl`; `iss`, `aud`, `iat`, `nbf`, `exp` and
    /// `jti` are set here and override any in `claims`.
    pub fn sign(
        &self,
        mut claims: Map<String, Value>,
        audience: &str,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let now = unix_now();
        claims.insert("iss".into(), Value::from(self.issuer.clone()));
        claims.insert("aud".into(), Value::from(audience));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("nbf".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now + ttl.as_secs().max(1)));
        claims.insert(
            "jti".into(),
            Value::from(uuid::Uuid::new_v4().simple().to_string()),
        );
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A new EC P-256 private key, PKCS#8 PEM.
pub(super) fn generate_p256_pem() -> anyhow::Result<String> {
    use p256::pkcs8::EncodePrivateKey as _;
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    Ok(secret.to_pkcs8_pem(Default::default())?.to_string())
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_rsa_key_signs_rs256_tokens() {
        let pem = include_str!("../../tests/fixtures/rsa-test-private.pem");
        let config = AuthConfig::defaults("https://gw.example".into());
        let signer = Signer::from_pem(pem, &config).unwrap();
        assert_eq!(signer.algorithm(), Algorithm::RS256);
        let token = signer
            .sign(Map::new(), "aud-x", Duration::from_secs(60))
            .unwrap();
        let mut key = signer.verify_key();
        key.validation.set_audience(&["aud-x"]);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(&token, &key.key, &key.validation).unwrap();
        assert_eq!(data.header.alg, Algorithm::RS256);
        assert_eq!(signer.jwks()["keys"][0]["kty"], "RSA");
        assert!(Signer::from_pem("not a key", &config).is_err());
    }

    #[test]
    fn generated_keys_sign_tokens_their_verify_key_accepts() {
        let dir = tempfile::TempDir::new().unwrap();
        let config = AuthConfig::defaults("https://gw.example".into());
        let (signer, origin) = Signer::load_or_generate(&config, dir.path()).unwrap();
        assert_eq!(origin, KeyOrigin::Generated);
        let token = signer
            .sign(
                Map::from_iter([("sub".to_owned(), Value::from("alice"))]),
                "https://gw.example",
                Duration::from_secs(60),
            )
            .unwrap();
        let key = signer.verify_key();
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(&token, &key.key, &key.validation).unwrap();
        assert_eq!(data.claims["sub"], "alice");
        assert_eq!(data.header.kid.as_deref(), Some(signer.kid()));
        // The same key comes back after a restart, so issued tokens stay valid.
        let (again, origin) = Signer::load_or_generate(&config, dir.path()).unwrap();
        assert_eq!(origin, KeyOrigin::Loaded);
        assert_eq!(again.kid(), signer.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let jwks = signer.jwks();
        assert_eq!(jwks["keys"][0]["kty"], "EC");
        assert_eq!(jwks["keys"][0]["alg"], "ES256");
        assert!(
            jwks["keys"][0].get("d").is_none(),
            "the private part must not be published"
        );
    }
}
