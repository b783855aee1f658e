//! The Convex adapter beyond the shared suite: each caller's identity on its own request, the
//! headers every call sends, readiness, function-error mapping in both error-status modes, and
//! transport failures forced by a fault-injecting upstream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use convex_gateway::config::ConvexAuthMode;

use crate::helpers::{
    TestApp, assert_problem, free_port, spawn_app_with, spawn_convex_app, spawn_convex_app_200,
    spawn_convex_app_with,
};

fn claims_of(authorization: &str) -> Value {
    let token = authorization.strip_prefix("Bearer ").unwrap();
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn concurrent_callers_each_reach_convex_with_their_own_identity() {
    let app = spawn_convex_app().await;
    let mut tasks = Vec::new();
    for user in 0..20 {
        let client = app.client_for(&app.token(&format!("user{user}"), &["editor"]));
        for n in 0..5 {
            let (client, url) = (client.clone(), app.url("/v1/tables/notes"));
            tasks.push(tokio::spawn(async move {
                let response = client
                    .post(url)
                    .header("x-request-id", format!("req-user{user}-{n}"))
                    .json(&json!({"n": n}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let recorded = app.convex.as_ref().unwrap().requests().await;
    let ours: Vec<&Value> = recorded
        .iter()
        .filter(|r| {
            r["requestId"]
                .as_str()
                .is_some_and(|id| id.starts_with("req-"))
        })
        .collect();
    assert_eq!(ours.len(), 100);
    for request in ours {
        let request_id = request["requestId"].as_str().unwrap();
        let user = request_id.split('-').nth(1).unwrap();
        // Minted per request: signed by the gateway, for this caller only.
        let claims = claims_of(request["authorization"].as_str().unwrap());
        assert_eq!(claims["sub"], user, "{request_id}");
        assert_eq!(claims["iss"], app.config.auth.public_url.as_str());
        assert_eq!(claims["aud"], "convex-gateway");
        assert_eq!(claims["roles"], json!(["editor"]));
        assert_eq!(request["identity"]["subject"], user);
        assert_eq!(
            request["convexClient"],
            concat!("convex-gateway-", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(request["format"], "convex_encoded_json");
        assert_eq!(request["path"], "gateway:apply");
    }
}

#[tokio::test]
async fn forward_and_none_modes_send_the_callers_token_or_nothing() {
    for mode in [ConvexAuthMode::Forward, ConvexAuthMode::None] {
        let app = spawn_convex_app_with(560, |c| c.auth.convex_auth_mode = mode).await;
        let token = app.token("alice", &[]);
        let response = app
            .client_for(&token)
            .get(app.url("/v1/tables/notes"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let recorded = app.convex.as_ref().unwrap().requests().await;
        let last = recorded.last().unwrap();
        match mode {
            ConvexAuthMode::Forward => assert_eq!(last["authorization"], format!("Bearer {token}")),
            _ => assert!(last["authorization"].is_null(), "{last}"),
        }
    }
}

#[tokio::test]
async fn ready_reports_whether_convex_answers() {
    let mut app = spawn_convex_app().await;
    let ready: Value = app.get("/ready").await.json().await.unwrap();
    assert_eq!(
        ready,
        json!({"status": "ready", "store": "convex", "circuit": "closed"})
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"gateway_build_info{adapter="convex""#),
        "{metrics}"
    );
    drop(app.convex.take());
    let response = app.get("/ready").await;
    assert_problem(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

async fn assert_function_errors_map(app: &TestApp) {
    let doc: Value = app
        .post_json("/v1/tables/notes", &json!({"n": 1}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/tables/notes/{}", doc["_id"].as_str().unwrap());
    // ConvexError codes map to their statuses.
    let missing = app
        .send_json(
            reqwest::Method::PATCH,
            "/v1/tables/notes/nope",
            &json!({"n": 2}),
        )
        .await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
    let stale = app
        .client
        .patch(app.url(&path))
        .header("if-match", "\"5\"")
        .json(&json!({"n": 2}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    let unindexed = app.get("/v1/tables/notes?order=n").await;
    let body = assert_problem(unindexed, StatusCode::BAD_REQUEST, "order_needs_index").await;
    assert!(body["detail"].as_str().unwrap().contains("by_n"), "{body}");
    // A function error without a code (a schema violation): 422, never a 5xx.
    let invalid = app
        .post_json("/v1/tables/videos", &json!({"title": "no twitchId"}))
        .await;
    assert_problem(invalid, StatusCode::UNPROCESSABLE_ENTITY, "function_error").await;
    // And nothing was applied.
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current["n"], 1);
}

#[tokio::test]
async fn function_errors_map_when_convex_answers_560() {
    assert_function_errors_map(&spawn_convex_app().await).await;
}

#[tokio::test]
async fn function_errors_map_when_convex_answers_200() {
    assert_function_errors_map(&spawn_convex_app_200().await).await;
}

/// A fault-injecting upstream: answers every function call the way `mode` says, and counts them.
async fn fake_convex(mode: Arc<Mutex<&'static str>>) -> String {
    fake_convex_counting(mode, Arc::new(std::sync::atomic::AtomicU64::new(0))).await
}

async fn fake_convex_counting(
    mode: Arc<Mutex<&'static str>>,
    hits: Arc<std::sync::atomic::AtomicU64>,
) -> String {
    use axum::response::IntoResponse as _;
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .route(
            "/api/{*rest}",
            axum::routing::post(move || {
                let mode = Arc::clone(&mode);
                let hits = Arc::clone(&hits);
                async move {
                    let hit = hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    let current = *mode.lock().unwrap();
                    // `flaky`: two calls in three fail with 503, every third succeeds.
                    let current = match current {
                        "flaky" if !hit.is_multiple_of(3) => "down",
                        "flaky" => "ok",
                        other => other,
                    };
                    match current {
                        "ok" => axum::Json(json!({"status": "success", "value": {"items": [], "nextCursor": null}}))
                            .into_response(),
                        "unauthorized" => (
                            axum::http::StatusCode::UNAUTHORIZED,
                            axum::Json(
                                json!({"code": "InvalidAuthHeader", "message": "bad token"}),
                            ),
                        )
                            .into_response(),
                        "throttled" => (
                            axum::http::StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "7")],
                            "slow down",
                        )
                            .into_response(),
                        "down" => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                        "hang" => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            "late".into_response()
                        }
                        _ => {
                            (axum::http::StatusCode::OK, "<html>not convex</html>").into_response()
                        }
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn transport_failures_map_to_gateway_statuses() {
    let mode = Arc::new(Mutex::new("unauthorized"));
    let url = fake_convex(Arc::clone(&mode)).await;
    let app = spawn_app_with(|c| {
        *c = c.clone().with_convex(url.clone());
        if let Some(convex) = c.convex.as_mut() {
            convex.timeout = Duration::from_millis(800);
            // This test is about how each fault maps: one attempt, and a breaker that stays closed.
            convex.retry.max_retries = 0;
            convex.breaker.consecutive = 100;
            convex.breaker.min_calls = 1000;
        }
    })
    .await;
    let cases = [
        (
            "unauthorized",
            StatusCode::UNAUTHORIZED,
            "upstream_unauthorized",
        ),
        (
            "throttled",
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
        ),
        ("down", StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        ("hang", StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        ("garbage", StatusCode::BAD_GATEWAY, "upstream_error"),
    ];
    for (case, status, code) in cases {
        *mode.lock().unwrap() = case;
        let response = app.get("/v1/tables/t").await;
        if case == "throttled" {
            assert_eq!(response.headers()["retry-after"], "7");
        }
        assert_problem(response, status, code).await;
    }

    let closed = format!("http://127.0.0.1:{}", free_port());
    let app = spawn_app_with(|c| *c = c.clone().with_convex(closed.clone())).await;
    assert_problem(
        app.get("/v1/tables/t").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unreachable",
    )
    .await;
    assert_problem(
        app.get("/ready").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
}

fn quick_breaker(c: &mut convex_gateway::Config) {
    if let Some(convex) = c.convex.as_mut() {
        convex.breaker.consecutive = 3;
        convex.breaker.min_calls = 100;
        convex.breaker.open_for = Duration::from_secs(1);
        convex.breaker.probes = 1;
        // One attempt per request, so each request is one outcome for the breaker.
        convex.retry.max_retries = 0;
    }
}

#[tokio::test]
async fn the_breaker_opens_on_upstream_faults_fails_fast_and_recovers() {
    use std::sync::atomic::Ordering;
    let mode = Arc::new(Mutex::new("down"));
    let hits = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let url = fake_convex_counting(Arc::clone(&mode), Arc::clone(&hits)).await;
    let app = spawn_app_with(|c| {
        *c = c.clone().with_convex(url.clone());
        quick_breaker(c);
    })
    .await;
    for _ in 0..3 {
        assert_problem(
            app.get("/v1/tables/t").await,
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
        )
        .await;
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // Open: fail fast with Retry-After, without calling Convex.
    let fast = app.get("/v1/tables/t").await;
    assert!(fast.headers().contains_key("retry-after"));
    assert_problem(
        fast,
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
    )
    .await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "an open breaker does not call Convex"
    );
    let ready: Value = app.get("/ready").await.json().await.unwrap();
    assert_eq!(ready["circuit"], "open");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gateway_circuit_state 1"), "{metrics}");

    // Convex recovers; after the open period a probe goes through and closes the breaker.
    *mode.lock().unwrap() = "ok";
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get("/v1/tables/t").await.status(), StatusCode::OK);
    let ready: Value = app.get("/ready").await.json().await.unwrap();
    assert_eq!(ready["circuit"], "closed");
    assert_eq!(app.get("/v1/tables/t").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn function_errors_never_open_the_breaker() {
    let app = spawn_convex_app_with(560, quick_breaker).await;
    for _ in 0..10 {
        let missing = app
            .send_json(
                reqwest::Method::PATCH,
                "/v1/tables/notes/nope",
                &json!({"n": 1}),
            )
            .await;
        assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
    }
    let ready: Value = app.get("/ready").await.json().await.unwrap();
    assert_eq!(ready["circuit"], "closed");
    assert_eq!(
        app.post_json("/v1/tables/notes", &json!({"n": 1}))
            .await
            .status(),
        StatusCode::CREATED
    );
}

async fn spawn_on_fake(
    mode: &'static str,
) -> (
    TestApp,
    Arc<Mutex<&'static str>>,
    Arc<std::sync::atomic::AtomicU64>,
) {
    let mode = Arc::new(Mutex::new(mode));
    let hits = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let url = fake_convex_counting(Arc::clone(&mode), Arc::clone(&hits)).await;
    let app = spawn_app_with(|c| {
        *c = c.clone().with_convex(url.clone());
        c.request_timeout = Duration::from_secs(2);
        // Without the outbox, a write Convex could not take is answered as the failure it is.
        c.outbox.enabled = false;
        if let Some(convex) = c.convex.as_mut() {
            convex.timeout = Duration::from_millis(400);
        }
    })
    .await;
    (app, mode, hits)
}

#[tokio::test]
async fn idempotent_calls_are_retried_and_others_are_not() {
    use std::sync::atomic::Ordering;
    // A query: retried until it succeeds (two 503s, then success).
    let (app, _, hits) = spawn_on_fake("flaky").await;
    assert_eq!(app.get("/v1/tables/t").await.status(), StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("gateway_upstream_retries_total 2"),
        "{metrics}"
    );

    // An action is never retried; nor is a mutation without an idempotency key.
    let (app, _, hits) = spawn_on_fake("down").await;
    let admin = app.client_for(&app.token("root", &["admin"]));
    let action = admin
        .post(app.url("/v1/functions/action/jobs:run"))
        .send()
        .await
        .unwrap();
    assert_eq!(action.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let insert = app.post_json("/v1/tables/t", &json!({"n": 1})).await;
    assert_eq!(insert.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // A mutation with an idempotency key is retried: Convex dedupes it.
    let (app, mode, hits) = spawn_on_fake("flaky").await;
    *mode.lock().unwrap() = "flaky";
    let keyed = app
        .client
        .post(app.url("/v1/tables/t"))
        .header("idempotency-key", "retry-me")
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    // The fake answers a list shape, so the adapter calls it malformed; what matters is the count.
    assert_ne!(keyed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_stop_at_the_request_deadline() {
    let (app, _, hits) = spawn_on_fake("hang").await;
    let started = std::time::Instant::now();
    let response = app.get("/v1/tables/t").await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        elapsed < Duration::from_millis(2900),
        "answered after {elapsed:?}, past the 2 s deadline"
    );
    let attempts = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=4).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn the_bulkhead_sheds_overflow_without_opening_the_breaker() {
    let mode = Arc::new(Mutex::new("hang"));
    let hits = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let url = fake_convex_counting(Arc::clone(&mode), Arc::clone(&hits)).await;
    let app = spawn_app_with(|c| {
        *c = c.clone().with_convex(url.clone());
        if let Some(convex) = c.convex.as_mut() {
            convex.max_concurrency = 1;
            convex.timeout = Duration::from_millis(1500);
            convex.retry.max_retries = 0;
            convex.breaker.consecutive = 2;
        }
    })
    .await;
    let slow = {
        let client = app.client.clone();
        let url = app.url("/v1/tables/t");
        tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
    };
    // Wait until the first call holds the only slot.
    for _ in 0..100 {
        if hits.load(std::sync::atomic::Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let shed = app.get("/v1/tables/t").await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "shed at once, not queued"
    );
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_problem(shed, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the shed call never reached Convex"
    );
    assert_eq!(slow.await.unwrap(), StatusCode::GATEWAY_TIMEOUT);
    // Two faults in a row would open it: the timeout is one, and the shed call did not count.
    let ready: Value = app.get("/ready").await.json().await.unwrap();
    assert_eq!(ready["circuit"], "closed");
}
