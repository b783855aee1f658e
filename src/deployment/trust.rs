//! `convex-gateway convex trust`: make Convex accept the identity the gateway mints, and prove
//! it. The `auth.config.ts` provider reads the gateway's issuer, JWKS URL and audience from the
//! deployment's environment; this sets those variables (only what differs), then calls
//! `gateway:whoami` with a freshly minted token and checks that Convex saw that identity.

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::{Value, json};

use super::env::{EnvClient, EnvError};
use crate::auth::Auth;
use crate::store::StoreCtx;
use crate::store::convex::{ConvexClient, FunctionKind};

/// The `sub` of the probe's token.
pub const PROBE_SUB: &str = "convex-gateway-trust-probe";

/// The variables the provider reads, with the values this gateway needs.
pub fn variables(auth: &Auth) -> Vec<(String, String)> {
    let issuer = auth.signer().issuer().to_owned();
    vec![
        ("GATEWAY_ISSUER".into(), issuer.clone()),
        (
            "GATEWAY_JWKS_URL".into(),
            format!("{issuer}/.well-known/jwks.json"),
        ),
        (
            "GATEWAY_APPLICATION_ID".into(),
            auth.convex_application_id().to_owned(),
        ),
    ]
}

/// The `convex/auth.config.ts` provider block, reading [`variables`].
pub fn auth_config(auth: &Auth) -> String {
    format!(
        r#"// convex/auth.config.ts: accepts the identity convex-gateway mints. Its values are the
// deployment's environment variables, which `convex-gateway convex trust` sets.
export default {{
  providers: [
    {{
      type: "customJwt",
      applicationID: process.env.GATEWAY_APPLICATION_ID!,
      issuer: process.env.GATEWAY_ISSUER!,
      jwks: process.env.GATEWAY_JWKS_URL!,
      algorithm: "{alg:?}",
    }},
  ],
}};
"#,
        alg = auth.signer().algorithm(),
    )
}

/// What `trust` did and found.
#[derive(Debug)]
pub struct Report {
    /// Variables set now (they were missing or differed).
    pub set: Vec<String>,
    /// Variables that already held the right value.
    pub unchanged: Vec<String>,
    /// The probe: the identity Convex saw, or why it failed.
    pub probe: Result<Value, String>,
}

/// Sets the variables that differ, then probes.
pub async fn trust(
    auth: &Auth,
    env: &EnvClient,
    convex: &Arc<ConvexClient>,
) -> Result<Report, EnvError> {
    let wanted = variables(auth);
    let current = env.list().await?;
    let (mut set, mut unchanged, mut changes) = (Vec::new(), Vec::new(), Vec::new());
    for (name, value) in &wanted {
        if current.get(name) == Some(value) {
            unchanged.push(name.clone());
        } else {
            set.push(name.clone());
            changes.push((name.clone(), Some(value.clone())));
        }
    }
    if !changes.is_empty() {
        env.update(&changes).await?;
    }
    let probe = probe(auth, convex).await;
    Ok(Report {
        set,
        unchanged,
        probe,
    })
}

/// Calls `gateway:whoami` as a minted identity; the identity Convex saw, or why not.
async fn probe(auth: &Auth, convex: &Arc<ConvexClient>) -> Result<Value, String> {
    let token: SecretString = auth
        .mint_for_convex(PROBE_SUB)
        .map_err(|err| format!("minting the probe's token failed: {err:#}"))?;
    let ctx = StoreCtx {
        identity: Some(token),
        request_id: Some("convex-trust-probe".into()),
        ..StoreCtx::default()
    };
    let seen = convex
        .call(&ctx, FunctionKind::Query, "gateway:whoami", json!({}))
        .await
        .map_err(|err| format!("Convex refused the minted token: {err}"))?;
    let issuer = auth.signer().issuer().to_owned();
    match &seen {
        Value::Null => Err("Convex ran the probe without an identity: deploy convex/auth.config.ts (npx convex deploy) and run this again".into()),
        seen if seen["subject"] == PROBE_SUB && seen["issuer"] == issuer.as_str() => Ok(seen.clone()),
        seen => Err(format!("Convex saw another identity than the probe's: {seen}")),
    }
}
