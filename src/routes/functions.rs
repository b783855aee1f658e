//! Convex functions through the gateway, with authentication, policy and metrics added:
//! - the drop-in passthrough of Convex's HTTP API: `POST /api/query`, `/api/mutation`,
//!   `/api/action` and `/api/run/{path}`, taking and answering Convex's exact shapes, so the
//!   official `ConvexHttpClient` works when pointed at the gateway;
//! - `POST /v1/functions/{kind}/{path}`, a REST form: the body is the args, the answer
//!   `{"value": …}` or problem+json.
//!
//! The calls themselves are the function service's (`functions`): path check, policy, metrics,
//! queuing. On the embedded store these routes answer `404 convex_not_configured`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::tables::ApiPath;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::functions::{Called, Forwarded};
use crate::state::AppState;
use crate::store::convex::FunctionKind;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(api_query))
        .routes(routes!(api_mutation))
        .routes(routes!(api_action))
        .routes(routes!(api_run))
        .routes(routes!(call_function, read_function))
}

// === schemas ===

/// A Convex function call, exactly as Convex's HTTP API takes it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FunctionRequest {
    /// `module:function`, e.g. `videos:getByTwitchId`.
    pub path: String,
    /// An object, or a one-element array holding it (the legacy form `ConvexHttpClient` sends).
    #[schema(value_type = Option<Object>)]
    pub args: Option<Value>,
    /// `json` (the default) or `convex_encoded_json`.
    pub format: Option<String>,
}

/// A call through `/api/run/{path}`: the path is in the URL.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RunRequest {
    #[schema(value_type = Option<Object>)]
    pub args: Option<Value>,
    pub format: Option<String>,
}

/// Convex's answer, passed through unchanged (HTTP 200, or 560 for function errors when
/// Convex sends it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    /// `success` or `error`.
    pub status: String,
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    pub error_message: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub error_data: Option<Value>,
    pub log_lines: Option<Vec<String>>,
}

/// The answers of the passthrough routes (documentation only).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum PassthroughResponses {
    /// Convex's answer: `status` is success or error
    #[response(status = 200)]
    Answer(#[to_schema] FunctionResponse),
    /// A function error, when Convex answers with 560
    #[response(status = 560)]
    FunctionError(#[to_schema] FunctionResponse),
    #[response(status = 202)]
    Queued(#[to_response] crate::openapi::Queued),
    /// A bad body or function path
    #[response(status = 400)]
    BadRequest(#[to_response] Refused),
    #[response(status = 401)]
    Unauthorized(#[to_response] crate::openapi::Unauthorized),
    /// The policy does not allow this function
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No Convex deployment is configured: this gateway runs on its embedded store (`convex_not_configured`)
    #[response(status = 404, content_type = "application/problem+json")]
    NotConfigured(Problem),
    /// Convex refused the request (e.g. 404 for an unknown route): its own `{"code", "message"}`, forwarded untouched
    #[response(status = "4XX", content_type = "application/json")]
    ConvexRefused(#[to_schema] ConvexErrorBody),
    #[response(status = 502)]
    BadGateway(#[to_response] crate::openapi::Unreachable),
    #[response(status = 503)]
    Unavailable(#[to_response] crate::openapi::Overloaded),
    #[response(status = 504)]
    Timeout(#[to_response] crate::openapi::TimedOut),
}

/// Convex's generic error body, for a request Convex refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConvexErrorBody {
    /// Convex's error code, e.g. `BadJsonBody` or `MissingIdentifier`.
    pub code: String,
    /// What Convex says went wrong.
    pub message: String,
}

/// A bad body or function path: the gateway's problem, or Convex's own answer.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
enum Refused {
    /// The gateway refused the body or function path
    Gateway(#[content("application/problem+json")] Problem),
    /// Convex refused the request: its own body, forwarded untouched
    Convex(
        #[content("application/json")]
        #[to_schema]
        ConvexErrorBody,
    ),
}

/// The value a function returned, as plain JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunctionValue {
    #[schema(value_type = Object)]
    pub value: Value,
}

// === handlers ===

/// Run a Convex query (Convex's HTTP API, passed through).
#[utoipa::path(
    post,
    path = "/api/query",
    tag = "functions",
    security(("bearer" = [])),
    request_body(content = FunctionRequest, content_type = "application/json"),
    responses(PassthroughResponses)
)]
async fn api_query(
    State(state): State<AppState>,
    ctx: RequestCtx,
    body: Bytes,
) -> ApiResult<Response> {
    let request: FunctionRequest = parse(&body)?;
    passthrough(
        &state,
        &ctx,
        Some(FunctionKind::Query),
        request.path,
        request.args,
        request.format,
    )
    .await
}

/// Run a Convex mutation (Convex's HTTP API, passed through).
#[utoipa::path(
    post,
    path = "/api/mutation",
    tag = "functions",
    security(("bearer" = [])),
    request_body(content = FunctionRequest, content_type = "application/json"),
    responses(PassthroughResponses)
)]
async fn api_mutation(
    State(state): State<AppState>,
    ctx: RequestCtx,
    body: Bytes,
) -> ApiResult<Response> {
    let request: FunctionRequest = parse(&body)?;
    passthrough(
        &state,
        &ctx,
        Some(FunctionKind::Mutation),
        request.path,
        request.args,
        request.format,
    )
    .await
}

/// Run a Convex action (Convex's HTTP API, passed through).
#[utoipa::path(
    post,
    path = "/api/action",
    tag = "functions",
    security(("bearer" = [])),
    request_body(content = FunctionRequest, content_type = "application/json"),
    responses(PassthroughResponses)
)]
async fn api_action(
    State(state): State<AppState>,
    ctx: RequestCtx,
    body: Bytes,
) -> ApiResult<Response> {
    let request: FunctionRequest = parse(&body)?;
    passthrough(
        &state,
        &ctx,
        Some(FunctionKind::Action),
        request.path,
        request.args,
        request.format,
    )
    .await
}

/// Run any Convex function by its path in the URL (`/api/run/videos/getByTwitchId`).
///
/// Its kind is not known in advance, so the policy must allow the path as a query, a mutation
/// and an action; prefer the kind-specific routes.
#[utoipa::path(
    post,
    path = "/api/run/{*path}",
    tag = "functions",
    security(("bearer" = [])),
    params(("path" = String, Path, description = "The function path with `/` for `:`, e.g. `videos/getByTwitchId`")),
    request_body(content = RunRequest, content_type = "application/json"),
    responses(PassthroughResponses)
)]
async fn api_run(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(path): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let request: RunRequest = parse(&body)?;
    let path = match path.rsplit_once('/') {
        Some((module, function)) => format!("{module}:{function}"),
        None => path,
    };
    passthrough(&state, &ctx, None, path, request.args, request.format).await
}

/// Call a Convex function the REST way: the body is its args (or empty), the answer its value.
#[utoipa::path(
    post,
    path = "/v1/functions/{kind}/{*path}",
    tag = "functions",
    security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "`query`, `mutation` or `action`"),
        ("path" = String, Path, description = "`module:function`, e.g. `videos:updateStatusByTwitchId`"),
    ),
    request_body(content = Object, description = "The function's arguments", content_type = "application/json"),
    responses(
        (status = 202, response = crate::openapi::Queued),
        (status = 200, description = "The function's return value", body = FunctionValue),
        (status = 400, description = "Bad kind, path or body; `upstream_rejected` when Convex refused the request, with its code in `convexCode`", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "The policy does not allow this function", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The function failed; `errorData` holds its ConvexError data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No Convex deployment is configured (`convex_not_configured`), a ConvexError with code NOT_FOUND (`not_found`), or Convex has no such function or route (`upstream_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, response = crate::openapi::Unreachable),
        (status = 504, response = crate::openapi::TimedOut),
    )
)]
async fn call_function(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((kind, path)): ApiPath<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let kind = match kind.as_str() {
        "query" => FunctionKind::Query,
        "mutation" => FunctionKind::Mutation,
        "action" => FunctionKind::Action,
        other => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("`{other}` is not a function kind: use query, mutation or action"),
            ));
        }
    };
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse::<Value>(&body)?
    };
    match state.functions().call(&ctx, kind, &path, args).await? {
        Called::Queued(receipt) => Ok(receipt.into_response()),
        Called::Value(value) => Ok(Json(FunctionValue { value }).into_response()),
    }
}

/// The `args` of a query read or watch: URL-encoded JSON in the query string.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadParams {
    /// The query's arguments as a URL-encoded JSON object (default `{}`), e.g.
    /// `args=%7B%22status%22%3A%22Queued%22%7D` for `{"status":"Queued"}`.
    pub args: Option<String>,
}

/// Read a Convex query with GET, or watch it live.
///
/// Without `Accept: text/event-stream`, the query runs once and answers `{"value": …}`, as the
/// POST form does. With it, the answer is a live watch (Server-Sent Events): `event: value` with
/// `{"value": …}` at once and whenever the result changes (never twice the same), and
/// `event: failed` (`{"code", "detail", "errorData"}`) when the query throws, after which the
/// watch goes on. Identical watches (path, args and identity) share one upstream subscription.
#[utoipa::path(
    get,
    path = "/v1/functions/{kind}/{*path}",
    tag = "functions",
    security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "`query` (only queries can be read or watched)"),
        ("path" = String, Path, description = "`module:function`, e.g. `videos:list`"),
        ReadParams,
    ),
    responses(
        (status = 200, description = "The query's value; with `Accept: text/event-stream`, a live watch of it", content(
            (FunctionValue = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 400, description = "Bad kind, path or args", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "The policy does not allow this query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No Convex deployment is configured (`convex_not_configured`), or Convex has no such function", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The query failed; `errorData` holds its ConvexError data", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The caller has too many open watches (`too_many_watches`), or too many requests", body = Problem, content_type = "application/problem+json"),
        (status = 502, response = crate::openapi::Unreachable),
        (status = 503, description = "Convex cannot be reached, or the gateway holds as many watches as it may (`watch_capacity`)", body = Problem, content_type = "application/problem+json"),
        (status = 504, response = crate::openapi::TimedOut),
    )
)]
async fn read_function(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath((kind, path)): ApiPath<(String, String)>,
    axum::extract::Query(params): axum::extract::Query<ReadParams>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    if kind != "query" {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("`{kind}` cannot be read with GET: only queries can be read or watched"),
        ));
    }
    let args = match params.args.as_deref() {
        None | Some("") => json!({}),
        Some(raw) => serde_json::from_str::<Value>(raw).map_err(|err| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("`args` is not JSON: {err}"),
            )
        })?,
    };
    let (path, args) = state.functions().check_watch(&ctx, &path, args)?;
    if super::watch::wants_stream(&headers) {
        let frames = state.live().watch_function(&ctx, &path, args).await?;
        return Ok(super::watch::stream(frames, state.live().heartbeat()));
    }
    match state
        .functions()
        .call(&ctx, FunctionKind::Query, &path, args)
        .await?
    {
        Called::Queued(receipt) => Ok(receipt.into_response()),
        Called::Value(value) => Ok(Json(FunctionValue { value }).into_response()),
    }
}

// === helpers ===

async fn passthrough(
    state: &AppState,
    ctx: &RequestCtx,
    kind: Option<FunctionKind>,
    path: String,
    args: Option<Value>,
    format: Option<String>,
) -> ApiResult<Response> {
    match state
        .functions()
        .passthrough(ctx, kind, path, args, format)
        .await?
    {
        Forwarded::Queued(receipt) => Ok(receipt.into_response()),
        Forwarded::Convex { http, body } => {
            let mut response = (
                http,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response();
            response
                .extensions_mut()
                .insert(crate::middleware::Verbatim);
            Ok(response)
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|err| {
        let code = if err.is_syntax() || err.is_eof() {
            ErrorCode::MalformedJson
        } else {
            ErrorCode::InvalidBody
        };
        ApiError::new(code, err.to_string())
    })
}
