//! Document history and revert on the three stores (KlipStream's "status rollback"): a pipeline
//! moves a video through the seed's stages, fails, and an operator reverts it to the last good
//! status; the history lists every stage with its caller, pages, survives the document's
//! deletion, and brings it back. Reverting needs write access and honours `If-Match` and dry
//! runs; a table without `history = true` has none.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{TestApp, assert_problem, spawn_app_with, spawn_convex_app_with};
use crate::pg::{install, spawn_pg_app_with, suite_schema};

const POLICY: &str = r#"
[roles.admin]
admin = true

[roles.pipeline]
tables = { "videos" = ["read", "write"], "molecules" = ["read"] }

[roles.viewer]
tables = { "videos" = ["read"] }

[tables.videos]
history = true
"#;

fn policy_file() -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, POLICY).unwrap();
    (dir, path)
}

#[tokio::test]
async fn a_failed_pipeline_reverts_to_the_last_good_status_on_the_embedded_store() {
    let (_dir, policy) = policy_file();
    let app = spawn_app_with(|c| c.auth.policy_path = Some(policy)).await;
    pipeline_reverts(&app).await;
}

#[tokio::test]
async fn a_failed_pipeline_reverts_to_the_last_good_status_on_convex() {
    let (_dir, policy) = policy_file();
    let app = spawn_convex_app_with(560, |c| c.auth.policy_path = Some(policy)).await;
    pipeline_reverts(&app).await;
}

#[tokio::test]
async fn a_failed_pipeline_reverts_to_the_last_good_status_on_postgres() {
    let (_dir, policy) = policy_file();
    let app = spawn_pg_app_with(
        |db| {
            suite_schema(db);
            install(db);
        },
        |c| c.auth.policy_path = Some(policy),
    )
    .await;
    pipeline_reverts(&app).await;
}

/// The versions of a document as `(version, op, sub, status)`, newest first, read page by page.
async fn versions(
    app: &TestApp,
    client: &reqwest::Client,
    id: &str,
) -> Vec<(u64, String, String, Value)> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = app.url(&format!("/v1/tables/videos/{id}/history?limit=2"));
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for item in items {
            assert!(item["at"].as_f64().unwrap() > 1.6e12, "{item}");
            all.push((
                item["version"].as_u64().unwrap(),
                item["op"].as_str().unwrap().to_owned(),
                item["sub"].as_str().unwrap_or("").to_owned(),
                item["fields"]["status"].clone(),
            ));
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

fn entry(version: u64, op: &str, sub: &str, status: Value) -> (u64, String, String, Value) {
    (version, op.to_owned(), sub.to_owned(), status)
}

async fn pipeline_reverts(app: &TestApp) {
    let worker = app.client_for(&app.token("pipeline-worker", &["pipeline"]));
    let oncall = app.client_for(&app.token("ops-oncall", &["pipeline"]));
    let viewer = app.client_for(&app.token("dashboard", &["viewer"]));
    let admin = app.client_for(&app.token("admin", &["admin"]));

    // The pipeline queues a video and moves it through the seed's stages, then fails.
    let created: Value = worker
        .post(app.url("/v1/tables/videos"))
        .json(&json!({"twitchId": "2234567890", "status": "Queued"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["_id"].as_str().unwrap().to_owned();
    let path = app.url(&format!("/v1/tables/videos/{id}"));
    for status in ["Downloading", "Transcribing", "Analyzing", "Failed"] {
        let response = worker
            .patch(&path)
            .json(&json!({"status": status}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    // Every stage, newest first, with its caller; a viewer may read it.
    let expected = vec![
        entry(5, "update", "pipeline-worker", json!("Failed")),
        entry(4, "update", "pipeline-worker", json!("Analyzing")),
        entry(3, "update", "pipeline-worker", json!("Transcribing")),
        entry(2, "update", "pipeline-worker", json!("Downloading")),
        entry(1, "insert", "pipeline-worker", json!("Queued")),
    ];
    assert_eq!(versions(app, &viewer, &id).await, expected);

    // A viewer may not revert; a stale If-Match is refused; a dry run changes nothing.
    let revert = |client: &reqwest::Client, body: Value| {
        client
            .post(app.url(&format!("/v1/tables/videos/{id}/revert")))
            .json(&body)
    };
    let refused = revert(&viewer, json!({"version": 4})).send().await.unwrap();
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let stale = revert(&oncall, json!({"version": 4}))
        .header("if-match", "\"4\"")
        .send()
        .await
        .unwrap();
    assert_problem(stale, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    let dry = revert(&oncall, json!({"version": 4}))
        .header("prefer", "tx=rollback")
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status(), StatusCode::OK);
    assert_eq!(dry.headers()["preference-applied"], "tx=rollback");
    assert_eq!(dry.json::<Value>().await.unwrap()["status"], "Analyzing");
    assert_eq!(
        versions(app, &viewer, &id).await.len(),
        5,
        "a dry run keeps no version"
    );

    // The operator reverts to the last good status.
    let reverted = revert(&oncall, json!({"version": 4}))
        .header("if-match", "\"5\"")
        .send()
        .await
        .unwrap();
    assert_eq!(reverted.status(), StatusCode::OK);
    assert_eq!(reverted.headers()["etag"], "\"6\"");
    let doc: Value = reverted.json().await.unwrap();
    assert_eq!(
        (
            doc["status"].as_str(),
            doc["_version"].as_u64(),
            doc["_id"].as_str()
        ),
        (Some("Analyzing"), Some(6), Some(id.as_str()))
    );
    let history = versions(app, &viewer, &id).await;
    assert_eq!(
        history[0],
        entry(6, "revert", "ops-oncall", json!("Analyzing"))
    );
    assert_eq!(history[1..], expected[..]);

    // Deleted: the history stays readable, and a revert brings the document back (new `_id`).
    let deleted = admin.delete(&path).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        worker.get(&path).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let history = versions(app, &viewer, &id).await;
    assert_eq!(history[0], entry(7, "delete", "admin", Value::Null));
    assert_eq!(history.len(), 7);
    let to_deletion = revert(&oncall, json!({"version": 7})).send().await.unwrap();
    assert_problem(to_deletion, StatusCode::NOT_FOUND, "version_not_found").await;
    let missing = revert(&oncall, json!({"version": 99}))
        .send()
        .await
        .unwrap();
    assert_problem(missing, StatusCode::NOT_FOUND, "version_not_found").await;
    let restored = revert(&oncall, json!({"version": 6})).send().await.unwrap();
    assert_eq!(restored.status(), StatusCode::CREATED);
    let location = restored.headers()["location"].to_str().unwrap().to_owned();
    let back: Value = restored.json().await.unwrap();
    let new_id = back["_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    assert_eq!(location, format!("/v1/tables/videos/{new_id}"));
    assert_eq!(
        (back["status"].as_str(), back["twitchId"].as_str()),
        (Some("Analyzing"), Some("2234567890"))
    );
    assert_eq!(
        versions(app, &viewer, &new_id).await,
        vec![entry(1, "revert", "ops-oncall", json!("Analyzing"))]
    );

    // Bad requests, and a table that keeps no history.
    let bad_body = revert(&oncall, json!({"version": "four"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status(), StatusCode::BAD_REQUEST);
    let bad_cursor = viewer
        .get(app.url(&format!("/v1/tables/videos/{id}/history?cursor=x")))
        .send()
        .await
        .unwrap();
    assert_problem(bad_cursor, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    let unknown = viewer
        .get(app.url("/v1/tables/videos/nope/history"))
        .send()
        .await
        .unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
    let not_kept = worker
        .get(app.url("/v1/tables/molecules/x/history"))
        .send()
        .await
        .unwrap();
    assert_problem(not_kept, StatusCode::NOT_FOUND, "history_not_kept").await;
    let seen: HashSet<u64> = versions(app, &viewer, &id)
        .await
        .iter()
        .map(|v| v.0)
        .collect();
    assert_eq!(seen, (1..=7).collect::<HashSet<_>>());
}
