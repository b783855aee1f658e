//! The Postgres adapter (`GATEWAY_STORE=postgres`): the same `/v1/tables` API over existing
//! tables of a Postgres or Supabase database, with each request run as the caller's database
//! role and claims, as PostgREST does, so row-level security policies apply to gateway traffic.
//!
//! `catalog` reads the served tables, `values` checks fields against columns, `sql` compiles
//! list queries, `writer` runs batches in one transaction, `feed` keeps the trigger-fed change
//! log, `errors` maps Postgres errors and `connect` builds the TLS-capable pool.

pub mod catalog;
pub(crate) mod connect;
mod errors;
pub mod feed;
mod history;
mod sql;
pub(crate) mod values;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::RwLock;

use self::catalog::{Catalog, TableInfo};
pub use self::connect::parse_url;
use super::{
    Capabilities, ChangePage, DbCaller, Document, DocumentStore, Fields, ListQuery, Page,
    RawDocument, RawPage, StoreCtx, StoreError, TableName, WriteOp, WriteOutcome, document_json,
};

/// Whether requests run under the caller's database role (`GATEWAY_PG_RLS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RlsMode {
    /// On when the database has the three roles, off (with a warning) when it does not.
    Auto,
    /// Always; startup fails when a role is missing.
    On,
    /// Never: every request runs as the connecting user.
    Off,
}

impl std::str::FromStr for RlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "on" | "true" => Ok(Self::On),
            "off" | "false" => Ok(Self::Off),
            other => Err(format!("expected `auto`, `on` or `off`, got `{other}`")),
        }
    }
}

/// The database roles callers act as (`GATEWAY_PG_ANON_ROLE`, `…_USER_ROLE`, `…_ADMIN_ROLE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbRoles {
    pub anon: String,
    pub user: String,
    pub admin: String,
}

/// The Postgres adapter's settings.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `DATABASE_URL` (a secret: it may hold a password).
    pub url: SecretString,
    /// `GATEWAY_PG_SCHEMA`: the schema whose tables are served.
    pub schema: String,
    /// `GATEWAY_PG_CREATION_COLUMN`: the timestamp column `_creationTime` comes from.
    pub creation_column: String,
    /// `GATEWAY_PG_RLS`.
    pub rls: RlsMode,
    pub roles: DbRoles,
    /// `GATEWAY_PG_POOL_SIZE`: connections in the pool.
    pub pool_size: usize,
    /// `GATEWAY_PG_CA_FILE`: a PEM file of extra certificate authorities for TLS.
    pub ca_file: Option<std::path::PathBuf>,
    /// `GATEWAY_CHANGES_RETENTION`: how long the change log keeps a change.
    pub change_retention: Duration,
    /// How long a request waits for a pooled connection.
    pub connect_timeout: Duration,
    /// The sessions' `statement_timeout` (`GATEWAY_REQUEST_TIMEOUT`): a statement still
    /// running when its request has been answered 504 is cancelled by Postgres.
    pub statement_timeout: Duration,
}

/// The adapter: a connection pool and the catalog of served tables.
pub struct PostgresStore {
    pool: Pool,
    config: PostgresConfig,
    schema: Arc<Schema>,
    /// Network round trips to Postgres (a pipelined group of statements counts once).
    round_trips: AtomicU64,
    feed: feed::Feed,
    /// Moves on at each `gateway_changes` notification (see `spawn_listener`).
    changed: tokio::sync::watch::Receiver<u64>,
}

/// Sets the caller's role and claims for the rest of the transaction, as PostgREST does.
const SET_CALLER: &str = "SELECT set_config('role', $1, true), \
     set_config('request.jwt.claims', $2, true), \
     set_config('request.jwt.claim.sub', $3, true), \
     set_config('request.jwt.claim.role', $1, true)";

/// What the adapter read from the database: the catalog, and whether requests run under the
/// caller's role. Replaced as a whole on `SIGHUP`, and filled in late when Postgres could not be
/// reached at startup.
struct Schema {
    catalog: RwLock<Arc<Catalog>>,
    rls: AtomicBool,
    /// The catalog's `feed_installed`, for the capabilities (read without waiting).
    feed: AtomicBool,
}

/// Why the tables could not be read.
enum LoadError {
    /// Postgres cannot be reached (yet): try again.
    Unreachable(anyhow::Error),
    /// The configuration cannot work with this database.
    Fatal(anyhow::Error),
}

/// Reads the tables and decides whether row-level security applies; installs both.
async fn refresh(pool: &Pool, config: &PostgresConfig, schema: &Schema) -> Result<(), LoadError> {
    let client = pool.get().await.map_err(|err| {
        LoadError::Unreachable(anyhow::anyhow!(
            "cannot connect to Postgres: {}",
            connect::describe(&err)
        ))
    })?;
    let catalog = load(client_of(&client), config)
        .await
        .map_err(LoadError::Unreachable)?;
    drop(client);
    let rls = match config.rls {
        RlsMode::Off => false,
        RlsMode::On if !catalog.roles_present => {
            return Err(LoadError::Fatal(anyhow::anyhow!(
                "GATEWAY_PG_RLS=on, but the database lacks one of the roles {}, {} and {}",
                config.roles.anon,
                config.roles.user,
                config.roles.admin
            )));
        }
        RlsMode::On => true,
        RlsMode::Auto => {
            if !catalog.roles_present {
                tracing::warn!(
                    "the database has no {}/{}/{} roles: requests run as the connecting user, and row-level security is not applied per caller (GATEWAY_PG_RLS=auto)",
                    config.roles.anon,
                    config.roles.user,
                    config.roles.admin
                );
            }
            catalog.roles_present
        }
    };
    if catalog.feed_installed {
        let mut missing: Vec<&str> = catalog
            .tables
            .values()
            .filter(|t| !t.has_trigger)
            .map(|t| t.name.as_str())
            .collect();
        missing.sort_unstable();
        if !missing.is_empty() {
            tracing::warn!(
                tables = missing.join(", "),
                "these tables have no change-log trigger: run `convex-gateway postgres install` again to record their changes"
            );
        }
    }
    tracing::info!(
        database = %redacted_url(&config.url),
        schema = %config.schema,
        tables = catalog.tables.len(),
        rls,
        change_feed = catalog.feed_installed,
        "serving Postgres tables"
    );
    // The role switch is decided before the tables that need it are served.
    schema.rls.store(rls, Ordering::Release);
    schema.feed.store(catalog.feed_installed, Ordering::Release);
    *schema.catalog.write().await = Arc::new(catalog);
    Ok(())
}

/// Listens on `gateway_changes`, which the change-log triggers notify at commit, and moves
/// `signal` on at each notification (and after each reconnect, for what committed meanwhile),
/// reconnecting with backoff, until the store is dropped.
fn spawn_listener(config: PostgresConfig, signal: tokio::sync::watch::Sender<u64>) {
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(250);
        while !signal.is_closed() {
            let started = std::time::Instant::now();
            let bump = || {
                signal.send_modify(|n| *n = n.wrapping_add(1));
                !signal.is_closed()
            };
            if let Err(err) = connect::listen(&config, "gateway_changes", bump).await {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "listening for Postgres changes failed; retrying"
                );
            }
            if started.elapsed() > Duration::from_secs(30) {
                wait = Duration::from_millis(250);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    });
}

impl PostgresStore {
    /// Connects, reads the served tables and decides whether row-level security applies. When
    /// Postgres cannot be reached yet, the gateway starts anyway: table routes and `/ready`
    /// answer 503 while a background task retries (with backoff, up to 10 s apart).
    pub async fn connect(config: &PostgresConfig) -> anyhow::Result<Self> {
        let pool = connect::pool(config)?;
        let schema = Arc::new(Schema {
            catalog: RwLock::new(Arc::new(Catalog::default())),
            rls: AtomicBool::new(false),
            feed: AtomicBool::new(false),
        });
        match refresh(&pool, config, &schema).await {
            Ok(()) => {}
            Err(LoadError::Fatal(err)) => return Err(err),
            Err(LoadError::Unreachable(err)) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "Postgres cannot be reached yet; the gateway starts and keeps trying"
                );
                let (pool, config, schema) = (pool.clone(), config.clone(), Arc::clone(&schema));
                tokio::spawn(async move {
                    let mut wait = Duration::from_millis(250);
                    loop {
                        tokio::time::sleep(wait).await;
                        match refresh(&pool, &config, &schema).await {
                            Ok(()) => break,
                            Err(LoadError::Unreachable(err) | LoadError::Fatal(err)) => {
                                tracing::warn!(
                                    error = format!("{err:#}"),
                                    "Postgres still cannot be read; retrying"
                                );
                            }
                        }
                        wait = (wait * 2).min(Duration::from_secs(10));
                    }
                });
            }
        }
        let (signal, changed) = tokio::sync::watch::channel(0);
        spawn_listener(config.clone(), signal);
        Ok(Self {
            pool,
            config: config.clone(),
            schema,
            round_trips: AtomicU64::new(0),
            feed: feed::Feed::new(config.change_retention),
            changed,
        })
    }

    async fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&*self.schema.catalog.read().await)
    }

    async fn table(&self, name: &TableName) -> Result<(Arc<Catalog>, String), StoreError> {
        let catalog = self.catalog().await;
        catalog.table(name.as_str())?;
        Ok((catalog, name.as_str().to_owned()))
    }

    async fn connection(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|err| StoreError::Unavailable(connect::describe(&err)))
    }

    fn count_round_trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// The role, claims and `sub` a request runs with, or `None` to run as the connecting user.
    fn caller_settings(&self, ctx: &StoreCtx) -> Option<[String; 3]> {
        if !self.schema.rls.load(Ordering::Acquire) {
            return None;
        }
        let roles = &self.config.roles;
        match &ctx.caller {
            DbCaller::Gateway => None,
            DbCaller::Anonymous => Some([
                roles.anon.clone(),
                serde_json::json!({ "role": roles.anon }).to_string(),
                String::new(),
            ]),
            DbCaller::User { sub, claims, admin } => {
                let role = if *admin { &roles.admin } else { &roles.user };
                let mut claims = (**claims).clone();
                // Supabase's `auth.role()` reads the `role` claim.
                claims.insert("role".into(), serde_json::Value::from(role.as_str()));
                Some([
                    role.clone(),
                    serde_json::Value::Object(claims).to_string(),
                    sub.clone(),
                ])
            }
        }
    }

    /// Runs one read statement: on its own when the request runs as the connecting user, or
    /// pipelined as BEGIN, the caller's settings, the read and COMMIT (one round trip).
    async fn read(
        &self,
        ctx: &StoreCtx,
        sql: &str,
        params: &[Option<String>],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(sql)
            .await
            .map_err(|e| errors::map(e, None))?;
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        self.count_round_trip();
        let Some(settings) = self.caller_settings(ctx) else {
            return conn
                .query(&statement, &params)
                .await
                .map_err(|e| errors::map(e, None));
        };
        let prepare = |sql: &'static str| conn.prepare_cached(sql);
        let (begin_stmt, set_caller, commit_stmt) = tokio::try_join!(
            prepare("BEGIN READ ONLY"),
            prepare(SET_CALLER),
            prepare("COMMIT")
        )
        .map_err(|e| errors::map(e, None))?;
        let set_params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&settings[0], &settings[1], &settings[2]];
        // Prepared statements, so Postgres parses none of the four again.
        let (begin, set, rows, commit) = tokio::join!(
            conn.execute(&begin_stmt, &[]),
            conn.query(&set_caller, &set_params),
            conn.query(&statement, &params),
            conn.execute(&commit_stmt, &[]),
        );
        begin.map_err(|e| errors::map(e, None))?;
        set.map_err(|e| errors::map(e, None))?;
        let rows = rows.map_err(|e| errors::map(e, None))?;
        commit.map_err(|e| errors::map(e, None))?;
        Ok(rows)
    }

    /// How many round trips to Postgres the adapter has made.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Postgres's plan (`EXPLAIN`) for the SQL a list query compiles to, for operators who
    /// want to see which index serves it.
    pub async fn explain(
        &self,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<String, StoreError> {
        let (catalog, name) = self.table(table).await?;
        let plan = sql::ListPlan::build(catalog.table(&name)?, query)?;
        let mut params = plan.params.clone();
        if let Some(last) = params.last_mut() {
            *last = Some((query.limit as usize + 1).to_string());
        }
        let rows = self
            .read(
                &StoreCtx::default(),
                &format!("EXPLAIN {}", plan.sql),
                &params,
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| row.try_get::<_, String>(0).ok())
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

async fn load(
    client: &impl tokio_postgres::GenericClient,
    config: &PostgresConfig,
) -> anyhow::Result<Catalog> {
    let roles = [
        config.roles.anon.as_str(),
        config.roles.user.as_str(),
        config.roles.admin.as_str(),
    ];
    Catalog::load(client, &config.schema, &config.creation_column, &roles)
        .await
        .map_err(|err| anyhow::anyhow!("reading the tables of schema {}: {err}", config.schema))
}

/// The plain client of a pooled connection.
fn client_of(conn: &Object) -> &tokio_postgres::Client {
    conn
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// JSON text without the whitespace outside strings that Postgres writes into jsonb values
/// (`{"a": 1}`), so every store answers the same compact text. Values are untouched: numbers
/// keep their exact digits.
fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !c.is_ascii_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Reads a projected row (id, creation time, version, fields) as the API's JSON text.
fn raw_document(row: &tokio_postgres::Row) -> Result<RawDocument, StoreError> {
    let id: String = row.try_get(0).map_err(internal)?;
    let creation_time: Option<f64> = row.try_get(1).map_err(internal)?;
    let version: i64 = row.try_get(2).map_err(internal)?;
    let fields = compact_json(row.try_get(3).map_err(internal)?);
    let version = u64::try_from(version).unwrap_or_default();
    Ok(RawDocument {
        json: document_json(&id, creation_time, version, &fields)?,
        version,
    })
}

/// Reads a projected row as a document.
fn document(row: &tokio_postgres::Row) -> Result<Document, StoreError> {
    let id: String = row.try_get(0).map_err(internal)?;
    let creation_time: Option<f64> = row.try_get(1).map_err(internal)?;
    let version: i64 = row.try_get(2).map_err(internal)?;
    let fields: String = row.try_get(3).map_err(internal)?;
    let fields: Fields = serde_json::from_str(&fields)
        .map_err(|err| StoreError::Internal(anyhow::anyhow!("row {id}: {err}")))?;
    Ok(Document {
        id,
        creation_time,
        version: u64::try_from(version).unwrap_or_default(),
        fields,
    })
}

fn internal(err: tokio_postgres::Error) -> StoreError {
    StoreError::Internal(anyhow::Error::new(err).context("reading a Postgres row"))
}

impl PostgresStore {
    async fn list_rows(
        &self,
        ctx: &StoreCtx,
        table: &TableInfo,
        query: &ListQuery,
    ) -> Result<(Vec<tokio_postgres::Row>, Option<String>), StoreError> {
        let plan = sql::ListPlan::build(table, query)?;
        let limit = query.limit as usize;
        let mut params = plan.params.clone();
        if let Some(last) = params.last_mut() {
            *last = Some((limit + 1).to_string());
        }
        let mut rows = self.read(ctx, &plan.sql, &params).await?;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            match rows.last() {
                Some(row) => {
                    let keys = (0..plan.key_count)
                        .map(|i| row.try_get::<_, Option<String>>(4 + i))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(internal)?;
                    let id: String = row.try_get(0).map_err(internal)?;
                    Some(plan.cursor(keys, id)?)
                }
                None => None,
            }
        } else {
            None
        };
        Ok((rows, next_cursor))
    }

    async fn get_row(
        &self,
        ctx: &StoreCtx,
        table: &TableInfo,
        id: &str,
    ) -> Result<Option<tokio_postgres::Row>, StoreError> {
        let Some(key) = values::key_text(&table.key, id) else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {} FROM {} t WHERE t.{} = ($1::text)::{}",
            table.projection, table.qualified, table.key.ident, table.key.sql_type
        );
        Ok(self.read(ctx, &sql, &[Some(key)]).await?.into_iter().next())
    }
}

#[async_trait]
impl DocumentStore for PostgresStore {
    fn adapter(&self) -> &'static str {
        "postgres"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            free_form_documents: false,
            any_order: true,
            mixed_directions: true,
            caller_identity: false,
            change_feed: self.schema.feed.load(Ordering::Acquire),
        }
    }

    fn wants_caller(&self) -> bool {
        self.schema.rls.load(Ordering::Acquire)
    }

    fn change_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.changed.clone())
    }

    async fn reload(&self) -> Result<(), StoreError> {
        refresh(&self.pool, &self.config, &self.schema)
            .await
            .map_err(|(LoadError::Unreachable(err) | LoadError::Fatal(err))| {
                StoreError::Unavailable(format!("{err:#}"))
            })
    }

    async fn list(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let (catalog, name) = self.table(table).await?;
        let info = catalog.table(&name)?;
        let (rows, next_cursor) = self.list_rows(ctx, info, query).await?;
        Ok(Page {
            items: rows.iter().map(document).collect::<Result<_, _>>()?,
            next_cursor,
        })
    }

    async fn list_json(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        query: &ListQuery,
    ) -> Result<RawPage, StoreError> {
        let (catalog, name) = self.table(table).await?;
        let info = catalog.table(&name)?;
        let (rows, next_cursor) = self.list_rows(ctx, info, query).await?;
        Ok(RawPage {
            items: rows
                .iter()
                .map(|row| raw_document(row).map(|d| d.json))
                .collect::<Result<_, _>>()?,
            next_cursor,
        })
    }

    async fn get(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        let (catalog, name) = self.table(table).await?;
        let row = self.get_row(ctx, catalog.table(&name)?, id).await?;
        row.as_ref().map(document).transpose()
    }

    async fn get_json(
        &self,
        ctx: &StoreCtx,
        table: &TableName,
        id: &str,
    ) -> Result<Option<RawDocument>, StoreError> {
        let (catalog, name) = self.table(table).await?;
        let row = self.get_row(ctx, catalog.table(&name)?, id).await?;
        row.as_ref().map(raw_document).transpose()
    }

    async fn apply(
        &self,
        ctx: &StoreCtx,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let catalog = self.catalog().await;
        let mut conn = self.connection().await?;
        let settings = self.caller_settings(ctx);
        let (outcomes, trips) = writer::apply(
            &mut conn,
            &catalog,
            settings,
            ops,
            ctx.dry_run,
            ctx.history.as_ref(),
        )
        .await?;
        self.round_trips.fetch_add(trips, Ordering::Relaxed);
        Ok(outcomes)
    }

    async fn health(&self) -> Result<(), StoreError> {
        if !self.catalog().await.loaded {
            return Err(StoreError::Unavailable(
                "the gateway has not read the Postgres tables yet".into(),
            ));
        }
        let conn = self.connection().await?;
        conn.simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| errors::map(e, None))
    }

    async fn changes(
        &self,
        since: u64,
        table: Option<&TableName>,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        let catalog = self.catalog().await;
        if !catalog.loaded {
            return Err(StoreError::Unavailable(
                "Postgres has not been reached yet; the gateway keeps trying".into(),
            ));
        }
        if !catalog.feed_installed {
            return Err(StoreError::NoChangeFeed(
                "the change log is not installed in this database: run `convex-gateway postgres install`, then send the gateway SIGHUP".into(),
            ));
        }
        let mut conn = self.connection().await?;
        self.feed
            .changes(&mut conn, &catalog, since, table, limit)
            .await
    }

    async fn history(
        &self,
        _: &StoreCtx,
        table: &TableName,
        id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<crate::store::HistoryPage, StoreError> {
        if !self.catalog().await.history_installed {
            return Err(StoreError::NoHistory(
                "history on Postgres lives beside the change log: run `convex-gateway postgres install`, then send the gateway SIGHUP".into(),
            ));
        }
        let conn = self.connection().await?;
        history::read(&conn, table.as_str(), id, before, limit).await
    }

    async fn purge_history(&self, retention: std::time::Duration) -> Result<(), StoreError> {
        if !self.catalog().await.history_installed {
            return Ok(());
        }
        let conn = self.connection().await?;
        let purged = history::purge(&conn, retention).await?;
        if purged > 0 {
            tracing::info!(
                purged,
                "forgot the history of documents deleted before GATEWAY_HISTORY_TTL"
            );
        }
        Ok(())
    }

    async fn change_head(&self) -> Result<u64, StoreError> {
        let catalog = self.catalog().await;
        if !catalog.feed_installed {
            return Err(StoreError::NoChangeFeed(
                "the change log is not installed in this database: run `convex-gateway postgres install`, then send the gateway SIGHUP".into(),
            ));
        }
        let mut conn = self.connection().await?;
        self.feed.head(&mut conn).await
    }

    fn round_trips(&self) -> Option<u64> {
        Some(PostgresStore::round_trips(self))
    }
}

/// `DATABASE_URL` without its password, for logs.
pub fn redacted_url(url: &SecretString) -> String {
    match parse_url(url.expose_secret()) {
        Ok((config, _)) => format!(
            "postgres://{}@{}/{}",
            config.get_user().unwrap_or(""),
            config
                .get_hosts()
                .iter()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(name) => name.clone(),
                    tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            config.get_dbname().unwrap_or("")
        ),
        Err(_) => "(an unparsable DATABASE_URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_drops_whitespace_outside_strings_only() {
        assert_eq!(
            compact_json(r#"{"a": {"b": [1, 2.50]}, "s": "x y \" z\\", "t": "\n"}"#),
            r#"{"a":{"b":[1,2.50]},"s":"x y \" z\\","t":"\n"}"#
        );
    }

    #[test]
    fn quoted_identifiers_double_their_quotes() {
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
    }
}
