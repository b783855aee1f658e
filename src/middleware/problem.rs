//! Makes every error answer a problem document: the fallback for unknown routes, a panic
//! handler, and a last pass that rewrites plain-text errors produced by tower layers or axum's
//! router (405, 413, 504…) into `application/problem+json`, keeping their status and headers.

use std::any::Any;

use axum::Json;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode, PROBLEM_JSON, Problem};
use crate::state::AppState;

/// Marks a response that must reach the client exactly as built, such as Convex's own function
/// error bodies (HTTP 560) on the drop-in passthrough.
#[derive(Debug, Clone, Copy)]
pub struct Verbatim;

/// The fallback handler: no route matches the path.
pub(crate) async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!("no route for {method} {}", uri.path()),
    )
}

/// A handler panicked: answer 500 and log what we can.
pub(super) fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    ApiError::internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

/// Rewrites error responses that are not problem documents yet.
pub(super) fn ensure_problem_body(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    response: Response,
) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Verbatim>().is_some()
    {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let code = ErrorCode::for_status(status);
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "{method} is not allowed on {}; the Allow header lists the methods that are",
            uri.path()
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large_detail(state.config().max_body_bytes),
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => {
            "The request took longer than GATEWAY_REQUEST_TIMEOUT allows.".to_owned()
        }
        other => other
            .canonical_reason()
            .unwrap_or("The request failed")
            .to_owned(),
    };
    let problem = Problem {
        type_uri: code.type_uri(),
        title: code.title().to_owned(),
        status: status.as_u16(),
        detail,
        code,
        failed_operation: None,
        error_data: None,
        convex_code: None,
        field: None,
        constraint: None,
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    // The new body is plain JSON, whatever encoding the old one had.
    parts.headers.remove(header::CONTENT_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    let body = Json(problem).into_response().into_body();
    Response::from_parts(parts, body)
}
