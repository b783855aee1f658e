//! The store seam: the `DocumentStore` trait that every adapter implements, and the
//! adapter-neutral types it speaks (documents, list queries, write operations, errors).
//!
//! Nothing here knows about HTTP. Routes turn requests into these types; adapters (the embedded
//! SQLite store today, Convex and Postgres later) turn them into their own wire or SQL calls.

pub mod changes;
pub mod convex;
pub mod local;
pub mod metered;
pub mod postgres;
pub mod query;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

pub use changes::{Change, ChangeOp, ChangePage};
pub use query::{FieldPath, Filter, FilterOp, ListQuery, Literal, OrderKey, SortDirection};

/// A JSON object: the user-visible fields of a document, without system fields.
pub type Fields = Map<String, Value>;

/// Per-request context for adapters: the caller's identity as the upstream should see it, and
/// the gateway's request id. Built for each request and passed down; never stored on a shared
/// client, so one caller's identity cannot reach another caller's request.
#[derive(Debug, Clone, Default)]
pub struct StoreCtx {
    /// The bearer token to present upstream for this caller, if any.
    pub identity: Option<secrecy::SecretString>,
    /// The gateway's request id, forwarded for correlation.
    pub request_id: Option<String>,
    /// The request's idempotency key, scoped to the caller, for adapters that dedupe writes
    /// themselves (Convex's `gateway:apply` does, inside its transaction).
    pub idempotency_key: Option<String>,
    /// When the request must be answered; no retry may start after it.
    pub deadline: Option<std::time::Instant>,
    /// Who the database should see as the caller, for stores that enforce their own row
    /// policies (Postgres row-level security).
    pub caller: DbCaller,
    /// Call Convex as the deployment, with the deploy key (`Authorization: Convex …`): only the
    /// gateway's own calls of its internal functions (webhook deliveries), never a caller's.
    pub as_deployment: bool,
    /// Run the writes, answer what they would store, and commit nothing (`Prefer: tx=rollback`):
    /// the SQL stores roll their transaction back; Convex's `gateway:apply` throws its results.
    pub dry_run: bool,
    /// Which tables keep their documents' versions, and who writes (see [`HistoryScope`]).
    pub history: Option<HistoryScope>,
}

/// The tables that keep history (`history = true` in the policy), the caller's `sub`, and
/// whether the write puts an earlier version back: every write to such a table records the
/// version it makes in the same transaction.
#[derive(Debug, Clone)]
pub struct HistoryScope {
    pub tables: Arc<[String]>,
    pub sub: Option<String>,
    /// The write is a revert (recorded as `revert`).
    pub revert: bool,
}

impl HistoryScope {
    /// Whether `table` keeps history.
    pub fn keeps(&self, table: &str) -> bool {
        self.tables.iter().any(|t| t == table)
    }

    /// The operation name a write is recorded under.
    pub fn op_name(&self, op: ChangeOp) -> &'static str {
        match op {
            _ if self.revert => "revert",
            ChangeOp::Insert => "insert",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
        }
    }
}

/// One version of a document in its history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryEntry {
    /// The version this write made (a delete: one past the last version).
    pub version: u64,
    /// `insert`, `update`, `delete` or `revert`.
    pub op: String,
    /// When, in milliseconds since the Unix epoch.
    pub at: f64,
    /// The writer's `sub` (none for the gateway's own writes).
    pub sub: Option<String>,
    /// The document's fields at this version; none for a delete.
    pub fields: Option<Fields>,
}

/// A page of a document's history, newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    pub items: Vec<HistoryEntry>,
    /// Where the next (older) page starts.
    pub next_cursor: Option<String>,
}

impl HistoryPage {
    /// The page of `limit` entries from a read of up to `limit + 1`: the one more says
    /// whether an older page follows, starting below the last version kept.
    pub fn from_read(mut items: Vec<HistoryEntry>, limit: usize) -> Self {
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|e| e.version.to_string())
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

/// The caller as a database with its own access rules sees it: the gateway itself (the outbox
/// relay, sweeps), an anonymous caller, or a verified user with the token's claims.
#[derive(Debug, Clone, Default)]
pub enum DbCaller {
    /// The gateway's own work: no caller to act for.
    #[default]
    Gateway,
    /// A request without a token.
    Anonymous,
    /// A verified caller.
    User {
        /// The token's `sub`.
        sub: String,
        /// Every claim of the token, as the database's policies read them.
        claims: Arc<Map<String, Value>>,
        /// Whether the caller holds the gateway's admin role.
        admin: bool,
    },
}

/// A shared handle to whichever adapter the gateway runs on.
pub type SharedStore = Arc<dyn DocumentStore>;

/// Which adapter to build, with its own settings (`Config::backend` says which).
#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded SQLite store in a data folder.
    Local {
        data_dir: std::path::PathBuf,
        options: local::LocalOptions,
    },
    /// A Convex deployment.
    Convex(convex::ConvexConfig),
    /// Existing tables of a Postgres (or Supabase) database.
    Postgres(postgres::PostgresConfig),
}

/// A built adapter, and the Convex client when the backend is a Convex deployment (the function
/// passthrough and the outbox relay call it too).
pub struct Built {
    pub store: SharedStore,
    pub convex: Option<Arc<convex::ConvexClient>>,
}

/// Builds the adapter `backend` names.
pub async fn build(backend: &Backend) -> anyhow::Result<Built> {
    use anyhow::Context as _;
    match backend {
        Backend::Local { data_dir, options } => {
            let (data_dir, options) = (data_dir.clone(), options.clone());
            let local = tokio::task::spawn_blocking(move || {
                local::LocalStore::open_with(&data_dir, &options)
            })
            .await
            .context("opening the embedded store")??;
            Ok(Built {
                store: Arc::new(local),
                convex: None,
            })
        }
        Backend::Convex(config) => {
            tracing::info!(url = %config.url, "fronting a Convex deployment");
            let client = Arc::new(
                convex::ConvexClient::new(config).context("setting up the Convex client")?,
            );
            Ok(Built {
                store: Arc::new(convex::ConvexStore::new(Arc::clone(&client))),
                convex: Some(client),
            })
        }
        Backend::Postgres(config) => {
            let store = postgres::PostgresStore::connect(config)
                .await
                .context("connecting to Postgres (DATABASE_URL)")?;
            Ok(Built {
                store: Arc::new(store),
                convex: None,
            })
        }
    }
}

/// A validated table name: `^[A-Za-z][A-Za-z0-9_]{0,63}$`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct TableName(String);

impl TryFrom<String> for TableName {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<TableName> for String {
    fn from(name: TableName) -> Self {
        name.0
    }
}

impl TableName {
    /// Parses a table name, explaining what is wrong when it is refused.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut chars = raw.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if starts_with_letter && rest_ok && raw.len() <= 64 {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "`{raw}` is not a table name: it must start with a letter, contain only letters, digits and `_`, and be at most 64 characters"
            ))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored document: system fields plus the user's fields. It serializes as the API shows
/// it: `_id`, `_creationTime`, `_version`, then the fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Document {
    /// `_id`: opaque, assigned by the store, unique within the table.
    #[serde(rename = "_id")]
    pub id: String,
    /// `_creationTime`: milliseconds since the Unix epoch, assigned at insert. Absent only for
    /// Postgres tables without a creation-time column.
    #[serde(rename = "_creationTime", skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<f64>,
    /// Bumped on every write; the `ETag` carries it and `If-Match` checks it.
    #[serde(rename = "_version")]
    pub version: u64,
    /// The user's fields (none start with `_`).
    #[serde(flatten)]
    pub fields: Fields,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    /// The documents, in the requested order.
    pub items: Vec<Document>,
    /// Where the next page starts; `None` when this page is the last.
    pub next_cursor: Option<String>,
}

/// One page of a list with each document as the API's JSON text
/// (`{"_id":…,"_creationTime":…,…fields}`), so a store that keeps documents as JSON text hands
/// them to the response without parsing and re-serialising them.
#[derive(Debug, Clone)]
pub struct RawPage {
    /// The documents' JSON texts, in the requested order.
    pub items: Vec<String>,
    /// Where the next page starts; `None` when this page is the last.
    pub next_cursor: Option<String>,
}

impl Page {
    /// The page with its documents as JSON text.
    pub fn into_raw(self) -> Result<RawPage, StoreError> {
        let items = self
            .items
            .iter()
            .map(|doc| RawDocument::from_document(doc).map(|raw| raw.json))
            .collect::<Result<_, _>>()?;
        Ok(RawPage {
            items,
            next_cursor: self.next_cursor,
        })
    }
}

impl RawPage {
    /// The list response body: `{"items":[…],"nextCursor":…}`.
    pub fn to_json(&self) -> String {
        let size: usize = self.items.iter().map(|item| item.len() + 1).sum();
        let mut out = String::with_capacity(size + 64);
        out.push_str(r#"{"items":["#);
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(item);
        }
        out.push_str(r#"],"nextCursor":"#);
        match &self.next_cursor {
            // Cursors are URL-safe base64, but escape them like any string all the same.
            Some(cursor) => out.push_str(&Value::from(cursor.as_str()).to_string()),
            None => out.push_str("null"),
        }
        out.push('}');
        out
    }
}

/// The API's JSON text for a document: `_id`, `_creationTime` and `_version`, then its own
/// fields, given as the JSON object text they are stored as. `fields` must be valid JSON object
/// text: it is spliced in as it is (the embedded store's column only admits valid JSON objects).
pub fn document_json(
    id: &str,
    creation_time: Option<f64>,
    version: u64,
    fields: &str,
) -> Result<String, StoreError> {
    let rest = fields
        .strip_prefix('{')
        .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("document {id} is corrupt")))?;
    // Written into one buffer: the id escaped and the time formatted in place, as serde_json
    // writes them (the time as `1763800000000.0`, so it reads back as the same number a parsed
    // document carries).
    let mut out = Vec::with_capacity(fields.len() + id.len() + 48);
    out.extend_from_slice(br#"{"_id":"#);
    serde_json::to_writer(&mut out, id).map_err(|err| StoreError::Internal(err.into()))?;
    if let Some(creation_time) = creation_time {
        out.extend_from_slice(br#","_creationTime":"#);
        serde_json::to_writer(&mut out, &creation_time)
            .map_err(|err| StoreError::Internal(err.into()))?;
    }
    out.extend_from_slice(br#","_version":"#);
    out.extend_from_slice(version.to_string().as_bytes());
    if !rest.trim_start().starts_with('}') {
        out.push(b',');
    }
    out.extend_from_slice(rest.as_bytes());
    String::from_utf8(out).map_err(|err| StoreError::Internal(err.into()))
}

/// One document as the API's JSON text (see [`document_json`]), with its version for the
/// `ETag`.
#[derive(Debug, Clone)]
pub struct RawDocument {
    /// `{"_id":…,"_creationTime":…,…fields}`.
    pub json: String,
    /// The document's version.
    pub version: u64,
}

impl RawDocument {
    /// A parsed document as JSON text.
    pub fn from_document(doc: &Document) -> Result<Self, StoreError> {
        let fields =
            serde_json::to_string(&doc.fields).map_err(|err| StoreError::Internal(err.into()))?;
        Ok(Self {
            json: document_json(&doc.id, doc.creation_time, doc.version, &fields)?,
            version: doc.version,
        })
    }
}

/// A precondition on a document's version, from `If-Match` or a transaction's `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The document must exist (`If-Match: *`).
    Exists,
    /// The document's version must be one of these.
    VersionIn(Vec<u64>),
}

impl Precondition {
    /// Whether a document at `version` satisfies the precondition.
    pub fn holds_for(&self, version: u64) -> bool {
        match self {
            Self::Exists => true,
            Self::VersionIn(versions) => versions.contains(&version),
        }
    }
}

/// The document a write targets: a known id, or the document an earlier operation of the same
/// batch produced (`{"$ref": "N"}`), resolved inside the store's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocId {
    Id(String),
    Ref(usize),
}

impl From<String> for DocId {
    fn from(id: String) -> Self {
        Self::Id(id)
    }
}

impl From<&str> for DocId {
    fn from(id: &str) -> Self {
        Self::Id(id.to_owned())
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => f.write_str(id),
            Self::Ref(n) => write!(f, "$ref {n}"),
        }
    }
}

impl DocId {
    /// The id, with references resolved against the outcomes of the operations before it.
    pub fn resolve(&self, earlier: &[WriteOutcome]) -> Result<String, StoreError> {
        match self {
            Self::Id(id) => Ok(id.clone()),
            Self::Ref(n) => earlier.get(*n).map(|o| o.id().to_owned()).ok_or_else(|| {
                StoreError::InvalidReference(format!("$ref {n} does not name an earlier operation"))
            }),
        }
    }
}

/// Replaces every `{"$ref": "N"}` inside `fields` with the id that operation N produced.
pub fn resolve_field_refs(fields: &mut Fields, earlier: &[WriteOutcome]) -> Result<(), StoreError> {
    fn walk(value: &mut Value, earlier: &[WriteOutcome]) -> Result<(), StoreError> {
        if let Some(n) = ref_target(value) {
            *value = Value::String(DocId::Ref(n?).resolve(earlier)?);
            return Ok(());
        }
        match value {
            Value::Object(map) => map.values_mut().try_for_each(|v| walk(v, earlier)),
            Value::Array(items) => items.iter_mut().try_for_each(|v| walk(v, earlier)),
            _ => Ok(()),
        }
    }
    fields.values_mut().try_for_each(|v| walk(v, earlier))
}

/// `Some(N)` when `value` is a reference object `{"$ref": "N"}` (N also as a number).
pub fn ref_target(value: &Value) -> Option<Result<usize, StoreError>> {
    let Value::Object(map) = value else {
        return None;
    };
    if map.len() != 1 {
        return None;
    }
    let target = map.get("$ref")?;
    let parsed = match target {
        Value::String(s) => s.parse::<usize>().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        _ => None,
    };
    Some(parsed.ok_or_else(|| {
        StoreError::InvalidReference(format!("`$ref` must be an operation index, got {target}"))
    }))
}

/// One write in an atomic batch.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Insert a new document.
    Insert { table: TableName, fields: Fields },
    /// Apply an RFC 7396 JSON Merge Patch (`null` removes a field).
    Patch {
        table: TableName,
        id: DocId,
        patch: Fields,
        precondition: Option<Precondition>,
    },
    /// Replace all user fields, keeping `_id` and `_creationTime`.
    Replace {
        table: TableName,
        id: DocId,
        fields: Fields,
        precondition: Option<Precondition>,
    },
    /// Delete the document.
    Delete {
        table: TableName,
        id: DocId,
        precondition: Option<Precondition>,
    },
    /// Assert that the document exists and meets the precondition, without writing.
    Check {
        table: TableName,
        id: DocId,
        precondition: Precondition,
    },
}

impl WriteOp {
    /// The table the operation writes.
    pub fn table(&self) -> &TableName {
        match self {
            Self::Insert { table, .. }
            | Self::Patch { table, .. }
            | Self::Replace { table, .. }
            | Self::Delete { table, .. }
            | Self::Check { table, .. } => table,
        }
    }

    /// One insert into `table` per document, in order.
    pub fn inserts(table: &TableName, docs: Vec<Fields>) -> Vec<Self> {
        docs.into_iter()
            .map(|fields| Self::Insert {
                table: table.clone(),
                fields,
            })
            .collect()
    }
}

/// What one write of a batch produced.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// The document as inserted.
    Inserted(Document),
    /// The document after a patch or replace.
    Updated(Document),
    /// The id of the deleted document.
    Deleted { id: String },
    /// The document that a `Check` found.
    Checked(Document),
}

impl WriteOutcome {
    /// The id of the document the operation touched.
    pub fn id(&self) -> &str {
        match self {
            Self::Inserted(doc) | Self::Updated(doc) | Self::Checked(doc) => &doc.id,
            Self::Deleted { id } => id,
        }
    }

    /// The document the outcome carries, if any.
    pub fn document(&self) -> Option<&Document> {
        match self {
            Self::Inserted(doc) | Self::Updated(doc) | Self::Checked(doc) => Some(doc),
            Self::Deleted { .. } => None,
        }
    }
}

/// Why a store call failed. Adapters map their own errors into these; the HTTP edge maps these
/// to problem responses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The document does not exist. `op` is the index of the batch operation that failed.
    #[error("document `{id}` not found in table `{table}`")]
    NotFound {
        table: String,
        id: String,
        op: Option<usize>,
    },
    /// Something other than a stored document was not found (a function's own `NOT_FOUND`).
    #[error("{0}")]
    NotFoundElsewhere(String),
    /// A precondition (`If-Match` or `check`) did not hold.
    #[error("document `{id}` is at version {actual}, which the precondition does not allow")]
    VersionMismatch {
        id: String,
        actual: u64,
        op: Option<usize>,
    },
    /// A query the adapter cannot run as given (an unsupported filter or order, …).
    #[error("{0}")]
    InvalidQuery(String),
    /// A cursor that this store did not issue, or issued for a different order.
    #[error("{0}")]
    InvalidCursor(String),
    /// A document the store refuses (for example a reserved field name).
    #[error("{0}")]
    InvalidDocument(String),
    /// A `$ref` that names no earlier operation of the batch.
    #[error("{0}")]
    InvalidReference(String),
    /// The same, tagged with the operation that held the reference.
    #[error("{message}")]
    InvalidReferenceAt { message: String, op: usize },
    /// The backing store cannot be reached or is shutting down.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The change log no longer holds the changes right after the requested position: they
    /// were pruned (retention). The consumer must read the data afresh.
    #[error(
        "changes up to position {pruned_through} were pruned (GATEWAY_CHANGES_RETENTION); read the data afresh and follow the feed from position {pruned_through}"
    )]
    ResyncNeeded { pruned_through: u64 },
    /// The adapter keeps no change log.
    #[error("{0}")]
    NoChangeFeed(String),
    /// The adapter keeps no history (or, on Postgres, it is not installed).
    #[error("{0}")]
    NoHistory(String),
    /// The store serves no table of this name.
    #[error("{0}")]
    UnknownTable(String),
    /// The table exists but cannot be served (no single-column primary key).
    #[error("{0}")]
    TableWithoutKey(String),
    /// A field the table has no column for.
    #[error("{message}")]
    UnknownField { field: String, message: String },
    /// A value that does not fit its column's type.
    #[error("{message}")]
    InvalidValue {
        field: Option<String>,
        message: String,
    },
    /// A database constraint refused the write; nothing was written.
    #[error("{message}")]
    Constraint {
        kind: ConstraintKind,
        /// The constraint's name, when the database gave one.
        constraint: Option<String>,
        /// The column at fault, when the database named one (NOT NULL does).
        field: Option<String>,
        message: String,
    },
    /// The database's privileges or row-level security refused the caller.
    #[error("{0}")]
    DatabaseForbidden(String),
    /// A database's refusal of one operation of a batch (a constraint, a value, a column or a
    /// privilege), with the operation's index.
    #[error("{source}")]
    InOperation { op: usize, source: Box<StoreError> },
    /// The database aborted the transaction for a concurrent change (serialization failure or
    /// deadlock); retrying may succeed.
    #[error("{0}")]
    DatabaseConflict(String),
    /// The order needs an index the upstream does not have.
    #[error("{0}")]
    OrderNeedsIndex(String),
    /// An upstream function failed without an error code the gateway maps.
    #[error("{0}")]
    FunctionFailed(String),
    /// The upstream refused the caller's identity.
    #[error("{0}")]
    UpstreamAuth(String),
    /// The upstream refused the request as malformed or unknown (a 4xx other than 401, 403,
    /// 408 and 429): the caller's mistake, or the gateway's, but never an outage. It is not
    /// retried and never counts against the circuit breaker.
    #[error("{message}")]
    UpstreamRejected {
        /// Convex's HTTP status.
        status: u16,
        /// Convex's error `code` (`BadJsonBody`, `MissingIdentifier`, …), when it sent one.
        code: Option<String>,
        /// Convex's message.
        message: String,
        /// Convex's body as it came, for the drop-in routes.
        body: axum::body::Bytes,
    },
    /// The upstream answered something unexpected.
    #[error("{0}")]
    Upstream(String),
    /// The upstream cannot be reached.
    #[error("{0}")]
    UpstreamUnreachable(String),
    /// The upstream did not answer in time.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// The upstream is rate-limiting or overloaded; retry after the given seconds.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after: Option<u64>,
    },
    /// The bulkhead is full: too many calls to the upstream are in flight.
    #[error("too many calls to Convex are in flight; retry shortly")]
    Saturated,
    /// The circuit breaker is open: the upstream is not called.
    #[error("Convex is failing; calls resume in about {retry_after} s")]
    CircuitOpen { retry_after: u64 },
    /// Anything else; the details are logged, never sent to clients.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl StoreError {
    /// Whether the upstream failed rather than answered: it could not be reached, did not
    /// answer in time, answered garbage or 5xx, was overloaded, or the breaker is open. The
    /// write may or may not have been applied; only a write Convex dedupes may be sent again.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::UpstreamUnreachable(_)
                | Self::UpstreamTimeout(_)
                | Self::Upstream(_)
                | Self::Overloaded { .. }
                | Self::CircuitOpen { .. }
        )
    }

    /// Tags the error with the index of the batch operation it came from.
    pub fn at_op(self, index: usize) -> Self {
        match self {
            Self::NotFound { table, id, .. } => Self::NotFound {
                table,
                id,
                op: Some(index),
            },
            Self::VersionMismatch { id, actual, .. } => Self::VersionMismatch {
                id,
                actual,
                op: Some(index),
            },
            Self::InvalidReference(message) => Self::InvalidReferenceAt { message, op: index },
            refused @ (Self::Constraint { .. }
            | Self::InvalidValue { .. }
            | Self::UnknownField { .. }
            | Self::UnknownTable(_)
            | Self::TableWithoutKey(_)
            | Self::DatabaseForbidden(_)) => Self::InOperation {
                op: index,
                source: Box::new(refused),
            },
            other => other,
        }
    }
}

/// Which kind of database constraint refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    NotNull,
    Unique,
    ForeignKey,
    Check,
    Exclusion,
}

/// What an adapter can do. Callers, `/admin/status` and the shared store suite ask for these,
/// never for an adapter's kind, so a new adapter states its abilities in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Documents are free-form JSON objects; `false` for rows of fixed columns, where a field
    /// the table lacks is refused.
    pub free_form_documents: bool,
    /// Any order is served (the store sorts); `false` when an order needs an index and the rest
    /// are answered `400 order_needs_index`.
    pub any_order: bool,
    /// One order may mix directions (`a.desc,b.asc`); `false` when an index serves one
    /// direction only.
    pub mixed_directions: bool,
    /// Calls carry the caller's identity to the store (`StoreCtx::identity`), which then
    /// enforces its own access rules as well.
    pub caller_identity: bool,
    /// The store keeps a change log: `changes` answers every committed write in order.
    pub change_feed: bool,
}

/// The operations every adapter provides. Writes that change one document are expressed through
/// [`DocumentStore::apply`], so an adapter implements atomic batches once and gets the single
/// writes for free.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// A short name for metrics and `/ready` (`local`, `convex`, …).
    fn adapter(&self) -> &'static str;

    /// What the adapter can do.
    fn capabilities(&self) -> Capabilities;

    /// Whether calls need the caller's upstream identity in [`StoreCtx::identity`] (minting one
    /// costs a signature, so adapters that ignore it say so).
    fn wants_identity(&self) -> bool {
        self.capabilities().caller_identity
    }

    /// Reads the store's schema afresh (Postgres introspects its tables again on `SIGHUP`).
    async fn reload(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// How many round trips to its database the adapter has made, for adapters that count.
    fn round_trips(&self) -> Option<u64> {
        None
    }

    /// A signal that moves on whenever changes may have been committed, for adapters with a
    /// change feed: the embedded store's writer after each commit, Postgres on each
    /// `gateway_changes` notification. Consumers wait on it, then read the feed from their last
    /// position; the feed, not the signal, is the truth.
    fn change_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Whether calls need [`StoreCtx::caller`] (the database enforces its own row policies).
    fn wants_caller(&self) -> bool {
        false
    }

    /// One page of a table, filtered and ordered by the query.
    async fn list(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<Page, StoreError>;

    /// [`Self::list`] with each document as the API's JSON text. Stores that keep documents as
    /// JSON text override it to skip parsing them.
    async fn list_json(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<RawPage, StoreError> {
        self.list(ctx, table, query).await?.into_raw()
    }

    /// One document by id, or `None`.
    async fn get(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        id: &str,
    ) -> Result<Option<Document>, StoreError>;

    /// [`Self::get`] as the API's JSON text. Stores that keep documents as JSON text override it
    /// to skip parsing the document.
    async fn get_json(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        id: &str,
    ) -> Result<Option<RawDocument>, StoreError> {
        self.get(ctx, table, id)
            .await?
            .as_ref()
            .map(RawDocument::from_document)
            .transpose()
    }

    /// Applies every operation or none, in order, and returns one outcome per operation.
    /// `DocId::Ref` targets and `{"$ref": "N"}` values in documents resolve to the id that
    /// operation N produced.
    async fn apply(
        &self,
        ctx: &StoreCtx,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StoreError>;

    /// Checks that the store answers.
    async fn health(&self) -> Result<(), StoreError>;

    /// Committed changes after position `since` (0: from the start), oldest first, at most
    /// `limit`, of one table or all. A position older than the log's retention answers
    /// [`StoreError::ResyncNeeded`]. Adapters without a change log answer
    /// [`StoreError::NoChangeFeed`] (and say so in their capabilities).
    async fn changes(
        &self,
        _since: u64,
        _table: Option<&TableName>,
        _limit: usize,
    ) -> Result<ChangePage, StoreError> {
        Err(StoreError::NoChangeFeed(
            "this store adapter keeps no change feed".into(),
        ))
    }

    /// The position of the last committed change (0 when there is none yet): where a consumer
    /// that wants only what commits from now on starts. Adapters without a change log answer
    /// [`StoreError::NoChangeFeed`].
    async fn change_head(&self) -> Result<u64, StoreError> {
        Err(StoreError::NoChangeFeed(
            "this store adapter keeps no change feed".into(),
        ))
    }

    /// A document's history (versions kept for a table with `history = true`), newest first,
    /// versions below `before` when given, at most `limit`.
    async fn history(
        &self,
        _ctx: &StoreCtx,
        _table: &TableName,
        _id: &str,
        _before: Option<u64>,
        _limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        Err(StoreError::NoHistory(
            "this store adapter keeps no document history".into(),
        ))
    }

    /// Forgets the history of documents deleted longer ago than `retention` (the adapter logs
    /// how much it forgot).
    async fn purge_history(&self, _retention: std::time::Duration) -> Result<(), StoreError> {
        Ok(())
    }

    /// Inserts documents atomically: all of them or none.
    async fn insert(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        docs: Vec<Fields>,
    ) -> Result<Vec<Document>, StoreError> {
        let outcomes = self.apply(ctx, WriteOp::inserts(table, docs)).await?;
        Ok(outcomes
            .into_iter()
            .filter_map(|o| match o {
                WriteOutcome::Inserted(doc) => Some(doc),
                _ => None,
            })
            .collect())
    }

    /// Runs one single-document write and returns the document it left behind.
    async fn write_one(&self, ctx: &StoreCtx, op: WriteOp) -> Result<Option<Document>, StoreError> {
        let mut outcomes = self.apply(ctx, vec![op]).await?;
        match outcomes.pop() {
            Some(outcome) => Ok(outcome.document().cloned()),
            None => Err(StoreError::Internal(anyhow::anyhow!(
                "adapter returned no outcome for a single write"
            ))),
        }
    }
}

/// Applies an RFC 7396 JSON Merge Patch to an object's fields: `null` removes a key, objects merge
/// recursively, anything else replaces.
pub fn merge_patch(target: &mut Fields, patch: &Fields) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner_patch) => {
                let entry = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(inner_target) = entry {
                    merge_patch(inner_target, inner_patch);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

/// Writes whole-valued floats as integers (`2.0` becomes `2`), everywhere in `fields`, as Convex
/// stores JavaScript numbers: every store then answers the same JSON for the same document.
/// Only values that an `f64` holds exactly are changed (up to 2^53).
pub fn normalize_numbers(fields: &mut Fields) {
    fn walk(value: &mut Value) {
        match value {
            Value::Number(n) if n.is_f64() => {
                if let Some(f) = n.as_f64()
                    && f.fract() == 0.0
                    && f.abs() <= 9_007_199_254_740_992.0
                {
                    *value = Value::from(f as i64);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    fields.values_mut().for_each(walk);
}

/// Checks user-supplied fields: top-level names must be non-empty and must not start with `_`,
/// which is reserved for system fields.
pub fn validate_fields(fields: &Fields) -> Result<(), String> {
    fn no_dollar_keys(value: &Value) -> Result<(), String> {
        match value {
            Value::Object(map) => map.iter().try_for_each(|(key, v)| {
                if key.starts_with('$') {
                    Err(format!("field `{key}` starts with `$`, which is reserved"))
                } else {
                    no_dollar_keys(v)
                }
            }),
            Value::Array(items) => items.iter().try_for_each(no_dollar_keys),
            _ => Ok(()),
        }
    }
    fields.values().try_for_each(no_dollar_keys)?;
    for key in fields.keys() {
        if key.starts_with('$') {
            return Err(format!("field `{key}` starts with `$`, which is reserved"));
        }
        if key.is_empty() {
            return Err("field names must not be empty".into());
        }
        if key.starts_with('_') || convex::RESERVED_FIELDS.contains(&key.as_str()) {
            return Err(format!(
                "field `{key}` is reserved: names starting with `_` are system fields, and gwVersion and gwUpdatedTime keep the version on Convex"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Fields {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn table_names_follow_the_documented_pattern() {
        for ok in ["a", "Videos", "user_profiles", "t1", &"a".repeat(64)] {
            assert!(TableName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "_a", "a-b", "a b", "a.b", &"a".repeat(65), "é"] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7396_examples() {
        // The examples from RFC 7396 appendix A that apply to objects.
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (
                json!({"a":"foo"}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            let mut t = obj(target);
            merge_patch(&mut t, &obj(patch));
            assert_eq!(Value::Object(t), expected);
        }
    }

    #[test]
    fn reserved_and_empty_field_names_are_refused() {
        assert!(validate_fields(&obj(json!({"a": 1, "nested": {"_ok": 1}}))).is_ok());
        let mut numbers = obj(json!({"a": 2.0, "b": [1.5, -0.0, {"c": 3.0}], "d": 1e300, "e": 7}));
        normalize_numbers(&mut numbers);
        assert_eq!(
            serde_json::to_string(&numbers).unwrap(),
            r#"{"a":2,"b":[1.5,0,{"c":3}],"d":1e+300,"e":7}"#
        );
        assert!(validate_fields(&obj(json!({"_id": "x"}))).is_err());
        assert!(validate_fields(&obj(json!({"": 1}))).is_err());
    }

    #[test]
    fn raw_pages_write_the_list_body_around_stored_text() {
        let page = Page {
            items: vec![
                Document {
                    id: "a\"b".into(),
                    creation_time: Some(1_763_800_000_000.0),
                    version: 1,
                    fields: Map::new(),
                },
                Document {
                    id: "k2".into(),
                    creation_time: Some(0.5),
                    version: 3,
                    fields: obj(json!({"s": "ü \" \\", "n": [1, {"x": null}]})),
                },
            ],
            next_cursor: Some("c\"1".into()),
        };
        let body: Value =
            serde_json::from_str(&page.clone().into_raw().unwrap().to_json()).unwrap();
        assert_eq!(
            body,
            json!({
                "items": [
                    {"_id": "a\"b", "_creationTime": 1_763_800_000_000.0, "_version": 1},
                    {"_id": "k2", "_creationTime": 0.5, "_version": 3, "s": "ü \" \\", "n": [1, {"x": null}]},
                ],
                "nextCursor": "c\"1",
            })
        );
        let last = RawPage {
            items: Vec::new(),
            next_cursor: None,
        };
        assert_eq!(last.to_json(), r#"{"items":[],"nextCursor":null}"#);
        assert!(document_json("x", Some(1.0), 1, "[1]").is_err());
        assert_eq!(
            document_json("x", Some(2.0), 4, r#"{"a":1}"#).unwrap(),
            r#"{"_id":"x","_creationTime":2.0,"_version":4,"a":1}"#
        );
    }

    #[test]
    fn preconditions_match_versions() {
        assert!(Precondition::Exists.holds_for(7));
        assert!(Precondition::VersionIn(vec![3, 4]).holds_for(4));
        assert!(!Precondition::VersionIn(vec![3]).holds_for(4));
    }
}
