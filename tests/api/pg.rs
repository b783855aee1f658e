//! The Postgres test harness: a fresh database per test on the server `TEST_DATABASE_URL` names
//! (`scripts/test` sets it: a given server, the local one, or a private cluster it starts),
//! dropped when the test ends; `psql` for what other programs see and do.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use convex_gateway::config::StoreKind;
use secrecy::SecretString;

use crate::helpers::{TestApp, spawn_app_with};

/// The server's maintenance database URL.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// One test's own database.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Creates an empty database with a name unique to this run and test.
    pub fn create() -> Self {
        let db = Self::planned();
        db.create_database();
        db
    }

    /// A database name unique to this run and test, and its URL, not created yet (it is
    /// dropped all the same).
    pub fn planned() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let prefix = std::env::var("TEST_PG_PREFIX").unwrap_or_else(|_| "cg_test".into());
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let admin = admin_url();
        let url = match admin.rsplit_once('/') {
            Some((base, rest)) => {
                let query = rest.split_once('?').map(|(_, q)| format!("?{q}"));
                format!("{base}/{name}{}", query.unwrap_or_default())
            }
            None => panic!("TEST_DATABASE_URL {admin} names no database"),
        };
        Self { name, url }
    }

    /// Creates the database, with the Supabase roles and their default privileges.
    pub fn create_database(&self) {
        let (name, url) = (&self.name, &self.url);
        psql_at(&admin_url(), &format!("CREATE DATABASE \"{name}\""));
        // The Supabase roles, cluster-wide; created once, by whichever test comes first.
        psql_at(
            url,
            "DO $$ BEGIN
               BEGIN CREATE ROLE anon NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
               BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
               BEGIN CREATE ROLE service_role NOLOGIN BYPASSRLS; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
             END $$;
             -- As on Supabase: the API roles may use what the schema's owner creates (row-level
             -- security policies then decide which rows).
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;",
        );
    }

    /// Runs SQL with psql and answers its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        psql_at(&self.url, sql)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", "-d", &admin_url(), "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// Runs SQL with psql against `url`; panics with psql's error when it fails.
pub fn psql_at(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs (scripts/test installs it)");
    assert!(
        output.status.success(),
        "psql failed: {}\n{sql}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Every field the shared store suite writes, as a jsonb column of each of its tables.
const SUITE_FIELDS: &[&str] = &[
    "n",
    "title",
    "i",
    "status",
    "s",
    "a",
    "x",
    "score",
    "rank",
    "meta",
    "b",
    "w",
    "views",
    "urls",
    "twitchId",
    "transcript",
    "moleculeId",
    "count",
    "chat",
    "audio",
    "zeta",
    "whole",
    "touched",
    "tags",
    "tag",
    "runs",
    "parent",
    "of",
    "nested",
    "mid",
    "list",
    "key",
    "keep",
    "emoji",
    "deep",
    "bucket",
    "big",
    "alpha",
    "name",
    "k",
    "ownerId",
    "owner",
    "value",
    "v",
    "label",
    "kind",
    "note",
    "flag",
    "size",
    "c",
    "d",
    "e",
    "y",
    "z",
    "q",
];

const SUITE_TABLES: &[&str] = &[
    "clips",
    "molecules",
    "t",
    "ledger",
    "experiments",
    "safe",
    "c",
    "things",
    "scores",
    "pages",
    "lim",
    "mixed",
    "items",
    "feed",
    "videos",
    "raw_docs",
    "beta",
    "alpha",
    "gamma",
    "counters",
];

/// The suite's tables: a uuid key, `created_at`, and a jsonb column per field; every role may
/// use them (no policies), so requests run under the Supabase roles as a real deployment does.
pub fn suite_schema(db: &TestDb) {
    let columns: String = SUITE_FIELDS
        .iter()
        .map(|f| format!(", \"{f}\" jsonb"))
        .collect();
    let mut sql = String::new();
    for table in SUITE_TABLES {
        sql.push_str(&format!(
            "CREATE TABLE \"{table}\" (doc_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), created_at timestamptz NOT NULL DEFAULT clock_timestamp(){columns});
             GRANT ALL ON \"{table}\" TO anon, authenticated, service_role;"
        ));
    }
    db.psql(&sql);
}

/// The app on the Postgres adapter over a fresh database that `schema` prepares.
pub async fn spawn_pg_app_with(
    schema: impl FnOnce(&TestDb) + Send + 'static,
    configure: impl FnOnce(&mut convex_gateway::Config),
) -> TestApp {
    let db = tokio::task::spawn_blocking(move || {
        let db = TestDb::create();
        schema(&db);
        db
    })
    .await
    .unwrap();
    let url = db.url.clone();
    let mut app = spawn_app_with(|c| {
        c.store = StoreKind::Postgres;
        c.postgres.url = SecretString::from(url);
        c.postgres.pool_size = 8;
        configure(c);
    })
    .await;
    app.postgres = Some(db);
    app
}

/// The suite's app on Postgres, with the change log and counted versions installed.
pub async fn spawn_pg_suite_app() -> TestApp {
    spawn_pg_app_with(
        |db| {
            suite_schema(db);
            install(db);
        },
        |_| {},
    )
    .await
}

/// Runs `convex-gateway postgres install` on the database.
pub fn install(db: &TestDb) {
    let output = Command::new(crate::helpers::binary())
        .args(["postgres", "install"])
        .env("DATABASE_URL", &db.url)
        .env("GATEWAY_DATA_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "postgres install failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
