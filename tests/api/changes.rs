//! The change feed (`GET /admin/changes`) on the embedded store: every committed write, in
//! commit order, resumable from any position, tombstones for deletes, retention with a clear
//! resync answer, and no change lost to `kill -9`.

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{
    GatewayProcess, TestApp, assert_problem, binary, spawn_app, spawn_app_with, spawn_convex_app,
};

/// The whole feed after `since`, read in pages of `page` changes.
pub(crate) async fn read_feed(
    client: &reqwest::Client,
    url: impl Fn(&str) -> String,
    since: u64,
    page: usize,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut since = since;
    loop {
        let response = client
            .get(url(&format!("/admin/changes?since={since}&limit={page}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let items = body["items"].as_array().unwrap().clone();
        let next = body["nextSince"].as_u64().unwrap();
        if items.is_empty() {
            assert_eq!(next, since, "an empty page keeps the position");
            return out;
        }
        assert_eq!(next, items.last().unwrap()["position"].as_u64().unwrap());
        since = next;
        out.extend(items);
    }
}

/// The requests the app has in flight now, the one asking included.
async fn in_flight(app: &TestApp) -> i64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix("http_requests_in_flight ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no http_requests_in_flight in\n{text}"))
}

/// A follower holding `GET /admin/changes?wait=25` is answered by the next commit, which `write`
/// makes once the request is seen waiting (the in-flight gauge): the store's change signal
/// wakes it, and it answers with the change, not an empty page at the end of the wait.
pub(crate) async fn check_long_poll(app: &TestApp, write: impl std::future::Future<Output = ()>) {
    let client = admin(app);
    let since = read_feed(&client, |p| app.url(p), 0, 1000)
        .await
        .last()
        .map_or(0, |c| c["position"].as_u64().unwrap());
    let idle = in_flight(app).await;
    let url = app.url(&format!("/admin/changes?since={since}&wait=25"));
    let waiting = tokio::spawn(async move {
        let response = client.get(url).send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while in_flight(app).await <= idle {
        assert!(Instant::now() < deadline, "the long poll never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    write.await;
    let (status, body) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert!(
        !items.is_empty(),
        "the wait ended without the change: {body}"
    );
    assert_eq!(items[0]["position"].as_u64(), Some(since + 1), "{body}");
}

pub(crate) fn admin(app: &TestApp) -> reqwest::Client {
    app.client_for(&app.token("operator", &["admin"]))
}

/// One writer's script: insert, patch twice, replace, then delete every other document; the
/// expected (op, version) sequence of each document it wrote.
pub(crate) async fn write_script(
    client: reqwest::Client,
    base: String,
    writer: usize,
) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut expected = BTreeMap::new();
    for i in 0..50 {
        let table = if i % 2 == 0 { "feed_a" } else { "feed_b" };
        let response = client
            .post(format!("{base}/v1/tables/{table}"))
            .json(&json!({"writer": writer, "i": i}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let doc: Value = response.json().await.unwrap();
        let id = doc["_id"].as_str().unwrap().to_owned();
        let path = format!("{base}/v1/tables/{table}/{id}");
        let mut ops = vec![("insert".to_owned(), 1)];
        for step in 0..2 {
            let response = client
                .patch(&path)
                .json(&json!({"step": step}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            ops.push(("update".into(), ops.len() as u64 + 1));
        }
        let response = client
            .put(&path)
            .json(&json!({"writer": writer, "i": i, "replaced": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        ops.push(("update".into(), 4));
        if i % 2 == 0 {
            let response = client.delete(&path).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            ops.push(("delete".into(), 4));
        } else {
            // Fifth write: a patch instead of the delete.
            let response = client
                .patch(&path)
                .json(&json!({"last": true}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            ops.push(("update".into(), 5));
        }
        expected.insert(id, ops);
    }
    expected
}

#[tokio::test]
async fn the_feed_holds_every_write_in_commit_order_and_resumes_without_repeats() {
    let app = spawn_app().await;
    let base = format!("http://{}", app.addr);
    // 4 concurrent writers, 250 writes each.
    let mut writers = Vec::new();
    for writer in 0..4 {
        writers.push(tokio::spawn(write_script(
            app.client.clone(),
            base.clone(),
            writer,
        )));
    }
    let mut expected = BTreeMap::new();
    for writer in writers {
        expected.extend(writer.await.unwrap());
    }
    check_feed(&app, &expected).await;
}

/// The whole feed against the writes made (per document: its operations and versions, in
/// order), then resuming from the middle and one table's part; answers the feed.
pub(crate) async fn check_feed(
    app: &TestApp,
    expected: &BTreeMap<String, Vec<(String, u64)>>,
) -> Vec<Value> {
    let total: usize = expected.values().map(Vec::len).sum();
    assert_eq!(total, 1000);

    let admin = admin(app);
    let feed = read_feed(&admin, |p| app.url(p), 0, 37).await;
    assert_eq!(feed.len(), total, "every write is in the feed once");
    let positions: Vec<u64> = feed
        .iter()
        .map(|c| c["position"].as_u64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions grow");
    // Per document, the changes come in the order its writes were made, with their versions.
    let mut seen: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for change in &feed {
        let id = change["id"].as_str().unwrap().to_owned();
        let op = change["op"].as_str().unwrap().to_owned();
        let version = change["version"].as_u64().unwrap();
        match op.as_str() {
            "delete" => assert!(change["document"].is_null(), "a delete is a tombstone"),
            _ => {
                assert_eq!(change["document"]["_id"], change["id"]);
                assert_eq!(change["document"]["_version"], version);
            }
        }
        seen.entry(id).or_default().push((op, version));
    }
    assert_eq!(
        &seen, expected,
        "per document: its writes, in order, with their versions"
    );
    // The last state of a patched document is in its last change.
    let (id, _) = expected
        .iter()
        .find(|(_, ops)| ops.len() == 5 && ops[4].0 == "update")
        .unwrap();
    let last = feed.iter().rev().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(last["document"]["last"], true);
    assert_eq!(last["document"]["replaced"], true);

    // Resuming from any position gives exactly the rest.
    let middle = positions[positions.len() / 2];
    let rest = read_feed(&admin, |p| app.url(p), middle, 100).await;
    assert_eq!(rest.as_slice(), &feed[positions.len() / 2 + 1..]);
    // One table's changes are exactly that table's part of the feed.
    let response = admin
        .get(app.url("/admin/changes?table=feed_b&limit=1000"))
        .send()
        .await
        .unwrap();
    let only_b: Value = response.json().await.unwrap();
    let want_b: Vec<&Value> = feed.iter().filter(|c| c["table"] == "feed_b").collect();
    assert_eq!(
        only_b["items"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        want_b
    );
    feed
}

#[tokio::test]
async fn a_batch_records_its_changes_together_and_a_failed_one_records_none() {
    let app = spawn_app().await;
    let admin = admin(&app);
    let doc = app.insert("feed_batch", json!({"n": 1})).await;
    let id = doc["_id"].as_str().unwrap();
    let failed = app
        .post_json(
            "/v1/transactions",
            &json!({"operations": [
                {"op": "insert", "table": "feed_batch", "document": {"n": 2}},
                {"op": "patch", "table": "feed_batch", "id": id, "patch": {"n": 3}, "version": 9},
            ]}),
        )
        .await;
    assert_eq!(failed.status(), StatusCode::PRECONDITION_FAILED);
    let ok = app
        .post_json(
            "/v1/transactions",
            &json!({"operations": [
                {"op": "insert", "table": "feed_batch", "document": {"n": 4}},
                {"op": "check", "table": "feed_batch", "id": id},
                {"op": "delete", "table": "feed_batch", "id": id},
            ]}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let feed = read_feed(&admin, |p| app.url(p), 0, 100).await;
    let ops: Vec<(&str, u64)> = feed
        .iter()
        .map(|c| (c["op"].as_str().unwrap(), c["position"].as_u64().unwrap()))
        .collect();
    // The failed batch left nothing; the check recorded nothing; the batch's two changes are
    // consecutive.
    assert_eq!(ops.len(), 3, "{feed:?}");
    assert_eq!(ops[0].0, "insert");
    assert_eq!((ops[1].0, ops[2].0), ("insert", "delete"));
    assert_eq!(ops[2].1, ops[1].1 + 1);
}

#[tokio::test]
async fn only_admins_read_the_feed_and_bad_parameters_are_refused() {
    let app = spawn_app().await;
    let response = app.get("/admin/changes").await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app
        .anon
        .get(app.url("/admin/changes"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let admin = admin(&app);
    let response = admin
        .get(app.url("/admin/changes?limit=0"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_limit").await;
    let response = admin
        .get(app.url("/admin/changes?table=9bad"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_table_name").await;
    let response = admin
        .get(app.url("/admin/changes?since=-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn positions_older_than_the_retention_must_resync() {
    let app = spawn_app_with(|config| config.changes_retention = Duration::from_secs(1)).await;
    check_retention(&app, "feed_old").await;
}

/// With a retention of one second: writes go on until reading from 0 answers
/// `410 resync_needed` (a condition with a deadline), and the position it names answers again.
pub(crate) async fn check_retention(app: &TestApp, table: &str) {
    let admin = admin(app);
    app.insert(table, json!({"n": 0})).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let problem = loop {
        assert!(
            Instant::now() < deadline,
            "the first change was never pruned"
        );
        app.insert(table, json!({"n": 1})).await;
        let response = admin
            .get(app.url("/admin/changes?since=0"))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::GONE {
            break assert_problem(response, StatusCode::GONE, "resync_needed").await;
        }
        assert_eq!(response.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let detail = problem["detail"].as_str().unwrap();
    let horizon: u64 = detail
        .split("from position ")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("{detail}"));
    assert!(horizon >= 1);
    // From the horizon on, the feed answers again.
    let response = admin
        .get(app.url(&format!("/admin/changes?since={horizon}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_convex_adapter_says_it_keeps_no_feed() {
    let app = spawn_convex_app().await;
    let response = admin(&app)
        .get(app.url("/admin/changes"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "change_feed_unavailable").await;
    assert_eq!(app.capabilities().await["changeFeed"], false);
}

#[tokio::test]
async fn kill_9_during_writes_loses_no_change_and_invents_none() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let mut gateway = GatewayProcess::start(&data, &[]).await;
    let token = admin_cli_token(&gateway, &data);
    let client = crate::helpers::bearer_client(&token);
    // Writers run until the gateway dies under them; what was acknowledged is known.
    let mut writers = Vec::new();
    for w in 0..4 {
        let client = client.clone();
        let url = gateway.url("/v1/tables/feed_crash");
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                match client
                    .post(&url)
                    .json(&json!({"w": w, "i": i}))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let doc: Value = match r.json().await {
                            Ok(doc) => doc,
                            Err(_) => break,
                        };
                        acked.push(doc["_id"].as_str().unwrap().to_owned());
                    }
                    _ => break,
                }
            }
            acked
        }));
    }
    // Kill once enough writes are in, while the writers are still going.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the writers never got going");
        let response = client
            .get(gateway.url("/admin/changes?limit=1000"))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        if body["items"].as_array().unwrap().len() >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.kill_9();
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    assert!(acked.len() >= 200);

    let gateway = GatewayProcess::start(&data, &[]).await;
    let feed = read_feed(&client, |p| gateway.url(p), 0, 500).await;
    let in_feed: HashSet<&str> = feed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(in_feed.len(), feed.len(), "each insert once");
    for id in &acked {
        assert!(
            in_feed.contains(id.as_str()),
            "acknowledged {id} is not in the feed"
        );
    }
    // And every change in the feed is a write that happened: its document exists.
    for change in &feed {
        let path = format!("/v1/tables/feed_crash/{}", change["id"].as_str().unwrap());
        let response = client.get(gateway.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{change}");
    }
    // Positions continue after the restart.
    let response = client
        .post(gateway.url("/v1/tables/feed_crash"))
        .json(&json!({"after": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let after = read_feed(
        &client,
        |p| gateway.url(p),
        feed.last().unwrap()["position"].as_u64().unwrap(),
        10,
    )
    .await;
    assert_eq!(after.len(), 1);
}

pub(crate) fn admin_cli_token(gateway: &GatewayProcess, data: &std::path::Path) -> String {
    let output = Command::new(binary())
        .args([
            "token", "--sub", "operator", "--role", "admin", "--ttl", "10m",
        ])
        .env_clear()
        .env("GATEWAY_ADDR", gateway.addr.to_string())
        .env("GATEWAY_DATA_DIR", data)
        .env("GATEWAY_PUBLIC_URL", "http://gateway.test")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_follower_waiting_on_the_feed_is_answered_by_the_next_commit() {
    let app = spawn_app().await;
    app.insert("notes", json!({"n": 0})).await;
    check_long_poll(&app, async {
        app.insert("notes", json!({"n": 1})).await;
    })
    .await;
    // Nothing new: the wait ends with an empty page that keeps the position.
    let admin = admin(&app);
    let response = admin
        .get(app.url("/admin/changes?since=2&wait=1"))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["nextSince"], 2);
    let refused = admin
        .get(app.url("/admin/changes?wait=61"))
        .send()
        .await
        .unwrap();
    assert_problem(refused, StatusCode::BAD_REQUEST, "invalid_query").await;
}
