//! The `Prefer` request header (RFC 7240) as the gateway reads it: `tx=rollback` (a dry run:
//! the write is checked and run, then rolled back) or `tx=commit` (the default), and
//! `handling=strict` (a preference the route cannot honour answers 400 instead of being
//! ignored) or `handling=lenient` (the default). A preference given twice counts once, the
//! first time; `Preference-Applied` names what was honoured.

use axum::http::{HeaderMap, HeaderName, header};

/// The response header naming the preferences honoured.
pub const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// The preferences of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefer {
    /// `tx=rollback`.
    pub rollback: bool,
    /// `handling=strict`.
    pub strict: bool,
    /// Preferences the gateway does not know (as sent), or known ones with a value it does not.
    pub unknown: Vec<String>,
}

impl Prefer {
    /// Reads every `Prefer` header of `headers`.
    pub fn parse(headers: &HeaderMap) -> Self {
        let mut prefer = Self::default();
        let (mut tx, mut handling) = (None, None);
        for value in headers.get_all(header::HeaderName::from_static("prefer")) {
            let Ok(text) = value.to_str() else {
                prefer
                    .unknown
                    .push("(a Prefer header that is not text)".into());
                continue;
            };
            for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                // Parameters after `;` are not used by any preference the gateway knows.
                let token = item.split(';').next().unwrap_or_default().trim();
                let (name, value) = match token.split_once('=') {
                    Some((name, value)) => (name.trim(), value.trim().trim_matches('"')),
                    None => (token, ""),
                };
                match (name.to_ascii_lowercase().as_str(), value) {
                    ("tx", "rollback" | "commit") => {
                        tx.get_or_insert(value == "rollback");
                    }
                    ("handling", "strict" | "lenient") => {
                        handling.get_or_insert(value == "strict");
                    }
                    _ => prefer.unknown.push(item.to_owned()),
                }
            }
        }
        prefer.rollback = tx.unwrap_or(false);
        prefer.strict = handling.unwrap_or(false);
        prefer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Prefer {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("prefer", v.parse().unwrap());
        }
        Prefer::parse(&headers)
    }

    #[test]
    fn preferences_are_read_as_rfc_7240_says() {
        assert_eq!(parse(&[]), Prefer::default());
        let p = parse(&["tx=rollback, handling=strict"]);
        assert!(p.rollback && p.strict && p.unknown.is_empty());
        // Split over headers, quoted, any case; the first of a repeated preference counts.
        let p = parse(&["TX=\"rollback\"", "tx=commit", "handling=lenient"]);
        assert!(p.rollback && !p.strict);
        let p = parse(&["return=minimal; x=1, tx=commit, tx=maybe"]);
        assert!(!p.rollback);
        assert_eq!(p.unknown, vec!["return=minimal; x=1", "tx=maybe"]);
    }
}
