//! The one error type at the HTTP edge: `ApiError`, answered as RFC 9457 `application/problem+json`
//! with a stable machine `code`.
//!
//! Every code lives in one table (`error_codes!`) with its status and title, so the codes, their
//! statuses and the OpenAPI enum cannot disagree. Lower layers (`StoreError`, `QueryError`, axum's
//! rejections) convert with `From`; internal details are logged once here and never sent.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::query::{QueryError, QueryErrorKind};
use crate::store::{ConstraintKind, StoreError};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:ident, $title:literal)),* $(,)?) => {
        /// A stable, machine-readable error code. Clients branch on this, never on `detail`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it appears in the `code` member.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code),* }
            }

            /// The HTTP status the code is answered with.
            pub fn status(self) -> StatusCode {
                match self { $(Self::$variant => StatusCode::$status),* }
            }

            /// A short, fixed summary of the problem type.
            pub fn title(self) -> &'static str {
                match self { $(Self::$variant => $title),* }
            }
        }
    };
}

error_codes! {
    MalformedJson => ("malformed_json", BAD_REQUEST, "The body is not valid JSON"),
    InvalidBody => ("invalid_body", BAD_REQUEST, "The body does not have the expected shape"),
    ReservedField => ("reserved_field", BAD_REQUEST, "A field name is reserved"),
    InvalidTableName => ("invalid_table_name", BAD_REQUEST, "The table name is not valid"),
    InvalidFilter => ("invalid_filter", BAD_REQUEST, "A filter is not valid"),
    InvalidOrder => ("invalid_order", BAD_REQUEST, "The order is not valid"),
    InvalidLimit => ("invalid_limit", BAD_REQUEST, "The limit is not valid"),
    InvalidCursor => ("invalid_cursor", BAD_REQUEST, "The cursor is not valid"),
    InvalidQuery => ("invalid_query", BAD_REQUEST, "The query cannot be run"),
    OrderNeedsIndex => ("order_needs_index", BAD_REQUEST, "The order needs an index the store does not have"),
    InvalidHeader => ("invalid_header", BAD_REQUEST, "A request header is not valid"),
    InvalidReference => ("invalid_reference", BAD_REQUEST, "A `$ref` names no earlier operation"),
    TooManyOperations => ("too_many_operations", PAYLOAD_TOO_LARGE, "Too many operations in one transaction"),
    BadRequest => ("bad_request", BAD_REQUEST, "The request is not valid"),
    PreferenceNotHonoured => ("preference_not_honoured", BAD_REQUEST, "A preference cannot be honoured (Prefer: handling=strict)"),
    MissingToken => ("missing_token", UNAUTHORIZED, "Authentication is required"),
    MalformedToken => ("malformed_token", UNAUTHORIZED, "The token is not a well-formed JWT"),
    UnsupportedAlgorithm => ("unsupported_algorithm", UNAUTHORIZED, "The token's algorithm is not accepted"),
    UnknownKey => ("unknown_key", UNAUTHORIZED, "The token was signed by an unknown key"),
    UnsupportedHeader => ("unsupported_header", UNAUTHORIZED, "The token's header requires an extension the gateway does not support"),
    BadSignature => ("bad_signature", UNAUTHORIZED, "The token's signature is invalid"),
    TokenExpired => ("token_expired", UNAUTHORIZED, "The token has expired"),
    TokenNotYetValid => ("token_not_yet_valid", UNAUTHORIZED, "The token is not valid yet"),
    WrongIssuer => ("wrong_issuer", UNAUTHORIZED, "The token's issuer is not accepted"),
    WrongAudience => ("wrong_audience", UNAUTHORIZED, "The token's audience is not accepted"),
    MissingClaim => ("missing_claim", UNAUTHORIZED, "The token lacks a required claim"),
    TokenInQuery => ("token_in_query", UNAUTHORIZED, "Tokens are accepted only in the Authorization header"),
    InvalidToken => ("invalid_token", UNAUTHORIZED, "The token is invalid"),
    InvalidClient => ("invalid_client", UNAUTHORIZED, "The client credentials are invalid"),
    Forbidden => ("forbidden", FORBIDDEN, "Not allowed"),
    InvalidGrant => ("invalid_grant", BAD_REQUEST, "The grant is invalid, expired or revoked"),
    RefreshTokenReused => ("refresh_token_reused", BAD_REQUEST, "A rotated refresh token was reused; its whole family is revoked"),
    RouteNotFound => ("route_not_found", NOT_FOUND, "No such route"),
    TableNotFound => ("table_not_found", NOT_FOUND, "No such table"),
    NotFound => ("not_found", NOT_FOUND, "No such document"),
    MethodNotAllowed => ("method_not_allowed", METHOD_NOT_ALLOWED, "The method is not allowed on this route"),
    NotAcceptable => ("not_acceptable", NOT_ACCEPTABLE, "No acceptable representation"),
    Conflict => ("conflict", CONFLICT, "The request conflicts with the current state"),
    IdempotencyInProgress => ("idempotency_in_progress", CONFLICT, "A request with this Idempotency-Key is still running"),
    IdempotencyKeyReused => ("idempotency_key_reused", UNPROCESSABLE_ENTITY, "The Idempotency-Key was used for another request"),
    TransactionConflict => ("transaction_conflict", CONFLICT, "The transaction conflicts with a concurrent change"),
    TransactionNotFound => ("transaction_not_found", NOT_FOUND, "No such transaction"),
    TransactionExpired => ("transaction_expired", GONE, "The transaction expired"),
    TooManyTransactions => ("too_many_transactions", TOO_MANY_REQUESTS, "Too many open transactions"),
    RateLimited => ("rate_limited", TOO_MANY_REQUESTS, "Too many requests; slow down"),
    TooManyWatches => ("too_many_watches", TOO_MANY_REQUESTS, "The caller has too many open watches"),
    WatchCapacity => ("watch_capacity", SERVICE_UNAVAILABLE, "The gateway holds as many open watches as it may"),
    OutboxEntryNotFound => ("outbox_entry_not_found", NOT_FOUND, "No such outbox entry"),
    OutboxEntryState => ("outbox_entry_state", CONFLICT, "The outbox entry is not in a state that allows this"),
    SyncNotConfigured => ("sync_not_configured", NOT_FOUND, "No table sync is configured (GATEWAY_SYNC)"),
    SyncTableNotFound => ("sync_table_not_found", NOT_FOUND, "The table is not synced"),
    SyncConflictNotFound => ("sync_conflict_not_found", NOT_FOUND, "No such sync conflict"),
    SyncConflictState => ("sync_conflict_state", CONFLICT, "The conflict cannot be re-applied"),
    SyncUnavailable => ("sync_unavailable", SERVICE_UNAVAILABLE, "The sync's database or Convex deployment cannot be reached"),
    WebhookNotFound => ("webhook_not_found", NOT_FOUND, "No such webhook is configured"),
    WebhookSignature => ("webhook_signature", UNAUTHORIZED, "The webhook's signature is missing or invalid"),
    WebhookTimestamp => ("webhook_timestamp", UNAUTHORIZED, "The webhook's signed timestamp is missing, too old or in the future"),
    WebhookPayload => ("webhook_payload", BAD_REQUEST, "The verified webhook's body cannot be delivered as configured"),
    WebhookInFlight => ("webhook_in_flight", CONFLICT, "A delivery with this message id is still running"),
    HistoryNotKept => ("history_not_kept", NOT_FOUND, "The table keeps no history"),
    VersionNotFound => ("version_not_found", NOT_FOUND, "The document's history has no such version"),
    DeploymentNotConfigured => ("deployment_not_configured", NOT_FOUND, "No Convex deployment with a deploy key is configured"),
    EnvVarNotFound => ("env_var_not_found", NOT_FOUND, "The deployment has no such environment variable"),
    EnvVarRefused => ("env_var_refused", BAD_REQUEST, "Convex refused the environment variable"),
    VersionMismatch => ("version_mismatch", PRECONDITION_FAILED, "The document has changed"),
    PayloadTooLarge => ("payload_too_large", PAYLOAD_TOO_LARGE, "The request body is too large"),
    TooManyDocuments => ("too_many_documents", PAYLOAD_TOO_LARGE, "Too many documents in one request"),
    UnsupportedMediaType => ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "The body must be JSON"),
    FunctionError => ("function_error", UNPROCESSABLE_ENTITY, "The Convex function failed"),
    UpstreamUnauthorized => ("upstream_unauthorized", UNAUTHORIZED, "Convex refused the caller's identity"),
    UpstreamRejected => ("upstream_rejected", BAD_REQUEST, "Convex refused the request"),
    UpstreamNotFound => ("upstream_not_found", NOT_FOUND, "Convex has no such function or route"),
    UpstreamError => ("upstream_error", BAD_GATEWAY, "Convex answered unexpectedly"),
    UpstreamUnreachable => ("upstream_unreachable", SERVICE_UNAVAILABLE, "Convex cannot be reached"),
    UpstreamTimeout => ("upstream_timeout", GATEWAY_TIMEOUT, "Convex did not answer in time"),
    UpstreamUnavailable => ("upstream_unavailable", SERVICE_UNAVAILABLE, "Convex is failing; the circuit breaker is open"),
    Internal => ("internal", INTERNAL_SERVER_ERROR, "Something went wrong"),
    ConvexNotConfigured => ("convex_not_configured", NOT_FOUND, "No Convex deployment is configured"),
    ResyncNeeded => ("resync_needed", GONE, "The change feed no longer reaches back to this position"),
    ChangeFeedUnavailable => ("change_feed_unavailable", NOT_FOUND, "This store adapter keeps no change feed"),
    TableWithoutKey => ("table_without_key", NOT_FOUND, "The table has no single-column primary key to serve as `_id`"),
    UnknownField => ("unknown_field", BAD_REQUEST, "The table has no such column"),
    InvalidValue => ("invalid_value", BAD_REQUEST, "A value does not fit its column's type"),
    NotNullViolation => ("not_null_violation", BAD_REQUEST, "A required column has no value"),
    CheckViolation => ("check_violation", BAD_REQUEST, "A check constraint refused the row"),
    UniqueViolation => ("unique_violation", CONFLICT, "Another row already holds this unique value"),
    ForeignKeyViolation => ("foreign_key_violation", CONFLICT, "A foreign key refers to a missing row, or a row is still referred to"),
    ExclusionViolation => ("exclusion_violation", CONFLICT, "An exclusion constraint refused the row"),
    DatabaseForbidden => ("database_forbidden", FORBIDDEN, "The database's privileges or row-level security refuse this"),
    RateLimiterUnavailable => ("rate_limiter_unavailable", SERVICE_UNAVAILABLE, "The shared rate limiter cannot be reached"),
    StateStoreUnavailable => ("state_store_unavailable", SERVICE_UNAVAILABLE, "The shared state store cannot be reached"),
    StoreUnavailable => ("store_unavailable", SERVICE_UNAVAILABLE, "The store is unavailable"),
    Timeout => ("timeout", GATEWAY_TIMEOUT, "The request took too long"),
}

impl ErrorCode {
    /// The `type` URI of the problem: a stable URN per code.
    pub fn type_uri(self) -> String {
        format!("urn:convex-gateway:problem:{}", self.as_str())
    }

    /// The code to use for an error response that was produced without an `ApiError` (by a tower
    /// layer or axum's router), chosen from its status alone.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::RouteNotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::NOT_ACCEPTABLE => Self::NotAcceptable,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => Self::Timeout,
            StatusCode::SERVICE_UNAVAILABLE => Self::StoreUnavailable,
            s if s.is_client_error() => Self::BadRequest,
            _ => Self::Internal,
        }
    }
}

/// An RFC 9457 problem body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A URN naming the problem type, e.g. `urn:convex-gateway:problem:not_found`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for people.
    pub detail: String,
    /// The stable machine code.
    pub code: ErrorCode,
    /// For batch writes: the index of the operation that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_operation: Option<usize>,
    /// For Convex function errors: the `ConvexError` data the function threw.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error_data: Option<serde_json::Value>,
    /// For requests Convex refused: Convex's own error code (e.g. `BadJsonBody`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub convex_code: Option<String>,
    /// For values a column refuses: the field (column) at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For writes a database constraint refused: the constraint's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
}

/// An error answered to the client as a problem document.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    failed_operation: Option<usize>,
    /// Seconds for `Retry-After` on 503s.
    retry_after: Option<u64>,
    /// `errorData` of a Convex function error (boxed: rare, and it keeps `ApiError` small).
    error_data: Option<Box<serde_json::Value>>,
    /// Convex's error code, and the field and constraint a database named (boxed: rare, and it
    /// keeps `ApiError` small).
    target: Option<Box<Target>>,
    /// The real cause of an internal error: logged, never sent.
    source: Option<anyhow::Error>,
}

/// What an upstream named about a refused request: Convex's error code, or the column and
/// constraint a database named.
#[derive(Debug, Default)]
struct Target {
    convex_code: Option<String>,
    field: Option<String>,
    constraint: Option<String>,
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a code and a human-readable detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            failed_operation: None,
            retry_after: None,
            error_data: None,
            target: None,
            source: None,
        }
    }

    /// Names the batch operation the error belongs to, unless one is named already.
    pub fn at_operation(mut self, index: usize) -> Self {
        self.failed_operation.get_or_insert(index);
        self
    }

    /// A body over `GATEWAY_MAX_BODY_BYTES`, telling the limit.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, Self::too_large_detail(limit))
    }

    /// The detail of a 413 for a body over the limit.
    pub fn too_large_detail(limit: usize) -> String {
        format!(
            "The request body is larger than the {limit} bytes that GATEWAY_MAX_BODY_BYTES allows."
        )
    }

    /// Drops the operation index: a single-document write is no batch.
    pub fn without_operation(mut self) -> Self {
        self.failed_operation = None;
        self
    }

    /// Attaches the `ConvexError` data of a failed function.
    pub fn with_error_data(mut self, data: Option<serde_json::Value>) -> Self {
        self.error_data = data.map(Box::new);
        self
    }

    /// A 500 whose cause is logged but not disclosed.
    pub fn internal(source: anyhow::Error) -> Self {
        Self {
            code: ErrorCode::Internal,
            detail: "The gateway hit an internal error; the request id identifies it in the logs."
                .into(),
            failed_operation: None,
            retry_after: None,
            error_data: None,
            target: None,
            source: Some(source),
        }
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable detail, as the client is told it (an internal error's cause is not in
    /// it).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The cause of an internal error, for the log.
    pub fn cause(&self) -> Option<&anyhow::Error> {
        self.source.as_ref()
    }

    /// Asks the client to retry after `seconds` (`Retry-After`).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The problem body for this error.
    pub fn problem(&self) -> Problem {
        Problem {
            type_uri: self.code.type_uri(),
            title: self.code.title().to_owned(),
            status: self.code.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            failed_operation: self.failed_operation,
            error_data: self.error_data.as_deref().cloned(),
            convex_code: self.target.as_ref().and_then(|t| t.convex_code.clone()),
            field: self.target.as_ref().and_then(|t| t.field.clone()),
            constraint: self.target.as_ref().and_then(|t| t.constraint.clone()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            tracing::error!(
                error = format!("{source:#}"),
                code = self.code.as_str(),
                "internal error"
            );
        }
        let mut response = (self.code.status(), Json(self.problem())).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.code.status() == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3; the description is a fixed title, never token contents.
            let challenge = format!(
                "Bearer realm=\"convex-gateway\", error=\"invalid_token\", error_description=\"{}\"",
                self.code.title().replace('"', "'")
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if matches!(
            self.code,
            ErrorCode::StoreUnavailable
                | ErrorCode::RateLimiterUnavailable
                | ErrorCode::StateStoreUnavailable
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::UpstreamUnreachable
                | ErrorCode::WatchCapacity
        ) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(self.retry_after.unwrap_or(1)),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let detail = err.to_string();
        let mut retry_after = None;
        let mut target = None;
        let (code, op) = match err {
            StoreError::Internal(source) => return Self::internal(source),
            StoreError::InOperation { op, source } => return Self::from(*source).at_operation(op),
            StoreError::OrderNeedsIndex(_) => (ErrorCode::OrderNeedsIndex, None),
            StoreError::FunctionFailed(_) => (ErrorCode::FunctionError, None),
            StoreError::UpstreamAuth(_) => (ErrorCode::UpstreamUnauthorized, None),
            StoreError::UpstreamRejected {
                status, code: from, ..
            } => {
                target = from.map(|code| Target {
                    convex_code: Some(code),
                    ..Target::default()
                });
                let code = match status {
                    404 => ErrorCode::UpstreamNotFound,
                    413 => ErrorCode::PayloadTooLarge,
                    _ => ErrorCode::UpstreamRejected,
                };
                (code, None)
            }
            StoreError::Upstream(_) => (ErrorCode::UpstreamError, None),
            StoreError::UpstreamUnreachable(_) => (ErrorCode::UpstreamUnreachable, None),
            StoreError::UpstreamTimeout(_) => (ErrorCode::UpstreamTimeout, None),
            StoreError::Saturated => {
                retry_after = Some(1);
                (ErrorCode::StoreUnavailable, None)
            }
            StoreError::CircuitOpen { retry_after: after } => {
                retry_after = Some(after);
                (ErrorCode::UpstreamUnavailable, None)
            }
            StoreError::Overloaded {
                retry_after: after, ..
            } => {
                retry_after = after;
                (ErrorCode::StoreUnavailable, None)
            }
            StoreError::NotFound { op, .. } => (ErrorCode::NotFound, op),
            StoreError::NotFoundElsewhere(_) => (ErrorCode::NotFound, None),
            StoreError::VersionMismatch { op, .. } => (ErrorCode::VersionMismatch, op),
            StoreError::InvalidQuery(_) => (ErrorCode::InvalidQuery, None),
            StoreError::InvalidCursor(_) => (ErrorCode::InvalidCursor, None),
            StoreError::InvalidDocument(_) => (ErrorCode::ReservedField, None),
            StoreError::InvalidReference(_) => (ErrorCode::InvalidReference, None),
            StoreError::InvalidReferenceAt { op, .. } => (ErrorCode::InvalidReference, Some(op)),
            StoreError::Unavailable(_) => (ErrorCode::StoreUnavailable, None),
            StoreError::ResyncNeeded { .. } => (ErrorCode::ResyncNeeded, None),
            StoreError::NoChangeFeed(_) => (ErrorCode::ChangeFeedUnavailable, None),
            StoreError::NoHistory(_) => (ErrorCode::HistoryNotKept, None),
            StoreError::UnknownTable(_) => (ErrorCode::TableNotFound, None),
            StoreError::TableWithoutKey(_) => (ErrorCode::TableWithoutKey, None),
            StoreError::UnknownField { field, .. } => {
                target = Some(Target {
                    field: Some(field),
                    ..Target::default()
                });
                (ErrorCode::UnknownField, None)
            }
            StoreError::InvalidValue { field, .. } => {
                target = field.map(|field| Target {
                    field: Some(field),
                    ..Target::default()
                });
                (ErrorCode::InvalidValue, None)
            }
            StoreError::Constraint {
                kind,
                constraint,
                field,
                ..
            } => {
                target = Some(Target {
                    convex_code: None,
                    field,
                    constraint,
                });
                let code = match kind {
                    ConstraintKind::NotNull => ErrorCode::NotNullViolation,
                    ConstraintKind::Check => ErrorCode::CheckViolation,
                    ConstraintKind::Unique => ErrorCode::UniqueViolation,
                    ConstraintKind::ForeignKey => ErrorCode::ForeignKeyViolation,
                    ConstraintKind::Exclusion => ErrorCode::ExclusionViolation,
                };
                (code, None)
            }
            StoreError::DatabaseForbidden(_) => (ErrorCode::DatabaseForbidden, None),
            StoreError::DatabaseConflict(_) => (ErrorCode::TransactionConflict, None),
        };
        Self {
            code,
            detail,
            failed_operation: op,
            retry_after,
            error_data: None,
            target: target.map(Box::new),
            source: None,
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        let code = match err.kind {
            QueryErrorKind::Filter => ErrorCode::InvalidFilter,
            QueryErrorKind::Order => ErrorCode::InvalidOrder,
            QueryErrorKind::Limit => ErrorCode::InvalidLimit,
            QueryErrorKind::Cursor => ErrorCode::InvalidCursor,
        };
        Self::new(code, err.message)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::JsonSyntaxError(_) => ErrorCode::MalformedJson,
            JsonRejection::JsonDataError(_) => ErrorCode::InvalidBody,
            JsonRejection::MissingJsonContentType(_) => ErrorCode::UnsupportedMediaType,
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            _ => ErrorCode::BadRequest,
        };
        let detail = match code {
            ErrorCode::UnsupportedMediaType => {
                "Send the body with `Content-Type: application/json`.".to_owned()
            }
            _ => rejection.body_text(),
        };
        Self::new(code, detail)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(ErrorCode::BadRequest, rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_table_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::internal(anyhow::anyhow!("disk /secret/path exploded"));
        let problem = err.problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("/secret/path"));
    }

    #[test]
    fn batch_failures_carry_the_operation_index() {
        let err: ApiError = StoreError::VersionMismatch {
            id: "x".into(),
            actual: 3,
            op: Some(2),
        }
        .into();
        assert_eq!(err.code(), ErrorCode::VersionMismatch);
        assert_eq!(err.problem().failed_operation, Some(2));
    }
}
