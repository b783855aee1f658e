//! The webhooks file (`GATEWAY_WEBHOOKS`, TOML): each inbound webhook's signature scheme, its
//! secrets (several, for rotation), its timestamp tolerance, where its events go, and how long
//! its message ids are remembered. Loaded and checked once at start; a bad file stops the
//! gateway with the reason, never a webhook that verifies nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretSlice};
use serde::Deserialize;
use serde_json::Value;
use wildmatch::WildMatch;

use crate::store::TableName;

/// How a provider signs its deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`),
    /// and Svix/Clerk's `svix-*` spelling of the same headers. Secrets are `whsec_<base64>`.
    Standard,
    /// Stripe's `Stripe-Signature: t=<unix>,v1=<hex>`, keyed by the raw `whsec_…` string.
    Stripe,
    /// GitHub's `X-Hub-Signature-256: sha256=<hex>` over the body; no timestamp.
    Github,
    /// HMAC-SHA256 in a named header, hex or base64, optionally over `{timestamp}.{body}`.
    Hmac(HmacScheme),
}

/// The settings of the generic `hmac` scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacScheme {
    /// The header holding the signature.
    pub header: String,
    /// How the signature is written.
    pub encoding: Encoding,
    /// A prefix before the signature (`sha256=`), stripped.
    pub prefix: String,
    /// The header holding a unix timestamp; when set, the signed content is `{ts}.{body}`.
    pub timestamp_header: Option<String>,
}

/// How a signature is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

/// Where a part of the event is taken from: a JSON pointer into the event (`""` is the whole
/// event), or an object whose members are each taken from a pointer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Shape {
    Pointer(String),
    Object(BTreeMap<String, String>),
}

impl Shape {
    /// The value this shape takes from `event`; a pointer to nothing is `None` at the top and a
    /// left-out member in an object.
    pub fn take(&self, event: &Value) -> Option<Value> {
        match self {
            Self::Pointer(pointer) => event.pointer(pointer).cloned(),
            Self::Object(members) => Some(Value::Object(
                members
                    .iter()
                    .filter_map(|(name, pointer)| {
                        event.pointer(pointer).map(|v| (name.clone(), v.clone()))
                    })
                    .collect(),
            )),
        }
    }

    fn check(&self, at: &str) -> anyhow::Result<()> {
        let pointers: Vec<&String> = match self {
            Self::Pointer(p) => vec![p],
            Self::Object(members) => members.values().collect(),
        };
        for pointer in pointers {
            anyhow::ensure!(
                pointer.is_empty() || pointer.starts_with('/'),
                "{at}: `{pointer}` is not a JSON pointer (it starts with `/`, or is empty for the whole event)"
            );
        }
        Ok(())
    }
}

/// Where matching events go.
#[derive(Debug, Clone)]
pub enum Target {
    /// A Convex mutation (internal ones too: it runs under the deploy key), called with `args`.
    Mutation { path: String, args: Shape },
    /// A document in `table`: inserted, or, with `upsert_by`, merged into the document whose
    /// field of that name holds the same value.
    Table {
        table: TableName,
        fields: Shape,
        upsert_by: Option<String>,
    },
}

/// One delivery rule: the event types it takes (globs; none: every type) and its target.
#[derive(Debug, Clone)]
pub struct Route {
    pub types: Vec<WildMatch>,
    pub target: Target,
}

impl Route {
    /// Whether this route takes events of `kind` (`None`: the event names no type).
    pub fn takes(&self, kind: Option<&str>) -> bool {
        self.types.is_empty() || kind.is_some_and(|k| self.types.iter().any(|t| t.matches(k)))
    }
}

/// One inbound webhook.
pub struct Webhook {
    pub name: String,
    pub scheme: Scheme,
    /// The keys a signature may be made with; any one passes (rotation).
    pub secrets: Vec<SecretSlice<u8>>,
    /// How far a signed timestamp may be from now, either way.
    pub tolerance: Duration,
    /// The largest body read.
    pub max_body_bytes: usize,
    /// How long a message id is remembered, so a redelivery does nothing.
    pub dedupe_ttl: Duration,
    /// Where the event's type is (`/type`); GitHub's comes from `X-GitHub-Event`.
    pub type_pointer: String,
    /// For `hmac`: the header with the message id, else `id_pointer`, else the body's hash.
    pub id_header: Option<String>,
    pub id_pointer: Option<String>,
    /// The routes, first match wins; an event none takes is answered `ignored`.
    pub routes: Vec<Route>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("scheme", &self.scheme)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Whether any route calls Convex (it then needs `CONVEX_URL` and the deploy key).
    pub fn needs_convex(&self) -> bool {
        self.routes
            .iter()
            .any(|r| matches!(r.target, Target::Mutation { .. }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    webhooks: BTreeMap<String, WebhookFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    scheme: String,
    secrets: Vec<String>,
    tolerance_secs: Option<u64>,
    max_body_bytes: Option<usize>,
    dedupe_ttl_hours: Option<u64>,
    type_pointer: Option<String>,
    signature_header: Option<String>,
    encoding: Option<Encoding>,
    prefix: Option<String>,
    timestamp_header: Option<String>,
    id_header: Option<String>,
    id_pointer: Option<String>,
    #[serde(default)]
    deliver: Vec<RouteFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    #[serde(default)]
    types: Vec<String>,
    mutation: Option<String>,
    args: Option<Shape>,
    table: Option<String>,
    fields: Option<Shape>,
    upsert_by: Option<String>,
}

/// The default tolerance, as the providers' reference libraries use.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// The shortest time a message id is remembered.
pub const MIN_DEDUPE: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_DEDUPE: Duration = Duration::from_secs(72 * 3600);
const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// Reads and checks the webhooks file; `env` resolves `env:NAME` secrets.
pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Vec<Webhook>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading GATEWAY_WEBHOOKS {}", path.display()))?;
    parse(&text, env).with_context(|| format!("GATEWAY_WEBHOOKS {}", path.display()))
}

/// Parses the webhooks file's text.
pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Vec<Webhook>> {
    let file: File = toml::from_str(text)?;
    file.webhooks
        .into_iter()
        .map(|(name, hook)| build(&name, hook, &env).with_context(|| format!("[webhooks.{name}]")))
        .collect()
}

fn build(
    name: &str,
    hook: WebhookFile,
    env: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Webhook> {
    let valid_name = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.is_empty()
        && name.len() <= 64;
    anyhow::ensure!(
        valid_name,
        "a webhook name is 1 to 64 letters, digits, `_` or `-`"
    );
    let scheme = match hook.scheme.as_str() {
        "standard" | "svix" => Scheme::Standard,
        "stripe" => Scheme::Stripe,
        "github" => Scheme::Github,
        "hmac" => Scheme::Hmac(HmacScheme {
            header: hook
                .signature_header
                .clone()
                .context("scheme `hmac` needs signature_header")?,
            encoding: hook.encoding.unwrap_or(Encoding::Hex),
            prefix: hook.prefix.clone().unwrap_or_default(),
            timestamp_header: hook.timestamp_header.clone(),
        }),
        other => {
            anyhow::bail!("scheme `{other}` is not one of standard, svix, stripe, github, hmac")
        }
    };
    if !matches!(scheme, Scheme::Hmac(_)) {
        anyhow::ensure!(
            hook.signature_header.is_none()
                && hook.encoding.is_none()
                && hook.prefix.is_none()
                && hook.timestamp_header.is_none(),
            "signature_header, encoding, prefix and timestamp_header belong to scheme `hmac`"
        );
    }
    anyhow::ensure!(
        !hook.secrets.is_empty(),
        "secrets lists at least one secret"
    );
    let secrets = hook
        .secrets
        .iter()
        .enumerate()
        .map(|(i, raw)| secret(&scheme, raw, env).with_context(|| format!("secrets[{i}]")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tolerance = Duration::from_secs(hook.tolerance_secs.unwrap_or(300));
    anyhow::ensure!(
        !tolerance.is_zero(),
        "tolerance_secs must be more than 0 (0 would let any old delivery be replayed)"
    );
    let dedupe_ttl = hook
        .dedupe_ttl_hours
        .map_or(DEFAULT_DEDUPE, |h| Duration::from_secs(h * 3600));
    anyhow::ensure!(
        dedupe_ttl >= MIN_DEDUPE,
        "dedupe_ttl_hours must be at least 24 (providers redeliver for a day or more)"
    );
    let max_body_bytes = hook.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY);
    anyhow::ensure!(max_body_bytes > 0, "max_body_bytes must be more than 0");
    let type_pointer = hook.type_pointer.unwrap_or_else(|| "/type".into());
    Shape::Pointer(type_pointer.clone()).check("type_pointer")?;
    if let Some(pointer) = &hook.id_pointer {
        Shape::Pointer(pointer.clone()).check("id_pointer")?;
    }
    if !matches!(scheme, Scheme::Hmac(_)) {
        anyhow::ensure!(
            hook.id_header.is_none() && hook.id_pointer.is_none(),
            "id_header and id_pointer belong to scheme `hmac`; the other schemes' ids are the provider's"
        );
    }
    anyhow::ensure!(
        !hook.deliver.is_empty(),
        "[[webhooks.{name}.deliver]] names at least one target"
    );
    let routes = hook
        .deliver
        .into_iter()
        .enumerate()
        .map(|(i, route)| build_route(route).with_context(|| format!("deliver[{i}]")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Webhook {
        name: name.to_owned(),
        scheme,
        secrets,
        tolerance,
        max_body_bytes,
        dedupe_ttl,
        type_pointer,
        id_header: hook.id_header,
        id_pointer: hook.id_pointer,
        routes,
    })
}

fn build_route(route: RouteFile) -> anyhow::Result<Route> {
    let types = route.types.iter().map(|t| WildMatch::new(t)).collect();
    let target = match (route.mutation, route.table) {
        (Some(path), None) => {
            anyhow::ensure!(
                route.fields.is_none() && route.upsert_by.is_none(),
                "fields and upsert_by belong to a table target"
            );
            let valid = path
                .split_once(':')
                .is_some_and(|(module, function)| !module.is_empty() && !function.is_empty());
            anyhow::ensure!(
                valid,
                "mutation `{path}` is not a function path like `users:upsertFromClerk`"
            );
            let args = route.args.unwrap_or(Shape::Pointer(String::new()));
            args.check("args")?;
            Target::Mutation { path, args }
        }
        (None, Some(table)) => {
            anyhow::ensure!(route.args.is_none(), "args belongs to a mutation target");
            let table = TableName::parse(&table).map_err(anyhow::Error::msg)?;
            let fields = route.fields.unwrap_or(Shape::Pointer(String::new()));
            fields.check("fields")?;
            if let Some(field) = &route.upsert_by {
                let valid = field
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                anyhow::ensure!(valid, "upsert_by `{field}` is not a top-level field name");
            }
            Target::Table {
                table,
                fields,
                upsert_by: route.upsert_by,
            }
        }
        _ => anyhow::bail!("a target names either `mutation` or `table`"),
    };
    Ok(Route { types, target })
}

/// A secret's key bytes: `env:NAME` reads the environment; Standard Webhooks secrets are
/// `whsec_<base64>` (also with Supabase's `v1,` before it), the others are used as written.
fn secret(
    scheme: &Scheme,
    raw: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<SecretSlice<u8>> {
    let text = match raw.strip_prefix("env:") {
        Some(name) => env(name)
            .filter(|v| !v.trim().is_empty())
            .with_context(|| format!("the environment variable {name} is not set"))?,
        None => raw.to_owned(),
    };
    let text = text.trim();
    anyhow::ensure!(!text.is_empty(), "a secret may not be empty");
    let bytes = match scheme {
        Scheme::Standard => {
            let encoded = text.strip_prefix("v1,").unwrap_or(text);
            let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| anyhow::anyhow!("a Standard Webhooks secret is `whsec_` and base64"))?
        }
        _ => text.as_bytes().to_vec(),
    };
    anyhow::ensure!(!bytes.is_empty(), "a secret may not be empty");
    let secret = SecretSlice::from(bytes);
    debug_assert!(!secret.expose_secret().is_empty());
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const CLERK: &str = r#"
        [webhooks.clerk]
        scheme = "svix"
        secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "env:OLD"]
        [[webhooks.clerk.deliver]]
        types = ["user.created", "user.updated"]
        mutation = "users:upsertFromClerk"
        args = { data = "/data" }
        [[webhooks.clerk.deliver]]
        types = ["user.*"]
        table = "audit"
    "#;

    #[test]
    fn a_clerk_webhook_parses_with_its_defaults() {
        let hooks = parse(CLERK, |name| {
            (name == "OLD").then(|| "whsec_c2VjcmV0".into())
        })
        .unwrap();
        let hook = &hooks[0];
        assert_eq!(hook.scheme, Scheme::Standard);
        assert_eq!(hook.secrets.len(), 2);
        assert_eq!(hook.secrets[1].expose_secret(), b"secret");
        assert_eq!(hook.tolerance, DEFAULT_TOLERANCE);
        assert!(hook.dedupe_ttl >= MIN_DEDUPE);
        assert!(hook.routes[0].takes(Some("user.created")));
        assert!(!hook.routes[0].takes(Some("user.deleted")));
        assert!(hook.routes[1].takes(Some("user.deleted")));
        assert!(!hook.routes[1].takes(None));
        assert!(hook.needs_convex());
        let event = serde_json::json!({"type": "user.created", "data": {"id": "u1"}});
        let Target::Mutation { args, .. } = &hook.routes[0].target else {
            panic!("a mutation target")
        };
        assert_eq!(
            args.take(&event),
            Some(serde_json::json!({"data": {"id": "u1"}}))
        );
    }

    #[test]
    fn unsafe_or_malformed_webhooks_are_refused() {
        let base = "[webhooks.x]\nscheme = \"github\"\nsecrets = [\"s\"]\n[[webhooks.x.deliver]]\ntable = \"t\"\n";
        assert!(parse(base, no_env).is_ok());
        for (bad, why) in [
            (
                base.replace("secrets = [\"s\"]", "secrets = []"),
                "no secret",
            ),
            (
                base.replace("secrets = [\"s\"]", "secrets = [\"\"]"),
                "an empty secret",
            ),
            (
                base.replace("secrets = [\"s\"]", "secrets = [\"env:NOPE\"]"),
                "an unset variable",
            ),
            (
                base.replace("secrets = [\"s\"]", "secrets = [\"s\"]\ntolerance_secs = 0"),
                "tolerance 0",
            ),
            (base.replace("github", "md5"), "an unknown scheme"),
            (base.replace("github", "hmac"), "hmac without a header"),
            (
                base.replace("github", "standard")
                    .replace("\"s\"", "\"whsec_!!\""),
                "a secret that is not base64",
            ),
            (
                base.replace("table = \"t\"", "table = \"t\"\nmutation = \"a:b\""),
                "two targets",
            ),
            (
                base.replace("table = \"t\"", "mutation = \"nocolon\""),
                "a bad function path",
            ),
            (
                base.replace("table = \"t\"", "table = \"t\"\nfields = \"data\""),
                "a pointer without /",
            ),
            (
                base.replace("[[webhooks.x.deliver]]\ntable = \"t\"\n", ""),
                "no target",
            ),
            (
                base.replace("[webhooks.x]", "[webhooks.\"a b\"]")
                    .replace("webhooks.x.", "webhooks.\"a b\"."),
                "a bad name",
            ),
            (format!("{base}surprise = 1\n"), "an unknown key"),
        ] {
            assert!(parse(&bad, no_env).is_err(), "{why}: {bad}");
        }
        let short = "[webhooks.x]\nscheme = \"github\"\nsecrets = [\"s\"]\ndedupe_ttl_hours = 1\n[[webhooks.x.deliver]]\ntable = \"t\"\n";
        assert!(parse(short, no_env).is_err(), "a dedupe window under 24 h");
    }
}
