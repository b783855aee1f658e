//! `/admin/convex/env`: the Convex deployment's environment variables, through its admin API
//! with the gateway's deploy key (admins only). Values are masked unless `?reveal=true`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::RequestCtx;
use super::tables::{ApiJson, ApiPath};
use crate::deployment::env::{EnvClient, EnvError};
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_variables))
        .routes(routes!(get_variable, set_variable, unset_variable))
}

/// Whether to show values.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevealParams {
    /// Show the values (`true`); otherwise they are masked.
    pub reveal: Option<bool>,
}

/// One environment variable.
#[derive(Debug, Serialize, ToSchema)]
pub struct Variable {
    pub name: String,
    /// The value, with `?reveal=true`; `null` while masked.
    pub value: Option<String>,
    /// Whether the value is left out.
    pub masked: bool,
    /// The value's length in bytes.
    pub length: usize,
}

impl Variable {
    fn new(name: String, value: String, reveal: bool) -> Self {
        Self {
            name,
            length: value.len(),
            masked: !reveal,
            value: reveal.then_some(value),
        }
    }
}

/// The deployment's variables.
#[derive(Debug, Serialize, ToSchema)]
pub struct Variables {
    pub variables: Vec<Variable>,
}

/// A value to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetVariable {
    /// At most 8 KiB.
    pub value: String,
}

impl From<EnvError> for ApiError {
    fn from(err: EnvError) -> Self {
        match err {
            EnvError::Refused { code, message } => {
                ApiError::new(ErrorCode::EnvVarRefused, format!("{message} ({code})"))
            }
            EnvError::KeyRefused => ApiError::new(
                ErrorCode::UpstreamError,
                "Convex refused the gateway's deploy key (CONVEX_DEPLOYMENT_KEY)",
            ),
            EnvError::Unavailable(why) => ApiError::new(ErrorCode::UpstreamUnreachable, why),
        }
    }
}

/// The client, after checking the caller is an admin.
fn client<'a>(state: &'a AppState, ctx: &RequestCtx) -> ApiResult<&'a EnvClient> {
    state.auth().require_admin(&ctx.caller)?;
    state.deployment_env().ok_or_else(|| {
        ApiError::new(
            ErrorCode::DeploymentNotConfigured,
            "the gateway fronts no Convex deployment with a deploy key (CONVEX_URL and CONVEX_DEPLOYMENT_KEY)",
        )
    })
}

/// List the deployment's environment variables (admin).
#[utoipa::path(
    get,
    path = "/admin/convex/env",
    tag = "admin",
    security(("bearer" = [])),
    params(RevealParams),
    responses(
        (status = 200, description = "Every variable, values masked unless `reveal=true`", body = Variables),
        (status = 400, description = "A bad query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No Convex deployment with a deploy key (`deployment_not_configured`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Convex refused the deploy key", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::Unreachable),
    )
)]
async fn list_variables(
    State(state): State<AppState>,
    ctx: RequestCtx,
    Query(params): Query<RevealParams>,
) -> ApiResult<Json<Variables>> {
    let env = client(&state, &ctx)?;
    let reveal = params.reveal.unwrap_or(false);
    if reveal {
        tracing::info!(
            admin = ctx.caller_key(),
            "Convex environment variables revealed"
        );
    }
    let variables = env
        .list()
        .await?
        .into_iter()
        .map(|(name, value)| Variable::new(name, value, reveal))
        .collect();
    Ok(Json(Variables { variables }))
}

/// Read one environment variable (admin).
#[utoipa::path(
    get,
    path = "/admin/convex/env/{name}",
    tag = "admin",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The variable's name"), RevealParams),
    responses(
        (status = 200, description = "The variable, its value masked unless `reveal=true`", body = Variable),
        (status = 400, description = "A bad query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "Not set (`env_var_not_found`), or no deployment (`deployment_not_configured`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Convex refused the deploy key", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::Unreachable),
    )
)]
async fn get_variable(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(name): ApiPath<String>,
    Query(params): Query<RevealParams>,
) -> ApiResult<Json<Variable>> {
    let env = client(&state, &ctx)?;
    let reveal = params.reveal.unwrap_or(false);
    let value = env.get(&name).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::EnvVarNotFound,
            format!("{name} is not set in the deployment"),
        )
    })?;
    if reveal {
        tracing::info!(
            admin = ctx.caller_key(),
            variable = name,
            "a Convex environment variable revealed"
        );
    }
    Ok(Json(Variable::new(name, value, reveal)))
}

/// Set one environment variable (admin).
///
/// The answer does not repeat the value. Convex checks the name (a letter or `_` first, then
/// letters, digits and `_`, at most 40) and the value (at most 8 KiB), and holds at most 100.
#[utoipa::path(
    put,
    path = "/admin/convex/env/{name}",
    tag = "admin",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The variable's name")),
    request_body(content = SetVariable, content_type = "application/json"),
    responses(
        (status = 200, description = "Set", body = Variable),
        (status = 400, description = "Convex refused the name or value (`env_var_refused`), or a bad body", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No Convex deployment with a deploy key", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = crate::openapi::NotJson),
        (status = 502, description = "Convex refused the deploy key", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::Unreachable),
    )
)]
async fn set_variable(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<SetVariable>,
) -> ApiResult<Json<Variable>> {
    let env = client(&state, &ctx)?;
    env.update(&[(name.clone(), Some(body.value.clone()))])
        .await?;
    tracing::info!(
        admin = ctx.caller_key(),
        variable = name,
        "a Convex environment variable set"
    );
    Ok(Json(Variable::new(name, body.value, false)))
}

/// Unset one environment variable (admin).
#[utoipa::path(
    delete,
    path = "/admin/convex/env/{name}",
    tag = "admin",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The variable's name")),
    responses(
        (status = 204, description = "Unset (also when it was not set)"),
        (status = 400, description = "Convex refused the name (`env_var_refused`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotAdmin),
        (status = 404, description = "No Convex deployment with a deploy key", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Convex refused the deploy key", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::Unreachable),
    )
)]
async fn unset_variable(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let env = client(&state, &ctx)?;
    env.update(&[(name.clone(), None)]).await?;
    tracing::info!(
        admin = ctx.caller_key(),
        variable = name,
        "a Convex environment variable unset"
    );
    Ok(StatusCode::NO_CONTENT)
}
