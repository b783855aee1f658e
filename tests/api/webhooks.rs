//! Inbound webhooks through the running gateway: the providers' own libraries sign deliveries
//! that reach the Convex test backend once (the Node side, `webhooks-through-gateway.test.mjs`);
//! a webhook arriving while Convex is down is kept in the outbox, answered 202 and delivered
//! once when Convex is back; without an outbox it answers 503 and a retry delivers it; on the
//! embedded store a table target is upserted; unknown webhooks, bad signatures, oversized and
//! non-JSON bodies have their codes and are counted; secrets never reach the log.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use tempfile::TempDir;

use crate::helpers::{ConvexBackend, GatewayProcess, assert_problem, spawn_app_with};
use crate::resilience::{FaultProxy, behind};

const ADMIN_KEY: &str = "webhook-test-deploy-key";
const CLERK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CLERK_NEXT: &str = "whsec_dGhlIG5leHQgc2VjcmV0IGFmdGVyIGEgcm90YXRpb24=";
const STANDARD_SECRET: &str = "whsec_c3RhbmRhcmQgd2ViaG9va3Mgc2VjcmV0IGtleQ==";
const STRIPE_SECRET: &str = "whsec_stripe_test_secret_value";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

const WEBHOOKS: &str = r#"
[webhooks.clerk]
scheme = "svix"
secrets = ["env:CLERK_WEBHOOK_SECRET", "env:CLERK_WEBHOOK_SECRET_NEXT"]
[[webhooks.clerk.deliver]]
types = ["user.created", "user.updated"]
mutation = "users:upsertFromClerk"
args = { data = "/data" }
[[webhooks.clerk.deliver]]
types = ["user.deleted"]
mutation = "users:deleteFromClerk"
args = { clerkUserId = "/data/id" }

[webhooks.standard]
scheme = "standard"
secrets = ["env:STANDARD_WEBHOOK_SECRET"]
[[webhooks.standard.deliver]]
table = "things"
fields = "/data"

[webhooks.stripe]
scheme = "stripe"
secrets = ["env:STRIPE_WEBHOOK_SECRET"]
[[webhooks.stripe.deliver]]
types = ["invoice.*"]
table = "payments"
fields = { stripeId = "/data/object/id", status = "/data/object/status", amount = "/data/object/amount_paid", eventType = "/type" }
upsert_by = "stripeId"

[webhooks.github]
scheme = "github"
secrets = ["env:GITHUB_WEBHOOK_SECRET"]
[[webhooks.github.deliver]]
types = ["push"]
table = "things"
fields = { k = "/ref", repo = "/repository/full_name" }
"#;

const SECRETS: [(&str, &str); 5] = [
    ("CLERK_WEBHOOK_SECRET", CLERK_SECRET),
    ("CLERK_WEBHOOK_SECRET_NEXT", CLERK_NEXT),
    ("STANDARD_WEBHOOK_SECRET", STANDARD_SECRET),
    ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
    ("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET),
];

fn secret_env(name: &str) -> Option<String> {
    SECRETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| (*v).to_owned())
}

/// What `check` gives once it gives something, waiting at most 20 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Svix's signature (the Node test checks the same with Svix's own library).
fn svix_headers(secret: &str, id: &str, ts: u64, body: &str) -> Vec<(&'static str, String)> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("svix-id", id.to_owned()),
        ("svix-timestamp", ts.to_string()),
        ("svix-signature", format!("v1,{signature}")),
    ]
}

fn github_headers(body: &str, delivery: &str) -> Vec<(&'static str, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    vec![
        ("x-hub-signature-256", format!("sha256={hex}")),
        ("x-github-delivery", delivery.to_owned()),
        ("x-github-event", "push".to_owned()),
    ]
}

async fn post(url: &str, body: &str, headers: &[(&'static str, String)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

fn clerk_user_created(id: &str) -> String {
    json!({"type": "user.created", "object": "event", "data": {"id": id, "first_name": "Grace", "email_addresses": []}})
        .to_string()
}

/// A user as the test backend holds it, or `null`.
async fn convex_user(backend: &str, external_id: &str) -> Value {
    let answer: Value = reqwest::Client::new()
        .post(format!("{backend}/api/query"))
        .json(&json!({"path": "users:getByExternalId", "args": {"externalId": external_id}, "format": "json"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["value"].clone()
}

#[tokio::test]
async fn providers_libraries_sign_deliveries_that_reach_convex_once() {
    let backend = tokio::task::spawn_blocking(|| {
        ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", ADMIN_KEY)])
    })
    .await
    .unwrap();
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("webhooks.toml");
    std::fs::write(&file, WEBHOOKS).unwrap();
    let data = dir.path().join("data");
    let mut envs = vec![
        ("CONVEX_URL", backend.url.as_str()),
        ("CONVEX_DEPLOYMENT_KEY", ADMIN_KEY),
        ("GATEWAY_WEBHOOKS", file.to_str().unwrap()),
        ("RUST_LOG", "info"),
    ];
    envs.extend(SECRETS);
    let gateway = GatewayProcess::start(&data, &envs).await;
    let url = gateway.url("");
    let backend_url = backend.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .args([
                "--import",
                "tsx",
                "--test",
                "tests/convex-backend/client/webhooks-through-gateway.test.mjs",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("GATEWAY_URL", url.trim_end_matches('/'))
            .env("BACKEND_URL", backend_url)
            .envs(SECRETS)
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
        stdout.contains("# pass 5") && stdout.contains("# fail 0"),
        "{stdout}"
    );

    // Every outcome was counted by webhook.
    let metrics = reqwest::get(gateway.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (name, outcome) in [
        ("clerk", "delivered"),
        ("clerk", "duplicate"),
        ("clerk", "ignored"),
        ("clerk", "bad_signature"),
        ("clerk", "stale_timestamp"),
        ("stripe", "delivered"),
        ("stripe", "stale_timestamp"),
        ("github", "duplicate"),
        ("standard", "bad_signature"),
    ] {
        let series = format!(r#"gateway_webhooks_total{{name="{name}",outcome="{outcome}"}}"#);
        assert!(metrics.contains(&series), "missing {series} in\n{metrics}");
    }
    // The refusals were logged with their reason, and no secret or key reached the log.
    let log = gateway.log_text();
    assert!(log.contains("webhook refused"), "{log}");
    for (_, secret) in SECRETS {
        assert!(!log.contains(secret), "a webhook secret is in the log");
    }
    assert!(!log.contains(ADMIN_KEY), "the deploy key is in the log");
    // Deliveries reached Convex under the deploy key, never anonymously.
    let requests = backend.requests().await;
    let deliveries: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"] == "gateway:webhook")
        .collect();
    assert!(!deliveries.is_empty());
    assert!(
        deliveries
            .iter()
            .all(|r| r["authorization"] == format!("Convex {ADMIN_KEY}"))
    );
}

#[tokio::test]
async fn a_webhook_that_arrives_while_convex_is_down_is_kept_and_delivered_once() {
    let backend = tokio::task::spawn_blocking(|| {
        ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", ADMIN_KEY)])
    })
    .await
    .unwrap();
    let proxy = FaultProxy::start(&backend.url).await;
    let app = spawn_app_with(|config| {
        behind(config, &proxy);
        if let Some(convex) = config.convex.as_mut() {
            convex.deploy_key = Some(ADMIN_KEY.to_owned().into());
        }
        config.webhooks = convex_gateway::webhooks::config::parse(WEBHOOKS, secret_env)
            .unwrap()
            .into();
    })
    .await;
    let url = app.url("/webhooks/clerk");
    let body = clerk_user_created("user_outage");

    proxy.set_up(false);
    let queued = post(
        &url,
        &body,
        &svix_headers(CLERK_SECRET, "msg_outage", now(), &body),
    )
    .await;
    assert_eq!(queued.status(), StatusCode::ACCEPTED);
    let receipt: Value = queued.json().await.unwrap();
    assert_eq!(receipt["status"], "queued");
    assert!(receipt["outboxId"].is_string(), "{receipt}");
    // Clerk retries while Convex is still down: nothing is queued twice.
    let retry = post(
        &url,
        &body,
        &svix_headers(CLERK_SECRET, "msg_outage", now(), &body),
    )
    .await;
    assert_eq!(retry.status(), StatusCode::OK);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(
        (retry["status"].as_str(), retry["first"].as_str()),
        (Some("duplicate"), Some("queued"))
    );

    proxy.set_up(true);
    let user = eventually("the queued webhook's delivery", || async {
        let user = convex_user(&backend.url, "user_outage").await;
        (!user.is_null()).then_some(user)
    })
    .await;
    assert_eq!(user["gwVersion"], 1, "delivered once: {user}");
    // After delivery, a late redelivery still does nothing.
    let late = post(
        &url,
        &body,
        &svix_headers(CLERK_SECRET, "msg_outage", now(), &body),
    )
    .await;
    assert_eq!(late.json::<Value>().await.unwrap()["status"], "duplicate");
    // The outbox delivered it under the deploy key.
    let status = app.admin_status().await;
    assert_eq!(status["outbox"]["depth"], 0, "{status}");
    assert_eq!(
        convex_user(&backend.url, "user_outage").await["gwVersion"],
        1
    );
    let requests = backend.requests().await;
    assert!(
        requests.iter().any(|r| r["path"] == "gateway:webhook"
            && r["authorization"] == format!("Convex {ADMIN_KEY}"))
    );
}

#[tokio::test]
async fn without_an_outbox_a_webhook_answers_503_while_convex_is_down_and_a_retry_delivers_it() {
    let backend = tokio::task::spawn_blocking(|| {
        ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", ADMIN_KEY)])
    })
    .await
    .unwrap();
    let proxy = FaultProxy::start(&backend.url).await;
    let app = spawn_app_with(|config| {
        behind(config, &proxy);
        config.outbox.enabled = false;
        if let Some(convex) = config.convex.as_mut() {
            convex.deploy_key = Some(ADMIN_KEY.to_owned().into());
        }
        config.webhooks = convex_gateway::webhooks::config::parse(WEBHOOKS, secret_env)
            .unwrap()
            .into();
    })
    .await;
    let url = app.url("/webhooks/clerk");
    let body = clerk_user_created("user_retry");
    proxy.set_up(false);
    let down = post(
        &url,
        &body,
        &svix_headers(CLERK_SECRET, "msg_retry", now(), &body),
    )
    .await;
    assert!(down.status().is_server_error(), "{}", down.status());
    proxy.set_up(true);
    // The id was released: the provider's retry delivers it.
    let delivered = eventually("a retry that delivers", || async {
        let answer = post(
            &url,
            &body,
            &svix_headers(CLERK_SECRET, "msg_retry", now(), &body),
        )
        .await;
        (answer.status() == StatusCode::OK).then_some(answer)
    })
    .await;
    assert_eq!(
        delivered.json::<Value>().await.unwrap()["status"],
        "delivered"
    );
    assert_eq!(
        convex_user(&backend.url, "user_retry").await["gwVersion"],
        1
    );
}

#[tokio::test]
async fn on_the_embedded_store_a_table_target_is_upserted_and_refusals_have_codes() {
    let webhooks = r#"
        [webhooks.github]
        scheme = "github"
        secrets = ["It's a Secret to Everybody"]
        max_body_bytes = 2048
        [[webhooks.github.deliver]]
        types = ["push"]
        table = "pushes"
        fields = { repo = "/repository/full_name", ref = "/ref" }
        upsert_by = "repo"
    "#;
    let app = spawn_app_with(|config| {
        config.webhooks = convex_gateway::webhooks::config::parse(webhooks, |_| None)
            .unwrap()
            .into();
    })
    .await;
    let url = app.url("/webhooks/github");
    let push = |r: &str| json!({"ref": r, "repository": {"full_name": "acme/app"}}).to_string();
    let first = post(
        &url,
        &push("refs/heads/a"),
        &github_headers(&push("refs/heads/a"), "d-1"),
    )
    .await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.json::<Value>().await.unwrap()["status"], "delivered");
    let dup = post(
        &url,
        &push("refs/heads/a"),
        &github_headers(&push("refs/heads/a"), "d-1"),
    )
    .await;
    assert_eq!(dup.json::<Value>().await.unwrap()["status"], "duplicate");
    let second = post(
        &url,
        &push("refs/heads/b"),
        &github_headers(&push("refs/heads/b"), "d-2"),
    )
    .await;
    assert_eq!(second.json::<Value>().await.unwrap()["status"], "delivered");
    let rows = app.list_all("pushes", "").await;
    assert_eq!(rows.len(), 1, "upserted by repo: {rows:?}");
    assert_eq!(
        (rows[0]["ref"].as_str(), rows[0]["_version"].as_u64()),
        (Some("refs/heads/b"), Some(2))
    );

    // Refusals, each with its code.
    let tampered = post(
        &url,
        &push("refs/heads/evil"),
        &github_headers(&push("refs/heads/a"), "d-3"),
    )
    .await;
    assert_problem(tampered, StatusCode::UNAUTHORIZED, "webhook_signature").await;
    let unsigned = post(&url, &push("x"), &[]).await;
    assert_problem(unsigned, StatusCode::UNAUTHORIZED, "webhook_signature").await;
    let unknown = post(&app.url("/webhooks/nope"), "{}", &[]).await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "webhook_not_found").await;
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(4096));
    let too_big = post(&url, &big, &github_headers(&big, "d-4")).await;
    assert_problem(too_big, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let not_json = post(&url, "ref=main", &github_headers("ref=main", "d-5")).await;
    assert_problem(not_json, StatusCode::BAD_REQUEST, "webhook_payload").await;
    // A verified event without the field to upsert by: refused, nothing written, and the id is
    // free again for a corrected delivery.
    let no_repo = json!({"ref": "r"}).to_string();
    let refused = post(&url, &no_repo, &github_headers(&no_repo, "d-6")).await;
    assert_problem(refused, StatusCode::BAD_REQUEST, "webhook_payload").await;
    assert_eq!(app.list_all("pushes", "").await.len(), 1);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    for series in [
        r#"gateway_webhooks_total{name="github",outcome="delivered"} 2"#,
        r#"gateway_webhooks_total{name="github",outcome="duplicate"} 1"#,
        r#"gateway_webhooks_total{name="github",outcome="bad_signature"} 2"#,
        r#"gateway_webhooks_total{name="github",outcome="bad_payload"} 2"#,
        r#"gateway_webhooks_total{name="-",outcome="not_found"} 1"#,
    ] {
        assert!(metrics.contains(series), "missing {series} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_mutation_target_without_convex_stops_the_gateway_at_start() {
    let dir = TempDir::new().unwrap();
    let mut config = convex_gateway::Config::for_data_dir(dir.path());
    config.webhooks = convex_gateway::webhooks::config::parse(WEBHOOKS, secret_env)
        .unwrap()
        .into();
    let Err(err) = convex_gateway::Application::build(config).await else {
        panic!("a Convex mutation target on the embedded store must be refused")
    };
    assert!(format!("{err:#}").contains("CONVEX_URL"), "{err:#}");
}
