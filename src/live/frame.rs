//! What a watch sends: frames, each an event name, an optional id (a change-feed position, for
//! `Last-Event-ID`) and a JSON payload. The route writes them as Server-Sent Events.

use serde_json::json;

use super::follow::Delta;
use super::hub::Entry;
use crate::store::Document;

/// One event of a watch.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The SSE `event:` name.
    pub event: &'static str,
    /// The SSE `id:`: the change-feed position the watch has reached, where there is one.
    pub id: Option<u64>,
    /// The SSE `data:`, one line of JSON.
    pub data: String,
    /// Whether the watch ends after this frame.
    pub last: bool,
}

impl Frame {
    /// An event that the watch goes on after.
    pub(super) fn new(event: &'static str, id: Option<u64>, data: String) -> Self {
        Self {
            event,
            id,
            data,
            last: false,
        }
    }

    /// `event: error` with a stable code; the watch ends after it.
    pub(super) fn error(code: &str, detail: &str) -> Self {
        Self {
            event: "error",
            id: None,
            data: json!({ "code": code, "detail": detail }).to_string(),
            last: true,
        }
    }

    /// `event: change` for a table watch in `changes` mode. The document's JSON text is the
    /// change's own, written once for every watch that sends it.
    pub(super) fn change(position: u64, delta: &Delta) -> Self {
        let (op, id, version, document) = match delta {
            Delta::Enter(entry) => (
                "insert",
                &entry.change.id,
                entry.change.version,
                entry.document_json(),
            ),
            Delta::Update(entry) => (
                "update",
                &entry.change.id,
                entry.change.version,
                entry.document_json(),
            ),
            Delta::Leave { id, version } => ("leave", id, *version, "null"),
            Delta::Delete { id, version } => ("delete", id, *version, "null"),
        };
        let id = serde_json::to_string(id).unwrap_or_else(|_| "null".into());
        Self::new(
            "change",
            Some(position),
            format!(r#"{{"op":"{op}","id":{id},"version":{version},"document":{document}}}"#),
        )
    }

    /// `event: document` for a document watch, from the change that wrote it.
    pub(super) fn entry(position: u64, entry: &Entry) -> Self {
        Self::new("document", Some(position), entry.document_json().to_owned())
    }

    /// `event: document` for a document watch.
    pub(super) fn document(position: u64, doc: &Document) -> Self {
        Self::new(
            "document",
            Some(position),
            serde_json::to_string(doc).unwrap_or_else(|_| "null".into()),
        )
    }

    /// `event: deleted` for a document watch: the document is gone (or no longer the caller's);
    /// the watch ends.
    pub(super) fn deleted(position: u64, id: &str, version: u64) -> Self {
        Self {
            event: "deleted",
            id: Some(position),
            data: json!({ "_id": id, "_version": version }).to_string(),
            last: true,
        }
    }
}
