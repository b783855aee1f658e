//! The change feed's types: every committed write as a change with a position, read from a
//! position onwards in commit order. Adapters that keep a change log serve it through
//! `DocumentStore::changes`; consumers (the admin route now, live queries and sync later)
//! resume from the last position they saw.

use serde::Serialize;
use utoipa::ToSchema;

use super::Document;

/// What a change did to its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Insert,
    Update,
    Delete,
}

impl ChangeOp {
    /// The name stored in the log and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }

    /// The version the document had before a change of this kind recorded at `version`: an
    /// update bumped it; a delete is recorded at the version it removed.
    pub fn previous_version(self, version: u64) -> u64 {
        match self {
            Self::Update => version.saturating_sub(1),
            Self::Insert | Self::Delete => version,
        }
    }

    /// The operation a stored name names.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "insert" => Some(Self::Insert),
            "update" => Some(Self::Update),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// One committed change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Where the change stands in the feed: positions grow in commit order and are never
    /// reused.
    pub position: u64,
    pub table: String,
    /// The document's `_id`.
    pub id: String,
    pub op: ChangeOp,
    /// The document's version after the change (for a delete, the version it was deleted at).
    pub version: u64,
    /// The document after the change; `null` for a delete (a tombstone).
    #[schema(value_type = Option<Object>)]
    pub document: Option<Document>,
    /// The document before the change, for an update or a delete: what a consumer needs to
    /// tell whether the document was in its view before (a live query's `leave`, a sync's
    /// conflict check). `null` for an insert, and for changes recorded before the gateway kept
    /// it (Postgres: until `convex-gateway postgres install` is run again).
    #[schema(value_type = Option<Object>)]
    pub previous: Option<Document>,
    /// Milliseconds since the Unix epoch when the change was committed.
    pub committed_at: f64,
}

/// Changes after a position, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePage {
    pub items: Vec<Change>,
    /// Pass as `since` for the next page: the last position of this page, or `since` itself
    /// when there was nothing new.
    pub next_since: u64,
}
