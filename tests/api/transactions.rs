//! Interactive transactions beyond the shared suite, on both adapters: 100 concurrent
//! read-modify-write transactions lose no update; expiry answers 410; limits; visibility.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app_with, spawn_convex_app_with};

async fn increments_lose_no_update(app: &TestApp) {
    let counter = app.insert("counters", json!({"count": 0})).await;
    let path = format!("/v1/tables/counters/{}", counter["_id"].as_str().unwrap());
    let mut tasks = Vec::new();
    for i in 0..100 {
        // One user each, so no one hits the per-caller limit of open transactions.
        let client = app.client_for(&app.token(&format!("worker{i}"), &[]));
        let (base, path) = (app.url(""), path.clone());
        tasks.push(tokio::spawn(async move {
            let tx: Value = client
                .post(format!("{base}/v1/transactions/begin"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let tx = tx["id"].as_str().unwrap().to_owned();
            let doc: Value = client
                .get(format!("{base}{path}"))
                .header("x-transaction-id", &tx)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            // Convex answers numbers as floats.
            let next = doc["count"].as_f64().unwrap() as i64 + 1;
            client
                .patch(format!("{base}{path}"))
                .header("x-transaction-id", &tx)
                .json(&json!({"count": next}))
                .send()
                .await
                .unwrap();
            let commit = client
                .post(format!("{base}/v1/transactions/{tx}/commit"))
                .send()
                .await
                .unwrap();
            match commit.status() {
                StatusCode::OK => true,
                StatusCode::CONFLICT => false,
                other => panic!("unexpected commit status {other}"),
            }
        }));
    }
    let mut commits = 0;
    for task in tasks {
        if task.await.unwrap() {
            commits += 1;
        }
    }
    assert!(commits >= 1);
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(
        current["count"], commits,
        "every committed increment counts, none is lost"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "gateway_transactions_total{{outcome=\"committed\"}} {commits}"
        )),
        "{metrics}"
    );
    if commits < 100 {
        assert!(
            metrics.contains(&format!(
                "gateway_transactions_total{{outcome=\"conflict\"}} {}",
                100 - commits
            )),
            "{metrics}"
        );
    }
}

async fn expiry_limits_and_status(app: &TestApp) {
    let doc = app.insert("items", json!({"n": 1})).await;
    let path = format!("/v1/tables/items/{}", doc["_id"].as_str().unwrap());
    let tx: Value = app
        .client
        .post(app.url("/v1/transactions/begin"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tx = tx["id"].as_str().unwrap().to_owned();
    app.client
        .patch(app.url(&path))
        .header("x-transaction-id", &tx)
        .json(&json!({"n": 5}))
        .send()
        .await
        .unwrap();

    let admin = app.client_for(&app.token("root", &["admin"]));
    let status: Value = admin
        .get(app.url("/admin/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["activeTransactions"], 1);
    assert_eq!(status["transactions"][0]["owner"], "tester");
    assert_eq!(status["transactions"][0]["stagedOperations"], 1);
    assert_eq!(
        status["store"],
        app.get("/ready").await.json::<Value>().await.unwrap()["store"]
    );
    let denied = app
        .client
        .get(app.url("/admin/status"))
        .send()
        .await
        .unwrap();
    assert_problem(denied, StatusCode::FORBIDDEN, "forbidden").await;

    // Past its TTL the transaction is rolled back by itself, and its id answers 410.
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let expired = app
        .client
        .get(app.url(&path))
        .header("x-transaction-id", &tx)
        .send()
        .await
        .unwrap();
    assert_problem(expired, StatusCode::GONE, "transaction_expired").await;
    let commit = app
        .client
        .post(app.url(&format!("/v1/transactions/{tx}/commit")))
        .send()
        .await
        .unwrap();
    assert_problem(commit, StatusCode::GONE, "transaction_expired").await;
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(
        current["n"], 1,
        "nothing of the expired transaction was applied"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("gateway_transactions_total{outcome=\"expired\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gateway_transactions_active 0"),
        "{metrics}"
    );

    // Limits: open transactions per caller, staged writes per transaction.
    let mut opened = Vec::new();
    for _ in 0..8 {
        let r: Value = app
            .client
            .post(app.url("/v1/transactions/begin"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        opened.push(r["id"].as_str().unwrap().to_owned());
    }
    let ninth = app
        .client
        .post(app.url("/v1/transactions/begin"))
        .send()
        .await
        .unwrap();
    assert_problem(
        ninth,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_transactions",
    )
    .await;
    for _ in 0..3 {
        let r = app
            .client
            .post(app.url("/v1/tables/items"))
            .header("x-transaction-id", &opened[0])
            .json(&json!({"x": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let over = app
        .client
        .post(app.url("/v1/tables/items"))
        .header("x-transaction-id", &opened[0])
        .json(&json!({"x": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(over, StatusCode::PAYLOAD_TOO_LARGE, "too_many_operations").await;
}

fn short_lived(c: &mut convex_gateway::Config) {
    c.tx_ttl = Duration::from_secs(3);
    c.tx_max_ops = 3;
}

#[tokio::test]
async fn local_increments_lose_no_update() {
    increments_lose_no_update(&spawn_app_with(|_| {}).await).await;
}

#[tokio::test]
async fn convex_increments_lose_no_update() {
    increments_lose_no_update(&spawn_convex_app_with(560, |_| {}).await).await;
}

#[tokio::test]
async fn local_expiry_limits_and_status() {
    expiry_limits_and_status(&spawn_app_with(short_lived).await).await;
}

#[tokio::test]
async fn convex_expiry_limits_and_status() {
    expiry_limits_and_status(&spawn_convex_app_with(200, short_lived).await).await;
}
