//! The table sync both ways through the running gateway, against a real Postgres and the Convex
//! test backend: backfill of each side into the other, live inserts, updates and deletes each
//! way, references kept as keys and as ids, no echoes, and conflicts settled by each policy.

use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crate::helpers::{ConvexBackend, TestApp};
use crate::live::eventually;
use convex_gateway::table_sync::export::ExportClient;

const KEY: &str = "sync-test|deploy-key-0123456789";

/// A batch of writes through `gateway:apply`; answers the outcomes.
pub(crate) async fn apply(backend: &ConvexBackend, ops: Value) -> Vec<Value> {
    let response: Value = reqwest::Client::new()
        .post(format!("{}/api/mutation", backend.url))
        .json(&json!({"path": "gateway:apply", "args": {"ops": ops}, "format": "convex_encoded_json"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["status"], "success", "{response}");
    response["value"]["outcomes"].as_array().unwrap().clone()
}

/// Every document of a Convex table, read through the streaming export.
pub(crate) async fn convex_table(backend: &ConvexBackend, table: &str) -> Vec<Map<String, Value>> {
    let export = ExportClient::new(
        reqwest::Client::new(),
        &backend.url,
        SecretString::from(KEY),
    );
    let mut documents = Vec::new();
    let (mut snapshot, mut cursor) = (None, None);
    loop {
        let page = export
            .list_snapshot(table, snapshot, cursor.as_deref())
            .await
            .unwrap();
        documents.extend(page.documents);
        if !page.has_more {
            return documents;
        }
        snapshot = Some(page.snapshot);
        cursor = page.cursor;
    }
}

/// `field` of each document, sorted and joined.
fn joined(documents: &[Map<String, Value>], field: &str) -> String {
    let mut values: Vec<String> = documents
        .iter()
        .map(|d| match &d[field] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    values.sort();
    values.join(",")
}

fn id_named(documents: &[Map<String, Value>], name: &str) -> String {
    documents
        .iter()
        .find(|d| d["name"] == name)
        .and_then(|d| d["_id"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The gateway with `GATEWAY_SYNC` = `sync`, on `backend` and `db`.
pub(crate) async fn gateway(
    backend_url: &str,
    db: &crate::pg::TestDb,
    sync: &std::path::Path,
) -> TestApp {
    gateway_with(backend_url, db, sync, |_| {}).await
}

/// [`gateway`], with more settings.
pub(crate) async fn gateway_with(
    backend_url: &str,
    db: &crate::pg::TestDb,
    sync: &std::path::Path,
    more: impl FnOnce(&mut convex_gateway::config::Config),
) -> TestApp {
    let url = backend_url.to_owned();
    let (sync, db_url) = (sync.to_owned(), db.url.clone());
    crate::helpers::spawn_app_with(move |c| {
        *c = c.clone().with_convex(url);
        c.sync_file = Some(sync);
        c.postgres.url = SecretString::from(db_url);
        if let Some(convex) = c.convex.as_mut() {
            convex.deploy_key = Some(SecretString::from(KEY));
        }
        more(c);
    })
    .await
}

const SEED_SYNC: &str = r#"
    [sync]
    idle_poll_max_ms = 100
    [[sync.tables]]
    postgres = "molecules"
    convex = "things"
    [[sync.tables]]
    postgres = "experiments"
    convex = "c"
    rename = { molecule_id = "moleculeId" }
    references = { molecule_id = "molecules" }
"#;

const SEED_TABLES: &str =
    "CREATE TABLE molecules (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL, weight float8);
     CREATE TABLE experiments (id bigserial PRIMARY KEY,
         molecule_id uuid REFERENCES molecules (id) ON DELETE CASCADE, score float8, runs int8);";

#[tokio::test]
async fn postgres_and_convex_backfill_into_each_other_then_follow_both_ways_without_echoes() {
    convex_gateway::http_client::install_crypto_provider();
    let db = crate::pg::TestDb::create();
    db.psql(SEED_TABLES);
    db.psql(
        "INSERT INTO molecules (name, weight) VALUES ('benzene', 78.11), ('ethanol', 46.07);
         INSERT INTO experiments (molecule_id, score, runs)
             SELECT id, 0.9, 9007199254740993 FROM molecules WHERE name = 'benzene';",
    );
    crate::pg::install(&db);
    let backend =
        tokio::task::spawn_blocking(|| ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", KEY)]))
            .await
            .unwrap();
    apply(
        &backend,
        json!([{"kind": "insert", "table": "things", "fields": {"name": "water", "weight": 18.015}}]),
    )
    .await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), SEED_SYNC).unwrap();
    let app = gateway(&backend.url, &db, file.path()).await;

    // Backfill: each side holds all three molecules, and the experiment points at benzene on
    // both sides, as a key in Postgres and as an `_id` in Convex; int64 beyond 2^53 is exact.
    let pg_names = || async {
        db.psql("SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM molecules")
    };
    eventually("Convex's molecule in Postgres", || async {
        pg_names().await == "benzene,ethanol,water"
    })
    .await;
    eventually("Postgres's molecules and experiment in Convex", || async {
        joined(&convex_table(&backend, "things").await, "name") == "benzene,ethanol,water"
            && convex_table(&backend, "c").await.len() == 1
    })
    .await;
    let things = convex_table(&backend, "things").await;
    let experiments = convex_table(&backend, "c").await;
    assert_eq!(experiments[0]["moleculeId"], id_named(&things, "benzene"));
    assert_eq!(experiments[0]["score"], 0.9);
    // 9007199254740993 as Convex's int64: 8 bytes little-endian, in base64.
    assert_eq!(
        experiments[0]["runs"],
        json!({"$integer": "AQAAAAAAIAA="}),
        "{experiments:?}"
    );
    assert_eq!(
        db.psql("SELECT weight FROM molecules WHERE name = 'water'"),
        "18.015"
    );

    // Live, Postgres to Convex: an update.
    db.psql("UPDATE molecules SET name = 'benzene-d6' WHERE name = 'benzene'");
    eventually("the update in Convex", || async {
        joined(&convex_table(&backend, "things").await, "name") == "benzene-d6,ethanol,water"
    })
    .await;
    // Live, Convex to Postgres: an update, and an insert that refers to a Postgres molecule.
    let things = convex_table(&backend, "things").await;
    apply(
        &backend,
        json!([
            {"kind": "patch", "table": "things", "id": id_named(&things, "water"), "patch": {"name": "ice"}},
            {"kind": "insert", "table": "c", "fields": {"moleculeId": id_named(&things, "ethanol"), "score": 0.1}},
        ]),
    )
    .await;
    let pg_experiments = || async {
        db.psql(
            "SELECT coalesce(string_agg(m.name || ':' || e.score, ',' ORDER BY m.name), '') \
             FROM experiments e JOIN molecules m ON m.id = e.molecule_id",
        )
    };
    eventually("Convex's changes in Postgres", || async {
        pg_names().await == "benzene-d6,ethanol,ice"
            && pg_experiments().await == "benzene-d6:0.9,ethanol:0.1"
    })
    .await;
    // Deletes, each way.
    db.psql("DELETE FROM experiments WHERE score = 0.9");
    let ethanol_experiment = convex_table(&backend, "c")
        .await
        .into_iter()
        .find(|d| d["score"] == 0.1)
        .and_then(|d| d["_id"].as_str().map(str::to_owned))
        .unwrap();
    apply(
        &backend,
        json!([{"kind": "delete", "table": "c", "id": ethanol_experiment}]),
    )
    .await;
    eventually("both deletes on both sides", || async {
        pg_experiments().await.is_empty() && convex_table(&backend, "c").await.is_empty()
    })
    .await;
    // One more change each way, so everything before it has been through both directions.
    db.psql("INSERT INTO molecules (name) VALUES ('salt')");
    apply(
        &backend,
        json!([{"kind": "insert", "table": "things", "fields": {"name": "sugar"}}]),
    )
    .await;
    eventually("the last changes on both sides", || async {
        pg_names().await == "benzene-d6,ethanol,ice,salt,sugar"
            && joined(&convex_table(&backend, "things").await, "name")
                == "benzene-d6,ethanol,ice,salt,sugar"
    })
    .await;

    // No echoes: Postgres holds exactly the writes made there and the ones from Convex, once
    // each; Convex wrote benzene twice (its copy, then the rename).
    assert_eq!(
        db.psql(
            "SELECT string_agg(coalesce(origin, 'here') || ':' || op, ',' ORDER BY seq) \
             FROM gateway.changes WHERE tbl = 'molecules'"
        ),
        "convex:insert,here:update,convex:update,here:insert,convex:insert"
    );
    let benzene = convex_table(&backend, "things")
        .await
        .into_iter()
        .find(|d| d["name"] == "benzene-d6")
        .unwrap();
    assert_eq!(benzene["gwVersion"], 2, "{benzene:?}");
    // Every expected echo arrives and is dropped (the last insert's may still be on its way).
    eventually("every echo consumed", || async {
        db.psql("SELECT count(*) FROM gateway.sync_echoes") == "0"
    })
    .await;
    assert_eq!(db.psql("SELECT count(*) FROM gateway.sync_errors"), "0");
    assert_eq!(db.psql("SELECT count(*) FROM gateway.sync_conflicts"), "0");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "gateway_sync_changes_total{direction=\"to_convex\",op=\"update\",table=\"molecules\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("gateway_sync_lag_seconds{direction=\"to_postgres\",table=\"molecules\"}")
    );
    drop(app);
}

/// Both sides change the same rows while the sync is stopped; when it starts again, each pair's
/// policy picks the winner, both sides end equal, and every conflict is recorded with both
/// versions.
#[tokio::test]
async fn conflicts_are_settled_by_each_policy_and_recorded() {
    convex_gateway::http_client::install_crypto_provider();
    let db = crate::pg::TestDb::create();
    // One table per policy; two rows each, so each side can go first (or delete).
    let tables = ["lm", "cw", "pw", "dw", "uw"];
    for t in tables {
        db.psql(&format!(
            "CREATE TABLE {t} (id bigserial PRIMARY KEY, v text NOT NULL);
             INSERT INTO {t} (v) VALUES ('a0'), ('b0');"
        ));
    }
    crate::pg::install(&db);
    let backend =
        tokio::task::spawn_blocking(|| ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", KEY)]))
            .await
            .unwrap();
    let convex = [
        ("lm", "things", "last_modified", "delete_wins"),
        ("cw", "c", "convex_wins", "delete_wins"),
        ("pw", "scores", "postgres_wins", "delete_wins"),
        ("dw", "pages", "last_modified", "delete_wins"),
        ("uw", "items", "last_modified", "update_wins"),
    ];
    let mut text = String::from("[sync]\nidle_poll_max_ms = 100\n");
    for (pg, cx, conflict, on_delete) in convex {
        text.push_str(&format!(
            "[[sync.tables]]\npostgres = \"{pg}\"\nconvex = \"{cx}\"\nconflict = \"{conflict}\"\non_delete = \"{on_delete}\"\n"
        ));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let app = gateway(&backend.url, &db, file.path()).await;
    for (_, cx, _, _) in convex {
        eventually("the rows in Convex", || async {
            joined(&convex_table(&backend, cx).await, "v") == "a0,b0"
        })
        .await;
    }
    drop(app);

    // While the sync is stopped, both sides change both rows of each table.
    let id_of = |docs: &[Map<String, Value>], v: &str| {
        docs.iter()
            .find(|d| d["v"] == v)
            .and_then(|d| d["_id"].as_str())
            .unwrap()
            .to_owned()
    };
    let patch = |table: &str, id: &str, v: &str| json!({"kind": "patch", "table": table, "id": id, "patch": {"v": v}});
    let docs = |cx: &'static str| convex_table(&backend, cx);
    // last_modified: on row a Convex writes first, on row b Postgres does; the later one wins.
    let lm = docs("things").await;
    apply(
        &backend,
        json!([patch("things", &id_of(&lm, "a0"), "a-convex")]),
    )
    .await;
    db.psql("UPDATE lm SET v = 'a-pg' WHERE v = 'a0'; UPDATE lm SET v = 'b-pg' WHERE v = 'b0';");
    apply(
        &backend,
        json!([patch("things", &id_of(&lm, "b0"), "b-convex")]),
    )
    .await;
    // convex_wins and postgres_wins: both rows changed on both sides.
    for (pg, cx) in [("cw", "c"), ("pw", "scores")] {
        let d = docs(cx).await;
        apply(
            &backend,
            json!([
                patch(cx, &id_of(&d, "a0"), "a-convex"),
                patch(cx, &id_of(&d, "b0"), "b-convex")
            ]),
        )
        .await;
        db.psql(&format!(
            "UPDATE {pg} SET v = 'a-pg' WHERE v = 'a0'; UPDATE {pg} SET v = 'b-pg' WHERE v = 'b0';"
        ));
    }
    // A delete against an update: row a deleted in Convex and updated in Postgres, row b the
    // other way round.
    for (pg, cx) in [("dw", "pages"), ("uw", "items")] {
        let d = docs(cx).await;
        apply(
            &backend,
            json!([
                {"kind": "delete", "table": cx, "id": id_of(&d, "a0")},
                patch(cx, &id_of(&d, "b0"), "b-convex"),
            ]),
        )
        .await;
        db.psql(&format!(
            "UPDATE {pg} SET v = 'a-pg' WHERE v = 'a0'; DELETE FROM {pg} WHERE v = 'b0';"
        ));
    }

    let app = gateway(&backend.url, &db, file.path()).await;
    let expected = [
        ("lm", "things", "a-pg,b-convex"),
        ("cw", "c", "a-convex,b-convex"),
        ("pw", "scores", "a-pg,b-pg"),
        ("dw", "pages", ""),
        ("uw", "items", "a-pg,b-convex"),
    ];
    for (pg, cx, both) in expected {
        eventually(&format!("{pg} settled on both sides as {both}"), || async {
            db.psql(&format!(
                "SELECT coalesce(string_agg(v, ',' ORDER BY v), '') FROM {pg}"
            )) == both
                && joined(&convex_table(&backend, cx).await, "v") == both
        })
        .await;
    }
    assert_eq!(
        db.psql(
            "SELECT string_agg(pair || ':' || kind || ':' || policy || ':' || winner || ':' \
                 || coalesce(convex_version->>'v', '-') || '/' || coalesce(postgres_version->>'v', '-'), \
                 ' ' ORDER BY pair, pg_key) FROM gateway.sync_conflicts"
        ),
        "cw:update:convex_wins:convex:a-convex/a-pg cw:update:convex_wins:convex:b-convex/b-pg \
         dw:delete:delete_wins:convex:-/a-pg dw:delete:delete_wins:postgres:b-convex/- \
         lm:update:last_modified:postgres:a-convex/a-pg lm:update:last_modified:convex:b-convex/b-pg \
         pw:update:postgres_wins:postgres:a-convex/a-pg pw:update:postgres_wins:postgres:b-convex/b-pg \
         uw:delete:update_wins:postgres:-/a-pg uw:delete:update_wins:convex:b-convex/-"
    );

    // The admin API lists them, and re-applies a losing side once.
    let admin = app.client_for(&app.token("root", &["admin"]));
    let get = |path: &str| {
        let (admin, url) = (admin.clone(), app.url(path));
        async move {
            let response = admin.get(url).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let post = |path: &str| {
        let (admin, url) = (admin.clone(), app.url(path));
        async move {
            let response = admin.post(url).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, listed) = get("/admin/sync/conflicts?table=cw").await;
    assert_eq!(status, 200, "{listed}");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["winner"], "convex");
    assert_eq!(items[0]["postgresVersion"]["v"], "a-pg");
    assert_eq!(items[0]["convexVersion"]["v"], "a-convex");
    assert!(items[0]["postgresTime"].as_f64().unwrap() > 0.0);
    let cw_a = items[0]["seq"].as_i64().unwrap();
    let (_, pw) = get("/admin/sync/conflicts?table=pw&limit=1").await;
    let pw_a = pw["items"][0]["seq"].as_i64().unwrap();
    let (_, after) = get(&format!("/admin/sync/conflicts?table=pw&after={pw_a}")).await;
    assert_eq!(after["items"].as_array().unwrap().len(), 1);
    assert_eq!(after["items"][0]["convexVersion"]["v"], "b-convex");
    // Postgres lost on cw row a: its version comes back in Postgres, then reaches Convex.
    let (status, reapplied) = post(&format!("/admin/sync/conflicts/{cw_a}/reapply")).await;
    assert_eq!(status, 200, "{reapplied}");
    assert!(reapplied["reappliedAt"].is_string());
    // Convex lost on pw row a: its version comes back in Convex, then reaches Postgres.
    let (status, _) = post(&format!("/admin/sync/conflicts/{pw_a}/reapply")).await;
    assert_eq!(status, 200);
    for (pg, cx, both) in [
        ("cw", "c", "a-pg,b-convex"),
        ("pw", "scores", "a-convex,b-pg"),
    ] {
        eventually(&format!("{pg} re-applied on both sides"), || async {
            db.psql(&format!(
                "SELECT coalesce(string_agg(v, ',' ORDER BY v), '') FROM {pg}"
            )) == both
                && joined(&convex_table(&backend, cx).await, "v") == both
        })
        .await;
    }
    let (status, again) = post(&format!("/admin/sync/conflicts/{cw_a}/reapply")).await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("sync_conflict_state"))
    );
    let (status, missing) = post("/admin/sync/conflicts/999999/reapply").await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (404, Some("sync_conflict_not_found"))
    );
    let (status, unknown) = get("/admin/sync/conflicts?table=nope").await;
    assert_eq!(
        (status, unknown["code"].as_str()),
        (404, Some("sync_table_not_found"))
    );
    // A plain user sees none of it.
    let plain = app.client.get(app.url("/admin/sync")).send().await.unwrap();
    assert_eq!(plain.status(), 403);

    // The state of each pair and direction.
    let (status, state) = get("/admin/sync").await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["conflicts"], 10);
    assert_eq!(state["conflictsReapplied"], 2);
    let tables = state["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 10, "{state}");
    for entry in tables {
        assert_eq!(entry["state"], "live", "{entry}");
        assert!(entry["lastError"].is_null(), "{entry}");
    }
    let cw_to_convex = tables
        .iter()
        .find(|t| t["table"] == "cw" && t["direction"] == "to_convex")
        .unwrap();
    assert_eq!(cw_to_convex["lagChanges"], 0, "{cw_to_convex}");
    assert!(
        cw_to_convex["applied"].as_i64().unwrap() >= 3,
        "{cw_to_convex}"
    );
    assert_eq!(cw_to_convex["convexTable"], "c");
    drop(app);
}

/// Two gateways with the same sync: one runs it (the advisory lock), and when it goes away the
/// other takes over and changes keep flowing.
#[tokio::test]
async fn another_replica_takes_the_sync_over_when_the_one_running_it_goes() {
    convex_gateway::http_client::install_crypto_provider();
    let db = crate::pg::TestDb::create();
    db.psql("CREATE TABLE molecules (id bigserial PRIMARY KEY, name text NOT NULL);");
    crate::pg::install(&db);
    let backend =
        tokio::task::spawn_blocking(|| ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", KEY)]))
            .await
            .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "[sync]\nidle_poll_max_ms = 100\n[[sync.tables]]\npostgres = \"molecules\"\nconvex = \"things\"\n",
    )
    .unwrap();
    let first = gateway(&backend.url, &db, file.path()).await;
    db.psql("INSERT INTO molecules (name) VALUES ('one')");
    eventually("the first change, through the first replica", || async {
        joined(&convex_table(&backend, "things").await, "name") == "one"
    })
    .await;
    let second = gateway(&backend.url, &db, file.path()).await;
    // Only one session holds the sync's lock.
    assert_eq!(
        db.psql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 1937337955 \
             AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        "1"
    );
    drop(first);
    db.psql("INSERT INTO molecules (name) VALUES ('two')");
    eventually("the next change, through the second replica", || async {
        joined(&convex_table(&backend, "things").await, "name") == "one,two"
    })
    .await;
    drop(second);
}
