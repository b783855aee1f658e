//! Why a bearer token was refused: `AuthError`, one variant per check, each answered with its
//! own problem `code`.

use crate::error::{ApiError, ErrorCode};

/// Why a token was refused. Each maps to its own problem `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this route requires a bearer token in the Authorization header")]
    Missing,
    #[error("the Authorization header must be `Bearer <JWT>` with a well-formed JWT")]
    Malformed,
    #[error("no configured key accepts tokens with this algorithm")]
    UnsupportedAlgorithm,
    #[error("the token's key id is not known to this gateway")]
    UnknownKey,
    #[error("{0}")]
    UnsupportedHeader(String),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token's issuer is not accepted: `iss` must be {0}")]
    WrongIssuer(String),
    #[error("the token's audience is not accepted: `aud` must name {0}")]
    WrongAudience(String),
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("send tokens in the Authorization header, never in the query string")]
    InQuery,
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let code = match &err {
            AuthError::Missing => ErrorCode::MissingToken,
            AuthError::Malformed => ErrorCode::MalformedToken,
            AuthError::UnsupportedAlgorithm => ErrorCode::UnsupportedAlgorithm,
            AuthError::UnknownKey => ErrorCode::UnknownKey,
            AuthError::UnsupportedHeader(_) => ErrorCode::UnsupportedHeader,
            AuthError::BadSignature => ErrorCode::BadSignature,
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::NotYetValid => ErrorCode::TokenNotYetValid,
            AuthError::WrongIssuer(_) => ErrorCode::WrongIssuer,
            AuthError::WrongAudience(_) => ErrorCode::WrongAudience,
            AuthError::MissingClaim(_) => ErrorCode::MissingClaim,
            AuthError::InQuery => ErrorCode::TokenInQuery,
        };
        ApiError::new(code, err.to_string())
    }
}
