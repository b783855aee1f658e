//! Convex functions through the gateway, with authentication, policy and metrics added:
//! - the drop-in passthrough of Convex's HTTP API: `POST /api/query`, `/api/mutation`,
//!   `/api/action` and `/api/run/{path}`, taking and answering Convex's exact shapes, so the
//!   official `ConvexHttpClient` works when pointed at the gateway;
//! - `POST /v1/functions/{kind}/{path}`, a REST form: the body is the args, the answer
//!   `{"value": …}` or problem+json.
//!
//! The function path is checked against the policy before anything is forwarded. On the
//! embedded store these routes answer `404 convex_not_configured`.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::tables::ApiPath;
use crate::auth::policy::FunctionKind as PolicyKind;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::convex::{
    ConvexClient, FunctionKind, UdfResponse, UdfStatus, decode_value, function_error,
};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(api_query))
        .routes(routes!(api_mutation))
        .routes(routes!(api_action))
        .routes(routes!(api_run))
        .routes(routes!(call_function))
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
    /// Convex is unreachable: a mutation allow-listed in GATEWAY_OUTBOX_MUTATIONS is queued in the outbox
    #[response(status = 202)]
    Queued(crate::writes::Receipt),
    /// A bad body or function path
    #[response(status = 400)]
    BadRequest(#[to_response] Refused),
    /// Missing or invalid bearer token
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The policy does not allow this function
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No Convex deployment is configured: this gateway runs on its embedded store (`convex_not_configured`)
    #[response(status = 404, content_type = "application/problem+json")]
    NotConfigured(Problem),
    /// Convex refused the request (e.g. 404 for an unknown route): its own `{"code", "message"}`, forwarded untouched
    #[response(status = "4XX", content_type = "application/json")]
    ConvexRefused(#[to_schema] ConvexErrorBody),
    /// Convex cannot be reached
    #[response(status = 502, content_type = "application/problem+json")]
    BadGateway(Problem),
    /// Convex is overloaded
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
    /// Convex did not answer in time
    #[response(status = 504, content_type = "application/problem+json")]
    Timeout(Problem),
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
        (status = 202, description = "Convex is unreachable: the write is queued in the outbox (`GATEWAY_OUTBOX`); follow `Location`", body = crate::writes::Receipt,
            headers(("Location" = String, description = "`/v1/outbox/{outboxId}`"))),
        (status = 200, description = "The function's return value", body = FunctionValue),
        (status = 400, description = "Bad kind, path or body; `upstream_rejected` when Convex refused the request, with its code in `convexCode`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The policy does not allow this function", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The function failed; `errorData` holds its ConvexError data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No Convex deployment is configured (`convex_not_configured`), a ConvexError with code NOT_FOUND (`not_found`), or Convex has no such function or route (`upstream_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Convex cannot be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "Convex did not answer in time", body = Problem, content_type = "application/problem+json"),
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
    let convex = convex(&state)?;
    let path = checked_path(&path)?;
    authorize(&state, &ctx, Some(kind), &path)?;
    let args = single_args(Some(args))?;
    let started = Instant::now();
    // Only queries are repeated on upstream faults: a mutation or action of yours might apply twice.
    let result = convex
        .call_raw(
            &ctx.store,
            route(Some(kind), &path).as_str(),
            &json!({ "path": path, "args": &args, "format": "convex_encoded_json" }),
            kind == FunctionKind::Query,
        )
        .await;
    record(
        &state,
        Some(kind),
        &path,
        result.as_ref().map(|(_, udf)| match udf {
            UdfResponse::Success { .. } => UdfStatus::Success,
            UdfResponse::Error { .. } => UdfStatus::Error,
        }),
        started,
    );
    if kind == FunctionKind::Mutation
        && matches!(&result, Err(err) if err.is_outage())
        && let Some(receipt) = state.writes().queue_mutation(&ctx, &path, args).await?
    {
        return Ok(receipt.into_response());
    }
    match result?.1 {
        UdfResponse::Success { value, .. } => Ok(Json(FunctionValue {
            value: decode_value(value),
        })
        .into_response()),
        UdfResponse::Error {
            error_message,
            error_data,
            ..
        } => {
            let data = error_data.map(decode_value);
            Err(ApiError::from(function_error(&error_message, data.as_ref())).with_error_data(data))
        }
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
    let convex = convex(state)?;
    let path = checked_path(&path)?;
    let format = match format.as_deref() {
        None | Some("json") => "json",
        Some("convex_encoded_json") => "convex_encoded_json",
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                format!("format `{other}` is not supported: use json or convex_encoded_json"),
            ));
        }
    };
    authorize(state, ctx, kind, &path)?;
    let args = single_args(args)?;
    let body = match kind {
        Some(_) => json!({ "path": path, "args": &args, "format": format }),
        None => json!({ "args": &args, "format": format }),
    };
    let started = Instant::now();
    let result = convex
        .call_bytes(
            &ctx.store,
            &route(kind, &path),
            &body,
            // Only queries are repeated on upstream faults: a mutation or action might apply twice.
            kind == Some(FunctionKind::Query),
        )
        .await;
    record(
        state,
        kind,
        &path,
        result.as_ref().map(|r| r.status),
        started,
    );
    if kind == Some(FunctionKind::Mutation)
        && matches!(&result, Err(err) if err.is_outage())
        && let Some(receipt) = state.writes().queue_mutation(ctx, &path, args).await?
    {
        return Ok(receipt.into_response());
    }
    // Convex's own answer goes back untouched, byte for byte: a function error (200 or 560),
    // and a request Convex refused (its 4xx with `{"code", "message"}`), as Convex's clients
    // expect them.
    let (http, body) = match result {
        Ok(raw) => (raw.http, raw.body),
        Err(StoreError::UpstreamRejected { status, body, .. }) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            body,
        ),
        Err(err) => return Err(err.into()),
    };
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

fn convex(state: &AppState) -> ApiResult<&ConvexClient> {
    state.convex().map(|c| c.as_ref()).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ConvexNotConfigured,
            "this gateway runs on its embedded store; set CONVEX_URL to call Convex functions",
        )
    })
}

/// A function path: `module:function` (modules may be nested with `/`), or a module alone
/// (its default export).
fn checked_path(path: &str) -> ApiResult<String> {
    let valid = !path.is_empty()
        && path.len() <= 256
        && !path.starts_with('/')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | ':' | '-'))
        && path.matches(':').count() <= 1;
    if valid {
        Ok(path.to_owned())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("`{path}` is not a Convex function path like `videos:getByTwitchId`"),
        ))
    }
}

/// The path as the policy sees it: `.js` dropped from the module, `:default` added when absent.
fn policy_path(path: &str) -> String {
    let (module, function) = path.split_once(':').unwrap_or((path, "default"));
    format!("{}:{function}", module.trim_end_matches(".js"))
}

fn authorize(
    state: &AppState,
    ctx: &RequestCtx,
    kind: Option<FunctionKind>,
    path: &str,
) -> ApiResult<()> {
    let path = policy_path(path);
    let kinds: &[PolicyKind] = match kind {
        Some(FunctionKind::Query) => &[PolicyKind::Query],
        Some(FunctionKind::Mutation) => &[PolicyKind::Mutation],
        Some(FunctionKind::Action) => &[PolicyKind::Action],
        None => &[PolicyKind::Query, PolicyKind::Mutation, PolicyKind::Action],
    };
    for kind in kinds {
        state.auth().authorize_function(&ctx.caller, &path, *kind)?;
    }
    Ok(())
}

/// `args` as Convex takes them: an object, or a one-element array holding one.
fn single_args(args: Option<Value>) -> ApiResult<Value> {
    match args {
        None => Ok(json!({})),
        Some(Value::Object(object)) => Ok(Value::Object(object)),
        Some(Value::Array(mut items)) if items.len() == 1 && items[0].is_object() => {
            Ok(items.remove(0))
        }
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidBody,
            "args must be an object, or an array holding exactly one object",
        )),
    }
}

fn route(kind: Option<FunctionKind>, path: &str) -> String {
    match kind {
        Some(FunctionKind::Query) => "/api/query".into(),
        Some(FunctionKind::Mutation) => "/api/mutation".into(),
        Some(FunctionKind::Action) => "/api/action".into(),
        None => format!("/api/run/{}", path.replace(':', "/")),
    }
}

fn record(
    state: &AppState,
    kind: Option<FunctionKind>,
    path: &str,
    result: Result<UdfStatus, &crate::store::StoreError>,
    started: Instant,
) {
    let kind = match kind {
        Some(FunctionKind::Query) => "query",
        Some(FunctionKind::Mutation) => "mutation",
        Some(FunctionKind::Action) => "action",
        None => "run",
    };
    let outcome = match result {
        Ok(UdfStatus::Success) => "success",
        Ok(UdfStatus::Error) => "error",
        Err(StoreError::UpstreamRejected { .. }) => "rejected",
        Err(_) => "failure",
    };
    state
        .metrics()
        .observe_function(kind, &policy_path(path), outcome, started.elapsed());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_and_normalised_for_the_policy() {
        assert!(checked_path("videos:getByTwitchId").is_ok());
        assert!(checked_path("dir/videos.js:list").is_ok());
        for bad in ["", "/abs:x", "a:b:c", "a b:c", "x;drop"] {
            assert!(checked_path(bad).is_err(), "{bad}");
        }
        assert_eq!(policy_path("videos.js:list"), "videos:list");
        assert_eq!(policy_path("videos"), "videos:default");
    }

    #[test]
    fn args_may_be_an_object_or_a_one_element_array() {
        assert_eq!(single_args(None).unwrap(), json!({}));
        assert_eq!(
            single_args(Some(json!([{"a": 1}]))).unwrap(),
            json!({"a": 1})
        );
        assert!(single_args(Some(json!([{}, {}]))).is_err());
        assert!(single_args(Some(json!(3))).is_err());
    }
}
