//! Rate limits shared by replicas through Redis (`GATEWAY_RATE_LIMIT_URL`): two gateways count
//! one budget, the `RateLimit-*` headers stay truthful across them, and an unreachable Redis
//! fails open or closed as configured.

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_problem, free_port, spawn_app_with};

/// The Redis of this run (`scripts/test` sets `TEST_REDIS_URL`).
fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// A gateway whose anonymous callers may read `notes` 5 times a minute, counted in `redis`
/// under `prefix` (each test its own, so tests never share a budget).
async fn spawn_limited(redis: &str, prefix: &str, fail: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        "[roles.anonymous]\ntables = { \"notes\" = [\"read\"] }\nrate_limit = \"5/min\"\n",
    )
    .unwrap();
    let shared = convex_gateway::Config::from_lookup(|var| match var {
        "GATEWAY_RATE_LIMIT_URL" => Some(redis.to_owned()),
        "GATEWAY_RATE_LIMIT_PREFIX" => Some(prefix.to_owned()),
        "GATEWAY_RATE_LIMIT_FAIL" => Some(fail.to_owned()),
        _ => None,
    })
    .unwrap()
    .shared_limits;
    assert!(shared.is_some());
    let app = spawn_app_with(|c| {
        c.auth.policy_path = Some(path.clone());
        c.shared_limits = shared;
    })
    .await;
    (app, dir)
}

fn prefix(test: &str) -> String {
    format!(
        "cg-test:{}:{test}:{}:",
        std::process::id(),
        uuid::Uuid::new_v4()
    )
}

#[tokio::test]
async fn two_replicas_share_one_budget_and_truthful_headers() {
    let prefix = prefix("shared");
    let (a, _pa) = spawn_limited(&redis_url(), &prefix, "open").await;
    let (b, _pb) = spawn_limited(&redis_url(), &prefix, "open").await;
    let mut allowed = 0;
    for i in 0..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        let response = app
            .anon
            .get(app.url("/v1/tables/notes"))
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::OK => {
                allowed += 1;
                // What is left is counted over both replicas.
                assert_eq!(
                    response.headers()["ratelimit-remaining"],
                    (5 - allowed).to_string().as_str(),
                    "request {i}"
                );
                assert_eq!(response.headers()["ratelimit-limit"], "5");
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
            }
            other => panic!("request {i}: {other}"),
        }
    }
    // 5 a minute with a burst of 5, over both gateways: one replica alone would allow 5 too,
    // so two counting apart would have allowed 10.
    assert_eq!(allowed, 5);
}

#[tokio::test]
async fn an_unreachable_redis_fails_open_by_default_and_closed_when_asked() {
    let nowhere = format!("redis://127.0.0.1:{}", free_port());
    let (open, _po) = spawn_limited(&nowhere, &prefix("open"), "open").await;
    for _ in 0..8 {
        let response = open
            .anon
            .get(open.url("/v1/tables/notes"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("ratelimit-remaining"));
    }
    let metrics = open.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("gateway_rate_limiter_unavailable_total{outcome=\"allowed\"} 8"),
        "{metrics}"
    );
    let ready = open.get("/ready").await;
    assert_problem(
        ready,
        StatusCode::SERVICE_UNAVAILABLE,
        "rate_limiter_unavailable",
    )
    .await;

    let (closed, _pc) = spawn_limited(&nowhere, &prefix("closed"), "closed").await;
    let response = closed
        .anon
        .get(closed.url("/v1/tables/notes"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    assert_problem(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "rate_limiter_unavailable",
    )
    .await;
}
