//! Authorization policy: roles grant `read`, `write` and `delete` on tables and `query`,
//! `mutation` and `action` on Convex function paths (names or globs), and a role may be an admin
//! role. Tables may declare an `owner_field` for row ownership. Loaded from `GATEWAY_POLICY`
//! (TOML); without a file, a safe default applies (see [`Policy::default_policy`]).
//!
//! Every caller holds the roles from its token plus one implicit role: `authenticated` with a
//! valid token, `anonymous` without one.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use wildmatch::WildMatch;

use crate::ratelimit::RateSpec;
use crate::store::{HistoryScope, TableName};

/// The implicit role of every caller with a valid token.
pub const AUTHENTICATED: &str = "authenticated";
/// The implicit role of callers without a token.
pub const ANONYMOUS: &str = "anonymous";

/// What a caller wants to do to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableAction {
    Read,
    Write,
    Delete,
}

/// The kind of Convex function being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionKind {
    Query,
    Mutation,
    Action,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    tables: BTreeMap<String, Vec<TableAction>>,
    #[serde(default)]
    functions: BTreeMap<String, Vec<FunctionKind>>,
    /// `"100/s"`, `"600/min"`, `"5000/h"` or `"unlimited"`.
    rate_limit: Option<String>,
    /// The burst allowed on top of the steady rate (defaults to the rate's count).
    rate_burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    owner_field: Option<String>,
    /// Keep every version written through the gateway (`GET …/{id}/history`, `POST …/revert`).
    #[serde(default)]
    history: bool,
}

/// A service account for the client-credentials grant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    /// The `client_id`.
    pub id: String,
    /// Hex SHA-256 of the client secret (`convex-gateway hash-secret` prints it).
    pub secret_sha256: String,
    /// The roles its tokens carry.
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    roles: BTreeMap<String, RoleFile>,
    #[serde(default)]
    tables: BTreeMap<String, TableFile>,
    #[serde(default)]
    clients: Vec<ClientFile>,
}

struct Grant<A> {
    pattern: WildMatch,
    actions: HashSet<A>,
}

struct Role {
    admin: bool,
    tables: Vec<Grant<TableAction>>,
    functions: Vec<Grant<FunctionKind>>,
}

/// The loaded policy.
pub struct Policy {
    roles: BTreeMap<String, Role>,
    rate_limits: BTreeMap<String, RateSpec>,
    owner_fields: BTreeMap<String, String>,
    /// Tables with `history = true`.
    history_tables: std::sync::Arc<[String]>,
    clients: Vec<ClientFile>,
    source: String,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("source", &self.source)
            .field("roles", &self.roles.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The default policy, as TOML: admins do everything; authenticated callers read, write and
/// delete every table; anonymous callers get nothing beyond the public endpoints.
pub const DEFAULT_POLICY: &str = r#"
[roles.admin]
admin = true

[roles.authenticated]
tables = { "*" = ["read", "write", "delete"] }
"#;

impl Policy {
    /// Loads `path`, or the default policy when `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            None => Self::default_policy(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading GATEWAY_POLICY {}", path.display()))?;
                Self::parse(&text, &path.display().to_string())
                    .with_context(|| format!("GATEWAY_POLICY {}", path.display()))
            }
        }
    }

    /// The documented safe default.
    pub fn default_policy() -> anyhow::Result<Self> {
        Self::parse(DEFAULT_POLICY, "built-in default")
    }

    /// Parses a policy from TOML text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> anyhow::Result<Self> {
        let file: PolicyFile = toml::from_str(text)?;
        let mut rate_limits = BTreeMap::new();
        for (name, role) in &file.roles {
            match (&role.rate_limit, role.rate_burst) {
                (Some(spec), burst) => {
                    let spec = RateSpec::parse(spec, burst)
                        .map_err(|reason| anyhow::anyhow!("[roles.{name}]: {reason}"))?;
                    rate_limits.insert(name.clone(), spec);
                }
                (None, Some(_)) => {
                    anyhow::bail!("[roles.{name}]: rate_burst needs a rate_limit")
                }
                (None, None) => {}
            }
        }
        let roles = file
            .roles
            .into_iter()
            .map(|(name, role)| {
                let tables = role
                    .tables
                    .into_iter()
                    .map(|(pattern, actions)| Grant {
                        pattern: WildMatch::new(&pattern),
                        actions: actions.into_iter().collect(),
                    })
                    .collect();
                let functions = role
                    .functions
                    .into_iter()
                    .map(|(pattern, kinds)| Grant {
                        pattern: WildMatch::new(&pattern),
                        actions: kinds.into_iter().collect(),
                    })
                    .collect();
                (
                    name,
                    Role {
                        admin: role.admin,
                        tables,
                        functions,
                    },
                )
            })
            .collect();
        let mut owner_fields = BTreeMap::new();
        let mut history_tables = Vec::new();
        for (table, settings) in file.tables {
            TableName::parse(&table)
                .map_err(|reason| anyhow::anyhow!("[tables.{table}]: {reason}"))?;
            if let Some(field) = settings.owner_field {
                let valid = field
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                anyhow::ensure!(
                    valid,
                    "[tables.{table}] owner_field `{field}` must be a top-level field name of letters, digits and `_`"
                );
                owner_fields.insert(table.clone(), field);
            }
            if settings.history {
                history_tables.push(table);
            }
        }
        let mut seen = HashSet::new();
        for client in &file.clients {
            anyhow::ensure!(
                seen.insert(client.id.clone()),
                "client `{}` is listed twice",
                client.id
            );
            let hex_ok = client.secret_sha256.len() == 64
                && client.secret_sha256.chars().all(|c| c.is_ascii_hexdigit());
            anyhow::ensure!(
                hex_ok,
                "client `{}`: secret_sha256 must be 64 hex digits (see `convex-gateway hash-secret`)",
                client.id
            );
        }
        Ok(Self {
            roles,
            rate_limits,
            owner_fields,
            history_tables: history_tables.into(),
            clients: file.clients,
            source: source.to_owned(),
        })
    }

    /// The roles' rate limits.
    pub fn rate_limits(&self) -> &BTreeMap<String, RateSpec> {
        &self.rate_limits
    }

    /// Where the policy came from (a path, or the built-in default).
    pub fn source(&self) -> &str {
        &self.source
    }

    fn held<'a>(&'a self, roles: &'a [String]) -> impl Iterator<Item = &'a Role> + 'a {
        roles.iter().filter_map(|name| self.roles.get(name))
    }

    /// Whether any of `roles` is an admin role.
    pub fn is_admin(&self, roles: &[String]) -> bool {
        self.held(roles).any(|r| r.admin)
    }

    /// Whether `roles` may perform `action` on `table`.
    pub fn allows_table(&self, roles: &[String], table: &str, action: TableAction) -> bool {
        self.held(roles).any(|role| {
            role.admin
                || role
                    .tables
                    .iter()
                    .any(|g| g.pattern.matches(table) && g.actions.contains(&action))
        })
    }

    /// Whether `roles` may call the Convex function at `path` as `kind`.
    pub fn allows_function(&self, roles: &[String], path: &str, kind: FunctionKind) -> bool {
        self.held(roles).any(|role| {
            role.admin
                || role
                    .functions
                    .iter()
                    .any(|g| g.pattern.matches(path) && g.actions.contains(&kind))
        })
    }

    /// The owner field of `table`, if it declares one.
    pub fn owner_field(&self, table: &str) -> Option<&str> {
        self.owner_fields.get(table).map(String::as_str)
    }

    /// The tables that keep history.
    pub fn history_tables(&self) -> &[String] {
        &self.history_tables
    }

    /// Whether `table` keeps history (`history = true`).
    pub fn keeps_history(&self, table: &str) -> bool {
        self.history_tables.iter().any(|t| t == table)
    }

    /// What a write by `caller` records in the history, when any table keeps one.
    pub fn history_scope(&self, caller: &crate::auth::MaybeAuthUser) -> Option<HistoryScope> {
        (!self.history_tables.is_empty()).then(|| HistoryScope {
            tables: std::sync::Arc::clone(&self.history_tables),
            sub: caller.0.as_ref().map(|user| user.sub.clone()),
            revert: false,
        })
    }

    /// Service accounts declared in the file.
    pub fn clients(&self) -> &[ClientFile] {
        &self.clients
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_default_policy_is_safe() {
        let policy = Policy::default_policy().unwrap();
        let anon = roles(&[ANONYMOUS]);
        let user = roles(&[AUTHENTICATED]);
        let admin = roles(&[AUTHENTICATED, "admin"]);
        for action in [TableAction::Read, TableAction::Write, TableAction::Delete] {
            assert!(!policy.allows_table(&anon, "videos", action));
            assert!(policy.allows_table(&user, "videos", action));
            assert!(policy.allows_table(&admin, "videos", action));
        }
        assert!(!policy.allows_function(&user, "videos:list", FunctionKind::Query));
        assert!(policy.allows_function(&admin, "videos:list", FunctionKind::Query));
        assert!(policy.is_admin(&admin) && !policy.is_admin(&user));
    }

    #[test]
    fn grants_match_names_and_globs() {
        let policy = Policy::parse(
            r#"
            [roles.editor]
            tables = { "videos" = ["read", "write"], "audit_*" = ["read"] }
            functions = { "videos:*" = ["query", "mutation"], "reports:build" = ["action"] }

            [roles.anonymous]
            tables = { "public_posts" = ["read"] }

            [tables.videos]
            owner_field = "ownerId"
            "#,
            "test",
        )
        .unwrap();
        let editor = roles(&[AUTHENTICATED, "editor"]);
        assert!(policy.allows_table(&editor, "videos", TableAction::Write));
        assert!(!policy.allows_table(&editor, "videos", TableAction::Delete));
        assert!(policy.allows_table(&editor, "audit_log", TableAction::Read));
        assert!(!policy.allows_table(&editor, "audit_log", TableAction::Write));
        assert!(!policy.allows_table(&editor, "users", TableAction::Read));
        assert!(policy.allows_function(&editor, "videos:updateStatus", FunctionKind::Mutation));
        assert!(!policy.allows_function(&editor, "videos:purge", FunctionKind::Action));
        assert!(policy.allows_function(&editor, "reports:build", FunctionKind::Action));
        assert!(policy.allows_table(&roles(&[ANONYMOUS]), "public_posts", TableAction::Read));
        assert_eq!(policy.owner_field("videos"), Some("ownerId"));
        assert_eq!(policy.owner_field("users"), None);
    }

    #[test]
    fn malformed_policies_are_refused() {
        for bad in [
            "[roles.x]\ntables = { \"*\" = [\"fly\"] }",
            "[roles.x]\nsurprise = true",
            "[tables.videos]\nowner_field = \"owner.id\"",
            "[tables.\"1bad\"]\nowner_field = \"o\"",
            "[[clients]]\nid = \"a\"\nsecret_sha256 = \"nothex\"",
            "not toml at all [",
        ] {
            assert!(Policy::parse(bad, "test").is_err(), "{bad}");
        }
    }
}
