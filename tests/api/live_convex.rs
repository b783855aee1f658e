//! Live queries on Convex, through the deployment's own subscriptions (the test backend speaks
//! the WebSocket sync protocol): function watches shared by cohorts, and table and document
//! watches through `gateway:list` and `gateway:get`, as the caller.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_convex_app_with};
use crate::live::{Sse, check_snapshot_watch, metric};

const POLICY: &str = r#"
[roles.admin]
admin = true

[roles.authenticated]
tables = { "items" = ["read", "write", "delete"], "feed" = ["read", "write", "delete"], "notes" = ["read", "write", "delete"] }
functions = { "videos:list" = ["query"], "videos:whoami" = ["query"], "videos:create" = ["mutation"] }

[tables.notes]
owner_field = "ownerId"
"#;

async fn spawn() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, POLICY).unwrap();
    let app = spawn_convex_app_with(560, |c| {
        c.auth.policy_path = Some(path.clone());
        c.watches.per_caller = 1000;
    })
    .await;
    (app, dir)
}

async fn backend_sync(app: &TestApp) -> Value {
    let url = format!("{}/_emu/sync", app.convex.as_ref().unwrap().url);
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn watch_url(app: &TestApp, path: &str, args: &Value) -> String {
    let query = serde_urlencoded::to_string([("args", args.to_string())]).unwrap();
    app.url(&format!("/v1/functions/query/{path}?{query}"))
}

#[tokio::test]
async fn a_hundred_watches_of_one_query_share_one_subscription_and_all_see_a_mutation() {
    let (app, _policy) = spawn().await;
    let url = watch_url(&app, "videos:list", &json!({"status": "Queued"}));
    let mut watches = Vec::new();
    for _ in 0..100 {
        watches.push(Sse::open(&app.client, &url, None).await);
    }
    for watch in &mut watches {
        let first = watch.next().await;
        assert_eq!(first.event, "value");
        assert_eq!(first.json(), json!({"value": []}));
    }
    assert_eq!(
        metric(&app, "gateway_watch_upstream_subscriptions", "convex").await,
        1.0
    );
    assert_eq!(
        metric(&app, "gateway_watches_open", "function").await,
        100.0
    );
    let sync = backend_sync(&app).await;
    assert_eq!(sync["connections"], 1, "{sync}");
    assert_eq!(sync["paths"]["videos:list"], 1, "{sync}");

    let response = app
        .client
        .post(app.url("/v1/functions/mutation/videos:create"))
        .json(&json!({"twitchId": "live-1", "title": "Live"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for watch in &mut watches {
        let next = watch.next().await;
        assert_eq!(next.event, "value");
        let value = next.json()["value"].clone();
        assert_eq!(value[0]["twitchId"], "live-1");
        assert_eq!(
            value[0]["ownerId"], "tester",
            "the mutation ran as the caller"
        );
    }
    // One re-run upstream for the change, not one per watch.
    let reruns = app
        .convex
        .as_ref()
        .unwrap()
        .requests()
        .await
        .iter()
        .filter(|r| r["route"] == "ws:query" && r["path"] == "videos:list")
        .count();
    assert_eq!(reruns, 2, "one run when subscribed, one after the mutation");
    drop(watches);
    eventually("the subscription to end with its last watch", || async {
        backend_sync(&app).await["queries"] == 0
            && metric(&app, "gateway_watch_upstream_subscriptions", "convex").await == 0.0
    })
    .await;
}

#[tokio::test]
async fn each_identity_gets_its_own_connection_and_its_own_results() {
    let (app, _policy) = spawn().await;
    let url = watch_url(&app, "videos:whoami", &json!({}));
    let alice = app.client_for(&app.token("alice", &[]));
    let bob = app.client_for(&app.token("bob", &[]));
    let mut a = Sse::open(&alice, &url, None).await;
    let mut b = Sse::open(&bob, &url, None).await;
    assert_eq!(a.next().await.json()["value"]["subject"], "alice");
    assert_eq!(b.next().await.json()["value"]["subject"], "bob");
    assert_eq!(backend_sync(&app).await["connections"], 2);
    assert_eq!(
        metric(&app, "gateway_watch_upstream_subscriptions", "convex").await,
        2.0
    );
    // The policy applies when a watch opens: a query it does not grant is refused.
    let response = alice
        .get(app.url("/v1/functions/query/videos:getByTwitchId?args=%7B%7D"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    // And without the event stream, GET runs the query once.
    let once: Value = alice
        .get(app.url("/v1/functions/query/videos:whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(once["value"]["subject"], "alice");
    let bad = alice
        .get(app.url("/v1/functions/query/videos:whoami?args=nope"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn an_expiring_token_ends_a_function_watch() {
    let (app, _policy) = spawn().await;
    let token = app.token_with("brief", &[], Duration::from_secs(2), serde_json::Map::new());
    let client = app.client_for(&token);
    let url = watch_url(&app, "videos:whoami", &json!({}));
    let mut watch = Sse::open(&client, &url, None).await;
    assert_eq!(watch.next().await.json()["value"]["subject"], "brief");
    let ended = watch.next().await;
    assert_eq!(ended.event, "error");
    assert_eq!(ended.json()["code"], "token_expired");
    watch.assert_ends().await;
}

#[tokio::test]
async fn table_watches_on_convex_follow_gateway_list_as_the_caller() {
    let (app, _policy) = spawn().await;
    check_snapshot_watch(&app).await;

    // Changes: the differences between one page and the next.
    let mut changes = Sse::open(
        &app.client,
        &app.url("/v1/tables/feed?mode=changes&w=eq.1"),
        None,
    )
    .await;
    assert_eq!(changes.next().await.event, "ready");
    let doc: Value = app.insert("feed", json!({"w": 1, "n": 1})).await;
    let id = doc["_id"].as_str().unwrap().to_owned();
    let event = changes.next().await;
    assert_eq!(event.event, "change");
    assert_eq!(event.json()["op"], "insert");
    assert_eq!(event.json()["id"], id.as_str());
    let response = app
        .client
        .patch(app.url(&format!("/v1/tables/feed/{id}")))
        .json(&json!({"n": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let event = changes.next().await;
    assert_eq!(event.json()["op"], "update");
    assert_eq!(event.json()["document"]["n"].as_f64(), Some(2.0));
    app.client
        .patch(app.url(&format!("/v1/tables/feed/{id}")))
        .json(&json!({"w": 2}))
        .send()
        .await
        .unwrap();
    let event = changes.next().await;
    assert_eq!(event.json()["op"], "leave");

    // A document watch: the document, each version, then `deleted`.
    let path = format!("/v1/tables/feed/{id}");
    let mut one = Sse::open(&app.client, &app.url(&path), None).await;
    let first = one.next().await;
    assert_eq!(first.event, "document");
    assert_eq!(first.json()["w"].as_f64(), Some(2.0));
    app.client
        .patch(app.url(&path))
        .json(&json!({"n": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(one.next().await.json()["n"].as_f64(), Some(3.0));
    app.client.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(one.next().await.event, "deleted");
    one.assert_ends().await;
}

#[tokio::test]
async fn on_convex_another_callers_rows_never_reach_a_watch() {
    let (app, _policy) = spawn().await;
    let alice = app.client_for(&app.token("alice", &[]));
    let bob = app.client_for(&app.token("bob", &[]));
    let mut snapshot = Sse::open(&alice, &app.url("/v1/tables/notes"), None).await;
    assert_eq!(snapshot.next().await.json()["items"], json!([]));
    let bobs: Value = bob
        .post(app.url("/v1/tables/notes"))
        .json(&json!({"text": "bob's"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hers: Value = alice
        .post(app.url("/v1/tables/notes"))
        .json(&json!({"text": "alice's"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = snapshot.next().await.json();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["_id"], hers["_id"]);
    // Bob's document cannot be watched by Alice.
    let response = alice
        .get(app.url(&format!(
            "/v1/tables/notes/{}",
            bobs["_id"].as_str().unwrap()
        )))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}
