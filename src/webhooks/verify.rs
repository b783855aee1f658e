//! Signature checks of inbound webhooks, on the raw body before anything parses it: Standard
//! Webhooks (and Svix/Clerk's `svix-*` headers), Stripe, GitHub and a generic HMAC header.
//! Every comparison is HMAC-SHA256's own constant-time check, which also refuses a signature of
//! the wrong length, so an empty `v1,` never passes. A timestamp must lie within the tolerance
//! on either side of now.

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretSlice};
use sha2::Sha256;

use super::config::{Encoding, Scheme, Webhook};

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No signature, a malformed one, or none that any secret made.
    Signature(String),
    /// The signed timestamp is missing, malformed, too old or in the future.
    Timestamp(String),
}

/// What the headers told about a verified delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// The provider's message id, when a header carries it.
    pub id: Option<String>,
    /// The event type, when a header carries it (GitHub's `X-GitHub-Event`).
    pub kind: Option<String>,
}

/// Checks `body` against `headers` as `hook`'s scheme signs it, at `now` (unix seconds).
pub fn verify(
    hook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<Verified, Refusal> {
    match &hook.scheme {
        Scheme::Standard => standard(hook, headers, body, now),
        Scheme::Stripe => stripe(hook, headers, body, now),
        Scheme::Github => {
            let signature = header(headers, "x-hub-signature-256")
                .ok_or_else(|| missing("X-Hub-Signature-256"))?;
            let hex = signature.strip_prefix("sha256=").ok_or_else(|| {
                Refusal::Signature("X-Hub-Signature-256 is not `sha256=<hex>`".into())
            })?;
            let given = decode_hex(hex)?;
            check_any(&hook.secrets, &[body], &[given])?;
            Ok(Verified {
                id: header(headers, "x-github-delivery").map(str::to_owned),
                kind: header(headers, "x-github-event").map(str::to_owned),
            })
        }
        Scheme::Hmac(scheme) => {
            let signature =
                header(headers, &scheme.header).ok_or_else(|| missing(&scheme.header))?;
            let encoded = signature
                .strip_prefix(scheme.prefix.as_str())
                .ok_or_else(|| {
                    Refusal::Signature(format!(
                        "{} does not start with `{}`",
                        scheme.header, scheme.prefix
                    ))
                })?;
            let given = match scheme.encoding {
                Encoding::Hex => decode_hex(encoded)?,
                Encoding::Base64 => decode_base64(encoded)?,
            };
            match &scheme.timestamp_header {
                Some(name) => {
                    let ts = header(headers, name)
                        .ok_or_else(|| Refusal::Timestamp(format!("{name} is missing")))?;
                    check_any(&hook.secrets, &[ts.as_bytes(), b".", body], &[given])?;
                    fresh(ts, hook, now)?;
                }
                None => check_any(&hook.secrets, &[body], &[given])?,
            }
            Ok(Verified {
                id: hook
                    .id_header
                    .as_deref()
                    .and_then(|name| header(headers, name))
                    .map(str::to_owned),
                kind: None,
            })
        }
    }
}

/// Standard Webhooks: `{id}.{timestamp}.{body}`, signatures `v1,<base64>` separated by spaces,
/// under `webhook-*` or Svix's `svix-*` headers.
fn standard(
    hook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<Verified, Refusal> {
    let prefix = if headers.contains_key("webhook-id") {
        "webhook"
    } else {
        "svix"
    };
    let id = header(headers, &format!("{prefix}-id"))
        .ok_or_else(|| missing("webhook-id (or svix-id)"))?;
    let ts = header(headers, &format!("{prefix}-timestamp"))
        .ok_or_else(|| Refusal::Timestamp(format!("{prefix}-timestamp is missing")))?;
    let list = header(headers, &format!("{prefix}-signature"))
        .ok_or_else(|| missing("webhook-signature (or svix-signature)"))?;
    if id.contains('.') || ts.contains('.') {
        return Err(Refusal::Signature(
            "the message id and timestamp may not contain `.`".into(),
        ));
    }
    let given = list
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, signature)| decode_base64(signature).ok())
        .collect::<Vec<_>>();
    if given.is_empty() {
        return Err(Refusal::Signature("no `v1,` signature".into()));
    }
    check_any(
        &hook.secrets,
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
        &given,
    )?;
    fresh(ts, hook, now)?;
    Ok(Verified {
        id: Some(id.to_owned()),
        kind: None,
    })
}

/// Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]` over `{t}.{body}`.
fn stripe(hook: &Webhook, headers: &HeaderMap, body: &[u8], now: u64) -> Result<Verified, Refusal> {
    let header_value =
        header(headers, "stripe-signature").ok_or_else(|| missing("Stripe-Signature"))?;
    let mut ts = None;
    let mut given = Vec::new();
    for item in header_value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", value)) => ts = Some(value),
            Some(("v1", value)) => given.extend(decode_hex(value).ok()),
            _ => {}
        }
    }
    let ts = ts.ok_or_else(|| Refusal::Timestamp("Stripe-Signature has no `t=`".into()))?;
    if given.is_empty() {
        return Err(Refusal::Signature(
            "Stripe-Signature has no `v1=` signature".into(),
        ));
    }
    check_any(&hook.secrets, &[ts.as_bytes(), b".", body], &given)?;
    fresh(ts, hook, now)?;
    Ok(Verified::default())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn missing(name: &str) -> Refusal {
    Refusal::Signature(format!("the {name} header is missing"))
}

fn decode_hex(text: &str) -> Result<Vec<u8>, Refusal> {
    base16ct::mixed::decode_vec(text)
        .map_err(|_| Refusal::Signature("a signature is not hex".into()))
}

fn decode_base64(text: &str) -> Result<Vec<u8>, Refusal> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Refusal::Signature("a signature is not base64".into()))
}

/// Passes when any of `given` is the HMAC-SHA256 of `parts` under any of `secrets`.
fn check_any(
    secrets: &[SecretSlice<u8>],
    parts: &[&[u8]],
    given: &[Vec<u8>],
) -> Result<(), Refusal> {
    for secret in secrets {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret()) else {
            continue;
        };
        for part in parts {
            mac.update(part);
        }
        // `verify_slice` compares in constant time and refuses another length.
        if given
            .iter()
            .any(|signature| mac.clone().verify_slice(signature).is_ok())
        {
            return Ok(());
        }
    }
    Err(Refusal::Signature(
        "no signature matches any of the webhook's secrets".into(),
    ))
}

/// The timestamp is a whole number of seconds within the tolerance of `now`, either way.
fn fresh(ts: &str, hook: &Webhook, now: u64) -> Result<(), Refusal> {
    let ts: u64 = ts
        .parse()
        .map_err(|_| Refusal::Timestamp("the timestamp is not a whole number of seconds".into()))?;
    let tolerance = hook.tolerance.as_secs();
    if ts + tolerance < now {
        return Err(Refusal::Timestamp(format!(
            "the delivery was signed {} s ago; at most {tolerance} s are accepted",
            now - ts
        )));
    }
    if ts > now + tolerance {
        return Err(Refusal::Timestamp(format!(
            "the delivery's timestamp is {} s in the future; at most {tolerance} s are accepted",
            ts - now
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::config::parse;

    fn hook(scheme: &str, secrets: &[&str], extra: &str) -> Webhook {
        let secrets: Vec<String> = secrets.iter().map(|s| format!("\"{s}\"")).collect();
        let text = format!(
            "[webhooks.h]\nscheme = \"{scheme}\"\nsecrets = [{}]\n{extra}\n[[webhooks.h.deliver]]\ntable = \"t\"\n",
            secrets.join(", ")
        );
        parse(&text, |_| None).unwrap().remove(0)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    /// Svix's own receiving documentation's example.
    #[test]
    fn the_svix_documentation_vector_verifies() {
        let h = hook("svix", &["whsec_plJ3nmyCDGBKInavdOK15jsl"], "");
        let body = br#"{"event_type":"ping","data":{"success":true}}"#;
        let signed = headers(&[
            ("svix-id", "msg_loFOjxBNrRLzqYUf"),
            ("svix-timestamp", "1731705121"),
            (
                "svix-signature",
                "v2,abc v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=",
            ),
        ]);
        let verified = verify(&h, &signed, body, 1_731_705_121 + 299).unwrap();
        assert_eq!(verified.id.as_deref(), Some("msg_loFOjxBNrRLzqYUf"));
        // A changed body, a late or early clock, an empty signature.
        assert!(matches!(
            verify(&h, &signed, b"{}", 1_731_705_121),
            Err(Refusal::Signature(_))
        ));
        assert!(matches!(
            verify(&h, &signed, body, 1_731_705_121 + 301),
            Err(Refusal::Timestamp(_))
        ));
        assert!(matches!(
            verify(&h, &signed, body, 1_731_705_121 - 301),
            Err(Refusal::Timestamp(_))
        ));
        let empty = headers(&[
            ("svix-id", "msg_loFOjxBNrRLzqYUf"),
            ("svix-timestamp", "1731705121"),
            ("svix-signature", "v1,"),
        ]);
        assert!(matches!(
            verify(&h, &empty, body, 1_731_705_121),
            Err(Refusal::Signature(_))
        ));
    }

    /// The Standard Webhooks Rust library's test vector, under `webhook-*` headers, with a
    /// rotated-out secret listed first.
    #[test]
    fn the_standard_webhooks_vector_verifies_with_rotation() {
        let h = hook(
            "standard",
            &[
                "whsec_b2xkc2VjcmV0",
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            ],
            "",
        );
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let signed = headers(&[
            ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
            ("webhook-timestamp", "1649367553"),
            (
                "webhook-signature",
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
        ]);
        assert!(verify(&h, &signed, body, 1_649_367_553).is_ok());
        let only_old = hook("standard", &["whsec_b2xkc2VjcmV0"], "");
        assert!(matches!(
            verify(&only_old, &signed, body, 1_649_367_553),
            Err(Refusal::Signature(_))
        ));
    }

    /// GitHub's documented vector.
    #[test]
    fn the_github_documentation_vector_verifies() {
        let h = hook("github", &["It's a Secret to Everybody"], "");
        let signed = headers(&[
            (
                "x-hub-signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            ),
            ("x-github-delivery", "d-1"),
            ("x-github-event", "push"),
        ]);
        let verified = verify(&h, &signed, b"Hello, World!", 0).unwrap();
        assert_eq!(
            verified,
            Verified {
                id: Some("d-1".into()),
                kind: Some("push".into())
            }
        );
        assert!(verify(&h, &signed, b"Hello, World?", 0).is_err());
        let empty = headers(&[("x-hub-signature-256", "sha256=")]);
        assert!(verify(&h, &empty, b"Hello, World!", 0).is_err());
        // During a rotation the new secret is listed beside the old one; either passes.
        let rotating = hook(
            "github",
            &["a newer secret", "It's a Secret to Everybody"],
            "",
        );
        assert!(verify(&rotating, &signed, b"Hello, World!", 0).is_ok());
    }

    /// Stripe: hex over `{t}.{body}` keyed by the raw secret; any `v1` may match.
    #[test]
    fn stripe_signatures_are_checked_both_ways_in_time() {
        let secret = "whsec_test_secret";
        let h = hook("stripe", &[secret], "");
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(b"1700000000.");
        mac.update(body);
        let good = base16ct::lower::encode_string(&mac.finalize().into_bytes());
        let signed = headers(&[(
            "stripe-signature",
            &format!("t=1700000000,v1={},v1={good},v0=00", "0".repeat(64)),
        )]);
        assert!(verify(&h, &signed, body, 1_700_000_100).is_ok());
        let rotating = hook("stripe", &["whsec_the_new_one", secret], "");
        assert!(verify(&rotating, &signed, body, 1_700_000_100).is_ok());
        let other = hook("stripe", &["whsec_the_new_one"], "");
        assert!(matches!(
            verify(&other, &signed, body, 1_700_000_100),
            Err(Refusal::Signature(_))
        ));
        assert!(matches!(
            verify(&h, &signed, body, 1_700_000_301),
            Err(Refusal::Timestamp(_))
        ));
        assert!(matches!(
            verify(&h, &signed, body, 1_699_999_699),
            Err(Refusal::Timestamp(_))
        ));
        let bare = headers(&[("stripe-signature", "t=1700000000,v1=")]);
        assert!(matches!(
            verify(&h, &bare, body, 1_700_000_000),
            Err(Refusal::Signature(_))
        ));
        let none = headers(&[("stripe-signature", "t=1700000000")]);
        assert!(matches!(
            verify(&h, &none, body, 1_700_000_000),
            Err(Refusal::Signature(_))
        ));
    }

    /// The generic scheme: a named header, base64, a prefix and a timestamp header.
    #[test]
    fn a_generic_hmac_header_verifies() {
        let h = hook(
            "hmac",
            &["k"],
            "signature_header = \"X-Sig\"\nencoding = \"base64\"\nprefix = \"sha256=\"\ntimestamp_header = \"X-Ts\"\nid_header = \"X-Id\"",
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(b"100.body");
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let signed = headers(&[
            ("x-sig", &format!("sha256={sig}")),
            ("x-ts", "100"),
            ("x-id", "i-1"),
        ]);
        assert_eq!(
            verify(&h, &signed, b"body", 100).unwrap().id.as_deref(),
            Some("i-1")
        );
        let no_ts = headers(&[("x-sig", &format!("sha256={sig}"))]);
        assert!(matches!(
            verify(&h, &no_ts, b"body", 100),
            Err(Refusal::Timestamp(_))
        ));
        let no_prefix = headers(&[("x-sig", &sig), ("x-ts", "100")]);
        assert!(matches!(
            verify(&h, &no_prefix, b"body", 100),
            Err(Refusal::Signature(_))
        ));
    }
}
