//! Convex functions through the gateway: the drop-in passthrough (`/api/*`), the REST form
//! (`/v1/functions/*`), policy, metrics, and the official `ConvexHttpClient` end to end.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{
    ConvexBackend, GatewayProcess, TestApp, assert_problem, spawn_app, spawn_convex_app_with,
};

const POLICY: &str = r#"
[roles.admin]
admin = true

[roles.authenticated]
tables = { "*" = ["read", "write", "delete"] }
functions = { "videos:getByTwitchId" = ["query"], "videos:whoami" = ["query"], "videos:create" = ["mutation"], "videos:updateStatusByTwitchId" = ["mutation"], "videos:explode" = ["mutation"] }
"#;

fn write_policy(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, POLICY).unwrap();
    path
}

async fn spawn_functions_app(error_status: u16, dir: &TempDir) -> TestApp {
    let policy = write_policy(dir);
    spawn_convex_app_with(error_status, |c| c.auth.policy_path = Some(policy)).await
}

async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    route: &str,
    body: Value,
) -> reqwest::Response {
    client
        .post(app.url(route))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_embedded_store_answers_404_for_functions() {
    let app = spawn_app().await;
    for route in [
        "/api/query",
        "/api/mutation",
        "/api/action",
        "/api/run/videos/list",
        "/v1/functions/query/videos:list",
    ] {
        let response = call(
            &app,
            &app.client,
            route,
            json!({"path": "videos:list", "args": {}}),
        )
        .await;
        assert_problem(response, StatusCode::NOT_FOUND, "convex_not_configured").await;
    }
}

#[tokio::test]
async fn the_passthrough_keeps_convex_shapes_in_both_error_modes() {
    for error_status in [560, 200] {
        let dir = TempDir::new().unwrap();
        let app = spawn_functions_app(error_status, &dir).await;
        let created = call(&app, &app.client, "/api/mutation", json!({"path": "videos:create", "args": [{"twitchId": "p1"}], "format": "convex_encoded_json"})).await;
        assert_eq!(created.status(), StatusCode::OK);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["status"], "success");
        assert!(created["value"].is_string(), "an id: {created}");

        let found: Value = call(
            &app,
            &app.client,
            "/api/query",
            json!({"path": "videos:getByTwitchId", "args": {"twitchId": "p1"}}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(found["value"]["status"], "Queued");
        assert_eq!(found["value"]["ownerId"], "tester");

        // A function error keeps Convex's status code and body, errorData included.
        let failed = call(&app, &app.client, "/api/mutation", json!({"path": "videos:updateStatusByTwitchId", "args": {"twitchId": "zz", "status": "Failed"}})).await;
        assert_eq!(failed.status().as_u16(), error_status);
        let failed: Value = failed.json().await.unwrap();
        assert_eq!(failed["status"], "error");
        assert_eq!(
            failed["errorData"],
            json!({"code": "NOT_FOUND", "twitchId": "zz"})
        );
        assert!(
            failed["errorMessage"]
                .as_str()
                .unwrap()
                .contains("ConvexError")
        );
        if error_status == 200 {
            assert!(
                failed.get("logLines").is_none(),
                "empty logLines stay omitted"
            );
        }
        let plain: Value = call(
            &app,
            &app.client,
            "/api/mutation",
            json!({"path": "videos:explode", "args": {}}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(plain["status"], "error");
        assert!(plain.get("errorData").is_none());

        // Log lines of the function come back too.
        let logged: Value = call(&app, &app.client, "/api/mutation", json!({"path": "videos:updateStatusByTwitchId", "args": {"twitchId": "p1", "status": "Analyzing"}})).await.json().await.unwrap();
        assert_eq!(logged["status"], "success");
        assert!(
            logged["logLines"][0]
                .as_str()
                .unwrap()
                .contains("Analyzing"),
            "{logged}"
        );

        // Bad shapes are refused before anything is forwarded.
        for (body, code) in [
            (
                json!({"path": "videos:getByTwitchId", "args": {}, "format": "xml"}),
                "invalid_body",
            ),
            (
                json!({"path": "videos:getByTwitchId", "args": [{}, {}]}),
                "invalid_body",
            ),
            (json!({"path": "not a path", "args": {}}), "invalid_body"),
            (json!({"args": {}}), "invalid_body"),
        ] {
            assert_problem(
                call(&app, &app.client, "/api/query", body).await,
                StatusCode::BAD_REQUEST,
                code,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn the_policy_guards_every_function_route() {
    let dir = TempDir::new().unwrap();
    let app = spawn_functions_app(560, &dir).await;
    let denied = call(
        &app,
        &app.client,
        "/api/mutation",
        json!({"path": "videos:updateUrls", "args": {"twitchId": "x", "urls": {}}}),
    )
    .await;
    assert_problem(denied, StatusCode::FORBIDDEN, "forbidden").await;
    // Granted as a query only: the mutation route refuses it.
    let wrong_kind = call(
        &app,
        &app.client,
        "/api/mutation",
        json!({"path": "videos:getByTwitchId", "args": {"twitchId": "x"}}),
    )
    .await;
    assert_problem(wrong_kind, StatusCode::FORBIDDEN, "forbidden").await;
    // /api/run needs the path allowed for every kind: only admins here.
    let run = call(
        &app,
        &app.client,
        "/api/run/videos/getByTwitchId",
        json!({"args": {"twitchId": "x"}}),
    )
    .await;
    assert_problem(run, StatusCode::FORBIDDEN, "forbidden").await;
    let admin = app.client_for(&app.token("root", &["admin"]));
    let run: Value = call(
        &app,
        &admin,
        "/api/run/videos/getByTwitchId",
        json!({"args": {"twitchId": "x"}}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        run,
        json!({"status": "success", "value": null, "logLines": []})
    );
    let anonymous = call(
        &app,
        &app.anon,
        "/api/query",
        json!({"path": "videos:whoami", "args": {}}),
    )
    .await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    // Nothing denied reached Convex.
    let recorded = app.convex.as_ref().unwrap().requests().await;
    assert!(
        recorded.iter().all(|r| r["path"] != "videos:updateUrls"),
        "{recorded:?}"
    );
}

#[tokio::test]
async fn the_rest_form_answers_values_and_problems() {
    let dir = TempDir::new().unwrap();
    let app = spawn_functions_app(200, &dir).await;
    let created = app
        .client
        .post(app.url("/v1/functions/mutation/videos:create"))
        .json(&json!({"twitchId": "r1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let updated: Value = app
        .client
        .post(app.url("/v1/functions/mutation/videos:updateStatusByTwitchId"))
        .json(&json!({"twitchId": "r1", "status": "Completed"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        updated,
        json!({"value": {"twitchId": "r1", "status": "Completed"}})
    );
    let whoami: Value = app
        .client
        .post(app.url("/v1/functions/query/videos:whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["value"]["subject"], "tester");

    let missing = app
        .client
        .post(app.url("/v1/functions/mutation/videos:updateStatusByTwitchId"))
        .json(&json!({"twitchId": "none", "status": "Failed"}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(body["detail"], r#"not found (twitchId: "none")"#, "{body}");
    assert_eq!(
        body["errorData"],
        json!({"code": "NOT_FOUND", "twitchId": "none"})
    );
    let plain = app
        .client
        .post(app.url("/v1/functions/mutation/videos:explode"))
        .send()
        .await
        .unwrap();
    assert_problem(plain, StatusCode::UNPROCESSABLE_ENTITY, "function_error").await;
    let bad_kind = app
        .client
        .post(app.url("/v1/functions/cron/videos:whoami"))
        .send()
        .await
        .unwrap();
    assert_problem(bad_kind, StatusCode::BAD_REQUEST, "bad_request").await;

    let metrics = app.get("/metrics").await.text().await.unwrap();
    for expected in [
        r#"convex_function_calls_total{kind="mutation",outcome="success",path="videos:updateStatusByTwitchId"} 1"#,
        r#"convex_function_calls_total{kind="mutation",outcome="error",path="videos:updateStatusByTwitchId"} 1"#,
        r#"convex_function_duration_seconds_count{kind="query",path="videos:whoami"} 1"#,
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
}

#[tokio::test]
async fn the_official_convex_http_client_works_through_the_gateway() {
    let backend = tokio::task::spawn_blocking(|| ConvexBackend::start(560))
        .await
        .unwrap();
    let dir = TempDir::new().unwrap();
    let policy = write_policy(&dir);
    let data = dir.path().join("data");
    let gateway = GatewayProcess::start(
        &data,
        &[
            ("CONVEX_URL", backend.url.as_str()),
            ("GATEWAY_POLICY", policy.to_str().unwrap()),
        ],
    )
    .await;
    let (alice, bob) = (
        gateway.cli_token(&data, "alice"),
        gateway.cli_token(&data, "bob"),
    );
    let url = gateway.url("");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .args([
                "--import",
                "tsx",
                "--test",
                "tests/convex-backend/client/through-gateway.test.mjs",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("GATEWAY_URL", url.trim_end_matches('/'))
            .env("USER_TOKEN", alice)
            .env("OTHER_TOKEN", bob)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("# pass 4") && stdout.contains("# fail 0"),
        "{stdout}"
    );
}
