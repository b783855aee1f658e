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
    let keys = || {
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
    let _gateway = GatewayProcess::start(data.path(), &envs).await;
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

    // A difference is found and named.
    db.psql("ALTER TABLE molecules DISABLE TRIGGER gateway_change_log; UPDATE molecules SET weight = 42.42 WHERE name = 'pg-5'; ALTER TABLE molecules ENABLE TRIGGER gateway_change_log;");
    let (passed, report) = sync_check(&envs);
    assert!(!passed, "{report}");
    assert!(
        report.contains("0 only in postgres, 0 only in convex, 1 differ"),
        "{report}"
    );
}
