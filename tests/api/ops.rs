//! Operations endpoints: health, readiness, metrics and the offline docs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_ready_answer() {
    let app = spawn_app().await;
    let health = app.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ready", "store": "local"})
    );
}

#[tokio::test]
async fn metrics_use_route_templates_and_time_store_calls() {
    let app = spawn_app().await;
    let doc = app.insert("videos", json!({"a": 1})).await;
    let id = doc["_id"].as_str().unwrap();
    app.get(&format!("/v1/tables/videos/{id}")).await;
    app.get("/v1/tables/videos/missing").await;
    app.get("/no/such/route").await;

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"http_requests_total{method="POST",route="/v1/tables/{table}",status="201"} 1"#,
        r#"http_requests_total{method="GET",route="/v1/tables/{table}/{id}",status="200"} 1"#,
        r#"http_requests_total{method="GET",route="/v1/tables/{table}/{id}",status="404"} 1"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"http_request_duration_seconds_count{method="GET",route="/v1/tables/{table}/{id}"} 2"#,
        r#"store_operation_duration_seconds_count{adapter="local",operation="insert",outcome="ok"} 1"#,
        r#"store_operation_duration_seconds_count{adapter="local",operation="get",outcome="ok"} 2"#,
        r#"gateway_build_info{adapter="local",version=""#,
        "http_requests_in_flight 1",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    assert!(!text.contains(id), "a raw document id leaked into a label");
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every asset the page loads is local: no CDN.
    assert!(
        !html.contains("https://"),
        "the page references a remote asset:\n{html}"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let response = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let body = response.text().await.unwrap();
        assert!(body.len() > 20, "{asset} is empty");
        if asset == "swagger-initializer.js" {
            assert!(body.contains("/openapi.json"), "{body}");
        }
    }
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/docs"))
        .send()
        .await
        .unwrap();
    assert!(redirect.status().is_redirection() || redirect.status().is_success());
}

#[tokio::test]
async fn replicas_are_told_apart_in_metrics_and_status() {
    let app = crate::helpers::spawn_app_with(|c| c.instance = Some("replica-a".into())).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "gateway_instance_info{{instance=\"replica-a\",version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{metrics}"
    );
    assert_eq!(app.admin_status().await["instance"], "replica-a");
    // Without a name, each process names itself by host and process id.
    let unnamed = spawn_app().await;
    let metrics = unnamed.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!("-{}\",version=", std::process::id())),
        "{metrics}"
    );
}
