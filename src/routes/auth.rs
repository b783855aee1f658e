//! Token endpoints and key publication:
//! - `POST /auth/token`: client credentials, refresh, or an admin minting a user token;
//! - `POST /auth/refresh`: rotate a refresh token;
//! - `POST /auth/revoke`: revoke a refresh token's family;
//! - `GET /.well-known/jwks.json` and `/.well-known/openid-configuration`;
//! - `GET|POST /admin/clients`, `DELETE /admin/clients/{id}`: service accounts.
//!
//! Token responses use RFC 6749's field names (`access_token`, `expires_in`, …) so that standard
//! OAuth client libraries work unchanged.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tables::ApiPath;
use crate::auth::MaybeAuthUser;
use crate::auth::tokens::{ClientError, Grant, RefreshError};
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::state::AppState;

/// The longest lifetime an admin may give a minted access token.
const MAX_MINT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(refresh))
        .routes(routes!(revoke))
        .routes(routes!(jwks))
        .routes(routes!(openid_configuration))
        .routes(routes!(list_clients, create_client))
        .routes(routes!(delete_client))
}

// === schemas ===

/// A token request. `grant_type` selects the case:
/// - `client_credentials`: `client_id` and `client_secret` of a service account;
/// - `refresh_token`: `refresh_token` (same as `POST /auth/refresh`);
/// - `mint` (admin bearer token required): `sub`, optional `roles`, `ttl_seconds`, `claims`.
///
/// Sent as JSON or as `application/x-www-form-urlencoded` (not for `mint`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub sub: Option<String>,
    pub roles: Option<Vec<String>>,
    pub ttl_seconds: Option<u64>,
    /// Extra claims for a minted token (`name`, `email`, …); registered claims are ignored.
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Map<String, Value>>,
}

/// An issued token (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Exchange at `POST /auth/refresh` for a new pair; rotated on every use.
    pub refresh_token: String,
}

/// A refresh request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A revocation request (RFC 7009): the refresh token whose family to revoke.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeRequest {
    pub token: String,
}

/// A service account, as listed (never with its secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientBody {
    pub id: String,
    pub roles: Vec<String>,
    /// `policy` (declared in the policy file) or `admin` (created here).
    pub source: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
}

/// A service account to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClient {
    /// `^[A-Za-z0-9_.-]{1,64}$`.
    pub id: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A created service account with its secret, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedClient {
    pub id: String,
    pub roles: Vec<String>,
    pub client_secret: String,
}

// === handlers ===

/// Issue an access token (and a refresh token).
#[utoipa::path(
    post,
    path = "/auth/token",
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Issued", body = TokenResponse),
        (status = 400, description = "Bad request, or an invalid/reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad client credentials, or `mint` without a token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`mint` by a caller who is not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = crate::openapi::NotJson),
    )
)]
async fn token(
    State(state): State<AppState>,
    caller: MaybeAuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request: TokenRequest = parse_body(&headers, &body)?;
    let auth = state.auth();
    let (sub, roles, client_id, ttl, extra) = match request.grant_type.as_str() {
        "client_credentials" => {
            let (Some(id), Some(secret)) = (&request.client_id, &request.client_secret) else {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    "client_credentials needs client_id and client_secret",
                ));
            };
            let roles = auth
                .tokens()
                .verify_client(id, secret)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::InvalidClient, "unknown client or wrong secret")
                })?;
            (
                format!("client:{id}"),
                roles,
                Some(id.clone()),
                None,
                Map::new(),
            )
        }
        "refresh_token" => {
            let token = request
                .refresh_token
                .as_deref()
                .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "refresh_token is required"))?;
            return rotate(&state, token).await.map(IntoResponse::into_response);
        }
        "mint" => {
            auth.require_admin(&caller)?;
            let sub = request
                .sub
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "mint needs `sub`"))?;
            let ttl = request
                .ttl_seconds
                .map(Duration::from_secs)
                .filter(|t| !t.is_zero() && *t <= MAX_MINT_TTL);
            if request.ttl_seconds.is_some() && ttl.is_none() {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    "ttl_seconds must be from 1 to 2592000",
                ));
            }
            let mut extra = request.claims.unwrap_or_default();
            for registered in ["iss", "aud", "exp", "nbf", "iat", "jti", "sub"] {
                extra.remove(registered);
            }
            (sub, request.roles.unwrap_or_default(), None, ttl, extra)
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "unsupported grant_type `{other}`: use client_credentials, refresh_token or mint"
                ),
            ));
        }
    };
    let grant = Grant {
        sub,
        roles,
        client_id,
    };
    let (access_token, ttl) = auth.issue_access_token(&grant.sub, &grant.roles, extra, ttl)?;
    let refresh_token = auth
        .tokens()
        .issue_refresh(&grant, auth.config().refresh_ttl)
        .await
        .map_err(ApiError::internal)?;
    Ok(token_response(access_token, ttl, refresh_token).into_response())
}

/// Exchange a refresh token for a new access token and a new refresh token.
///
/// The presented token is retired. Presenting it again revokes its whole family.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Rotated", body = TokenResponse),
        (status = 400, description = "Unknown, expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = crate::openapi::NotJson),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request: RefreshRequest = parse_body(&headers, &body)?;
    rotate(&state, &request.refresh_token)
        .await
        .map(IntoResponse::into_response)
}

/// Revoke a refresh token and every token rotated from the same login (RFC 7009).
///
/// Answers 200 whether or not the token was known. Access tokens stay valid until they expire,
/// so keep their lifetime (`JWT_EXPIRY_SECONDS`) short.
#[utoipa::path(
    post,
    path = "/auth/revoke",
    tag = "auth",
    request_body(content = RevokeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Revoked (or unknown)"),
        (status = 400, description = "The body is not a revoke request", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = crate::openapi::NotJson),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let request: RevokeRequest = parse_body(&headers, &body)?;
    state
        .auth()
        .tokens()
        .revoke(&request.token)
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::OK)
}

/// The public keys that verify tokens this gateway signs (its access tokens and the tokens it
/// mints for Convex).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    responses((status = 200, description = "A JWK set", body = Object))
)]
async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.auth().signer().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// OpenID discovery document for the gateway as a token issuer.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "auth",
    responses((status = 200, description = "Discovery document", body = Object))
)]
async fn openid_configuration(State(state): State<AppState>) -> Response {
    let signer = state.auth().signer();
    let issuer = signer.issuer();
    let mut response = Json(serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/auth/token"),
        "revocation_endpoint": format!("{issuer}/auth/revoke"),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [format!("{:?}", signer.algorithm())],
    }))
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// List service accounts (admin).
#[utoipa::path(
    get,
    path = "/admin/clients",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Service accounts", body = Vec<ClientBody>),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
    )
)]
async fn list_clients(
    State(state): State<AppState>,
    caller: MaybeAuthUser,
) -> ApiResult<Json<Vec<ClientBody>>> {
    state.auth().require_admin(&caller)?;
    let clients = state
        .auth()
        .tokens()
        .list_clients()
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        clients
            .into_iter()
            .map(|c| ClientBody {
                id: c.id,
                roles: c.roles,
                source: c.source,
                created_at: c.created_at,
            })
            .collect(),
    ))
}

/// Create a service account (admin). The secret is returned once and stored only hashed.
#[utoipa::path(
    post,
    path = "/admin/clients",
    tag = "admin",
    security(("bearer" = [])),
    request_body(content = NewClient, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; keep `clientSecret`, it is not shown again", body = CreatedClient),
        (status = 400, description = "Bad id or body", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = crate::openapi::NotJson),
    )
)]
async fn create_client(
    State(state): State<AppState>,
    caller: MaybeAuthUser,
    super::tables::ApiJson(body): super::tables::ApiJson<NewClient>,
) -> ApiResult<(StatusCode, Json<CreatedClient>)> {
    state.auth().require_admin(&caller)?;
    let valid_id = !body.id.is_empty()
        && body.id.len() <= 64
        && body
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid_id {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "`id` must be 1 to 64 letters, digits, `_`, `.` or `-`",
        ));
    }
    let secret = state
        .auth()
        .tokens()
        .create_client(&body.id, &body.roles)
        .await
        .map_err(client_error)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedClient {
            id: body.id,
            roles: body.roles,
            client_secret: secret,
        }),
    ))
}

/// Delete a service account created through the admin API, and revoke its refresh tokens.
#[utoipa::path(
    delete,
    path = "/admin/clients/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Client id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Declared in the policy file", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_client(
    State(state): State<AppState>,
    caller: MaybeAuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.auth().require_admin(&caller)?;
    state
        .auth()
        .tokens()
        .delete_client(&id)
        .await
        .map_err(client_error)?;
    Ok(StatusCode::NO_CONTENT)
}

// === helpers ===

async fn rotate(state: &AppState, token: &str) -> ApiResult<Json<TokenResponse>> {
    let auth = state.auth();
    let (grant, refresh_token) = auth
        .tokens()
        .rotate_refresh(token, auth.config().refresh_ttl)
        .await
        .map_err(|err| match err {
            RefreshError::Invalid => ApiError::new(ErrorCode::InvalidGrant, err.to_string()),
            RefreshError::Reused => {
                tracing::warn!(
                    "a rotated refresh token was presented again; its family is revoked"
                );
                ApiError::new(ErrorCode::RefreshTokenReused, err.to_string())
            }
            RefreshError::Store(source) => ApiError::internal(source),
        })?;
    let (access_token, ttl) =
        auth.issue_access_token(&grant.sub, &grant.roles, Map::new(), None)?;
    Ok(token_response(access_token, ttl, refresh_token))
}

fn token_response(
    access_token: String,
    ttl: Duration,
    refresh_token: String,
) -> Json<TokenResponse> {
    Json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ttl.as_secs(),
        refresh_token,
    })
}

fn client_error(err: ClientError) -> ApiError {
    match err {
        ClientError::Exists | ClientError::ManagedByPolicy => {
            ApiError::new(ErrorCode::Conflict, err.to_string())
        }
        ClientError::NotFound => ApiError::new(ErrorCode::NotFound, err.to_string()),
        ClientError::Store(source) => ApiError::internal(source),
    }
}

/// Parses a JSON or form-encoded body, as OAuth clients send either.
fn parse_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> ApiResult<T> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return serde_urlencoded::from_bytes(body)
            .map_err(|err| ApiError::new(ErrorCode::InvalidBody, err.to_string()));
    }
    if media.eq_ignore_ascii_case("application/json") {
        return serde_json::from_slice(body).map_err(|err| {
            let code = if err.is_syntax() || err.is_eof() {
                ErrorCode::MalformedJson
            } else {
                ErrorCode::InvalidBody
            };
            ApiError::new(code, err.to_string())
        });
    }
    Err(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "Send the body as application/json or application/x-www-form-urlencoded.",
    ))
}
