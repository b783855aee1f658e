//! Token endpoints and key publication:
//! - `POST /auth/token`: client credentials, refresh, or an admin minting a user token;
//! - `POST /auth/refresh`: rotate a refresh token;
//! - `POST /auth/revoke`: revoke a refresh token's family;
//! - `GET /.well-known/jwks.json` and `/.well-known/openid-configuration`;
//! - `GET|POST /admin/clients`, `DELETE /admin/clients/{id}`: service accounts.
//!
//! Token responses use RFC 6749's field names (`access_token`, `expires_in`, …) so that standard
//! OAuth client libraries work unchanged.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tables::ApiPath;
use crate::auth::MaybeAuthUser;
use crate::auth::grants::{Issued, TokenRequest};
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::state::AppState;

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
        (status = 503, response = crate::openapi::StateDown),
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
    let issued = state.auth().grant(&caller, request).await?;
    Ok(token_response(issued).into_response())
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
        (status = 503, response = crate::openapi::StateDown),
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
    let issued = state.auth().rotate(&request.refresh_token).await?;
    Ok(token_response(issued).into_response())
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
        (status = 503, response = crate::openapi::StateDown),
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
        .map_err(crate::auth::grants::token_store_down)?;
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
    let mut response = Json(state.auth().keyring().jwks()).into_response();
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
        (status = 503, response = crate::openapi::StateDown),
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
        .map_err(crate::auth::grants::token_store_down)?;
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
        (status = 503, response = crate::openapi::StateDown),
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
    let secret = state.auth().create_client(&body.id, &body.roles).await?;
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
        (status = 503, response = crate::openapi::StateDown),
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
    state.auth().delete_client(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// === helpers ===

fn token_response(issued: Issued) -> Json<TokenResponse> {
    Json(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer".into(),
        expires_in: issued.ttl.as_secs(),
        refresh_token: issued.refresh_token,
    })
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
