//! The call that applies Postgres changes in Convex: the shipped internal mutation
//! `gateway:syncApply` (`convex/gateway.ts`), with the deploy key, in `convex_encoded_json`.
//! Each change carries its idempotency key, so a retry after a lost answer applies it once.

use serde_json::{Map, Value, json};

use super::export::ExportClient;

/// One change for `gateway:syncApply`.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The idempotency key.
    pub key: String,
    /// The Convex table.
    pub table: String,
    /// `insert`, `update` or `delete`.
    pub op: &'static str,
    /// The document, for update and delete.
    pub id: Option<String>,
    /// The new fields (insert, update).
    pub fields: Option<Map<String, Value>>,
    /// The fields as they were last synced: the write applies only while the document holds them.
    pub expect: Option<Map<String, Value>>,
    /// Apply even if the document changed (a conflict settled for Postgres).
    pub force: bool,
}

impl Item {
    /// The change as `gateway:syncApply` takes it (and as the in-flight log keeps it).
    pub fn to_json(&self) -> Value {
        let mut change = json!({"key": self.key, "table": self.table, "op": self.op});
        if let Some(id) = &self.id {
            change["id"] = id.clone().into();
        }
        if let Some(fields) = &self.fields {
            change["fields"] = Value::Object(fields.clone());
        }
        if let Some(expect) = &self.expect {
            change["expect"] = Value::Object(expect.clone());
        }
        if self.force {
            change["force"] = true.into();
        }
        change
    }
}

impl Item {
    /// A change read back from [`Item::to_json`].
    pub fn from_json(value: &Value) -> Option<Self> {
        let object = |key: &str| value.get(key).and_then(Value::as_object).cloned();
        Some(Self {
            key: value["key"].as_str()?.to_owned(),
            table: value["table"].as_str()?.to_owned(),
            op: match value["op"].as_str()? {
                "insert" => "insert",
                "update" => "update",
                "delete" => "delete",
                _ => return None,
            },
            id: value["id"].as_str().map(str::to_owned),
            fields: object("fields"),
            expect: object("expect"),
            force: value["force"].as_bool().unwrap_or(false),
        })
    }
}

/// An outcome, and whether it is the stored answer to an earlier call with the same key.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub outcome: Outcome,
    pub replayed: bool,
}

/// What `gateway:syncApply` did with one change.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A new document, with its id.
    Inserted(String),
    Updated,
    Deleted,
    /// The document already held the fields; nothing was written.
    Same,
    /// The document to delete was gone.
    Missing,
    /// The document changed since it was last synced (its current state, `None` if deleted);
    /// this change and the ones after it were not applied.
    Conflict(Option<Map<String, Value>>),
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The deployment could not be reached, or failed; try again later.
    #[error("the deployment is unavailable: {0}")]
    Unavailable(String),
    /// The deployment refused the key.
    #[error("the deployment refused the deploy key (HTTP {0})")]
    Unauthorized(u16),
    /// The mutation failed (a document its schema refuses, say): the same call fails again.
    #[error("gateway:syncApply failed: {0}")]
    Rejected(String),
}

/// Applies `items` in order in one Convex transaction; answers an outcome per applied change,
/// ending early at a conflict.
pub async fn sync_apply(client: &ExportClient, items: &[Item]) -> Result<Vec<Answer>, ApplyError> {
    let changes: Vec<Value> = items.iter().map(Item::to_json).collect();
    let body = json!({
        "path": "gateway:syncApply",
        "args": {"changes": changes},
        "format": "convex_encoded_json",
    });
    let (status, bytes) = client
        .call(client.request("/api/mutation").json(&body))
        .await
        .map_err(ApplyError::Unavailable)?;
    if status == 401 || status == 403 {
        return Err(ApplyError::Unauthorized(status));
    }
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    match (status, answer["status"].as_str()) {
        (200, Some("success")) => outcomes(&answer["value"]["outcomes"], items.len()),
        // A function error: 560 from Convex's own clients' view, 200 from the backend's.
        (200 | 560, Some("error")) => Err(ApplyError::Rejected(
            answer["errorMessage"]
                .as_str()
                .unwrap_or("no message")
                .to_owned(),
        )),
        (s, _) if s >= 500 || s == 429 => Err(ApplyError::Unavailable(format!("HTTP {s}"))),
        (s, _) => Err(ApplyError::Rejected(format!(
            "HTTP {s}: {}",
            answer["code"].as_str().unwrap_or("no code")
        ))),
    }
}

fn outcomes(value: &Value, sent: usize) -> Result<Vec<Answer>, ApplyError> {
    let malformed = || ApplyError::Rejected(format!("an answer that is not syncApply's: {value}"));
    let list = value.as_array().ok_or_else(malformed)?;
    if list.len() > sent {
        return Err(malformed());
    }
    list.iter()
        .map(|outcome| {
            let replayed = outcome["replayed"].as_bool().unwrap_or(false);
            let outcome = match outcome["status"].as_str() {
                Some("inserted") => {
                    Outcome::Inserted(outcome["id"].as_str().ok_or_else(malformed)?.to_owned())
                }
                Some("updated") => Outcome::Updated,
                Some("deleted") => Outcome::Deleted,
                Some("same") => Outcome::Same,
                Some("missing") => Outcome::Missing,
                Some("conflict") => Outcome::Conflict(outcome["current"].as_object().cloned()),
                _ => return Err(malformed()),
            };
            Ok(Answer { outcome, replayed })
        })
        .collect()
}
