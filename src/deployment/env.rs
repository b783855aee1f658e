//! The deployment's environment variables: `GET /api/v1/list_environment_variables` and
//! `POST /api/v1/update_environment_variables`, under `Authorization: Convex <deploy key>`.
//! Convex's own checks (names of letters, digits and `_` up to 40 characters, values up to
//! 8 KiB, 100 variables) answer 400 with a code, passed on as it came.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// Convex refused the change (`code` is Convex's, e.g. `EnvironmentVariableNameInvalid`).
    #[error("Convex refused it ({code}): {message}")]
    Refused { code: String, message: String },
    /// Convex refused the deploy key.
    #[error("Convex refused the deploy key (CONVEX_DEPLOYMENT_KEY)")]
    KeyRefused,
    /// Convex could not be reached, or answered something else.
    #[error("{0}")]
    Unavailable(String),
}

/// A client of one deployment's environment-variable API.
#[derive(Clone)]
pub struct EnvClient {
    http: reqwest::Client,
    base: String,
    key: SecretString,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    environment_variables: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Refusal {
    code: Option<String>,
    message: Option<String>,
}

impl EnvClient {
    /// A client of the deployment at `url` (`CONVEX_URL`), with its deploy key.
    pub fn new(http: reqwest::Client, url: &str, key: SecretString) -> Self {
        Self {
            http,
            base: url.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// Every variable, by name.
    pub async fn list(&self) -> Result<BTreeMap<String, String>, EnvError> {
        let response = self
            .http
            .get(format!("{}/api/v1/list_environment_variables", self.base))
            .header(reqwest::header::AUTHORIZATION, self.authorization())
            .send()
            .await
            .map_err(|err| EnvError::Unavailable(format!("Convex cannot be reached: {err}")))?;
        let response = check(response).await?;
        let listing: Listing = response.json().await.map_err(|err| {
            EnvError::Unavailable(format!("Convex sent a listing that is not one: {err}"))
        })?;
        Ok(listing.environment_variables)
    }

    /// One variable's value, if it is set.
    pub async fn get(&self, name: &str) -> Result<Option<String>, EnvError> {
        Ok(self.list().await?.remove(name))
    }

    /// Sets (`Some`) or unsets (`None`) each variable, all in one change.
    pub async fn update(&self, changes: &[(String, Option<String>)]) -> Result<(), EnvError> {
        let changes: Vec<Value> = changes
            .iter()
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect();
        let response = self
            .http
            .post(format!("{}/api/v1/update_environment_variables", self.base))
            .header(reqwest::header::AUTHORIZATION, self.authorization())
            .json(&json!({ "changes": changes }))
            .send()
            .await
            .map_err(|err| EnvError::Unavailable(format!("Convex cannot be reached: {err}")))?;
        check(response).await.map(|_| ())
    }

    fn authorization(&self) -> String {
        format!("Convex {}", self.key.expose_secret())
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, EnvError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(EnvError::KeyRefused);
    }
    let body: Option<Refusal> = response.json().await.ok();
    match (status.is_client_error(), body) {
        (
            true,
            Some(Refusal {
                code: Some(code),
                message,
            }),
        ) => Err(EnvError::Refused {
            code,
            message: message.unwrap_or_default(),
        }),
        _ => Err(EnvError::Unavailable(format!(
            "Convex answered HTTP {}",
            status.as_u16()
        ))),
    }
}
