//! Idempotency keys: replay of the first response, 422 on a payload mismatch, 409 while the
//! first request is in flight, per-caller scope, expiry, and dedupe inside Convex itself.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use convex_gateway::store::local::LocalStore;
use convex_gateway::store::{
    Capabilities, Document, DocumentStore, ListQuery, Page, StoreCtx, StoreError, TableName,
    WriteOp, WriteOutcome,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ConvexBackend, TestApp, assert_problem, spawn_app, spawn_app_on, spawn_app_with,
};

async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    key: &str,
    body: Value,
) -> reqwest::Response {
    client
        .post(app.url("/v1/tables/orders"))
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repeated_write_replays_the_first_response() {
    let app = spawn_app().await;
    let first = post(&app, &app.client, "order-1", json!({"sku": "A", "qty": 2})).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let (location, etag) = (
        first.headers()["location"].clone(),
        first.headers()["etag"].clone(),
    );
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    let again = post(&app, &app.client, "order-1", json!({"sku": "A", "qty": 2})).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.headers()["etag"], etag);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.list_all("orders", "").await.len(), 1);

    // The same JSON with other white space and key order is the same request: replayed.
    let reformatted = app
        .client
        .post(app.url("/v1/tables/orders"))
        .header("idempotency-key", "order-1")
        .header("content-type", "application/json")
        .body("{ \"qty\" : 2,\n  \"sku\": \"A\" }")
        .send()
        .await
        .unwrap();
    assert_eq!(reformatted.status(), StatusCode::CREATED);
    assert_eq!(reformatted.headers()["idempotent-replayed"], "true");
    assert_eq!(app.list_all("orders", "").await.len(), 1);

    // Same key, another payload: refused, nothing written.
    let other = post(&app, &app.client, "order-1", json!({"sku": "B"})).await;
    assert_problem(
        other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    // Keys belong to their caller.
    let bob = app.client_for(&app.token("bob", &[]));
    assert_eq!(
        post(&app, &bob, "order-1", json!({"sku": "A", "qty": 2}))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(app.list_all("orders", "").await.len(), 2);
    // Batches and transaction commits are covered too.
    let batch = |key: &'static str| {
        app.client
            .post(app.url("/v1/transactions"))
            .header("idempotency-key", key)
            .json(&json!({"operations": [{"op": "insert", "table": "orders", "document": {"sku": "C"}}]}))
            .send()
    };
    assert_eq!(batch("batch-1").await.unwrap().status(), StatusCode::OK);
    let replayed = batch("batch-1").await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(app.list_all("orders", "sku=eq.C").await.len(), 1);
    let bad = post(&app, &app.client, &"k".repeat(256), json!({})).await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid_header").await;
}

#[tokio::test]
async fn keys_expire() {
    let app = spawn_app_with(|c| c.idempotency_ttl = Duration::from_secs(1)).await;
    assert_eq!(
        post(&app, &app.client, "k", json!({"n": 1})).await.status(),
        StatusCode::CREATED
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = post(&app, &app.client, "k", json!({"n": 2})).await;
    assert_eq!(
        after.status(),
        StatusCode::CREATED,
        "an expired key is free again"
    );
    assert_eq!(app.list_all("orders", "").await.len(), 2);
}

/// The real embedded store, whose writes wait at a gate: the test knows when a write has
/// started and decides when it may finish, so a request is caught in flight without timing.
struct SlowStore {
    inner: LocalStore,
    entered: tokio::sync::Notify,
    release: tokio::sync::Semaphore,
}

#[async_trait]
impl DocumentStore for SlowStore {
    fn adapter(&self) -> &'static str {
        "local"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn list(&self, ctx: &StoreCtx, t: &TableName, q: &ListQuery) -> Result<Page, StoreError> {
        self.inner.list(ctx, t, q).await
    }
    async fn get(
        &self,
        ctx: &StoreCtx,
        t: &TableName,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        self.inner.get(ctx, t, id).await
    }
    async fn apply(
        &self,
        ctx: &StoreCtx,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        self.entered.notify_one();
        let _permit = self
            .release
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("closed".into()))?;
        self.inner.apply(ctx, ops).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.inner.health().await
    }
}

#[tokio::test]
async fn a_key_in_flight_answers_409() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = Arc::new(SlowStore {
        inner: LocalStore::open(dir.path()).unwrap(),
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Semaphore::new(0),
    });
    let app = spawn_app_on(Arc::clone(&store) as _, |_| {}).await;
    let first = {
        let (client, url) = (app.client.clone(), app.url("/v1/tables/orders"));
        tokio::spawn(async move {
            client
                .post(url)
                .header("idempotency-key", "slow")
                .json(&json!({"n": 1}))
                .send()
                .await
                .unwrap()
        })
    };
    // The first request holds the key and is writing: the second finds it in flight.
    store.entered.notified().await;
    let second = post(&app, &app.client, "slow", json!({"n": 1})).await;
    assert_problem(second, StatusCode::CONFLICT, "idempotency_in_progress").await;
    store.release.add_permits(10);
    assert_eq!(first.await.unwrap().status(), StatusCode::CREATED);
    // Once finished, it replays.
    let later = post(&app, &app.client, "slow", json!({"n": 1})).await;
    assert_eq!(later.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn convex_dedupes_a_key_even_when_the_gateway_forgot_it() {
    let backend = tokio::task::spawn_blocking(|| ConvexBackend::start(560))
        .await
        .unwrap();
    // Two gateways with separate data folders (so separate key records) front one deployment,
    // as after a gateway crash that lost its record: Convex's gateway:apply still applies once.
    let url = backend.url.clone();
    let first = spawn_app_with(|c| *c = c.clone().with_convex(url.clone())).await;
    let url = backend.url.clone();
    let second = spawn_app_with(|c| *c = c.clone().with_convex(url.clone())).await;
    let token = first.token("alice", &[]);
    // Both gateways must accept the same token: use each gateway's own signer for its client.
    let a = post(
        &first,
        &first.client_for(&token),
        "pay-1",
        json!({"amount": 5}),
    )
    .await;
    assert_eq!(a.status(), StatusCode::CREATED);
    let a: Value = a.json().await.unwrap();
    let b = post(
        &second,
        &second.client_for(&second.token("alice", &[])),
        "pay-1",
        json!({"amount": 5}),
    )
    .await;
    assert_eq!(b.status(), StatusCode::CREATED);
    let b: Value = b.json().await.unwrap();
    assert_eq!(a["_id"], b["_id"], "Convex returned the first result");
    assert_eq!(first.list_all("orders", "").await.len(), 1);
    drop(backend);
}
