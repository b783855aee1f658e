//! The Postgres adapter beyond the shared suite: every mapped type round-trips and reads the
//! same in psql, bad values and constraint violations answer their codes and write nothing,
//! row-level security scopes each caller, outside writes move ETags, an `eq` filter uses its
//! index, and the trigger-fed change feed holds every write (psql's too) in order, across
//! `kill -9`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::changes::{
    admin, admin_cli_token, check_feed, check_long_poll, check_retention, read_feed, write_script,
};
use crate::helpers::{GatewayProcess, assert_problem};
use crate::pg::{TestDb, install, spawn_pg_app_with, spawn_pg_suite_app};

const TYPES: &str = "CREATE TABLE typed (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    t text, vc varchar(20), u uuid, i2 int2, i4 int4, i8 int8, num numeric, f8 float8,
    b bool, j json, jb jsonb, ts timestamptz, tags text[], nums int4[], raw bytea,
    req text NOT NULL DEFAULT 'x'
)";

#[tokio::test]
async fn every_mapped_type_round_trips_and_reads_the_same_in_psql() {
    let app = spawn_pg_app_with(|db| drop(db.psql(TYPES)), |_| {}).await;
    let doc = json!({
        "t": "text ü \"q\"", "vc": "short", "u": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "i2": -32768, "i4": 2147483647, "i8": 9007199254740993i64, "num": "12345.678901234567890",
        "f8": 1.5, "b": true, "j": {"k": [1, "two"]}, "jb": {"nested": {"x": null}},
        "ts": "2026-12-03T07:27:54.123456Z", "tags": ["a", "b"], "nums": [1, null, 3],
        "raw": "AAEC/w==",
    });
    let response = app.post_json("/v1/tables/typed", &doc).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let id = created["_id"].as_str().unwrap().to_owned();
    let text = app
        .get(&format!("/v1/tables/typed/{id}"))
        .await
        .text()
        .await
        .unwrap();
    // int8 beyond 2^53 keeps every digit; numeric is passed as it is.
    assert!(text.contains(r#""i8":9007199254740993"#), "{text}");
    assert!(text.contains(r#""num":12345.678901234567890"#), "{text}");
    let fetched: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(fetched, created);
    assert!(fetched["_creationTime"].as_f64().unwrap() > 1.7e12);
    assert!(fetched.get("id").is_none() && fetched.get("created_at").is_none());
    for field in [
        "t", "vc", "u", "i2", "i4", "b", "j", "jb", "tags", "nums", "raw", "f8",
    ] {
        assert_eq!(fetched[field], doc[field], "{field}");
    }
    assert_eq!(fetched["ts"], "2026-12-03T07:27:54.123456+00:00");
    assert_eq!(
        fetched["req"], "x",
        "a column's default fills what the document omits"
    );

    // What psql reads is what the API answered.
    let db = app.postgres.as_ref().unwrap();
    let psql = db.psql(&format!(
        "SELECT concat_ws('|', t, vc, u, i2, i4, i8, num, f8, b, j::text, jb::text, \
         to_json(ts)#>>'{{}}', to_json(tags)::text, to_json(nums)::text, encode(raw, 'base64')) \
         FROM typed WHERE id = {id}"
    ));
    let api = [
        fetched["t"].as_str().unwrap().to_owned(),
        fetched["vc"].as_str().unwrap().to_owned(),
        fetched["u"].as_str().unwrap().to_owned(),
        fetched["i2"].to_string(),
        fetched["i4"].to_string(),
        "9007199254740993".to_owned(),
        "12345.678901234567890".to_owned(),
        fetched["f8"].to_string(),
        "t".to_owned(),
        r#"{"k": [1, "two"]}"#.to_owned(),
        r#"{"nested": {"x": null}}"#.to_owned(),
        fetched["ts"].as_str().unwrap().to_owned(),
        fetched["tags"].to_string(),
        fetched["nums"].to_string(),
        fetched["raw"].as_str().unwrap().to_owned(),
    ]
    .join("|");
    assert_eq!(psql, api);

    // Arrays, json and bytea also filter and patch.
    let patched = app
        .send_json(
            Method::PATCH,
            &format!("/v1/tables/typed/{id}"),
            &json!({"jb": {"nested": {"y": 2}}, "i2": null}),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        patched["jb"],
        json!({"nested": {"x": null, "y": 2}}),
        "merge patch"
    );
    assert_eq!(patched["i2"], Value::Null);
    let listed = app
        .list("typed", "jb.nested.y=eq.2&i4=gte.5&b=is.true")
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let listed = app
        .list("typed", "ts=gt.2026-12-01T00:00:00Z&vc=like.sh*")
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_values_answer_400_naming_the_field_and_write_nothing() {
    let app = spawn_pg_app_with(|db| drop(db.psql(TYPES)), |_| {}).await;
    let db = app.postgres.as_ref().unwrap();
    let cases = [
        (json!({"nope": 1}), "unknown_field", "nope"),
        (json!({"i4": "5"}), "invalid_value", "i4"),
        (json!({"i2": 40000}), "invalid_value", "i2"),
        (json!({"i4": 1.5}), "invalid_value", "i4"),
        (json!({"u": "not-a-uuid"}), "invalid_value", "u"),
        (json!({"b": "yes"}), "invalid_value", "b"),
        (json!({"raw": "***"}), "invalid_value", "raw"),
        (json!({"nums": [1, "x"]}), "invalid_value", "nums"),
        (json!({"t": {"a": 1}}), "invalid_value", "t"),
        // Postgres parses timestamps; its refusal is still blamed on the field.
        (json!({"ts": "tomorrow-ish"}), "invalid_value", "ts"),
        (json!({"vc": "x".repeat(30)}), "invalid_value", "vc"),
    ];
    for (doc, code, field) in cases {
        let response = app.post_json("/v1/tables/typed", &doc).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, code).await;
        if code != "invalid_value" || field != "vc" {
            assert_eq!(problem["field"], field, "{doc}: {problem}");
        }
    }
    assert_eq!(db.psql("SELECT count(*) FROM typed"), "0");
    // Unknown tables and filters on unknown columns are refused too.
    let response = app.get("/v1/tables/absent").await;
    assert_problem(response, StatusCode::NOT_FOUND, "table_not_found").await;
    let response = app.get("/v1/tables/typed?nope=eq.1").await;
    assert_problem(response, StatusCode::BAD_REQUEST, "unknown_field").await;
    let response = app.get("/v1/tables/typed?t.a=eq.1").await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn constraint_violations_answer_their_codes_and_write_nothing() {
    let app = spawn_pg_app_with(
        |db| {
            db.psql(
                "CREATE TABLE owners (id text PRIMARY KEY, email text NOT NULL CONSTRAINT owners_email_key UNIQUE);
                 CREATE TABLE pets (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                     name text NOT NULL, legs int4 CONSTRAINT pets_legs_check CHECK (legs BETWEEN 0 AND 8),
                     owner text CONSTRAINT pets_owner_fkey REFERENCES owners(id));
                 CREATE TABLE keyless (a int4, b text);
                 CREATE TABLE pair (a int4, b int4, PRIMARY KEY (a, b));
                 INSERT INTO owners VALUES ('o1', 'a@example.com');",
            );
        },
        |_| {},
    )
    .await;
    let db = app.postgres.as_ref().unwrap();
    let problem = assert_problem(
        app.post_json("/v1/tables/pets", &json!({"legs": 4})).await,
        StatusCode::BAD_REQUEST,
        "not_null_violation",
    )
    .await;
    assert_eq!(problem["field"], "name");
    let problem = assert_problem(
        app.post_json("/v1/tables/pets", &json!({"name": "x", "legs": 9}))
            .await,
        StatusCode::BAD_REQUEST,
        "check_violation",
    )
    .await;
    assert_eq!(problem["constraint"], "pets_legs_check");
    let problem = assert_problem(
        app.post_json("/v1/tables/pets", &json!({"name": "x", "owner": "o2"}))
            .await,
        StatusCode::CONFLICT,
        "foreign_key_violation",
    )
    .await;
    assert_eq!(problem["constraint"], "pets_owner_fkey");
    let problem = assert_problem(
        app.post_json("/v1/tables/owners", &json!({"email": "a@example.com"}))
            .await,
        StatusCode::CONFLICT,
        "unique_violation",
    )
    .await;
    assert_eq!(problem["constraint"], "owners_email_key");
    assert!(!problem["detail"].as_str().unwrap().is_empty());
    // A batch whose second operation violates a constraint writes nothing at all.
    let response = app
        .post_json(
            "/v1/transactions",
            &json!({"operations": [
                {"op": "insert", "table": "pets", "document": {"name": "ok"}},
                {"op": "insert", "table": "pets", "document": {"name": "bad", "legs": -1}},
            ]}),
        )
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "check_violation").await;
    assert_eq!(problem["failedOperation"], 1);
    assert_eq!(db.psql("SELECT count(*) FROM pets"), "0");
    // The same for a run of like inserts, which goes to Postgres as one statement: the
    // operation at fault is still named.
    let run: Vec<Value> = (0..5)
        .map(|i| json!({"op": "insert", "table": "pets", "document": {"name": format!("p{i}"), "legs": if i == 3 { 9 } else { 4 }}}))
        .collect();
    let response = app
        .post_json("/v1/transactions", &json!({ "operations": run }))
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "check_violation").await;
    assert_eq!(problem["failedOperation"], 3);
    assert_eq!(db.psql("SELECT count(*) FROM pets"), "0");
    assert_eq!(db.psql("SELECT count(*) FROM owners"), "1");
    // Deleting a row still referred to is refused by the foreign key.
    db.psql("INSERT INTO pets (name, owner) VALUES ('rex', 'o1')");
    let response = app
        .client
        .delete(app.url("/v1/tables/owners/o1"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::CONFLICT, "foreign_key_violation").await;
    // Tables without a single-column primary key are not served, and say why.
    for table in ["keyless", "pair"] {
        let response = app.get(&format!("/v1/tables/{table}")).await;
        assert_problem(response, StatusCode::NOT_FOUND, "table_without_key").await;
    }
}

/// Supabase's `auth.uid()` and `auth.jwt()`, as its migrations define them.
pub(crate) const SUPABASE_AUTH: &str = "CREATE SCHEMA auth;
    CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
      $$ SELECT nullif(coalesce(current_setting('request.jwt.claim.sub', true),
                                current_setting('request.jwt.claims', true)::jsonb ->> 'sub'), '')::uuid $$;
    CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
      $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;
    GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;";

#[tokio::test]
async fn row_level_security_scopes_each_caller_to_its_rows() {
    // The gateway's own policy lets anonymous callers read `notes`; the database decides which
    // rows.
    let policy = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        policy.path(),
        "[roles.admin]\nadmin = true\n[roles.authenticated]\ntables = { notes = [\"read\", \"write\", \"delete\"] }\n[roles.anonymous]\ntables = { notes = [\"read\", \"write\"] }\n",
    )
    .unwrap();
    let app = spawn_pg_app_with(
        |db| {
            db.psql(SUPABASE_AUTH);
            db.psql(
                "CREATE TABLE notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                     created_at timestamptz NOT NULL DEFAULT now(),
                     owner uuid NOT NULL DEFAULT auth.uid(), body text, public bool NOT NULL DEFAULT false,
                     tier text DEFAULT (auth.jwt() ->> 'tier'));
                 ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
                 CREATE POLICY own ON notes FOR ALL TO authenticated
                     USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
                 CREATE POLICY published ON notes FOR SELECT TO anon USING (public);
                 REVOKE ALL ON notes FROM anon;
                 GRANT SELECT ON notes TO anon;",
            );
        },
        |c| c.auth.policy_path = Some(policy.path().to_owned()),
    )
    .await;
    let (a, b) = (
        "0f0d5a8e-0000-4000-8000-00000000000a",
        "0f0d5a8e-0000-4000-8000-00000000000b",
    );
    let mut claims = serde_json::Map::new();
    claims.insert("tier".into(), "gold".into());
    let user_a = app.client_for(&app.token_with(a, &[], Duration::from_secs(600), claims));
    let user_b = app.client_for(&app.token(b, &[]));
    let post = |client: &reqwest::Client, doc: Value| {
        let request = client.post(app.url("/v1/tables/notes")).json(&doc);
        async move { request.send().await.unwrap() }
    };
    let a1: Value = post(&user_a, json!({"body": "a1"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a1["owner"], a, "auth.uid() saw A's sub");
    assert_eq!(a1["tier"], "gold", "auth.jwt() saw A's claims");
    post(&user_a, json!({"body": "a2", "public": true})).await;
    let b1: Value = post(&user_b, json!({"body": "b1"}))
        .await
        .json()
        .await
        .unwrap();
    let b1_path = format!("/v1/tables/notes/{}", b1["_id"].as_str().unwrap());

    let bodies = |listed: Value| -> Vec<String> {
        let mut out: Vec<String> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["body"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    };
    let list = |client: &reqwest::Client| {
        let request = client.get(app.url("/v1/tables/notes"));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(bodies(list(&user_a).await), ["a1", "a2"]);
    assert_eq!(bodies(list(&user_b).await), ["b1"]);
    // A cannot read, patch or delete B's row: to A it does not exist.
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"body": "x"}))),
        (Method::DELETE, None),
    ] {
        let mut request = user_a.request(method.clone(), app.url(&b1_path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Nor write a row as B: the policy's WITH CHECK refuses it.
    let response = post(&user_a, json!({"body": "forged", "owner": b})).await;
    assert_problem(response, StatusCode::FORBIDDEN, "database_forbidden").await;
    // Anonymous callers see what the anon policy allows, and cannot write.
    assert_eq!(bodies(list(&app.anon).await), ["a2"]);
    let response = post(&app.anon, json!({"body": "anon"})).await;
    assert_problem(response, StatusCode::FORBIDDEN, "database_forbidden").await;
    // The admin maps to service_role, which bypasses row-level security.
    let admin = app.client_for(&app.token("0f0d5a8e-0000-4000-8000-0000000000ad", &["admin"]));
    assert_eq!(bodies(list(&admin).await), ["a1", "a2", "b1"]);
    // A list under RLS costs one round trip: BEGIN, the settings, the query and COMMIT are
    // pipelined (the adapter's own counter, on /admin/status).
    let before = app.store_round_trips().await;
    list(&user_a).await;
    assert_eq!(app.store_round_trips().await - before, 1);
    // B's row is untouched.
    let db = app.postgres.as_ref().unwrap();
    assert_eq!(
        db.psql("SELECT string_agg(body, ',' ORDER BY body) FROM notes"),
        "a1,a2,b1"
    );
}

#[tokio::test]
async fn an_outside_write_moves_the_etag_so_a_stale_if_match_fails() {
    let app = spawn_pg_app_with(
        |db| {
            db.psql(
                "CREATE TABLE counted (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int4);
                 CREATE TABLE plain (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int4);",
            );
            install(db);
            // `plain` was created after the install: its versions are xmin.
            db.psql(
                "DROP TRIGGER gateway_version ON plain; ALTER TABLE plain DROP COLUMN _version;",
            );
        },
        |_| {},
    )
    .await;
    let db = app.postgres.as_ref().unwrap();
    for table in ["counted", "plain"] {
        let doc = app.insert(table, json!({"n": 1})).await;
        let path = format!("/v1/tables/{table}/{}", doc["_id"].as_str().unwrap());
        let response = app.get(&path).await;
        let old = response.headers()["etag"].to_str().unwrap().to_owned();
        db.psql(&format!(
            "UPDATE {table} SET n = 2 WHERE id = '{}'",
            doc["_id"].as_str().unwrap()
        ));
        let response = app
            .client
            .patch(app.url(&path))
            .header("if-match", &old)
            .json(&json!({"n": 3}))
            .send()
            .await
            .unwrap();
        assert_problem(
            response,
            StatusCode::PRECONDITION_FAILED,
            "version_mismatch",
        )
        .await;
        let current = app.get(&path).await;
        let new = current.headers()["etag"].to_str().unwrap().to_owned();
        assert_ne!(new, old, "{table}");
        assert_eq!(current.json::<Value>().await.unwrap()["n"], 2);
        if table == "counted" {
            assert_eq!((old.as_str(), new.as_str()), ("\"1\"", "\"2\""));
        }
        // The new ETag works, also as a batch `version`.
        let version: u64 = new.trim_matches('"').parse().unwrap();
        let response = app
            .post_json(
                "/v1/transactions",
                &json!({"operations": [
                    {"op": "patch", "table": table, "id": doc["_id"], "patch": {"n": 4}, "version": version},
                ]}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{table}");
    }
}

#[tokio::test]
async fn an_eq_filter_on_an_indexed_column_uses_the_index() {
    let db = tokio::task::spawn_blocking(|| {
        let db = TestDb::create();
        db.psql(
            "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 created_at timestamptz NOT NULL DEFAULT now(), kind text, n int4);
             CREATE INDEX events_kind ON events (kind);
             INSERT INTO events (kind, n) SELECT 'k' || (g % 500), g FROM generate_series(1, 20000) g;
             ANALYZE events;",
        );
        db
    })
    .await
    .unwrap();
    let mut config = convex_gateway::Config::for_data_dir(std::env::temp_dir())
        .postgres
        .clone();
    config.url = secrecy::SecretString::from(db.url.clone());
    let store = convex_gateway::store::postgres::PostgresStore::connect(&config)
        .await
        .unwrap();
    let table = convex_gateway::store::TableName::parse("events").unwrap();
    let query =
        convex_gateway::store::ListQuery::from_pairs([("kind".into(), "eq.k7".into())]).unwrap();
    let plan = store.explain(&table, &query).await.unwrap();
    assert!(plan.contains("events_kind"), "{plan}");
    // A filter on an unindexed column scans: the assertion above can fail.
    let query =
        convex_gateway::store::ListQuery::from_pairs([("n".into(), "eq.7".into())]).unwrap();
    let plan = store.explain(&table, &query).await.unwrap();
    assert!(!plan.contains("events_kind"), "{plan}");
    // One round trip per list, without row-level security set-up.
    use convex_gateway::store::DocumentStore as _;
    let before = store.round_trips();
    let page = store
        .list(&Default::default(), &table, &query)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(store.round_trips() - before, 1);
}

/// psql's writer: 50 rows of `feed_a`, each inserted, updated three times, then deleted or
/// updated once more, every statement its own transaction.
fn psql_writer(url: &str) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut script = String::new();
    let mut expected = BTreeMap::new();
    for i in 0..50 {
        let id = uuid::Uuid::new_v4().to_string();
        script.push_str(&format!(
            "INSERT INTO feed_a (doc_id, writer, i) VALUES ('{id}', '\"psql\"', '{i}');\n"
        ));
        let mut ops = vec![("insert".to_owned(), 1)];
        for step in 0..2 {
            script.push_str(&format!(
                "UPDATE feed_a SET step = '{step}' WHERE doc_id = '{id}';\n"
            ));
            ops.push(("update".into(), ops.len() as u64 + 1));
        }
        script.push_str(&format!(
            "UPDATE feed_a SET replaced = 'true', step = NULL WHERE doc_id = '{id}';\n"
        ));
        ops.push(("update".into(), 4));
        if i % 2 == 0 {
            script.push_str(&format!("DELETE FROM feed_a WHERE doc_id = '{id}';\n"));
            ops.push(("delete".into(), 4));
        } else {
            script.push_str(&format!(
                "UPDATE feed_a SET last = 'true' WHERE doc_id = '{id}';\n"
            ));
            ops.push(("update".into(), 5));
        }
        expected.insert(id, ops);
    }
    let mut child = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    expected
}

fn feed_schema(db: &TestDb) {
    let mut sql = String::new();
    for table in ["feed_a", "feed_b"] {
        sql.push_str(&format!(
            "CREATE TABLE {table} (doc_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                 created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                 writer jsonb, i jsonb, step jsonb, replaced jsonb, last jsonb, blob bytea);"
        ));
    }
    db.psql(&sql);
    install(db);
}

#[tokio::test]
async fn the_feed_holds_every_write_by_anyone_in_order_and_resumes_without_repeats() {
    let app = spawn_pg_app_with(feed_schema, |_| {}).await;
    let base = format!("http://{}", app.addr);
    let db_url = app.postgres.as_ref().unwrap().url.clone();
    // 3 writers through the API and one through psql, concurrently: 1,000 writes.
    let mut writers = Vec::new();
    for writer in 0..3 {
        writers.push(tokio::spawn(write_script(
            app.client.clone(),
            base.clone(),
            writer,
        )));
    }
    let psql = tokio::task::spawn_blocking(move || psql_writer(&db_url));
    let mut expected = BTreeMap::new();
    for writer in writers {
        expected.extend(writer.await.unwrap());
    }
    expected.extend(psql.await.unwrap());
    let feed = check_feed(&app, &expected).await;
    // Positions are dense, and the system columns are not fields.
    let positions: Vec<u64> = feed
        .iter()
        .map(|c| c["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=feed.len() as u64).collect::<Vec<_>>());
    for change in feed.iter().filter(|c| c["op"] != "delete") {
        let document = &change["document"];
        assert!(document.get("doc_id").is_none() && document.get("created_at").is_none());
    }
    let total = feed.len();
    let admin = admin(&app);
    // bytea in the feed reads as the API shows it: base64.
    let doc = app.insert("feed_b", json!({"blob": "AAEC"})).await;
    let feed = read_feed(&admin, |p| app.url(p), total as u64, 10).await;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0]["document"]["blob"], "AAEC");
    assert_eq!(feed[0]["id"], doc["_id"]);
}

#[tokio::test]
async fn an_outside_commit_wakes_a_follower_waiting_on_the_feed() {
    let app = spawn_pg_suite_app().await;
    app.insert("items", json!({"n": 0})).await;
    let url = app.postgres.as_ref().unwrap().url.clone();
    // Another program's commit: the trigger's NOTIFY wakes the listener, no polling.
    check_long_poll(&app, async move {
        tokio::task::spawn_blocking(move || {
            crate::pg::psql_at(&url, "INSERT INTO items (n) VALUES ('1'::jsonb)")
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test]
async fn without_install_the_feed_says_how_to_get_one() {
    let app = spawn_pg_app_with(
        |db| drop(db.psql("CREATE TABLE t (id uuid PRIMARY KEY DEFAULT gen_random_uuid())")),
        |_| {},
    )
    .await;
    let response = admin(&app)
        .get(app.url("/admin/changes"))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::NOT_FOUND, "change_feed_unavailable").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("postgres install")
    );
    assert_eq!(app.capabilities().await["changeFeed"], false);
}

#[tokio::test]
async fn install_is_safe_to_run_twice_and_uninstall_removes_it() {
    let db = tokio::task::spawn_blocking(|| {
        let db = TestDb::create();
        db.psql("CREATE TABLE t (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int4)");
        install(&db);
        db.psql("INSERT INTO t (n) VALUES (1)");
        install(&db);
        db.psql("UPDATE t SET n = 2");
        db
    })
    .await
    .unwrap();
    assert_eq!(db.psql("SELECT count(*) FROM gateway.changes"), "2");
    assert_eq!(db.psql("SELECT _version FROM t"), "2");
    let output = std::process::Command::new(crate::helpers::binary())
        .args(["postgres", "uninstall"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        db.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'gateway'"),
        "0"
    );
    assert_eq!(
        db.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = '_version'"),
        "0"
    );
    db.psql("UPDATE t SET n = 3");
}

#[tokio::test]
async fn kill_9_during_writes_loses_no_change_and_invents_none() {
    let db = tokio::task::spawn_blocking(|| {
        let db = TestDb::create();
        feed_schema(&db);
        db
    })
    .await
    .unwrap();
    let data = TempDir::new().unwrap();
    let envs = [
        ("GATEWAY_STORE", "postgres"),
        ("DATABASE_URL", db.url.as_str()),
    ];
    let mut gateway = GatewayProcess::start(data.path(), &envs).await;
    let token = gateway.cli_token(data.path(), "writer");
    let client = reqwest::Client::new();
    // Writers insert until the gateway dies; every acknowledged insert is remembered.
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let (client, url, token) = (
            client.clone(),
            gateway.url("/v1/tables/feed_a"),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                let Ok(response) = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"writer": writer, "i": i}))
                    .send()
                    .await
                else {
                    break;
                };
                if response.status() != StatusCode::CREATED {
                    break;
                }
                let Ok(doc) = response.json::<Value>().await else {
                    break;
                };
                acknowledged.push(doc["_id"].as_str().unwrap().to_owned());
            }
            acknowledged
        }));
    }
    // Kill once some writes have landed (a condition with a deadline, not a fixed sleep).
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = || {
        db.psql("SELECT count(*) FROM feed_a")
            .parse::<u64>()
            .unwrap()
    };
    while count() < 200 {
        assert!(Instant::now() < deadline, "writes did not land");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.kill_9();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    assert!(!acknowledged.is_empty());

    let gateway = GatewayProcess::start(data.path(), &envs).await;
    let admin_token = admin_cli_token(&gateway, data.path());
    let admin = crate::helpers::bearer_client(&admin_token);
    let feed = read_feed(&admin, |p| gateway.url(p), 0, 500).await;
    let in_feed: std::collections::HashSet<String> = feed
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &acknowledged {
        assert!(in_feed.contains(id), "acknowledged insert {id} is missing");
    }
    // And nothing the database does not hold: the feed equals the table.
    let rows = db.psql("SELECT count(*) FROM feed_a");
    assert_eq!(feed.len().to_string(), rows);
}

#[tokio::test]
async fn sighup_reads_the_tables_again() {
    let db = tokio::task::spawn_blocking(|| {
        let db = TestDb::create();
        db.psql("CREATE TABLE first (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int4)");
        db
    })
    .await
    .unwrap();
    let data = TempDir::new().unwrap();
    let envs = [
        ("GATEWAY_STORE", "postgres"),
        ("DATABASE_URL", db.url.as_str()),
    ];
    let gateway = GatewayProcess::start(data.path(), &envs).await;
    let client = crate::helpers::bearer_client(&gateway.cli_token(data.path(), "reader"));
    let status = |path: &'static str| {
        let request = client.get(gateway.url(path));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(status("/v1/tables/first").await, StatusCode::OK);
    db.psql("CREATE TABLE later (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int4)");
    assert_eq!(status("/v1/tables/later").await, StatusCode::NOT_FOUND);
    let pid = gateway.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while status("/v1/tables/later").await != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not add the new table"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status("/v1/tables/first").await, StatusCode::OK);
}

#[tokio::test]
async fn positions_older_than_the_retention_must_resync() {
    let app = spawn_pg_app_with(
        |db| {
            db.psql("CREATE TABLE t (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int4)");
            install(db);
        },
        |c| c.changes_retention = Duration::from_secs(1),
    )
    .await;
    check_retention(&app, "t").await;
}

#[tokio::test]
async fn connections_are_encrypted_and_a_given_ca_is_enforced() {
    let db = tokio::task::spawn_blocking(TestDb::create).await.unwrap();
    let ssl_on = db.psql("SHOW ssl") == "on";
    let mut config = convex_gateway::Config::for_data_dir(std::env::temp_dir())
        .postgres
        .clone();
    config.url = secrecy::SecretString::from(format!("{}?sslmode=require", db.url));
    use convex_gateway::store::DocumentStore as _;
    let store = convex_gateway::store::postgres::PostgresStore::connect(&config)
        .await
        .unwrap();
    if !ssl_on {
        // A server without TLS cannot satisfy sslmode=require: the store is never ready.
        assert!(store.health().await.is_err());
        return;
    }
    store.health().await.unwrap();
    assert_eq!(
        db.psql(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'convex-gateway' AND a.datname = current_database()"
        ),
        "t",
        "the gateway's connections use TLS"
    );
    // With a CA the server's certificate does not chain to, the connection is refused.
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        ca.path(),
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/unrelated-ca.pem"
        ))
        .unwrap(),
    )
    .unwrap();
    config.ca_file = Some(ca.path().to_owned());
    let refused = convex_gateway::store::postgres::PostgresStore::connect(&config)
        .await
        .unwrap();
    assert!(refused.health().await.is_err());
    let table = convex_gateway::store::TableName::parse("t").unwrap();
    let err = refused
        .get(&Default::default(), &table, "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, convex_gateway::store::StoreError::Unavailable(_)),
        "{err}"
    );
}

#[tokio::test]
async fn a_database_that_appears_after_startup_is_served_once_reached() {
    // The database does not exist yet: the gateway starts, is live, and answers 503 until it
    // reaches Postgres (as a container started before its database would).
    let db = TestDb::planned();
    let data = TempDir::new().unwrap();
    let envs = [
        ("GATEWAY_STORE", "postgres"),
        ("DATABASE_URL", db.url.as_str()),
    ];
    let gateway = GatewayProcess::start(data.path(), &envs).await;
    let client = crate::helpers::bearer_client(&gateway.cli_token(data.path(), "early"));
    let get = |path: &'static str| {
        let request = client.get(gateway.url(path));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        get("/ready").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let response = get("/v1/tables/later").await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;

    // The database appears with its table in place: made under another name, then renamed.
    tokio::task::spawn_blocking({
        let name = db.name.clone();
        move || {
            let staging = TestDb::planned();
            staging.create_database();
            staging
                .psql("CREATE TABLE later (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int4)");
            crate::pg::psql_at(
                &crate::pg::admin_url(),
                &format!("ALTER DATABASE \"{}\" RENAME TO \"{name}\"", staging.name),
            );
        }
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while get("/ready").await.status() != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "the gateway never reached Postgres"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get("/v1/tables/later").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_transaction_that_commits_late_is_not_skipped_by_a_reader_that_moved_on() {
    let app = spawn_pg_app_with(
        |db| {
            db.psql("CREATE TABLE t (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int4)");
            install(db);
        },
        |_| {},
    )
    .await;
    let db = app.postgres.as_ref().unwrap();
    let admin = admin(&app);
    // psql opens a transaction and writes (its change takes a sequence number first) ...
    let mut late = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &db.url,
            "-f",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = late.stdin.take().unwrap();
    use std::io::Write as _;
    stdin
        .write_all(b"BEGIN;\nINSERT INTO t (n) VALUES (1);\nSELECT pg_sleep(0);\n")
        .unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE 'SELECT pg_sleep%'",
    ) != "1"
    {
        assert!(Instant::now() < deadline, "psql's transaction did not open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... the gateway writes and commits after it, and a reader follows the feed past that ...
    let early = app.insert("t", json!({"n": 2})).await;
    let first = read_feed(&admin, |p| app.url(p), 0, 100).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["id"], early["_id"]);
    let seen = first[0]["position"].as_u64().unwrap();
    // ... then psql commits: the reader resuming from where it was still gets that change.
    stdin.write_all(b"COMMIT;\n").unwrap();
    drop(stdin);
    assert!(late.wait().unwrap().success());
    let rest = read_feed(&admin, |p| app.url(p), seen, 100).await;
    assert_eq!(
        rest.len(),
        1,
        "the late commit's change comes after the position read"
    );
    assert_eq!(rest[0]["document"]["n"], 1);
}

#[tokio::test]
async fn an_array_insert_is_one_statement_and_keeps_its_order() {
    let app = spawn_pg_app_with(
        |db| {
            db.psql(
                "CREATE TABLE bulk (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                     created_at timestamptz NOT NULL DEFAULT clock_timestamp(), i int4, tag text,
                     note text NOT NULL DEFAULT 'none')",
            );
            install(db);
        },
        |_| {},
    )
    .await;
    let admin = admin(&app);
    let docs: Vec<Value> = (0..500)
        .map(|i| json!({"i": i, "tag": format!("t{i}")}))
        .collect();
    let before = app.store_round_trips().await;
    let stored = app.insert_many("bulk", docs).await;
    let trips = app.store_round_trips().await - before;
    assert!(trips <= 8, "{trips} round trips for 500 inserts");
    // In the order given, with the columns' defaults for what the documents omit.
    for (i, doc) in stored.iter().enumerate() {
        assert_eq!(doc["i"], i, "{doc}");
        assert_eq!(doc["note"], "none");
    }
    let ids: Vec<i64> = stored
        .iter()
        .map(|d| d["_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let db = app.postgres.as_ref().unwrap();
    for (id, doc) in ids.iter().zip(&stored).step_by(97) {
        assert_eq!(
            db.psql(&format!("SELECT i FROM bulk WHERE id = {id}")),
            doc["i"].to_string()
        );
    }
    let feed = read_feed(&admin, |p| app.url(p), 0, 1000).await;
    assert_eq!(feed.len(), 500);
    assert!(feed.iter().all(|c| c["op"] == "insert"));
}
