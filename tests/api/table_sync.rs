//! The sync's reader of Convex's streaming export, against the Convex test backend: a snapshot
//! in pages, then every later revision with deletes, and a deploy key that never shows.

use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::ConvexBackend;
use convex_gateway::table_sync::export::{ExportClient, ExportError};

const KEY: &str = "sync-test|deploy-key-0123456789";

use crate::sync_two_way::apply;

#[tokio::test]
async fn the_export_reads_a_snapshot_in_pages_then_every_later_revision() {
    convex_gateway::http_client::install_crypto_provider();
    let backend = ConvexBackend::start_with(
        560,
        &[
            ("EMU_ADMIN_KEY", KEY),
            ("EMU_SNAPSHOT_PAGE", "3"),
            ("EMU_DELTAS_PAGE", "2"),
        ],
    );
    let inserted = apply(
        &backend,
        json!(
            (0..7)
                .map(|n| json!({"kind": "insert", "table": "things", "fields": {"k": n}}))
                .collect::<Vec<_>>()
        ),
    )
    .await;
    let export = ExportClient::new(
        reqwest::Client::new(),
        &backend.url,
        SecretString::from(KEY),
    );
    // The snapshot, three documents a page, all at one timestamp.
    let mut documents = Vec::new();
    let (mut snapshot, mut cursor, mut pages) = (None, None, 0);
    loop {
        let page = export
            .list_snapshot("things", snapshot, cursor.as_deref())
            .await
            .unwrap();
        documents.extend(page.documents);
        snapshot = Some(page.snapshot);
        cursor = page.cursor;
        pages += 1;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(pages, 3);
    let mut ks: Vec<i64> = documents.iter().map(|d| d["k"].as_i64().unwrap()).collect();
    ks.sort_unstable();
    assert_eq!(ks, (0..7).collect::<Vec<_>>());
    assert!(documents.iter().all(|d| d.contains_key("_id")
        && d.contains_key("_creationTime")
        && !d.contains_key("_ts")
        && !d.contains_key("_table")));
    // After it: an update, then a delete.
    let (first, second) = (
        inserted[0]["doc"]["_id"].as_str().unwrap(),
        inserted[1]["doc"]["_id"].as_str().unwrap(),
    );
    apply(
        &backend,
        json!([{"kind": "patch", "table": "things", "id": first, "patch": {"k": 70}}]),
    )
    .await;
    apply(
        &backend,
        json!([{"kind": "delete", "table": "things", "id": second}]),
    )
    .await;
    let mut revisions = Vec::new();
    let mut cursor = snapshot.unwrap();
    loop {
        let page = export
            .document_deltas(Some("things"), cursor)
            .await
            .unwrap();
        assert!(page.cursor >= cursor);
        cursor = page.cursor;
        revisions.extend(page.revisions);
        if !page.has_more {
            break;
        }
    }
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0].id, first);
    assert_eq!(revisions[0].document.as_ref().unwrap()["k"], 70);
    assert_eq!(revisions[1].id, second);
    assert_eq!(revisions[1].document, None, "a delete is a tombstone");
    assert!(revisions[0].ts < revisions[1].ts && revisions[1].ts <= cursor);
    assert!(revisions.iter().all(|r| r.table == "things"));
    // Nothing after the cursor.
    let idle = export
        .document_deltas(Some("things"), cursor)
        .await
        .unwrap();
    assert!(idle.revisions.is_empty() && !idle.has_more);
}

#[tokio::test]
async fn a_wrong_deploy_key_is_refused_and_never_shown() {
    convex_gateway::http_client::install_crypto_provider();
    let backend = ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", KEY)]);
    let wrong = "sync-test|the-wrong-key-987";
    let export = ExportClient::new(
        reqwest::Client::new(),
        &backend.url,
        SecretString::from(wrong),
    );
    let err = export.document_deltas(Some("things"), 0).await.unwrap_err();
    assert!(
        matches!(err, ExportError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    for text in [err.to_string(), format!("{err:?}"), format!("{export:?}")] {
        assert!(!text.contains("the-wrong-key"), "{text}");
    }
    // A deployment that is not there is a transient failure.
    let gone = ExportClient::new(
        reqwest::Client::new(),
        "http://127.0.0.1:9",
        SecretString::from(KEY),
    );
    let err = gone.list_snapshot("things", None, None).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

/// The value mapping through a real Postgres: each Convex value becomes a row with
/// `jsonb_populate_record`, is read back with `to_jsonb`, and comes back as it was.
#[tokio::test]
async fn convex_values_round_trip_through_postgres_columns() {
    use base64::Engine as _;
    use convex_gateway::store::postgres::catalog::{Column, Kind};
    use convex_gateway::table_sync::types::{to_convex, to_postgres};

    let db = crate::pg::TestDb::create();
    db.psql(
        "CREATE TABLE t (i8 int8, i4 int4, f8 float8, n numeric, b bytea, s text, ok bool,
             at timestamptz, ts timestamp, arr text[], j jsonb)",
    );
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let column = |name: &str, sql_type: &str, kind: Kind| Column {
        name: name.into(),
        ident: format!("\"{name}\""),
        sql_type: sql_type.into(),
        kind,
        jsonb: true,
        generated: false,
        has_default: false,
        not_null: false,
    };
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let int64 = |i: i64| json!({"$integer": b64(&i.to_le_bytes())});
    let float64 = |f: f64| json!({"$float": b64(&f.to_le_bytes())});
    let int = |min: i64, max: i64| Kind::Int { min, max };
    let cases = [
        (
            column("i8", "bigint", int(i64::MIN, i64::MAX)),
            int64((1 << 60) + 7),
        ),
        (
            column("i8", "bigint", int(i64::MIN, i64::MAX)),
            int64(i64::MIN),
        ),
        (
            column("i4", "integer", int(i32::MIN.into(), i32::MAX.into())),
            json!(-42.0),
        ),
        (column("f8", "double precision", Kind::Float), json!(0.1)),
        (
            column("f8", "double precision", Kind::Float),
            float64(f64::NAN),
        ),
        (
            column("f8", "double precision", Kind::Float),
            float64(f64::NEG_INFINITY),
        ),
        (column("n", "numeric", Kind::Numeric), json!(12.25)),
        (
            column("b", "bytea", Kind::Bytea),
            json!({"$bytes": b64(&[0, 1, 2, 254, 255])}),
        ),
        (column("s", "text", Kind::Text), json!("héllo, \"world\"")),
        (column("ok", "boolean", Kind::Bool), json!(false)),
        (
            column("at", "timestamp with time zone", Kind::Other),
            json!(1_796_208_000_123.0),
        ),
        (
            column("ts", "timestamp without time zone", Kind::Other),
            json!(1_796_208_000_123.0),
        ),
        (
            column("arr", "text[]", Kind::Array(Box::new(Kind::Text))),
            json!(["a", null, "c"]),
        ),
        (
            column("j", "jsonb", Kind::Json),
            json!({"n": 1.5, "big": int64(1 << 62), "list": [true, null, {"$bytes": "AAE="}]}),
        ),
    ];
    for (col, convex) in cases {
        let row = json!({ col.name.clone(): to_postgres(&col, &col.name, &convex).unwrap() });
        let back: Value = client
            .query_one(
                "SELECT to_jsonb(r) FROM jsonb_populate_record(NULL::t, $1::text::jsonb) r",
                &[&row.to_string()],
            )
            .await
            .unwrap()
            .get(0);
        let value = &back[col.name.as_str()];
        assert_eq!(
            to_convex(&col, value).unwrap(),
            convex,
            "{} through {value}",
            col.name
        );
    }
}

/// Convex to Postgres, one page at a time: a snapshot inserts rows and records the keys, a
/// reference becomes the referenced row's key, a value that cannot be carried is a recorded
/// error, and later revisions update and delete; the sync's writes are marked in the change
/// feed, and the checkpoint is stored with them.
#[tokio::test]
async fn convex_revisions_reach_postgres_with_keys_references_errors_and_deletes() {
    use convex_gateway::store::postgres::catalog::Catalog;
    use convex_gateway::table_sync::{config, schema, to_postgres};

    convex_gateway::http_client::install_crypto_provider();
    let backend = ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", KEY)]);
    let db = crate::pg::TestDb::create();
    db.psql(
        "CREATE TABLE molecules (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL,
             weight float8);
         CREATE TABLE experiments (id bigserial PRIMARY KEY,
             molecule_id uuid REFERENCES molecules (id), result int8, ran_at timestamptz);",
    );
    crate::pg::install(&db);
    db.psql(schema::INSTALL);
    let config = config::parse(
        r#"
        [[sync.tables]]
        postgres = "molecules"
        convex = "things"
        [[sync.tables]]
        postgres = "experiments"
        convex = "c"
        rename = { molecule_id = "moleculeId", ran_at = "ranAt" }
        references = { molecule_id = "molecules" }
        "#,
    )
    .unwrap();
    let big = (1_i64 << 60) + 1;
    let int64 = |i: i64| {
        use base64::Engine as _;
        json!({"$integer": base64::engine::general_purpose::STANDARD.encode(i.to_le_bytes())})
    };
    let outcomes = apply(
        &backend,
        json!([
            {"kind": "insert", "table": "things", "fields": {"name": "water", "weight": 18.015}},
            {"kind": "insert", "table": "c", "refs": [{"path": ["moleculeId"], "ref": 0}],
             "fields": {"moleculeId": "", "result": int64(big), "ranAt": 1_796_208_000_123.0}},
            {"kind": "insert", "table": "c", "refs": [{"path": ["moleculeId"], "ref": 0}],
             "fields": {"moleculeId": "", "result": 1.5}},
        ]),
    )
    .await;
    let molecule = outcomes[0]["doc"]["_id"].as_str().unwrap().to_owned();
    let experiment = outcomes[1]["doc"]["_id"].as_str().unwrap().to_owned();
    let export = ExportClient::new(
        reqwest::Client::new(),
        &backend.url,
        SecretString::from(KEY),
    );
    // The snapshot: the referenced table first, at one timestamp.
    let mut revisions = Vec::new();
    let mut snapshot = None;
    for table in ["things", "c"] {
        let page = export.list_snapshot(table, snapshot, None).await.unwrap();
        assert!(!page.has_more);
        snapshot = Some(page.snapshot);
        revisions.extend(page.documents.into_iter().map(|doc| {
            convex_gateway::table_sync::export::Revision {
                id: doc["_id"].as_str().unwrap().to_owned(),
                table: table.to_owned(),
                ts: page.snapshot,
                document: Some(doc),
            }
        }));
    }
    let (mut client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let catalog = Catalog::load(&client, "public", "created_at", &[])
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    let applied = to_postgres::apply_page(
        &tx,
        &config,
        &catalog,
        &revisions,
        &json!({"cursor": snapshot}),
        None,
        &Default::default(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((applied.inserted, applied.failed), (2, 1), "{applied:?}");
    assert_eq!(
        db.psql("SELECT m.name, m.weight, e.result, e.ran_at = '2026-12-02 10:40:00.123+00' FROM experiments e JOIN molecules m ON m.id = e.molecule_id"),
        format!("water|18.015|{big}|t")
    );
    let error = db.psql("SELECT pair, error FROM gateway.sync_errors");
    assert!(
        error.starts_with("experiments|") && error.contains("result"),
        "{error}"
    );
    assert_eq!(db.psql("SELECT count(*) FROM gateway.sync_keys"), "2");
    // The sync's own writes are marked, so the other direction will not send them back.
    assert_eq!(
        db.psql("SELECT count(*) FILTER (WHERE origin = 'convex'), count(*) FROM gateway.changes"),
        "2|2"
    );
    // Later revisions, of every table in one commit order: an update, then a delete.
    apply(&backend, json!([{"kind": "patch", "table": "things", "id": molecule, "patch": {"name": "heavy water"}}])).await;
    apply(
        &backend,
        json!([{"kind": "delete", "table": "c", "id": experiment}]),
    )
    .await;
    let checkpoint = schema::checkpoint(&client, schema::Way::ToPostgres)
        .await
        .unwrap()
        .unwrap();
    let cursor = checkpoint["cursor"].as_i64().unwrap();
    let page = export.document_deltas(None, cursor).await.unwrap();
    let tables: Vec<&str> = page.revisions.iter().map(|r| r.table.as_str()).collect();
    assert_eq!(tables, ["things", "c"]);
    for _ in 0..2 {
        // Applying the same page twice changes nothing more (a retry after a lost commit answer).
        let tx = client.transaction().await.unwrap();
        to_postgres::apply_page(
            &tx,
            &config,
            &catalog,
            &page.revisions,
            &json!({"cursor": page.cursor}),
            None,
            &Default::default(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            db.psql("SELECT (SELECT string_agg(name, ',') FROM molecules), (SELECT count(*) FROM experiments), (SELECT count(*) FROM gateway.sync_keys)"),
            "heavy water|0|1"
        );
    }
    let stored = schema::checkpoint(&client, schema::Way::ToPostgres)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["cursor"].as_i64(), Some(page.cursor));
}

/// Through the running gateway (`GATEWAY_SYNC`): Convex documents written before and after it
/// starts reach Postgres, updates and deletes follow, and a restarted gateway goes on from its
/// checkpoint without copying anything twice.
#[tokio::test]
async fn the_gateway_syncs_convex_into_postgres_and_resumes_after_a_restart() {
    use crate::live::eventually;

    let db = crate::pg::TestDb::create();
    db.psql(
        "CREATE TABLE molecules (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);
         CREATE TABLE experiments (id bigserial PRIMARY KEY,
             molecule_id uuid REFERENCES molecules (id), score float8);",
    );
    crate::pg::install(&db);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        r#"
        [sync]
        idle_poll_max_ms = 100
        [[sync.tables]]
        postgres = "molecules"
        convex = "things"
        direction = "to_postgres"
        [[sync.tables]]
        postgres = "experiments"
        convex = "c"
        direction = "to_postgres"
        rename = { molecule_id = "moleculeId" }
        references = { molecule_id = "molecules" }
        "#,
    )
    .unwrap();
    let configure = |c: &mut convex_gateway::config::Config| {
        c.sync_file = Some(file.path().to_owned());
        c.postgres.url = SecretString::from(db.url.clone());
        if let Some(convex) = c.convex.as_mut() {
            convex.deploy_key = Some(SecretString::from(KEY));
        }
    };
    let app = crate::helpers::spawn_convex_app_with(560, configure).await;
    let backend = app.convex.as_ref().unwrap();
    let outcomes = apply(
        backend,
        json!([
            {"kind": "insert", "table": "things", "fields": {"name": "water"}},
            {"kind": "insert", "table": "c", "refs": [{"path": ["moleculeId"], "ref": 0}],
             "fields": {"moleculeId": "", "score": 0.5}},
        ]),
    )
    .await;
    let molecule = outcomes[0]["doc"]["_id"].as_str().unwrap().to_owned();
    let rows = || async {
        db.psql(
            "SELECT coalesce(string_agg(m.name || ':' || coalesce(e.score::text, '-'), ',' ORDER BY m.name), '') \
             FROM molecules m LEFT JOIN experiments e ON e.molecule_id = m.id",
        )
    };
    eventually("both rows in Postgres", || async {
        rows().await == "water:0.5"
    })
    .await;
    apply(
        backend,
        json!([{"kind": "patch", "table": "things", "id": molecule, "patch": {"name": "ice"}}]),
    )
    .await;
    eventually("the update in Postgres", || async {
        rows().await == "ice:0.5"
    })
    .await;
    // A restart goes on from the checkpoint: nothing is copied twice.
    let url = backend.url.clone();
    let mut app = app;
    let backend = app.convex.take().unwrap();
    drop(app);
    let restarted = crate::helpers::spawn_app_with(|c| {
        *c = c.clone().with_convex(url.clone());
        configure(c);
    })
    .await;
    apply(
        &backend,
        json!([{"kind": "insert", "table": "things", "fields": {"name": "salt"}}]),
    )
    .await;
    eventually("the new row after the restart", || async {
        rows().await == "ice:0.5,salt:-"
    })
    .await;
    assert_eq!(db.psql("SELECT count(*) FROM gateway.sync_keys"), "3");
    assert_eq!(
        db.psql("SELECT checkpoint->>'phase' FROM gateway.sync_checkpoints"),
        "live"
    );
    // Each Convex write reached Postgres once: a second copy would be another row change.
    assert_eq!(
        db.psql(
            "SELECT string_agg(op, ',' ORDER BY seq) FROM gateway.changes WHERE tbl = 'molecules'"
        ),
        "insert,update,insert"
    );
    drop(restarted);
}

/// A sync that cannot run stops the gateway at start, saying what is missing.
#[tokio::test]
async fn a_sync_without_its_settings_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.toml");
    std::fs::write(&file, "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\n").unwrap();
    let mut config = convex_gateway::config::Config::for_data_dir(dir.path());
    config.sync_file = Some(file.clone());
    let err = convex_gateway::app::Application::build(config.clone())
        .await
        .err()
        .expect("no CONVEX_URL");
    assert!(
        format!("{err:#}").contains("GATEWAY_SYNC needs CONVEX_URL"),
        "{err:#}"
    );
    let mut with_convex = config.clone().with_convex("http://127.0.0.1:9");
    with_convex.sync_file = Some(file.clone());
    let err = convex_gateway::app::Application::build(with_convex)
        .await
        .err()
        .expect("no deploy key");
    assert!(
        format!("{err:#}").contains("CONVEX_DEPLOYMENT_KEY"),
        "{err:#}"
    );
    std::fs::write(&file, "[[sync.tables]]\npostgres = \"a\"\n").unwrap();
    let err = convex_gateway::app::Application::build(config)
        .await
        .err()
        .expect("a bad file");
    assert!(format!("{err:#}").contains("GATEWAY_SYNC:"), "{err:#}");
}
