//! The REST document API: `/v1/tables/{table}` (list, insert) and `/v1/tables/{table}/{id}`
//! (get, merge-patch, replace, delete), with `ETag`/`If-Match` versioning.
//!
//! Handlers only translate HTTP to store calls: parse and validate, call the shared store, shape
//! the answer. Every failure is an `ApiError`.

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
use super::outbox::{Written, caller_key};
use super::transactions::{staged_current, staged_insert, staged_list, staged_write};
use crate::app::AppState;
use crate::auth::Owner;
use crate::auth::policy::TableAction;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::stale::{CachedRead, StaleCache};
use crate::store::{
    Document, FieldPath, Fields, Filter, FilterOp, ListQuery, Literal, Precondition, TableName,
    WriteOp, validate_fields,
};

/// The most documents one `POST` may insert.
pub const MAX_INSERT_DOCUMENTS: usize = 1000;

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
    /// Milliseconds since the Unix epoch when the document was inserted.
    #[serde(rename = "_creationTime")]
    pub creation_time: f64,
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

/// A document's fields, as a JSON object. Names must not start with `_`.
#[derive(serde::Deserialize, ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)] // Only describes the body in the OpenAPI spec.
pub struct NewDocument(Fields);

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
        ("table" = String, Path, description = "Table name, `^[A-Za-z][A-Za-z0-9_]{0,63}$`"),
        ("order" = Option<String>, Query, description = "Comma-separated `field.asc|desc` (any case, optionally `.nullsfirst` ascending or `.nullslast` descending); defaults to `_creationTime.asc`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; defaults to 100"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("filters" = Option<HashMap<String, String>>, Query, style = Form, explode, description = "Filters, one query parameter each, PostgREST-style: `field=op.value`, e.g. `{\"status\": \"eq.queued\", \"views\": \"gte.100\"}` sends `?status=eq.queued&views=gte.100`. Operators: eq, neq, gt, gte, lt, lte, like, ilike, in, is, and the `not.` prefix."),
    ),
    responses(
        (status = 200, description = "One page of documents", body = ListResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "The policy does not allow this", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Bad filter, order, limit, cursor or table name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The table is not served", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_documents(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(table): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let table = state.table(&table)?;
    let owner = state
        .auth()
        .authorize_table(&ctx.caller, table.as_str(), TableAction::Read)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|err| {
            ApiError::new(ErrorCode::InvalidFilter, format!("bad query string: {err}"))
        })?;
    let mut query = ListQuery::from_pairs(pairs)?;
    if let Some(owner) = owner {
        // Row ownership: the caller sees only its own rows, filtered in the store.
        query.filters.push(Filter {
            field: FieldPath::User(vec![owner.field]),
            op: FilterOp::Eq(Literal::Str(owner.sub)),
            negated: false,
        });
    }
    let (page, stale) = match &ctx.tx {
        Some(scope) => (
            staged_list(&state, &ctx, scope, &table, &query)
                .await?
                .into_raw()?,
            None,
        ),
        None => {
            let raw = raw.as_deref().unwrap_or("");
            let read = async {
                state
                    .store()
                    .list_json(&ctx.store, &table, &query)
                    .await
                    .map(CachedRead::Page)
            };
            match cached_read(&state, &ctx, &["list", table.as_str(), raw], read).await? {
                (CachedRead::Page(page), stale) => (page, stale),
                (CachedRead::Doc(_), _) => {
                    return Err(ApiError::internal(anyhow::anyhow!(
                        "a cached list holds a document"
                    )));
                }
            }
        }
    };
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
    params(("table" = String, Path, description = "Table name")),
    request_body(content = InsertBody, description = "A document, or an array of documents", content_type = "application/json"),
    responses(
        (status = 202, description = "Convex is unreachable: the write is queued in the outbox (`GATEWAY_OUTBOX`); follow `Location`", body = super::outbox::Receipt,
            headers(("Location" = String, description = "`/v1/outbox/{outboxId}`"))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "The policy does not allow this", body = Problem, content_type = "application/problem+json"),
        (status = 201, description = "Inserted: the stored document (with `Location` and `ETag`), or the array of stored documents", body = Inserted,
            headers(("Location" = String, description = "URL of the new document"), ("ETag" = String, description = "The document's version"))),
        (status = 400, description = "Malformed JSON, not an object, or a reserved field", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The table is not served", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body or array too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn insert_documents(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(table): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let table = state.table(&table)?;
    let owner = state
        .auth()
        .authorize_table(&ctx.caller, table.as_str(), TableAction::Write)?;
    let stamp = |mut fields: Fields| -> ApiResult<Fields> {
        if let Some(owner) = &owner {
            claim_ownership(&mut fields, owner, true)?;
        }
        Ok(fields)
    };
    match body {
        Value::Array(values) => {
            if values.len() > MAX_INSERT_DOCUMENTS {
                return Err(ApiError::new(
                    ErrorCode::TooManyDocuments,
                    format!(
                        "{} documents in one request; at most {MAX_INSERT_DOCUMENTS} are allowed",
                        values.len()
                    ),
                ));
            }
            let docs = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| user_fields(v, &format!("element {i} of the array")).and_then(stamp))
                .collect::<ApiResult<Vec<_>>>()?;
            if let Some(scope) = &ctx.tx {
                let staged = docs
                    .into_iter()
                    .map(|fields| staged_insert(&state, scope, &table, fields))
                    .collect::<ApiResult<Vec<_>>>()?;
                let body: Vec<DocumentBody> = staged.into_iter().map(DocumentBody::from).collect();
                return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
            }
            let stored = match state.write(&ctx, WriteOp::inserts(&table, docs)).await? {
                Written::Queued(receipt) => return Ok(receipt.into_response()),
                Written::Applied(outcomes) => outcomes,
            };
            let body: Vec<DocumentBody> = stored
                .into_iter()
                .filter_map(|o| o.document().cloned().map(DocumentBody::from))
                .collect();
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        other => {
            let fields = stamp(user_fields(other, "the body")?)?;
            if let Some(scope) = &ctx.tx {
                let doc = staged_insert(&state, scope, &table, fields)?;
                return document_response(StatusCode::ACCEPTED, doc);
            }
            let op = WriteOp::Insert {
                table: table.clone(),
                fields,
            };
            let doc = match state
                .write(&ctx, vec![op])
                .await
                .map_err(ApiError::without_operation)?
            {
                Written::Queued(receipt) => return Ok(receipt.into_response()),
                Written::Applied(mut outcomes) => outcomes
                    .pop()
                    .and_then(|o| o.document().cloned())
                    .ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!("insert returned no document"))
                    })?,
            };
            let location = format!("/v1/tables/{table}/{}", doc.id);
            let mut response = document_response(StatusCode::CREATED, doc)?;
            response
                .headers_mut()
                .insert(header::LOCATION, header_value(&location)?);
            Ok(response)
        }
    }
}

/// Get one document.
#[utoipa::path(
    get,
    path = "/v1/tables/{table}/{id}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name"),
        ("id" = String, Path, description = "Document `_id`"),
        ("If-None-Match" = Option<String>, Header, description = "Answer 304 if the document's ETag matches"),
    ),
    responses(
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "The policy does not allow this", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The document", body = DocumentBody, headers(("ETag" = String, description = "The document's version"))),
        (status = 304, description = "Not modified since the given ETag"),
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
    let table = state.table(&table)?;
    let owner = state
        .auth()
        .authorize_table(&ctx.caller, table.as_str(), TableAction::Read)?;
    if ctx.tx.is_none() && owner.is_none() && state.stale().is_none() {
        // The common read, with nothing to check in the document: its stored JSON text is the
        // body, without a parse and a serialisation in between.
        let doc = state
            .store()
            .get_json(&ctx.store, &table, &id)
            .await?
            .ok_or_else(|| not_found(&table, &id))?;
        return if if_none_match(&headers, doc.version) {
            not_modified(doc.version)
        } else {
            json_response(StatusCode::OK, doc.json, doc.version)
        };
    }
    let (doc, stale) = match &ctx.tx {
        Some(scope) => (
            staged_current(&state, &ctx, scope, &table, &id, owner.as_ref()).await?,
            None,
        ),
        None => {
            let read = async {
                state
                    .store()
                    .get(&ctx.store, &table, &id)
                    .await
                    .map(CachedRead::Doc)
            };
            let (read, stale) =
                cached_read(&state, &ctx, &["get", table.as_str(), &id], read).await?;
            let doc = match read {
                CachedRead::Doc(doc) => doc,
                CachedRead::Page(_) => None,
            };
            let doc = doc
                .filter(|doc| owns(owner.as_ref(), doc))
                .ok_or_else(|| not_found(&table, &id))?;
            (doc, stale)
        }
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

/// Runs a read. With stale reads on (`GATEWAY_STALE_READS`), it remembers the result per caller,
/// and while Convex is unavailable answers the last one instead, with its age.
async fn cached_read(
    state: &AppState,
    ctx: &RequestCtx,
    what: &[&str],
    read: impl Future<Output = Result<CachedRead, crate::store::StoreError>>,
) -> ApiResult<(CachedRead, Option<std::time::Duration>)> {
    let Some(cache) = state.stale() else {
        return Ok((read.await?, None));
    };
    let key = StaleCache::key(&caller_key(&ctx.caller), what);
    match read.await {
        Ok(fresh) => {
            cache.put(key, fresh.clone());
            Ok((fresh, None))
        }
        Err(err) if err.is_outage() => match cache.get(&key) {
            Some((stale, age)) => {
                state.metrics().stale_read();
                Ok((stale, Some(age)))
            }
            None => Err(err.into()),
        },
        Err(err) => Err(err.into()),
    }
}

/// Update a document with a JSON Merge Patch (RFC 7396): fields in the body are set, `null`
/// removes a field, nested objects merge.
#[utoipa::path(
    patch,
    path = "/v1/tables/{table}/{id}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name"),
        ("id" = String, Path, description = "Document `_id`"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the document's ETag matches (`*`: if it exists)"),
    ),
    request_body(content = Object, description = "A merge patch", content_type = "application/merge-patch+json"),
    responses(
        (status = 202, description = "Convex is unreachable: the write is queued in the outbox (`GATEWAY_OUTBOX`); follow `Location`", body = super::outbox::Receipt,
            headers(("Location" = String, description = "`/v1/outbox/{outboxId}`"))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "The policy does not allow this", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The patched document", body = DocumentBody, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Bad body or header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document or table", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` does not match the current version", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn patch_document(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((table, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    update_document(
        &state,
        &ctx,
        &table,
        id,
        &headers,
        body,
        true,
        |table, id, patch, precondition| WriteOp::Patch {
            table,
            id: id.into(),
            patch,
            precondition,
        },
    )
    .await
}

/// Replace a document's fields, keeping its `_id` and `_creationTime`.
#[utoipa::path(
    put,
    path = "/v1/tables/{table}/{id}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name"),
        ("id" = String, Path, description = "Document `_id`"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the document's ETag matches (`*`: if it exists)"),
    ),
    request_body(content = Object, description = "The new fields", content_type = "application/json"),
    responses(
        (status = 202, description = "Convex is unreachable: the write is queued in the outbox (`GATEWAY_OUTBOX`); follow `Location`", body = super::outbox::Receipt,
            headers(("Location" = String, description = "`/v1/outbox/{outboxId}`"))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "The policy does not allow this", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The replaced document", body = DocumentBody, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Bad body or header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document or table", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` does not match the current version", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn replace_document(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((table, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    update_document(
        &state,
        &ctx,
        &table,
        id,
        &headers,
        body,
        false,
        |table, id, fields, precondition| WriteOp::Replace {
            table,
            id: id.into(),
            fields,
            precondition,
        },
    )
    .await
}

/// The shared body of PATCH (`merge`) and PUT: authorize, validate, build the write with `op`,
/// answer the document.
#[expect(clippy::too_many_arguments, reason = "PATCH and PUT share one body")]
async fn update_document(
    state: &AppState,
    ctx: &RequestCtx,
    table: &str,
    id: String,
    headers: &HeaderMap,
    body: Value,
    merge: bool,
    op: impl FnOnce(TableName, String, Fields, Option<Precondition>) -> WriteOp,
) -> ApiResult<Response> {
    let table = state.table(table)?;
    let owner = state
        .auth()
        .authorize_table(&ctx.caller, table.as_str(), TableAction::Write)?;
    let mut precondition = if_match(headers)?;
    let mut fields = user_fields(body, "the body")?;
    if let Some(owner) = &owner {
        // A merge patch may leave the owner field out; a replacement gets it stamped.
        claim_ownership(&mut fields, owner, !merge)?;
    }
    if let Some(scope) = &ctx.tx {
        let current = staged_current(state, ctx, scope, &table, &id, owner.as_ref()).await?;
        check_precondition(precondition.as_ref(), &current)?;
        let doc = staged_write(state, scope, &table, current, Some((fields, merge)))?
            .ok_or_else(|| not_found(&table, &id))?;
        return document_response(StatusCode::ACCEPTED, doc);
    }
    if let Some(owner) = &owner {
        precondition = Some(owned_version(state, ctx, &table, &id, owner, precondition).await?);
    }
    let write = op(table.clone(), id.clone(), fields, precondition);
    let doc = match state
        .write(ctx, vec![write])
        .await
        .map_err(ApiError::without_operation)?
    {
        Written::Queued(receipt) => return Ok(receipt.into_response()),
        Written::Applied(mut outcomes) => outcomes
            .pop()
            .and_then(|o| o.document().cloned())
            .ok_or_else(|| not_found(&table, &id))?,
    };
    document_response(StatusCode::OK, doc)
}

/// Delete a document.
#[utoipa::path(
    delete,
    path = "/v1/tables/{table}/{id}",
    tag = "tables",
    security(("bearer" = [])),
    params(
        ("table" = String, Path, description = "Table name"),
        ("id" = String, Path, description = "Document `_id`"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the document's ETag matches (`*`: if it exists)"),
    ),
    responses(
        (status = 202, description = "Convex is unreachable: the write is queued in the outbox (`GATEWAY_OUTBOX`); follow `Location`", body = super::outbox::Receipt,
            headers(("Location" = String, description = "`/v1/outbox/{outboxId}`"))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "The policy does not allow this", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document or table", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` does not match the current version", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_document(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((table, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let table = state.table(&table)?;
    let owner = state
        .auth()
        .authorize_table(&ctx.caller, table.as_str(), TableAction::Delete)?;
    let mut precondition = if_match(&headers)?;
    if let Some(scope) = &ctx.tx {
        let current = staged_current(&state, &ctx, scope, &table, &id, owner.as_ref()).await?;
        check_precondition(precondition.as_ref(), &current)?;
        staged_write(&state, scope, &table, current, None)?;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    if let Some(owner) = &owner {
        precondition = Some(owned_version(&state, &ctx, &table, &id, owner, precondition).await?);
    }
    let write = WriteOp::Delete {
        table,
        id: id.into(),
        precondition,
    };
    match state
        .write(&ctx, vec![write])
        .await
        .map_err(ApiError::without_operation)?
    {
        Written::Queued(receipt) => Ok(receipt.into_response()),
        Written::Applied(_) => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

// === helpers ===

impl AppState {
    /// Validates a table name from the path and applies the `GATEWAY_TABLES` allow-list.
    pub(crate) fn table(&self, raw: &str) -> ApiResult<TableName> {
        let name =
            TableName::parse(raw).map_err(|m| ApiError::new(ErrorCode::InvalidTableName, m))?;
        match &self.config().tables {
            Some(allowed) if !allowed.contains(&name) => Err(ApiError::new(
                ErrorCode::TableNotFound,
                format!("table `{name}` is not served by this gateway"),
            )),
            _ => Ok(name),
        }
    }
}

/// Whether `doc` is visible under the ownership scope (always, when none applies).
pub(crate) fn owns(owner: Option<&Owner>, doc: &Document) -> bool {
    owner.is_none_or(|o| doc.fields.get(&o.field).and_then(Value::as_str) == Some(o.sub.as_str()))
}

/// Stamps the caller as owner (when `stamp`), and refuses an owner field naming someone else.
pub(crate) fn claim_ownership(fields: &mut Fields, owner: &Owner, stamp: bool) -> ApiResult<()> {
    match fields.get(&owner.field) {
        None if stamp => {
            fields.insert(owner.field.clone(), Value::String(owner.sub.clone()));
            Ok(())
        }
        None => Ok(()),
        Some(Value::String(sub)) if *sub == owner.sub => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("`{}` must be your own subject id", owner.field),
        )),
    }
}

/// For a write under row ownership: the document's current version, after checking the caller
/// owns it (404 otherwise, so existence does not leak) and that the caller's own `If-Match`, if
/// any, holds. Writing at exactly that version makes check and write atomic.
pub(crate) async fn owned_version(
    state: &AppState,
    ctx: &RequestCtx,
    table: &TableName,
    id: &str,
    owner: &Owner,
    requested: Option<Precondition>,
) -> ApiResult<Precondition> {
    let doc = state
        .store()
        .get(&ctx.store, table, id)
        .await?
        .filter(|doc| owns(Some(owner), doc))
        .ok_or_else(|| not_found(table, id))?;
    if let Some(requested) = requested
        && !requested.holds_for(doc.version)
    {
        return Err(ApiError::new(
            ErrorCode::VersionMismatch,
            format!(
                "document `{id}` is at version {}, which If-Match does not allow",
                doc.version
            ),
        ));
    }
    Ok(Precondition::VersionIn(vec![doc.version]))
}

/// `If-Match` against the version a transaction sees.
fn check_precondition(precondition: Option<&Precondition>, doc: &Document) -> ApiResult<()> {
    match precondition {
        Some(p) if !p.holds_for(doc.version) => Err(ApiError::new(
            ErrorCode::VersionMismatch,
            format!(
                "document `{}` is at version {}, which If-Match does not allow",
                doc.id, doc.version
            ),
        )),
        _ => Ok(()),
    }
}

fn not_found(table: &TableName, id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("document `{id}` not found in table `{table}`"),
    )
}

/// A JSON object of user fields, or a 400 saying what `what` should have been.
fn user_fields(value: Value, what: &str) -> ApiResult<Fields> {
    let Value::Object(fields) = value else {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("{what} must be a JSON object"),
        ));
    };
    validate_fields(&fields).map_err(|m| ApiError::new(ErrorCode::ReservedField, m))?;
    Ok(fields)
}

fn header_value(value: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(value)
        .map_err(|err| ApiError::internal(anyhow::Error::new(err).context("building a header")))
}

fn etag(version: u64) -> ApiResult<HeaderValue> {
    header_value(&format!("\"{version}\""))
}

fn document_response(status: StatusCode, doc: Document) -> ApiResult<Response> {
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
