//! Token grants: what `POST /auth/token`, `/auth/refresh` and the service-account admin calls
//! do — check client credentials, rotate refresh tokens (a reused one revokes its family), let
//! an admin mint a token (registered claims stripped, lifetime bounded), and issue the access
//! and refresh pair.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::tokens::{ClientError, Grant, RefreshError};
use super::{Auth, MaybeAuthUser};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The longest lifetime an admin may give a minted access token.
const MAX_MINT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

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

/// An issued access token, its lifetime, and the refresh token that goes with it.
pub struct Issued {
    pub access_token: String,
    pub ttl: Duration,
    pub refresh_token: String,
}

impl Auth {
    /// Answers a token request for `caller`.
    pub async fn grant(&self, caller: &MaybeAuthUser, request: TokenRequest) -> ApiResult<Issued> {
        let (sub, roles, client_id, ttl, extra) = match request.grant_type.as_str() {
            "client_credentials" => {
                let (Some(id), Some(secret)) = (&request.client_id, &request.client_secret) else {
                    return Err(ApiError::new(
                        ErrorCode::BadRequest,
                        "client_credentials needs client_id and client_secret",
                    ));
                };
                let roles = self
                    .tokens()
                    .verify_client(id, secret)
                    .await
                    .map_err(token_store_down)?
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
                let token = request.refresh_token.as_deref().ok_or_else(|| {
                    ApiError::new(ErrorCode::BadRequest, "refresh_token is required")
                })?;
                return self.rotate(token).await;
            }
            "mint" => {
                self.require_admin(caller)?;
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
        let (access_token, ttl) = self.issue_access_token(&grant.sub, &grant.roles, extra, ttl)?;
        let refresh_token = self
            .tokens()
            .issue_refresh(&grant, self.config().refresh_ttl)
            .await
            .map_err(token_store_down)?;
        Ok(Issued {
            access_token,
            ttl,
            refresh_token,
        })
    }

    /// Exchanges a refresh token for a new pair; the presented one is retired.
    pub async fn rotate(&self, token: &str) -> ApiResult<Issued> {
        let (grant, refresh_token) = self
            .tokens()
            .rotate_refresh(token, self.config().refresh_ttl)
            .await
            .map_err(|err| match err {
                RefreshError::Invalid => ApiError::new(ErrorCode::InvalidGrant, err.to_string()),
                RefreshError::Reused => {
                    tracing::warn!(
                        "a rotated refresh token was presented again; its family is revoked"
                    );
                    ApiError::new(ErrorCode::RefreshTokenReused, err.to_string())
                }
                RefreshError::Store(source) => token_store_down(source),
            })?;
        let (access_token, ttl) =
            self.issue_access_token(&grant.sub, &grant.roles, Map::new(), None)?;
        Ok(Issued {
            access_token,
            ttl,
            refresh_token,
        })
    }

    /// Creates a service account (its id checked); answers its secret, shown only once.
    pub async fn create_client(&self, id: &str, roles: &[String]) -> ApiResult<String> {
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid_id {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                "`id` must be 1 to 64 letters, digits, `_`, `.` or `-`",
            ));
        }
        self.tokens()
            .create_client(id, roles)
            .await
            .map_err(client_error)
    }

    /// Deletes a service account created through the admin API, and revokes its tokens.
    pub async fn delete_client(&self, id: &str) -> ApiResult<()> {
        self.tokens().delete_client(id).await.map_err(client_error)
    }
}

fn client_error(err: ClientError) -> ApiError {
    match err {
        ClientError::Exists | ClientError::ManagedByPolicy => {
            ApiError::new(ErrorCode::Conflict, err.to_string())
        }
        ClientError::NotFound => ApiError::new(ErrorCode::NotFound, err.to_string()),
        ClientError::Store(source) => token_store_down(source),
    }
}

/// The answer when the store of refresh tokens and service accounts fails (its SQLite file, or
/// the shared state store): 503, nothing was issued or changed, and the cause is logged.
pub fn token_store_down(err: anyhow::Error) -> ApiError {
    tracing::error!(error = format!("{err:#}"), "the token store failed");
    ApiError::new(
        ErrorCode::StateStoreUnavailable,
        "the store of tokens and service accounts does not answer; nothing was issued or changed",
    )
}
