//! The shape of a bearer token, checked before any key is tried: a compact JWS of exactly three
//! base64url segments, a JSON header with a real signing `alg` and no `crit` extension the
//! gateway does not understand, and a JSON object as payload.
//!
//! Checking the whole shape first means a malformed token always answers `malformed_token`, not
//! whichever signature error the first key tried would give. Header fields that point at keys
//! (`jku`, `x5u`, `jwk`, `x5c`) are never read: keys come from configuration only.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::error::AuthError;

/// The longest bearer token accepted. Tokens of real identity providers stay well under it;
/// anything longer is refused before it is decoded.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The header extensions (`crit` names) this gateway understands: none.
const UNDERSTOOD_EXTENSIONS: [&str; 0] = [];

/// What the header says about how to verify the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// The key id, when the header names one.
    pub kid: Option<String>,
    /// The signing algorithm the header claims (only selects keys; each key pins its own).
    pub alg: Algorithm,
}

/// Checks the token's shape and reads its header.
pub fn inspect(token: &str) -> Result<TokenHeader, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header = json_object(header)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(AuthError::Malformed)?;
    // `none` in any spelling, and every name that is not a signing algorithm, is refused here.
    let alg: Algorithm = alg.parse().map_err(|_| AuthError::UnsupportedAlgorithm)?;
    if let Some(crit) = header.get("crit") {
        check_crit(crit)?;
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AuthError::Malformed),
    };
    json_object(payload)?;
    if signature.is_empty() || URL_SAFE_NO_PAD.decode(signature).is_err() {
        return Err(AuthError::Malformed);
    }
    Ok(TokenHeader { kid, alg })
}

/// RFC 7515 §4.1.11: `crit` lists header extensions the recipient must understand, or reject
/// the token. It must be a non-empty array of names that are not registered header parameters.
fn check_crit(crit: &Value) -> Result<(), AuthError> {
    let Some(names) = crit.as_array().filter(|names| !names.is_empty()) else {
        return Err(AuthError::UnsupportedHeader(
            "`crit` must be a non-empty array of header names".into(),
        ));
    };
    for name in names {
        let Some(name) = name.as_str() else {
            return Err(AuthError::UnsupportedHeader(
                "`crit` must list header names as strings".into(),
            ));
        };
        if !UNDERSTOOD_EXTENSIONS.contains(&name) {
            return Err(AuthError::UnsupportedHeader(format!(
                "the header extension `{}` listed in `crit` is not supported",
                name.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(())
}

/// A base64url segment holding a JSON object.
fn json_object(segment: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(r#"{"sub":"a"}"#), b64("sig"))
    }

    #[test]
    fn a_well_formed_token_gives_its_kid_and_alg() {
        assert_eq!(
            inspect(&token(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#)),
            Ok(TokenHeader {
                kid: Some("k1".into()),
                alg: Algorithm::RS256
            })
        );
        assert_eq!(
            inspect(&token(r#"{"alg":"HS256"}"#)).map(|h| h.kid),
            Ok(None)
        );
    }

    #[test]
    fn none_in_any_spelling_is_not_an_algorithm() {
        for alg in ["none", "None", "NONE", "nOnE", "hs256", ""] {
            let header = format!(r#"{{"alg":"{alg}"}}"#);
            assert_eq!(
                inspect(&token(&header)),
                Err(AuthError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn crit_is_refused_unless_understood() {
        for header in [
            r#"{"alg":"HS256","crit":["x-ext"],"x-ext":true}"#,
            r#"{"alg":"HS256","crit":[]}"#,
            r#"{"alg":"HS256","crit":"x"}"#,
            r#"{"alg":"HS256","crit":[1]}"#,
            r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        ] {
            assert!(
                matches!(
                    inspect(&token(header)),
                    Err(AuthError::UnsupportedHeader(_))
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn every_segment_must_decode() {
        let good = token(r#"{"alg":"HS256"}"#);
        let (head, rest) = good.split_once('.').unwrap_or_default();
        let sig = rest.rsplit_once('.').map(|(_, s)| s).unwrap_or_default();
        for bad in [
            format!("{good}.x"),
            format!("{good}.x.y"),
            format!("{head}.{}", b64("{}")),
            format!("{head}.!!!.{sig}"),
            format!("{head}.{}.{sig}", b64("not json")),
            format!("{head}.{}.{sig}", b64("[1]")),
            format!("{head}.{}.", b64("{}")),
            format!("{head}.{}.***", b64("{}")),
            format!("{}.{}.{sig}", b64("not json"), b64("{}")),
            format!("{}.{}.{sig}", b64(r#"{"alg":"HS256","kid":7}"#), b64("{}")),
            "a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(inspect(&bad), Err(AuthError::Malformed), "{bad:.80}");
        }
    }
}
