//! The sync's reader of Convex's streaming export, against the Convex test backend: a snapshot
//! in pages, then every later revision with deletes, and a deploy key that never shows.

use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::ConvexBackend;
use convex_gateway::table_sync::export::{ExportClient, ExportError};

const KEY: &str = "sync-test|deploy-key-0123456789";

async fn apply(backend: &ConvexBackend, ops: Value) -> Vec<Value> {
    let response: Value = reqwest::Client::new()
        .post(format!("{}/api/mutation", backend.url))
        .json(&json!({"path": "gateway:apply", "args": {"ops": ops}, "format": "convex_encoded_json"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["status"], "success", "{response}");
    response["value"]["outcomes"].as_array().unwrap().clone()
}

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
        let page = export.document_deltas("things", cursor).await.unwrap();
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
    let idle = export.document_deltas("things", cursor).await.unwrap();
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
    let err = export.document_deltas("things", 0).await.unwrap_err();
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
