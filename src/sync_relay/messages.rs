//! The sync protocol's messages as the relay reads them: what each client message is (and the
//! fields the gateway's rules need), the answers the gateway gives on its own (a denied
//! mutation's failed response, `AuthError`, `FatalError`), and the identity-version
//! translation that lets the gateway renew a minted identity upstream without the client
//! seeing versions it did not ask for.

use serde_json::{Value, json};

/// A client message, as far as the relay's rules care.
#[derive(Debug, PartialEq)]
pub enum ClientMessage {
    /// `Authenticate` with a user token (`tokenType: "User"`).
    AuthenticateUser { base_version: u64, token: String },
    /// `Authenticate` with no identity (`tokenType: "None"`).
    AuthenticateNone { base_version: u64 },
    /// `Authenticate` with an admin (deploy) key: never accepted through the gateway.
    AuthenticateAdmin { base_version: u64 },
    /// `ModifyQuerySet`: the function paths it adds.
    ModifyQuerySet { added: Vec<String> },
    /// `Mutation` or `Action`: its request id and function path.
    Call {
        kind: CallKind,
        request_id: Value,
        path: String,
    },
    /// Anything else (`Connect`, `Event`, what later versions add): relayed as it is.
    Other,
}

/// Which kind of call a client message makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Mutation,
    Action,
}

impl CallKind {
    fn response(self) -> &'static str {
        match self {
            Self::Mutation => "MutationResponse",
            Self::Action => "ActionResponse",
        }
    }
}

/// The `type` of a message, for metrics (`other` past the protocol's own names).
pub fn message_type(message: &Value) -> &'static str {
    const KNOWN: &[&str] = &[
        "Connect",
        "Authenticate",
        "ModifyQuerySet",
        "Mutation",
        "Action",
        "Event",
        "Transition",
        "TransitionChunk",
        "MutationResponse",
        "ActionResponse",
        "AuthError",
        "FatalError",
        "Ping",
    ];
    let name = message.get("type").and_then(Value::as_str).unwrap_or("");
    KNOWN
        .iter()
        .copied()
        .find(|k| *k == name)
        .unwrap_or("other")
}

/// Reads a client message; `Err` names what is wrong with one the relay cannot pass on.
pub fn parse_client(message: &Value) -> Result<ClientMessage, String> {
    let text = |field: &str| message.get(field).and_then(Value::as_str);
    let base = || {
        message
            .get("baseVersion")
            .and_then(Value::as_u64)
            .ok_or_else(|| "Authenticate needs a numeric baseVersion".to_owned())
    };
    match text("type") {
        Some("Authenticate") => match text("tokenType") {
            Some("User") => Ok(ClientMessage::AuthenticateUser {
                base_version: base()?,
                token: text("value")
                    .ok_or("Authenticate with tokenType User needs a value")?
                    .to_owned(),
            }),
            Some("None") => Ok(ClientMessage::AuthenticateNone {
                base_version: base()?,
            }),
            Some("Admin") => Ok(ClientMessage::AuthenticateAdmin {
                base_version: base()?,
            }),
            other => Err(format!("unknown tokenType {other:?}")),
        },
        Some("ModifyQuerySet") => {
            let added = message
                .get("modifications")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|m| m.get("type").and_then(Value::as_str) == Some("Add"))
                .map(|m| {
                    m.get("udfPath")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| "an added query has no udfPath".to_owned())
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ClientMessage::ModifyQuerySet { added })
        }
        Some(kind @ ("Mutation" | "Action")) => Ok(ClientMessage::Call {
            kind: if kind == "Mutation" {
                CallKind::Mutation
            } else {
                CallKind::Action
            },
            request_id: message.get("requestId").cloned().unwrap_or(Value::Null),
            path: text("udfPath")
                .ok_or_else(|| format!("{kind} needs a udfPath"))?
                .to_owned(),
        }),
        Some(_) => Ok(ClientMessage::Other),
        None => Err("a message needs a type".into()),
    }
}

/// The answer to a call the gateway refuses: a failed response, as Convex gives a failed one.
pub fn refused_call(kind: CallKind, request_id: &Value, reason: &str) -> Value {
    json!({
        "type": kind.response(),
        "requestId": request_id,
        "success": false,
        "result": reason,
        "logLines": [],
        "errorData": { "code": "forbidden", "message": reason },
    })
}

/// `AuthError`, as Convex sends before it closes the socket.
pub fn auth_error(reason: &str, base_version: u64) -> Value {
    json!({
        "type": "AuthError",
        "error": reason,
        "baseVersion": base_version,
        "authUpdateAttempted": true,
    })
}

/// `FatalError`, as Convex sends before it closes the socket.
pub fn fatal_error(reason: &str) -> Value {
    json!({ "type": "FatalError", "error": reason })
}

/// An `Authenticate` for upstream.
pub fn authenticate(base_version: u64, token: Option<&str>) -> Value {
    match token {
        Some(token) => json!({
            "type": "Authenticate",
            "baseVersion": base_version,
            "tokenType": "User",
            "value": token,
        }),
        None => json!({ "type": "Authenticate", "baseVersion": base_version, "tokenType": "None" }),
    }
}

/// The translation between the client's identity versions and upstream's. Each identity change
/// the gateway makes on its own (renewing a minted token) moves upstream's version one past the
/// client's; the client must go on seeing only its own.
#[derive(Debug, Default)]
pub struct Identities {
    /// Upstream's identity version once everything sent so far is applied.
    upstream: u64,
    /// The upstream versions the gateway's own `Authenticate`s lead to, in order.
    own: Vec<u64>,
}

impl Identities {
    /// The upstream base version for the next `Authenticate`, counting it as sent; `own` says
    /// whether the gateway sends it on its own.
    pub fn next(&mut self, own: bool) -> u64 {
        let base = self.upstream;
        self.upstream += 1;
        if own {
            self.own.push(self.upstream);
        }
        base
    }

    /// Upstream's identity version once everything sent so far is applied.
    pub fn current(&self) -> u64 {
        self.upstream
    }

    /// The client's version for an upstream one.
    pub fn to_client(&self, upstream: u64) -> u64 {
        upstream - self.own.iter().filter(|v| **v <= upstream).count() as u64
    }

    /// Whether any translation is needed.
    pub fn shifted(&self) -> bool {
        !self.own.is_empty()
    }

    /// Rewrites an upstream message's identity versions into the client's.
    pub fn rewrite(&self, message: &mut Value) {
        let fix = |version: Option<&mut Value>| {
            if let Some(version) = version
                && let Some(n) = version.as_u64()
            {
                *version = Value::from(self.to_client(n));
            }
        };
        match message.get("type").and_then(Value::as_str) {
            Some("Transition") => {
                for side in ["startVersion", "endVersion"] {
                    fix(message.get_mut(side).and_then(|v| v.get_mut("identity")));
                }
            }
            Some("AuthError") => fix(message.get_mut("baseVersion")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_are_read_for_what_the_rules_need() {
        let auth =
            json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": "t"});
        assert_eq!(
            parse_client(&auth).unwrap(),
            ClientMessage::AuthenticateUser {
                base_version: 0,
                token: "t".into()
            }
        );
        let modify = json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            {"type": "Add", "queryId": 0, "udfPath": "a:b", "args": [{}]},
            {"type": "Remove", "queryId": 3}]});
        assert_eq!(
            parse_client(&modify).unwrap(),
            ClientMessage::ModifyQuerySet {
                added: vec!["a:b".into()]
            }
        );
        let call = json!({"type": "Action", "requestId": 4, "udfPath": "x:y", "args": [{}]});
        assert_eq!(
            parse_client(&call).unwrap(),
            ClientMessage::Call {
                kind: CallKind::Action,
                request_id: json!(4),
                path: "x:y".into()
            }
        );
        assert_eq!(
            parse_client(&json!({"type": "Connect"})).unwrap(),
            ClientMessage::Other
        );
        assert!(parse_client(&json!({"type": "Mutation"})).is_err());
        assert!(parse_client(&json!({"value": 1})).is_err());
    }

    #[test]
    fn the_gateways_own_identity_changes_are_hidden_from_the_client() {
        let mut ids = Identities::default();
        // The client authenticates: 0 -> 1 on both sides.
        assert_eq!(ids.next(false), 0);
        // The gateway renews the token twice: upstream 1 -> 2 -> 3, the client stays at 1.
        assert_eq!(ids.next(true), 1);
        assert_eq!(ids.next(true), 2);
        let mut renewal = json!({"type": "Transition",
            "startVersion": {"querySet": 1, "identity": 1, "ts": "x"},
            "endVersion": {"querySet": 1, "identity": 2, "ts": "y"}, "modifications": []});
        ids.rewrite(&mut renewal);
        assert_eq!(renewal["startVersion"]["identity"], 1);
        assert_eq!(renewal["endVersion"]["identity"], 1);
        // The client authenticates again (from its 1): upstream goes 3 -> 4, the client 1 -> 2.
        assert_eq!(ids.next(false), 3);
        let mut transition = json!({"type": "Transition",
            "startVersion": {"identity": 3}, "endVersion": {"identity": 4}});
        ids.rewrite(&mut transition);
        assert_eq!(transition["startVersion"]["identity"], 1);
        assert_eq!(transition["endVersion"]["identity"], 2);
        let mut error = auth_error("no", 3);
        ids.rewrite(&mut error);
        assert_eq!(error["baseVersion"], 1);
    }
}
