//! The shared state store on its own (`GATEWAY_STATE_URL`): what a keyed write answers while it
//! is unreachable, how it recovers, and the idempotency claims a dead replica leaves behind.

use std::time::Duration;

use convex_gateway::idempotency::{Begin, IdempotencyStore, StoredResponse};
use convex_gateway::shared::StateDb;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, spawn_app_with};
use crate::pg::{TestDb, admin_url, psql_at};

/// An app on the embedded store whose state lives in `db`, signing with a configured key (which
/// the test's tokens are signed with too).
async fn spawn_with_state(db: &TestDb) -> TestApp {
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
