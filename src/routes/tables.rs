//! The REST document API: `/v1/tables/{table}` (list, insert) and `/v1/tables/{table}/{id}`
//! (get, merge-patch, replace, delete), with `ETag`/`If-Match` versioning.
//!
//! Handlers only translate HTTP to calls of the document service (`documents`): take the path,
//! query, headers and body apart, make the call, shape the answer (status, `ETag`, `Location`,
//! the stale-read header). Every failure is an `ApiError`.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::watch;
use crate::documents::{Done, NewDocument, Read};
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::live::Mode;
use crate::state::AppState;
use crate::store::{Document, Fields, Precondition};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_documents, insert_documents))
        .routes(routes!(
            get_document,
            patch_document,
            replace_document,
            delete_document
        ))
}

// === extractors ===

/// A JSON body whose rejections (bad syntax, wrong content type, too large) are problem
/// documents; a body over the limit is told the limit.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::body_too_large(state.config().max_body_bytes))
            }
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// Path parameters whose rejections are problem documents.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

// === schemas ===

/// A stored document: its fields plus the system fields `_id`, `_creationTime` and `_version`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentBody {
    /// Opaque id, unique within the table.
    #[serde(rename = "_id")]
    pub id: String,
    /// Milliseconds since the Unix epoch when the document was inserted. Absent only for rows of
    /// a Postgres table without a creation-time column.
    #[serde(rename = "_creationTime", skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<f64>,
    /// The document's version: 1 on insert, bumped by every write. It is the `ETag` (`"3"`), so
    /// `If-Match: "3"` makes a write conditional without another read.
    #[serde(rename = "_version")]
    pub version: u64,
    /// The document's own fields.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub fields: Fields,
}

impl From<Document> for DocumentBody {
    fn from(doc: Document) -> Self {
        Self {
            id: doc.id,
            creation_time: doc.creation_time,
            version: doc.version,
            fields: doc.fields,
        }
    }
}

/// One page of a table.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Describes the body in the OpenAPI spec; `RawPage::to_json` writes it.
pub struct ListResponse {
    /// The documents of this page, in the requested order.
    pub items: Vec<DocumentBody>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// What a table watch sends (`mode`, with `Accept: text/event-stream`).
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Only describes the parameter in the OpenAPI spec; `watch::mode` reads it.
pub enum WatchMode {
    Snapshot,
    Changes,
}

/// A document to insert, or an array of them (inserted atomically: all or none). Field names
/// must not start with `_`.
#[derive(serde::Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only describes the body in the OpenAPI spec; handlers read `Value`.
pub enum InsertBody {
    One(NewDocument),
    Many(Vec<NewDocument>),
}

/// What an insert answers: the stored document for an object, the array of stored documents
/// for an array.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only describes the body in the OpenAPI spec.
pub enum Inserted {
    One(DocumentBody),
    Many(Vec<DocumentBody>),
}

// === handlers ===

/// List documents, filtered, ordered and paged.
///
/// Filters use PostgREST's grammar: `?field=op.value` with `eq`, `neq`, `gt`, `gte`, `lt`,
/// `lte`, `like` and `ilike` (`*` is the wildcard), `in.(a,b)`, `is.null`, `is.true` and
/// `is.false`, each optionally prefixed by `not.`. A dotted path (`meta.rank`) reaches nested
/// fields. Unquoted numbers and `true`/`false` are typed; quote a value (`eq."42"`) to compare it
/// as a string.
#[utoipa::path(
    get,
    path = "/v1/tables/{table}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name, `^[A-Za-z][A-Za-z0-9_]{0,63}$`", example = "videos"),
        ("order" = Option<String>, Query, description = "Comma-separated `field.asc|desc` (any case, optionally `.nullsfirst` ascending or `.nullslast` descending); defaults to `_creationTime.asc`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; defaults to 100"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("filters" = Option<HashMap<String, String>>, Query, style = Form, explode, description = "Filters, one query parameter each, PostgREST-style: `field=op.value`, e.g. `{\"status\": \"eq.queued\", \"views\": \"gte.100\"}` sends `?status=eq.queued&views=gte.100`. Operators: eq, neq, gt, gte, lt, lte, like, ilike, in, is, and the `not.` prefix."),
        ("mode" = inline(Option<WatchMode>), Query, description = "With `Accept: text/event-stream`: `snapshot` (the default) sends the page at once and again whenever its content changes; `changes` sends one `change` event per change to the matching documents. Ignored by a plain list."),
        ("Last-Event-ID" = Option<String>, Header, description = "With `Accept: text/event-stream` and `mode=changes`: the `id` of the last event received, to resume right after it."),
    ),
    responses(
        (status = 200, description = "One page of documents; with `Accept: text/event-stream`, a live watch of the page (Server-Sent Events: `snapshot`, or `ready` and `change` in `changes` mode, and `error` when it ends)", content(
            (ListResponse = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 429, description = "The caller has too many open watches (`too_many_watches`), or too many requests", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::PolicyForbids),
        (status = 400, description = "Bad filter, order, limit, cursor or table name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The table is not served", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable, or the gateway holds as many watches as it may (`watch_capacity`)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_documents(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(table): ApiPath<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if watch::wants_stream(&headers) {
        let mode = watch::mode(raw.as_deref());
        let resume = match mode {
            Mode::Changes => watch::last_event_id(&headers)?,
            Mode::Snapshot => None,
        };
        let plan = state
            .documents()
            .watch_plan(&ctx, &table, raw.as_deref().unwrap_or(""))?;
        let frames = state.live().watch_table(&ctx, plan, mode, resume).await?;
        return Ok(watch::stream(frames, state.live().heartbeat()));
    }
    let (page, stale) = state
        .documents()
        .list(&ctx, &table, raw.as_deref().unwrap_or(""))
        .await?;
    let mut response = json_body(StatusCode::OK, page.to_json());
    if let Some(age) = stale {
        crate::stale::mark(&mut response, age);
    }
    Ok(response)
}

/// Insert one document, or an array of documents atomically.
#[utoipa::path(
    post,
    path = "/v1/tables/{table}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name, `^[A-Za-z][A-Za-z0-9_]{0,63}$`", example = "videos"),
        ("Prefer" = Option<String>, Header, description = "`tx=rollback`: a dry run (checked, authorized and run, answered, nothing stored; `Preference-Applied: tx=rollback` on the answer). `handling=strict`: 400 `preference_not_honoured` for a preference that cannot be honoured"),
    ),
    request_body(content = InsertBody, description = "A document, or an array of documents", content_type = "application/json"),
    responses(
        (status = 202, response = crate::openapi::Queued),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::PolicyForbids),
        (status = 201, description = "Inserted: the stored document (with `Location` and `ETag`), or the array of stored documents", body = Inserted,
            headers(("Location" = String, description = "URL of the new document"), ("ETag" = String, description = "The document's version"))),
        (status = 400, description = "Malformed JSON, not an object, or a reserved field", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The table is not served", body = Problem, content_type = "application/problem+json"),
        (status = 409, response = crate::openapi::WriteConflict),
        (status = 413, description = "Body or array too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = crate::openapi::NotJson),
        (status = 422, response = crate::openapi::DocumentRefused),
        (status = 503, response = crate::openapi::StoreDown),
    )
)]
async fn insert_documents(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(table): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let many = body.is_array();
    let done = state
        .documents()
        .insert(&ctx, &table, body)
        .await
        .map_err(|err| if many { err } else { err.without_operation() })?;
    let (status, docs) = match done {
        Done::Queued(receipt) => return Ok(receipt.into_response()),
        Done::Staged(docs) => (StatusCode::ACCEPTED, docs),
        Done::Applied(docs) => (StatusCode::CREATED, docs),
    };
    if many {
        let body: Vec<DocumentBody> = docs.into_iter().map(DocumentBody::from).collect();
        return Ok((status, Json(body)).into_response());
    }
    let doc = docs
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("insert returned no document")))?;
    if status == StatusCode::ACCEPTED {
        return document_response(status, doc);
    }
    let location = format!("/v1/tables/{table}/{}", doc.id);
    let mut response = document_response(status, doc)?;
    response
        .headers_mut()
        .insert(header::LOCATION, header_value(&location)?);
    Ok(response)
}

/// Get one document.
#[utoipa::path(
    get,
    path = "/v1/tables/{table}/{id}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name, `^[A-Za-z][A-Za-z0-9_]{0,63}$`", example = "videos"),
        ("id" = String, Path, description = "Document `_id`"),
        ("If-None-Match" = Option<String>, Header, description = "Answer 304 if the document's ETag matches"),
        ("Last-Event-ID" = Option<String>, Header, description = "With `Accept: text/event-stream`: the `id` of the last event received, to resume right after it."),
    ),
    responses(
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::PolicyForbids),
        (status = 200, description = "The document; with `Accept: text/event-stream`, a live watch of it (Server-Sent Events: `document` at once and on every change, `deleted` when it is gone, `error` when the watch ends)", content(
            (DocumentBody = "application/json"),
            (String = "text/event-stream"),
        ), headers(("ETag" = String, description = "The document's version"))),
        (status = 429, description = "The caller has too many open watches (`too_many_watches`), or too many requests", body = Problem, content_type = "application/problem+json"),
        (status = 304, description = "Not modified since the given ETag"),
        (status = 503, response = crate::openapi::StoreDown),
        (status = 400, description = "The table name is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document or table", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_document(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((table, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if watch::wants_stream(&headers) {
        let resume = watch::last_event_id(&headers)?;
        let plan = state.documents().watch_document_plan(&ctx, &table, &id)?;
        let frames = state.live().watch_document(&ctx, plan, &id, resume).await?;
        return Ok(watch::stream(frames, state.live().heartbeat()));
    }
    let (doc, stale) = match state.documents().get(&ctx, &table, &id).await? {
        Read::Raw(doc) => {
            return if if_none_match(&headers, doc.version) {
                not_modified(doc.version)
            } else {
                json_response(StatusCode::OK, doc.json, doc.version)
            };
        }
        Read::Parsed { doc, stale } => (doc, stale),
    };
    let mut response = if if_none_match(&headers, doc.version) {
        not_modified(doc.version)?
    } else {
        document_response(StatusCode::OK, doc)?
    };
    if let Some(age) = stale {
        crate::stale::mark(&mut response, age);
    }
    Ok(response)
}

/// Update a document with a JSON Merge Patch (RFC 7396): fields in the body are set, `null`
/// removes a field, nested objects merge.
#[utoipa::path(
    patch,
    path = "/v1/tables/{table}/{id}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name, `^[A-Za-z][A-Za-z0-9_]{0,63}$`", example = "videos"),
        ("id" = String, Path, description = "Document `_id`"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the document's ETag matches (`*`: if it exists)"),
        ("Prefer" = Option<String>, Header, description = "`tx=rollback`: a dry run (checked, authorized and run, answered, nothing stored; `Preference-Applied: tx=rollback` on the answer). `handling=strict`: 400 `preference_not_honoured` for a preference that cannot be honoured"),
    ),
    request_body(content = Object, description = "A merge patch", content_type = "application/merge-patch+json"),
    responses(
        (status = 202, response = crate::openapi::Queued),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::PolicyForbids),
        (status = 200, description = "The patched document", body = DocumentBody, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Bad body or header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document or table", body = Problem, content_type = "application/problem+json"),
        (status = 409, response = crate::openapi::WriteConflict),
        (status = 412, description = "`If-Match` does not match the current version", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::StoreDown),
        (status = 415, response = crate::openapi::NotJson),
        (status = 422, response = crate::openapi::DocumentRefused),
    )
)]
async fn patch_document(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((table, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    update_document(&state, &ctx, &table, &id, &headers, body, true).await
}

/// Replace a document's fields, keeping its `_id` and `_creationTime`.
#[utoipa::path(
    put,
    path = "/v1/tables/{table}/{id}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name, `^[A-Za-z][A-Za-z0-9_]{0,63}$`", example = "videos"),
        ("id" = String, Path, description = "Document `_id`"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the document's ETag matches (`*`: if it exists)"),
        ("Prefer" = Option<String>, Header, description = "`tx=rollback`: a dry run (checked, authorized and run, answered, nothing stored; `Preference-Applied: tx=rollback` on the answer). `handling=strict`: 400 `preference_not_honoured` for a preference that cannot be honoured"),
    ),
    request_body(content = Object, description = "The new fields", content_type = "application/json"),
    responses(
        (status = 202, response = crate::openapi::Queued),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::PolicyForbids),
        (status = 200, description = "The replaced document", body = DocumentBody, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Bad body or header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document or table", body = Problem, content_type = "application/problem+json"),
        (status = 409, response = crate::openapi::WriteConflict),
        (status = 412, description = "`If-Match` does not match the current version", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::StoreDown),
        (status = 415, response = crate::openapi::NotJson),
        (status = 422, response = crate::openapi::DocumentRefused),
    )
)]
async fn replace_document(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((table, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    update_document(&state, &ctx, &table, &id, &headers, body, false).await
}

/// The shared body of PATCH (`merge`) and PUT: the call, and the document it left.
async fn update_document(
    state: &AppState,
    ctx: &RequestCtx,
    table: &str,
    id: &str,
    headers: &HeaderMap,
    body: Value,
    merge: bool,
) -> ApiResult<Response> {
    let precondition = if_match(headers)?;
    let done = state
        .documents()
        .update(ctx, table, id, body, merge, precondition)
        .await
        .map_err(ApiError::without_operation)?;
    match done {
        Done::Queued(receipt) => Ok(receipt.into_response()),
        Done::Staged(doc) => document_response(StatusCode::ACCEPTED, doc),
        Done::Applied(doc) => document_response(StatusCode::OK, doc),
    }
}

/// Delete a document.
#[utoipa::path(
    delete,
    path = "/v1/tables/{table}/{id}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name, `^[A-Za-z][A-Za-z0-9_]{0,63}$`", example = "videos"),
        ("id" = String, Path, description = "Document `_id`"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the document's ETag matches (`*`: if it exists)"),
        ("Prefer" = Option<String>, Header, description = "`tx=rollback`: a dry run (checked, authorized and run, answered, nothing stored; `Preference-Applied: tx=rollback` on the answer). `handling=strict`: 400 `preference_not_honoured` for a preference that cannot be honoured"),
    ),
    responses(
        (status = 202, response = crate::openapi::Queued),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::PolicyForbids),
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document or table", body = Problem, content_type = "application/problem+json"),
        (status = 409, response = crate::openapi::WriteConflict),
        (status = 412, description = "`If-Match` does not match the current version", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::StoreDown),
    )
)]
async fn delete_document(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((table, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let precondition = if_match(&headers)?;
    let done = state
        .documents()
        .delete(&ctx, &table, &id, precondition)
        .await
        .map_err(ApiError::without_operation)?;
    Ok(match done {
        Done::Queued(receipt) => receipt.into_response(),
        Done::Staged(()) => StatusCode::ACCEPTED.into_response(),
        Done::Applied(()) => StatusCode::NO_CONTENT.into_response(),
    })
}

// === helpers ===

pub(crate) fn header_value(value: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(value)
        .map_err(|err| ApiError::internal(anyhow::Error::new(err).context("building a header")))
}

fn etag(version: u64) -> ApiResult<HeaderValue> {
    header_value(&format!("\"{version}\""))
}

pub(crate) fn document_response(status: StatusCode, doc: Document) -> ApiResult<Response> {
    let version = doc.version;
    let json = serde_json::to_string(&DocumentBody::from(doc))
        .map_err(|err| ApiError::internal(err.into()))?;
    json_response(status, json, version)
}

/// A document given as its JSON text, with its `ETag`.
fn json_response(status: StatusCode, json: String, version: u64) -> ApiResult<Response> {
    let tag = etag(version)?;
    let mut response = json_body(status, json);
    response.headers_mut().insert(header::ETAG, tag);
    Ok(response)
}

/// A response whose body is JSON text written by the gateway.
fn json_body(status: StatusCode, json: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// `304 Not Modified` for a document at `version`.
fn not_modified(version: u64) -> ApiResult<Response> {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    response.headers_mut().insert(header::ETAG, etag(version)?);
    Ok(response)
}

/// Reads `If-Match`. `*` requires existence; a list of strong ETags requires one of them. Weak
/// tags never match (RFC 9110 uses strong comparison for `If-Match`), and ETags this gateway
/// could not have issued match nothing.
pub(crate) fn if_match(headers: &HeaderMap) -> ApiResult<Option<Precondition>> {
    let mut values = headers.get_all(header::IF_MATCH).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let mut versions = Vec::new();
    for value in values {
        let raw = value.to_str().map_err(|_| bad_if_match())?;
        for tag in raw.split(',').map(str::trim) {
            if tag == "*" {
                return Ok(Some(Precondition::Exists));
            }
            if tag.starts_with("W/") {
                continue;
            }
            let inner = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .ok_or_else(bad_if_match)?;
            if let Ok(version) = inner.parse::<u64>() {
                versions.push(version);
            }
        }
    }
    Ok(Some(Precondition::VersionIn(versions)))
}

fn bad_if_match() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidHeader,
        "`If-Match` must be `*` or a list of quoted ETags such as `\"3\"`",
    )
}

/// Whether `If-None-Match` matches the document (weak comparison, as RFC 9110 prescribes).
fn if_none_match(headers: &HeaderMap, version: u64) -> bool {
    let current = format!("\"{version}\"");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name.clone(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn if_match_parses_star_lists_and_weak_tags() {
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            if_match(&headers(header::IF_MATCH, &["*"])).unwrap(),
            Some(Precondition::Exists)
        );
        assert_eq!(
            if_match(&headers(header::IF_MATCH, &["\"3\", W/\"4\"", "\"5\""])).unwrap(),
            Some(Precondition::VersionIn(vec![3, 5]))
        );
        assert_eq!(
            if_match(&headers(header::IF_MATCH, &["\"abc\""])).unwrap(),
            Some(Precondition::VersionIn(vec![]))
        );
        assert!(if_match(&headers(header::IF_MATCH, &["3"])).is_err());
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(if_none_match(
            &headers(header::IF_NONE_MATCH, &["W/\"2\""]),
            2
        ));
        assert!(if_none_match(
            &headers(header::IF_NONE_MATCH, &["\"1\", \"2\""]),
            2
        ));
        assert!(!if_none_match(
            &headers(header::IF_NONE_MATCH, &["\"1\""]),
            2
        ));
    }
}
