//! The table sync under stress, through the gateway's binary: 10,000 rows each way, a `kill -9`
//! in the middle of the backfill and again while live changes flow, then `convex-gateway sync
//! check`; and a Convex outage while Postgres keeps changing. Nothing is lost or duplicated.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{ConvexBackend, GatewayProcess, binary};
use crate::sync_two_way::{apply, convex_table};

const KEY: &str = "sync-test|deploy-key-0123456789";

const SYNC: &str = r#"
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

/// Waits for `check` with a deadline, polling.
async fn until(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !check() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `convex-gateway sync check` against the same settings: its output, and whether it passed.
fn sync_check(envs: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(binary())
        .args(["sync", "check"])
        .env_clear()
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn ten_thousand_rows_each_way_survive_kill_9_in_backfill_and_live_then_check_passes() {
    convex_gateway::http_client::install_crypto_provider();
    let db = crate::pg::TestDb::create();
    db.psql(
        "CREATE TABLE molecules (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL, weight float8);
         CREATE TABLE experiments (id bigserial PRIMARY KEY,
             molecule_id uuid REFERENCES molecules (id) ON DELETE CASCADE, score float8);
         INSERT INTO molecules (name, weight) SELECT 'pg-' || i, i / 10.0 FROM generate_series(1, 10000) i;
         INSERT INTO experiments (molecule_id, score)
             SELECT id, weight FROM molecules WHERE name IN ('pg-1', 'pg-2', 'pg-3');",
    );
    crate::pg::install(&db);
    let backend = tokio::task::spawn_blocking(|| {
        ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", KEY), ("EMU_SNAPSHOT_PAGE", "500")])
    })
    .await
    .unwrap();
    for chunk in 0..20 {
        let ops: Vec<_> = (0..500)
            .map(|i| {
                let n = chunk * 500 + i + 1;
                json!({"kind": "insert", "table": "things", "fields": {"name": format!("cx-{n}"), "weight": n}})
            })
            .collect();
        apply(&backend, json!(ops)).await;
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), SYNC).unwrap();
    let data = tempfile::tempdir().unwrap();
    let sync_path = file.path().to_str().unwrap().to_owned();
    let envs = [
        ("GATEWAY_SYNC", sync_path.as_str()),
        ("CONVEX_URL", backend.url.as_str()),
        ("CONVEX_DEPLOYMENT_KEY", KEY),
        ("DATABASE_URL", db.url.as_str()),
    ];
    // The sync creates its tables once it starts, after the gateway answers: none yet is 0.
    let keys = || {
        if db.psql("SELECT to_regclass('gateway.sync_keys') IS NULL") == "t" {
            return 0;
        }
        db.psql("SELECT count(*) FROM gateway.sync_keys")
            .parse::<usize>()
            .unwrap()
    };
    let started = Instant::now();
    let mut gateway = GatewayProcess::start(data.path(), &envs).await;

    // kill -9 in the middle of the backfill.
    until("part of the backfill", Duration::from_secs(120), || {
        keys() >= 3000
    })
    .await;
    gateway.kill_9();
    let at_kill = keys();
    assert!(
        at_kill < 20_003,
        "the backfill was over before the kill: {at_kill}"
    );
    let mut gateway = GatewayProcess::start(data.path(), &envs).await;
    let molecules = || {
        db.psql("SELECT count(*) FROM molecules")
            .parse::<usize>()
            .unwrap()
    };
    until("20,000 molecules paired", Duration::from_secs(300), || {
        keys() == 20_003 && molecules() == 20_000
    })
    .await;
    eprintln!(
        "backfill of 10,000 rows each way (with a kill -9 at {at_kill} pairs): {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Live changes both ways, and a kill -9 while they flow.
    db.psql(
        "UPDATE molecules SET weight = weight + 1000 WHERE name LIKE 'pg-1%';
         DELETE FROM molecules WHERE name IN ('pg-9998', 'pg-9999');
         INSERT INTO molecules (name) SELECT 'late-' || i FROM generate_series(1, 300) i;",
    );
    let things = convex_table(&backend, "things").await;
    let ops: Vec<_> = things
        .iter()
        .filter(|d| d["name"].as_str().is_some_and(|n| n.starts_with("cx-1")))
        .map(|d| json!({"kind": "patch", "table": "things", "id": d["_id"], "patch": {"weight": -1}}))
        .chain((1..=300).map(|i| json!({"kind": "insert", "table": "things", "fields": {"name": format!("cx-late-{i}")}})))
        .collect();
    apply(&backend, json!(ops)).await;
    until("some of the live changes", Duration::from_secs(60), || {
        db.psql("SELECT count(*) FROM molecules WHERE name LIKE 'cx-late-%'") != "0"
    })
    .await;
    gateway.kill_9();
    let gateway = GatewayProcess::start(data.path(), &envs).await;
    let total = 20_000 - 2 + 600;
    until(
        "every live change on both sides",
        Duration::from_secs(180),
        || {
            molecules() == total
            // cx-1, cx-10…19, cx-100…199, cx-1000…1999 and cx-10000.
            && db.psql("SELECT count(*) FROM molecules WHERE weight = -1") == "1112"
        },
    )
    .await;
    let convex_docs = || async { convex_table(&backend, "things").await.len() };
    let deadline = Instant::now() + Duration::from_secs(120);
    while convex_docs().await != total {
        assert!(
            Instant::now() < deadline,
            "Convex never held {total} documents"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing lost, nothing twice: every row has exactly one counterpart with its contents.
    let mut passed = false;
    let mut report = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !passed && Instant::now() < deadline {
        (passed, report) = sync_check(&envs);
        if !passed {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    assert!(passed, "{report}");
    assert!(
        report.contains("molecules <-> things: postgres 20598 rows, convex 20598 documents"),
        "{report}"
    );
    assert!(
        report.contains("experiments <-> c: postgres 3 rows, convex 3 documents"),
        "{report}"
    );
    assert_eq!(db.psql("SELECT count(*) FROM gateway.sync_errors"), "0");
    assert_eq!(db.psql("SELECT count(*) FROM gateway.sync_inflight"), "0");
    assert!(
        !gateway.log_text().contains(KEY),
        "the deploy key is in the log"
    );

    // A difference is found and named.
    db.psql("ALTER TABLE molecules DISABLE TRIGGER gateway_change_log; UPDATE molecules SET weight = 42.42 WHERE name = 'pg-5'; ALTER TABLE molecules ENABLE TRIGGER gateway_change_log;");
    let (passed, report) = sync_check(&envs);
    assert!(!passed, "{report}");
    assert!(
        report.contains("0 only in postgres, 0 only in convex, 1 differ"),
        "{report}"
    );
}

/// Convex is unreachable for 10 s while Postgres keeps changing: the sync reports the failure,
/// the changes wait in the feed, and all of them arrive once Convex is back, each once.
#[tokio::test]
async fn a_convex_outage_only_delays_postgres_changes_and_none_arrives_twice() {
    use crate::live::eventually;
    convex_gateway::http_client::install_crypto_provider();
    let db = crate::pg::TestDb::create();
    db.psql(
        "CREATE TABLE molecules (id bigserial PRIMARY KEY, name text NOT NULL, weight float8);
         INSERT INTO molecules (name, weight) VALUES ('first', 0);",
    );
    crate::pg::install(&db);
    let backend =
        tokio::task::spawn_blocking(|| ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", KEY)]))
            .await
            .unwrap();
    let proxy = crate::resilience::FaultProxy::start(&backend.url).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "[sync]\nidle_poll_max_ms = 100\n[[sync.tables]]\npostgres = \"molecules\"\nconvex = \"things\"\n",
    )
    .unwrap();
    // The sync's calls pass a circuit breaker; a short open time keeps the test quick.
    let app = crate::sync_two_way::gateway_with(&proxy.url, &db, file.path(), |c| {
        if let Some(convex) = c.convex.as_mut() {
            convex.breaker.open_for = Duration::from_secs(1);
            convex.breaker.consecutive = 2;
        }
    })
    .await;
    let names = || async {
        let mut names: Vec<String> = convex_table(&backend, "things")
            .await
            .iter()
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    eventually("the first row in Convex", || async {
        names().await == ["first"]
    })
    .await;

    proxy.set_up(false);
    let admin = app.client_for(&app.token("root", &["admin"]));
    let started = Instant::now();
    let (mut written, mut reported, mut breaker_opened) = (0, false, false);
    while started.elapsed() < Duration::from_secs(10) || !reported || !breaker_opened {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the outage never showed in /admin/sync"
        );
        written += 1;
        db.psql(&format!(
            "INSERT INTO molecules (name) VALUES ('during-{written:03}');
             UPDATE molecules SET weight = {written} WHERE name = 'first';"
        ));
        let state: serde_json::Value = admin
            .get(app.url("/admin/sync"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let to_convex = state["tables"]
            .as_array()
            .and_then(|t| t.iter().find(|d| d["direction"] == "to_convex"))
            .cloned()
            .unwrap_or_default();
        if to_convex["state"] == "failed" {
            assert!(to_convex["lastError"].is_string(), "{state}");
            breaker_opened |= to_convex["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("circuit breaker is open"));
            assert!(to_convex["lagChanges"].as_i64().unwrap() > 0, "{state}");
            assert!(!state.to_string().contains(KEY));
            reported = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing reached Convex while it was away.
    assert_eq!(names().await, ["first"]);
    proxy.set_up(true);
    let mut expected: Vec<String> = (1..=written).map(|i| format!("during-{i:03}")).collect();
    expected.push("first".into());
    expected.sort();
    let first_weight = || async {
        convex_table(&backend, "things")
            .await
            .into_iter()
            .find(|d| d["name"] == "first")
            .map(|d| d["weight"].clone())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while names().await != expected || first_weight().await != Some(json!(written)) {
        assert!(
            Instant::now() < deadline,
            "not every change arrived: {:?}",
            first_weight().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each insert arrived once: one document each, written once.
    let twice: Vec<_> = convex_table(&backend, "things")
        .await
        .into_iter()
        .filter(|d| d["name"] != "first" && d["gwVersion"] != 1)
        .collect();
    assert!(twice.is_empty(), "{twice:?}");
    drop(app);
}

/// `gateway:syncApply` is internal: without the deploy key it does not exist, for anonymous
/// callers and for callers with a user's token, directly and through the gateway; the key never
/// shows in the gateway's answers or logs.
#[tokio::test]
async fn the_sync_mutation_refuses_callers_without_the_deploy_key() {
    convex_gateway::http_client::install_crypto_provider();
    let backend =
        tokio::task::spawn_blocking(|| ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", KEY)]))
            .await
            .unwrap();
    let body = json!({
        "path": "gateway:syncApply",
        "args": {"changes": [{"key": "k", "table": "things", "op": "insert", "fields": {"name": "x"}}]},
        "format": "convex_encoded_json",
    });
    let http = reqwest::Client::new();
    for authorization in [
        None,
        Some("Bearer eyJhbGciOiJub25lIn0.e30."),
        Some("Convex wrong-key"),
    ] {
        let mut request = http
            .post(format!("{}/api/mutation", backend.url))
            .json(&body);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(
            status == 401 || status == 404 || text.contains("Could not find public function"),
            "{authorization:?}: {status} {text}"
        );
        assert!(!text.contains("\"success\""), "{text}");
    }
    assert!(convex_table(&backend, "things").await.is_empty());
    // Through the gateway, with a user's token: Convex has no such public function.
    let data = tempfile::tempdir().unwrap();
    let gateway = GatewayProcess::start(
        data.path(),
        &[
            ("CONVEX_URL", backend.url.as_str()),
            ("CONVEX_DEPLOYMENT_KEY", KEY),
        ],
    )
    .await;
    let token = gateway.cli_token(data.path(), "mallory");
    let response = http
        .post(gateway.url("/v1/functions/mutation/gateway:syncApply"))
        .bearer_auth(token)
        .json(&body["args"])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    // The gateway's function policy refuses it before Convex is asked (Convex would answer
    // that no such public function exists).
    assert!(status == 403 || status == 404, "{status} {text}");
    assert!(!text.contains(KEY));
    assert!(convex_table(&backend, "things").await.is_empty());
    assert!(!gateway.log_text().contains(KEY));
}
