//! Dry runs in front of Convex: `gateway:apply` runs the write, Convex's schema validation
//! included, and throws its results, so a schema violation is reported and a valid write is
//! answered and not kept; while Convex is down a dry run answers 503 and is never queued; a
//! function call cannot be a dry run, which strict handling refuses. (The store suite runs the
//! common cases on every store.)

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_convex_app};
use crate::resilience::behind_proxy;

#[tokio::test]
async fn a_dry_run_on_convex_reports_a_schema_violation_and_keeps_nothing() {
    let app = spawn_convex_app().await;
    let dry = |body: Value| {
        app.client
            .post(app.url("/v1/tables/videos"))
            .header("prefer", "tx=rollback")
            .json(&body)
            .send()
    };
    // `videos` requires `twitchId` and `status` (the test app's schema): the dry run fails as
    // the write does, with the same answer.
    let invalid = json!({"title": "no twitch id"});
    let dry_refused = dry(invalid.clone()).await.unwrap();
    assert!(dry_refused.headers().get("preference-applied").is_none());
    let dry_problem = assert_problem(
        dry_refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "function_error",
    )
    .await;
    let real_problem = assert_problem(
        app.post_json("/v1/tables/videos", &invalid).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "function_error",
    )
    .await;
    assert_eq!(dry_problem["detail"], real_problem["detail"]);

    let valid = json!({"twitchId": "t-dry", "status": "Queued"});
    let answer = dry(valid).await.unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    assert_eq!(answer.headers()["preference-applied"], "tx=rollback");
    let doc: Value = answer.json().await.unwrap();
    assert_eq!(
        (doc["twitchId"].as_str(), doc["_version"].as_u64()),
        (Some("t-dry"), Some(1))
    );
    assert!(
        app.list_all("videos", "").await.is_empty(),
        "nothing was kept in Convex"
    );

    // The passthrough runs your function, which cannot be rolled back from outside: strict
    // handling refuses the preference, lenient runs it and applies nothing of it.
    let strict = app
        .client
        .post(app.url("/api/mutation"))
        .header("prefer", "tx=rollback, handling=strict")
        .json(&json!({"path": "videos:create", "args": {"twitchId": "t-fn"}, "format": "json"}))
        .send()
        .await
        .unwrap();
    assert_problem(strict, StatusCode::BAD_REQUEST, "preference_not_honoured").await;
}

#[tokio::test]
async fn a_dry_run_while_convex_is_down_is_refused_not_queued() {
    let (app, proxy) = behind_proxy(|_| {}).await;
    proxy.set_up(false);
    let dry = app
        .client
        .post(app.url("/v1/tables/videos"))
        .header("prefer", "tx=rollback")
        .json(&json!({"twitchId": "t-down", "status": "Queued"}))
        .send()
        .await
        .unwrap();
    assert!(dry.status().is_server_error(), "{}", dry.status());
    assert!(dry.headers().get("preference-applied").is_none());
    assert_eq!(
        app.admin_status().await["outbox"]["depth"],
        0,
        "a dry run is never queued"
    );
    // The same write for real is queued, so the outbox was there to take it.
    let real = app
        .post_json(
            "/v1/tables/videos",
            &json!({"twitchId": "t-down", "status": "Queued"}),
        )
        .await;
    assert_eq!(real.status(), StatusCode::ACCEPTED);
}
