//! Convex's streaming export, read with the deploy key: `list_snapshot` (a table as it stood at
//! one timestamp, in pages) and `document_deltas` (every revision after a cursor, deletes as
//! tombstones), in the lossless `convex_encoded_json` format. Timestamps are Convex's commit
//! times in nanoseconds. The key is sent in the `Authorization` header only and appears in no
//! error.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A page of `list_snapshot`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPage {
    /// The documents (`_id`, `_creationTime` and their fields; the export's metadata removed).
    pub documents: Vec<Map<String, Value>>,
    /// The snapshot's timestamp: pass it back while `has_more`, then follow the deltas from it.
    pub snapshot: i64,
    /// Where the next page starts.
    pub cursor: Option<String>,
    /// Whether there are more pages.
    pub has_more: bool,
}

/// One revision from `document_deltas`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct Revision {
    /// The document's `_id`.
    pub id: String,
    /// Its table.
    pub table: String,
    /// The commit timestamp (nanoseconds).
    pub ts: i64,
    /// The document after the revision; `None` when it was deleted.
    pub document: Option<Map<String, Value>>,
}

/// A page of `document_deltas`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltasPage {
    /// The revisions, in commit order.
    pub revisions: Vec<Revision>,
    /// Where the next page starts (exclusive).
    pub cursor: i64,
    /// Whether more revisions are waiting (then read again at once).
    pub has_more: bool,
}

/// Why a read of the export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The deployment refused the key.
    #[error("the deployment refused the deploy key (HTTP {status}: {code})")]
    Unauthorized { status: u16, code: String },
    /// The deployment refused the request.
    #[error("the deployment refused the export request (HTTP {status}: {code}: {message})")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The deployment could not be reached or answered with a server error.
    #[error("the deployment is unavailable: {0}")]
    Unavailable(String),
    /// The answer was not the export's shape.
    #[error("the export's answer could not be read: {0}")]
    Malformed(String),
}

impl ExportError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Reads a deployment's streaming export (and carries the sync's other calls, with the deploy
/// key). With a circuit breaker (`with_breaker`), a failing deployment is not called again until
/// the breaker lets a probe through; only upstream faults count, never a refusal.
#[derive(Clone)]
pub struct ExportClient {
    http: reqwest::Client,
    base: String,
    key: SecretString,
    breaker: Option<std::sync::Arc<crate::breaker::Breaker>>,
}

impl std::fmt::Debug for ExportClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSnapshot {
    values: Vec<Map<String, Value>>,
    snapshot: i64,
    cursor: Option<String>,
    has_more: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDeltas {
    values: Vec<Map<String, Value>>,
    cursor: i64,
    has_more: bool,
}

#[derive(Deserialize, Default)]
struct RawError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl ExportClient {
    /// A reader of the deployment at `deployment_url` with its deploy key.
    pub fn new(http: reqwest::Client, deployment_url: &str, key: SecretString) -> Self {
        Self {
            http,
            base: deployment_url.trim_end_matches('/').to_owned(),
            key,
            breaker: None,
        }
    }

    /// The same client, through a circuit breaker with these settings.
    pub fn with_breaker(mut self, config: crate::breaker::BreakerConfig) -> Self {
        self.breaker = Some(std::sync::Arc::new(crate::breaker::Breaker::new(config)));
        self
    }

    /// Sends a request through the breaker (a fast failure while it is open) and answers the
    /// status and body. Only the deployment's faults count against it: no answer, 429, 502,
    /// 503, 504; a refusal or a function's error does not.
    pub(super) async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, axum::body::Bytes), String> {
        let ticket = match &self.breaker {
            Some(breaker) => Some(breaker.acquire().map_err(|wait| {
                format!(
                    "the circuit breaker is open after repeated failures; next try in {} s",
                    wait.as_secs().max(1)
                )
            })?),
            None => None,
        };
        let outcome = async {
            let response = request
                .send()
                .await
                .map_err(|err| err.without_url().to_string())?;
            let status = response.status().as_u16();
            let bytes = response
                .bytes()
                .await
                .map_err(|err| err.without_url().to_string())?;
            Ok((status, bytes))
        }
        .await;
        if let Some(ticket) = ticket {
            let fault = match &outcome {
                Err(_) => true,
                Ok((status, _)) => matches!(status, 429 | 502 | 503 | 504),
            };
            ticket.record(fault);
        }
        outcome
    }

    /// One page of `table` as it stood at `snapshot` (the latest, when `None`), from `cursor`.
    pub async fn list_snapshot(
        &self,
        table: &str,
        snapshot: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<SnapshotPage, ExportError> {
        let mut body = serde_json::json!({ "tableName": table, "format": "convex_encoded_json" });
        if let Some(snapshot) = snapshot {
            body["snapshot"] = snapshot.into();
        }
        if let Some(cursor) = cursor {
            body["cursor"] = cursor.into();
        }
        let raw: RawSnapshot = self.post("/api/list_snapshot", &body).await?;
        let documents = raw
            .values
            .into_iter()
            .map(|value| revision(value).map(|r| r.document))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        Ok(SnapshotPage {
            documents,
            snapshot: raw.snapshot,
            cursor: raw.cursor,
            has_more: raw.has_more,
        })
    }

    /// The revisions of `table` (of every table, for `None`, in one commit order) after
    /// `cursor` (exclusive).
    pub async fn document_deltas(
        &self,
        table: Option<&str>,
        cursor: i64,
    ) -> Result<DeltasPage, ExportError> {
        let mut body = serde_json::json!({ "cursor": cursor, "format": "convex_encoded_json" });
        if let Some(table) = table {
            body["tableName"] = table.into();
        }
        let raw: RawDeltas = self.post("/api/document_deltas", &body).await?;
        let revisions = raw
            .values
            .into_iter()
            .map(revision)
            .collect::<Result<_, _>>()?;
        Ok(DeltasPage {
            revisions,
            cursor: raw.cursor,
            has_more: raw.has_more,
        })
    }

    /// A POST to the deployment's `route`, with the deploy key.
    pub(super) fn request(&self, route: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{route}", self.base))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Convex {}", self.key.expose_secret()),
            )
            .header(
                "convex-client",
                concat!("convex-gateway-sync-", env!("CARGO_PKG_VERSION")),
            )
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        route: &str,
        body: &Value,
    ) -> Result<T, ExportError> {
        let (status, bytes) = self
            .call(self.request(route).json(body))
            .await
            .map_err(ExportError::Unavailable)?;
        let status = reqwest::StatusCode::from_u16(status)
            .map_err(|_| ExportError::Malformed(format!("HTTP status {status}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|err| ExportError::Malformed(err.to_string()));
        }
        let error: RawError = serde_json::from_slice(&bytes).unwrap_or_default();
        Err(match status.as_u16() {
            401 | 403 => ExportError::Unauthorized {
                status: status.as_u16(),
                code: error.code,
            },
            s if s >= 500 || s == 429 => {
                ExportError::Unavailable(format!("HTTP {s}: {}", error.code))
            }
            s => ExportError::Refused {
                status: s,
                code: error.code,
                message: error.message,
            },
        })
    }
}

/// An exported value as a revision: its `_id`, `_table`, `_ts` and document (`None` for a
/// tombstone), with the export's metadata (`_component`, `_table`, `_ts`, `_deleted`) taken out.
fn revision(mut value: Map<String, Value>) -> Result<Revision, ExportError> {
    let malformed = |what: &str| ExportError::Malformed(format!("a value without {what}"));
    let id = value
        .get("_id")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("`_id`"))?
        .to_owned();
    let Some(Value::String(table)) = value.remove("_table") else {
        return Err(malformed("`_table`"));
    };
    let ts = value
        .remove("_ts")
        .and_then(|ts| ts.as_i64())
        .ok_or_else(|| malformed("an integer `_ts`"))?;
    value.remove("_component");
    let deleted = value.remove("_deleted").and_then(|d| d.as_bool()) == Some(true);
    Ok(Revision {
        id,
        table,
        ts,
        document: (!deleted).then_some(value),
    })
}
