//! Sealing secrets kept in the shared state store (the signing keys' private halves) with
//! `GATEWAY_STATE_KEY`: AES-256-GCM (*ring*), a fresh random nonce per value, stored as
//! `sealed:v1:<base64url(nonce ‖ ciphertext ‖ tag)>`. A database dump then holds no usable key.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};

/// The prefix of a sealed value.
const PREFIX: &str = "sealed:v1:";

/// Seals and opens values with the state key.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// Decodes `GATEWAY_STATE_KEY`: 32 bytes, in base64 (standard or URL-safe, padded or not).
pub fn decode_key(raw: &str) -> Result<[u8; 32], String> {
    let raw = raw.trim();
    let bytes = STANDARD
        .decode(raw)
        .or_else(|_| URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')))
        .map_err(|_| "is not base64 (make one with `openssl rand -base64 32`)".to_owned())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("must be 32 bytes, not {}", bytes.len()))
}

impl Sealer {
    /// A sealer over a 32-byte key.
    pub fn new(key: &[u8; 32]) -> anyhow::Result<Self> {
        let key = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| anyhow::anyhow!("GATEWAY_STATE_KEY is not an AES-256 key"))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        })
    }

    /// `plain`, sealed.
    pub fn seal(&self, plain: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(PREFIX),
                &mut data,
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The value `stored` seals.
    pub fn open(&self, stored: &str) -> anyhow::Result<String> {
        let encoded = stored.strip_prefix(PREFIX).context("not a sealed value")?;
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .context("a sealed value is not base64url")?;
        anyhow::ensure!(bytes.len() > NONCE_LEN, "a sealed value is too short");
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow::anyhow!("a sealed value's nonce is malformed"))?;
        let mut data = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(PREFIX), &mut data)
            .map_err(|_| {
                anyhow::anyhow!("a sealed value does not open with GATEWAY_STATE_KEY (another key sealed it, or it was altered)")
            })?;
        String::from_utf8(plain.to_vec()).context("a sealed value is not text")
    }
}

/// Whether `stored` is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_seal_open_and_refuse_another_key_or_tampering() {
        let sealer = Sealer::new(&[7u8; 32]).unwrap();
        let sealed = sealer.seal("-----BEGIN PRIVATE KEY-----").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("PRIVATE"));
        assert_ne!(sealed, sealer.seal("-----BEGIN PRIVATE KEY-----").unwrap());
        assert_eq!(sealer.open(&sealed).unwrap(), "-----BEGIN PRIVATE KEY-----");
        let other = Sealer::new(&[8u8; 32]).unwrap();
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(sealer.open(&tampered).is_err());
        assert_eq!(decode_key(&STANDARD.encode([1u8; 32])).unwrap(), [1u8; 32]);
        assert!(decode_key("short").is_err());
        assert!(decode_key(&STANDARD.encode([1u8; 16])).is_err());
    }
}
