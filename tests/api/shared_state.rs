//! The shared state store on its own (`GATEWAY_STATE_URL`): what a keyed write answers while it
//! is unreachable, how it recovers, and the idempotency claims a dead replica leaves behind.

use std::time::Duration;

use convex_gateway::idempotency::{Begin, IdempotencyStore, StoredResponse};
use convex_gateway::shared::StateDb;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ConvexBackend, GatewayProcess, TestApp, assert_problem, spawn_app_with};
use crate::pg::{TestDb, admin_url, psql_at};
use crate::resilience::{FaultProxy, behind};

/// An app on the embedded store whose state lives in `db`, signing with a configured key (which
/// the test's tokens are signed with too).
async fn spawn_with_state(db: &TestDb) -> TestApp {
    spawn_with_state_and(db, |_| {}).await
}

/// The same, with settings changed by `configure`.
async fn spawn_with_state_and(
    db: &TestDb,
    configure: impl FnOnce(&mut convex_gateway::Config),
) -> TestApp {
    let state = convex_gateway::Config::from_lookup(|var| match var {
        "GATEWAY_STATE_URL" => Some(db.url.clone()),
        _ => None,
    })
    .unwrap()
    .state;
    assert!(state.is_some());
    spawn_app_with(|c| {
        c.state = state;
        c.auth.signing_key_pem = Some(secrecy::SecretString::from(include_str!(
            "../fixtures/rsa-test-private.pem"
        )));
        configure(c);
    })
    .await
}

/// Refuses new connections to the database and ends the open ones.
fn cut(db: &TestDb, allow: bool) {
    psql_at(
        &admin_url(),
        &format!("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {allow}", db.name),
    );
    if !allow {
        psql_at(
            &admin_url(),
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{}'",
                db.name
            ),
        );
    }
}

#[tokio::test]
async fn keyed_writes_refuse_cleanly_while_the_state_store_is_away_and_recover() {
    let db = tokio::task::spawn_blocking(TestDb::create).await.unwrap();
    let app = spawn_with_state(&db).await;
    let keyed = |key: &'static str| {
        app.client
            .post(app.url("/v1/tables/notes"))
            .header("idempotency-key", key)
            .json(&json!({"text": key}))
            .send()
    };
    assert_eq!(keyed("before").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);

    let name = db.name.clone();
    let db = tokio::task::spawn_blocking(move || {
        cut(&db, false);
        db
    })
    .await
    .unwrap();
    assert_problem(
        keyed("during").await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "state_store_unavailable",
    )
    .await;
    assert_problem(
        app.get("/ready").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "state_store_unavailable",
    )
    .await;
    // Token grants need the shared token store: 503, nothing issued.
    let grant = app
        .anon
        .post(app.url("/auth/token"))
        .json(
            &json!({"grant_type": "client_credentials", "client_id": "etl", "client_secret": "s"}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(
        grant,
        StatusCode::SERVICE_UNAVAILABLE,
        "state_store_unavailable",
    )
    .await;
    // A write that needs no shared state goes on.
    let unkeyed = app
        .client
        .post(app.url("/v1/tables/notes"))
        .json(&json!({"text": "unkeyed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unkeyed.status(), StatusCode::CREATED);
    let refused: Vec<_> = app.list_all("notes", "limit=100").await;
    assert!(
        refused.iter().all(|d| d["text"] != "during"),
        "a refused keyed write was applied"
    );

    let db = tokio::task::spawn_blocking(move || {
        cut(&db, true);
        db
    })
    .await
    .unwrap();
    assert_eq!(db.name, name);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let response = keyed("during").await.unwrap();
        if response.status() == StatusCode::CREATED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The retry ran once: replaying it now stores nothing new.
    let replay = keyed("during").await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let notes = app.list_all("notes", "limit=100").await;
    assert_eq!(notes.iter().filter(|d| d["text"] == "during").count(), 1);
}

#[tokio::test]
async fn an_abandoned_claim_is_taken_over_after_its_lease_and_expired_keys_are_swept() {
    let db = tokio::task::spawn_blocking(TestDb::create).await.unwrap();
    let config = convex_gateway::Config::from_lookup(|var| match var {
        "GATEWAY_STATE_URL" => Some(db.url.clone()),
        _ => None,
    })
    .unwrap()
    .state_store()
    .unwrap();
    let state = StateDb::connect(&config, "test", Duration::from_secs(10))
        .await
        .unwrap();
    let lease = Duration::from_millis(600);
    let keys = IdempotencyStore::shared(state.clone(), lease);
    let ttl = Duration::from_secs(60);
    assert_eq!(
        keys.begin("alice", "k", "f", ttl).await.unwrap(),
        Begin::Fresh
    );
    // A second replica sees the claim in flight, then, once the lease has passed without an
    // answer (the first replica died), takes it over.
    let other = IdempotencyStore::shared(state.clone(), lease);
    assert_eq!(
        other.begin("alice", "k", "f", ttl).await.unwrap(),
        Begin::InFlight
    );
    assert_eq!(
        other.begin("alice", "k", "g", ttl).await.unwrap(),
        Begin::Mismatch
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while other.begin("alice", "k", "f", ttl).await.unwrap() != Begin::Fresh {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = StoredResponse {
        status: 201,
        headers: vec![("etag".into(), "\"1\"".into())],
        body: b"{}".to_vec(),
    };
    other.complete("alice", "k", answer.clone()).await.unwrap();
    // The dead replica's late answer changes nothing.
    keys.complete(
        "alice",
        "k",
        StoredResponse {
            status: 500,
            headers: vec![],
            body: vec![],
        },
    )
    .await
    .unwrap();
    assert_eq!(
        keys.begin("alice", "k", "f", ttl).await.unwrap(),
        Begin::Replay(answer)
    );
    // Expired keys are swept.
    assert_eq!(
        keys.begin("bob", "k", "f", Duration::ZERO).await.unwrap(),
        Begin::Fresh
    );
    keys.complete(
        "bob",
        "k",
        StoredResponse {
            status: 200,
            headers: vec![],
            body: vec![],
        },
    )
    .await
    .unwrap();
    keys.sweep().await.unwrap();
    let left = db.psql("SELECT string_agg(caller, ',' ORDER BY caller) FROM gateway.idempotency");
    assert_eq!(left, "alice");
}

#[tokio::test]
async fn two_relays_deliver_a_documents_queued_writes_in_order() {
    const PATCHES: u64 = 12;
    let db = tokio::task::spawn_blocking(TestDb::create).await.unwrap();
    let backend = tokio::task::spawn_blocking(|| ConvexBackend::start(560))
        .await
        .unwrap();
    let proxy = FaultProxy::start(&backend.url).await;
    let convex = |c: &mut convex_gateway::Config| behind(c, &proxy);
    // Two replicas: each queues into, and relays from, the one shared outbox.
    let a = spawn_with_state_and(&db, convex).await;
    let b = spawn_with_state_and(&db, convex).await;
    let doc = a.insert("notes", json!({"n": 0})).await;
    let path = format!("/v1/tables/notes/{}", doc["_id"].as_str().unwrap());
    proxy.set_up(false);
    for n in 1..=PATCHES {
        let app = if n % 2 == 0 { &b } else { &a };
        let queued = app
            .send_json(reqwest::Method::PATCH, &path, &json!({"n": n}))
            .await;
        assert_eq!(queued.status(), StatusCode::ACCEPTED);
        if n % 4 == 0 {
            // Another document's write, which the relays may deliver in parallel.
            let other = app.post_json("/v1/tables/others", &json!({"n": n})).await;
            assert_eq!(other.status(), StatusCode::ACCEPTED);
        }
    }
    proxy.set_up(true);
    // Sent while the earlier patches may still be queued: it must wait its turn too.
    let last = b
        .send_json(reqwest::Method::PATCH, &path, &json!({"n": PATCHES + 1}))
        .await;
    assert!([StatusCode::OK, StatusCode::ACCEPTED].contains(&last.status()));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = db.psql(
            "SELECT count(*) FILTER (WHERE status = 'queued') || '|' || count(*) FILTER (WHERE status = 'dead') FROM gateway.outbox",
        );
        assert!(left.ends_with("|0"), "dead letters: {left}");
        if left == "0|0" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not drained: {left}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every queued write was delivered, and the patches landed once each, in order: an
    // overtaking delivery would leave n below the last, a doubled one a higher version.
    let delivered = db.psql("SELECT count(*) FROM gateway.outbox WHERE status = 'delivered'");
    let queued = PATCHES + PATCHES / 4 + u64::from(last.status() == StatusCode::ACCEPTED);
    assert_eq!(delivered, queued.to_string());
    // Convex received the document's queued patches in the order they were accepted (each
    // delivery's request id names its entry), whichever relay delivered each.
    let accepted: Vec<String> = db
        .psql("SELECT string_agg(id, ',' ORDER BY seq) FROM gateway.outbox WHERE doc_keys <> '{}'")
        .split(',')
        .map(|id| format!("outbox-{id}"))
        .collect();
    assert!(accepted.len() >= PATCHES as usize, "{accepted:?}");
    let mut received: Vec<String> = Vec::new();
    for request in backend.requests().await {
        if let Some(id) = request["requestId"].as_str()
            && accepted.iter().any(|a| a == id)
            && !received.iter().any(|r| r == id)
        {
            received.push(id.to_owned());
        }
    }
    assert_eq!(received, accepted, "a later patch overtook an earlier one");
    let read = a
        .get(&path)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(
        (read["n"].clone(), read["_version"].clone()),
        (json!(PATCHES + 1), json!(PATCHES + 2)),
        "{read}"
    );
    assert_eq!(
        a.list_all("others", "limit=100").await.len() as u64,
        PATCHES / 4
    );
}

#[tokio::test]
async fn an_entry_a_dead_replica_was_delivering_is_delivered_once_its_lease_runs_out() {
    let db = tokio::task::spawn_blocking(TestDb::create).await.unwrap();
    let backend = tokio::task::spawn_blocking(|| ConvexBackend::start(560))
        .await
        .unwrap();
    let proxy = FaultProxy::start(&backend.url).await;
    let convex = |c: &mut convex_gateway::Config| behind(c, &proxy);
    let first = spawn_with_state_and(&db, convex).await;
    let doc = first.insert("notes", json!({"n": 0})).await;
    let path = format!("/v1/tables/notes/{}", doc["_id"].as_str().unwrap());
    proxy.set_up(false);
    let queued = first
        .send_json(reqwest::Method::PATCH, &path, &json!({"n": 1}))
        .await;
    assert_eq!(queued.status(), StatusCode::ACCEPTED);
    let id = queued.json::<serde_json::Value>().await.unwrap()["outboxId"]
        .as_str()
        .unwrap()
        .to_owned();
    // The first replica goes away; once its relay has let go of the entry, a replica that
    // claimed it and died is simulated: its lease runs for two more seconds.
    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while db.psql(&format!(
        "SELECT lease_owner IS NULL FROM gateway.outbox WHERE id = '{id}'"
    )) != "t"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay kept its claim"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let until = convex_gateway::outbox::now_ms() + 2_000;
    db.psql(&format!(
        "UPDATE gateway.outbox SET lease_owner = 'dead-replica', lease_until = {until} WHERE id = '{id}'"
    ));
    proxy.set_up(true);
    let second = spawn_with_state_and(&db, convex).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row = db.psql(&format!(
            "SELECT status || '|' || (updated_at >= {until})::text FROM gateway.outbox WHERE id = '{id}'"
        ));
        if row.starts_with("delivered") {
            assert_eq!(
                row, "delivered|true",
                "delivered while the lease still held it"
            );
            break;
        }
        // Attempts after the lease ran out may fail while Convex comes back; none before.
        assert!(row.starts_with("queued"), "{row}");
        assert!(std::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let read = second
        .get(&path)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(
        (read["n"].clone(), read["_version"].clone()),
        (json!(1), json!(2))
    );
}

#[tokio::test]
async fn a_single_replicas_signing_key_carries_over_to_the_shared_store() {
    let db = tokio::task::spawn_blocking(TestDb::create).await.unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    // One replica, its state in its data folder, has issued a token.
    let mut single = GatewayProcess::start(&data, &[]).await;
    let token = single.cli_token(&data, "carried");
    let read = |gateway: &GatewayProcess| {
        crate::helpers::bearer_client(&token)
            .get(gateway.url("/v1/tables/notes"))
            .send()
    };
    assert_eq!(read(&single).await.unwrap().status(), StatusCode::OK);
    single.kill_9();
    // The same replica, now sharing state: its key became the shared key, so the token holds.
    let shared = GatewayProcess::start(&data, &[("GATEWAY_STATE_URL", db.url.as_str())]).await;
    assert_eq!(read(&shared).await.unwrap().status(), StatusCode::OK);
    let kids = db.psql("SELECT count(*) FROM gateway.signing_keys");
    assert_eq!(kids, "1");
}

#[tokio::test]
async fn the_shared_outbox_is_refused_while_the_data_folders_outbox_holds_writes() {
    let db = tokio::task::spawn_blocking(TestDb::create).await.unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let local = convex_gateway::outbox::Outbox::open(dir.path()).unwrap();
    local
        .enqueue(convex_gateway::outbox::NewEntry {
            caller: "user:alice".into(),
            kind: convex_gateway::outbox::Kind::Apply,
            path: "gateway:apply".into(),
            args: json!({"ops": [], "idempotencyKey": "k"}),
            idempotency_key: "k".into(),
            doc_keys: vec![],
            identity: None,
        })
        .await
        .unwrap();
    drop(local);
    let mut config =
        convex_gateway::Config::for_data_dir(dir.path()).with_convex("http://127.0.0.1:9");
    config.state = convex_gateway::Config::from_lookup(|var| match var {
        "GATEWAY_STATE_URL" => Some(db.url.clone()),
        _ => None,
    })
    .unwrap()
    .state;
    let err = match convex_gateway::Application::build(config).await {
        Ok(_) => panic!("started with acknowledged writes stranded in outbox.sqlite3"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("1 queued write"), "{err}");
}

#[tokio::test]
async fn a_state_key_seals_the_signing_keys_and_replicas_without_it_are_refused() {
    use base64::Engine as _;
    let db = tokio::task::spawn_blocking(TestDb::create).await.unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let envs = [
        ("GATEWAY_STATE_URL", db.url.as_str()),
        ("GATEWAY_STATE_KEY", key.as_str()),
    ];
    let gateway = GatewayProcess::start(&data, &envs).await;
    // The CLI, with the same settings, signs with the sealed shared key.
    let output = std::process::Command::new(crate::helpers::binary())
        .args(["token", "--sub", "sealed", "--ttl", "10m"])
        .env_clear()
        .env("GATEWAY_DATA_DIR", dir.path().join("cli"))
        .env("GATEWAY_PUBLIC_URL", "http://gateway.test")
        .envs(envs)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let read = crate::helpers::bearer_client(&token)
        .get(gateway.url("/v1/tables/notes"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    // The database holds no private key in clear.
    let stored = db.psql("SELECT pem FROM gateway.signing_keys");
    assert!(
        stored.starts_with("sealed:v1:"),
        "the signing key is stored unsealed"
    );
    assert!(
        !stored.contains("PRIVATE KEY"),
        "the signing key is stored in clear"
    );
    // A replica with another key, or with none, cannot read the keys and does not start.
    let other = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    for state_key in [Some(other.as_str()), None] {
        let settings = convex_gateway::Config::from_lookup(|var| match var {
            "GATEWAY_STATE_URL" => Some(db.url.clone()),
            "GATEWAY_STATE_KEY" => state_key.map(str::to_owned),
            _ => None,
        })
        .unwrap();
        let mut config = convex_gateway::Config::for_data_dir(dir.path().join("other"));
        config.state = settings.state;
        config.state_key = settings.state_key;
        let err = match convex_gateway::Application::build(config).await {
            Ok(_) => panic!("started without the key that sealed the signing keys"),
            Err(err) => format!("{err:#}"),
        };
        assert!(err.contains("GATEWAY_STATE_KEY"), "{err}");
    }
    let bad = convex_gateway::Config::from_lookup(|var| match var {
        "GATEWAY_STATE_KEY" => Some("too-short".into()),
        _ => None,
    });
    assert!(bad.is_err());
}
