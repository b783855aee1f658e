//! When Convex is down: the offline outbox (202, delivery in order, exactly once, dead letters,
//! admin requeue and discard), stale reads, per-role rate limits, and the no-lost-writes run.
//! Faults are forced by a small TCP proxy in front of the real Convex test backend, which drops
//! every connection (including those in flight) on command, so a write can reach Convex while its
//! answer is lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{ConvexBackend, TestApp, assert_problem, spawn_app_with};
use convex_gateway::Config;

/// A proxy that passes traffic to the upstream, or drops every connection.
pub struct FaultProxy {
    pub url: String,
    up: watch::Sender<bool>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> Self {
        let target = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (up, rx) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut rx = rx.clone();
                if !*rx.borrow_and_update() {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    // Copy until either side closes, or the proxy goes down: then both
                    // connections are cut, whatever was in flight.
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = async { while *rx.borrow_and_update() { if rx.changed().await.is_err() { break; } } } => {}
                    }
                });
            }
        });
        Self { url, up }
    }

    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// Points `config` at Convex through `proxy`, with a quick breaker and outbox backoff.
pub fn behind(config: &mut Config, proxy: &FaultProxy) {
    *config = config.clone().with_convex(proxy.url.clone());
    if let Some(convex) = config.convex.as_mut() {
        convex.timeout = Duration::from_secs(2);
        convex.breaker.open_for = Duration::from_secs(1);
    }
    config.outbox.backoff_base = Duration::from_millis(50);
    config.outbox.backoff_cap = Duration::from_millis(300);
}

/// A gateway on the Convex adapter behind a fault proxy, with a quick breaker and outbox backoff.
pub async fn behind_proxy(configure: impl FnOnce(&mut Config)) -> (TestApp, FaultProxy) {
    let backend = tokio::task::spawn_blocking(|| ConvexBackend::start(560))
        .await
        .unwrap();
    let proxy = FaultProxy::start(&backend.url).await;
    let mut app = spawn_app_with(|c| {
        behind(c, &proxy);
        configure(c);
    })
    .await;
    app.convex = Some(backend);
    (app, proxy)
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

/// The outbox id of a write answered `202 Accepted`.
async fn accepted(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    json_of(response).await["outboxId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls the caller's view of an outbox entry until it leaves `queued`.
async fn settled(app: &TestApp, client: &reqwest::Client, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let entry = json_of(
            client
                .get(app.url(&format!("/v1/outbox/{id}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        if entry["status"] != "queued" {
            return entry;
        }
        assert!(Instant::now() < deadline, "still queued: {entry}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn writes_are_queued_while_convex_is_down_and_delivered_once_it_is_back() {
    let (app, proxy) = behind_proxy(|_| {}).await;
    let doc = app.insert("notes", json!({"n": 0})).await;
    let id = doc["_id"].as_str().unwrap();

    proxy.set_up(false);
    let insert = app.post_json("/v1/tables/notes", &json!({"n": 1})).await;
    assert_eq!(insert.status(), StatusCode::ACCEPTED);
    let location = insert.headers()["location"].to_str().unwrap().to_owned();
    let receipt = json_of(insert).await;
    assert_eq!(receipt["status"], "queued");
    let insert_id = receipt["outboxId"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/outbox/{insert_id}"));

    let patch = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/v1/tables/notes/{id}"),
            &json!({"n": 10}),
        )
        .await;
    let patch_id = accepted(patch).await;
    let batch = app
        .post_json(
            "/v1/transactions",
            &json!({"operations": [
                {"op": "insert", "table": "notes", "document": {"n": 2}},
                {"op": "patch", "table": "notes", "id": id, "patch": {"seen": true}},
            ]}),
        )
        .await;
    let batch_id = accepted(batch).await;

    // The entry belongs to its caller: others do not see it; admins do.
    let queued = app.get(&location).await;
    assert_eq!(json_of(queued).await["status"], "queued");
    let stranger = app.client_for(&app.token("stranger", &[]));
    assert_problem(
        stranger.get(app.url(&location)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "outbox_entry_not_found",
    )
    .await;
    let admin = app.client_for(&app.token("root", &["admin"]));
    let listed = json_of(
        admin
            .get(app.url("/admin/outbox?status=queued"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["depth"], 3);
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&metrics, "gateway_outbox_depth"), 3.0);
    assert!(metric(&metrics, "gateway_outbox_oldest_age_seconds") >= 0.0);
    let status = json_of(admin.get(app.url("/admin/status")).send().await.unwrap()).await;
    assert_eq!(status["outbox"]["depth"], 3);
    assert!(status["circuit"].is_string());

    // Reads are not queued: without stale reads they fail while Convex is down.
    let read = app.get(&format!("/v1/tables/notes/{id}")).await;
    assert_eq!(read.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.set_up(true);
    let delivered = settled(&app, &app.client, &insert_id).await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    // The delivery was an attempt, and the errors of earlier attempts are history.
    assert!(delivered["attempts"].as_u64() >= Some(1), "{delivered}");
    assert!(delivered["lastError"].is_null(), "{delivered}");
    assert_eq!(delivered["result"]["results"][0]["outcome"], "inserted");
    assert_eq!(delivered["result"]["results"][0]["document"]["n"], 1);
    let new_id = delivered["result"]["results"][0]["id"].as_str().unwrap();
    // The relay delivers in order: the batch, queued last, settles last.
    for entry in [&patch_id, &batch_id] {
        assert_eq!(
            settled(&app, &app.client, entry).await["status"],
            "delivered"
        );
    }

    // Each write is in Convex once, and the patches landed in order.
    let all = app.list_all("notes", "limit=100").await;
    let ns: Vec<i64> = all.iter().map(|d| d["n"].as_i64().unwrap()).collect();
    assert_eq!(ns.len(), 3, "{all:?}");
    assert!(
        ns.contains(&1) && ns.contains(&2) && ns.contains(&10),
        "{ns:?}"
    );
    let patched = json_of(app.get(&format!("/v1/tables/notes/{id}")).await).await;
    assert_eq!(
        (patched["n"].clone(), patched["seen"].clone()),
        (json!(10), json!(true))
    );
    assert!(all.iter().any(|d| d["_id"] == new_id));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metric(&metrics, "gateway_outbox_depth") == 0.0 {
            assert_eq!(
                metric(
                    &metrics,
                    "gateway_outbox_delivered_total{outcome=\"delivered\"}"
                ),
                3.0
            );
            break;
        }
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_write_behind_a_queued_one_to_the_same_document_waits_its_turn() {
    let (app, proxy) = behind_proxy(|_| {}).await;
    let doc = app.insert("notes", json!({"n": 0})).await;
    let path = format!("/v1/tables/notes/{}", doc["_id"].as_str().unwrap());
    proxy.set_up(false);
    for n in [1, 2] {
        let r = app
            .send_json(reqwest::Method::PATCH, &path, &json!({"n": n}))
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    proxy.set_up(true);
    // Sent while the earlier patches may still be queued: it must not overtake them.
    let last = app
        .send_json(reqwest::Method::PATCH, &path, &json!({"n": 3}))
        .await;
    assert!(
        [StatusCode::OK, StatusCode::ACCEPTED].contains(&last.status()),
        "{}",
        last.status()
    );
    // Wait until nothing is queued any more: every patch has been delivered, none is pending
    // that could still land after the check below.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metric(&metrics, "gateway_outbox_depth") == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The last patch is the last word, and each of the three applied exactly once, in order:
    // an overtaking delivery would leave n at 1 or 2, a doubled one a higher version.
    let read = json_of(app.get(&path).await).await;
    assert_eq!(
        (read["n"].clone(), read["_version"].clone()),
        (json!(3), json!(4)),
        "{read}"
    );
}

#[tokio::test]
async fn writes_that_cannot_apply_are_dead_lettered_and_admins_requeue_or_discard_them() {
    let (app, proxy) = behind_proxy(|_| {}).await;
    let doc = app.insert("notes", json!({"n": 0})).await;
    let path = format!("/v1/tables/notes/{}", doc["_id"].as_str().unwrap());
    proxy.set_up(false);
    let delete = app
        .send_json(reqwest::Method::DELETE, &path, &json!({}))
        .await;
    let delete_id = accepted(delete).await;
    let patch = app
        .send_json(reqwest::Method::PATCH, &path, &json!({"n": 1}))
        .await;
    let patch_id = accepted(patch).await;
    proxy.set_up(true);

    assert_eq!(
        settled(&app, &app.client, &delete_id).await["status"],
        "delivered"
    );
    // The patch comes after the delete, so its document is gone: no retry can fix that.
    let dead = settled(&app, &app.client, &patch_id).await;
    assert_eq!(dead["status"], "dead", "{dead}");
    assert!(
        dead["lastError"].as_str().unwrap().starts_with("not_found"),
        "{dead}"
    );

    let admin = app.client_for(&app.token("root", &["admin"]));
    assert_problem(
        app.get("/admin/outbox").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let listed = json_of(
        admin
            .get(app.url("/admin/outbox?status=dead"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["items"][0]["outboxId"], patch_id.as_str());
    assert_problem(
        admin
            .get(app.url("/admin/outbox?status=lost"))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;

    let requeued = admin
        .post(app.url(&format!("/admin/outbox/{patch_id}/requeue")))
        .send()
        .await
        .unwrap();
    assert_eq!(requeued.status(), StatusCode::OK);
    assert_eq!(json_of(requeued).await["status"], "queued");
    let again = settled(&app, &admin, &patch_id).await;
    assert_eq!(
        (again["status"].clone(), again["attempts"].clone()),
        (json!("dead"), json!(1))
    );

    let discarded = admin
        .delete(app.url(&format!("/admin/outbox/{patch_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(discarded).await["status"], "discarded");
    assert_problem(
        admin
            .post(app.url(&format!("/admin/outbox/{patch_id}/requeue")))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "outbox_entry_state",
    )
    .await;
    assert_problem(
        admin
            .delete(app.url(&format!("/admin/outbox/{delete_id}")))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "outbox_entry_state",
    )
    .await;
    assert_problem(
        admin
            .post(app.url("/admin/outbox/nope/requeue"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "outbox_entry_not_found",
    )
    .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        metric(&metrics, "gateway_outbox_delivered_total{outcome=\"dead\"}"),
        2.0
    );
}

#[tokio::test]
async fn deliveries_give_up_after_the_attempt_limit() {
    let (app, proxy) = behind_proxy(|c| {
        c.outbox.max_attempts = 3;
        if let Some(convex) = c.convex.as_mut() {
            // Keep the breaker shut so each delivery really tries.
            convex.breaker.consecutive = 1000;
            convex.breaker.min_calls = 1000;
        }
    })
    .await;
    proxy.set_up(false);
    let insert = app.post_json("/v1/tables/notes", &json!({"n": 1})).await;
    let id = accepted(insert).await;
    let dead = settled(&app, &app.client, &id).await;
    assert_eq!(dead["status"], "dead");
    assert_eq!(dead["attempts"], 3);
    assert!(
        dead["lastError"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{dead}"
    );
}

#[tokio::test]
async fn with_the_outbox_off_writes_fail_fast_while_convex_is_down() {
    let (app, proxy) = behind_proxy(|c| c.outbox.enabled = false).await;
    proxy.set_up(false);
    let insert = app.post_json("/v1/tables/notes", &json!({"n": 1})).await;
    assert!(insert.headers().contains_key("retry-after"));
    assert_eq!(insert.status(), StatusCode::SERVICE_UNAVAILABLE);
    let admin = app.client_for(&app.token("root", &["admin"]));
    let status = json_of(admin.get(app.url("/admin/status")).send().await.unwrap()).await;
    assert!(status.get("outbox").is_none(), "{status}");
}

#[tokio::test]
async fn allow_listed_mutations_are_queued_and_others_fail() {
    let (app, proxy) = behind_proxy(|c| c.outbox.mutations = vec!["videos:*".into()]).await;
    let admin = app.client_for(&app.token("root", &["admin"]));
    proxy.set_up(false);
    let queued = admin
        .post(app.url("/api/mutation"))
        .json(&json!({"path": "videos:create", "args": {"twitchId": "t1", "title": "queued"}}))
        .send()
        .await
        .unwrap();
    let id = accepted(queued).await;
    let refused = admin
        .post(app.url("/api/mutation"))
        .json(&json!({"path": "users:create", "args": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    proxy.set_up(true);
    let delivered = settled(&app, &admin, &id).await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(delivered["kind"], "mutation");
}

#[tokio::test]
async fn stale_reads_answer_recent_results_marked_while_convex_is_down() {
    let (app, proxy) = behind_proxy(|c| c.stale_reads = true).await;
    let doc = app.insert("notes", json!({"n": 7})).await;
    let path = format!("/v1/tables/notes/{}", doc["_id"].as_str().unwrap());
    let fresh = app.get(&path).await;
    assert!(!fresh.headers().contains_key("x-gateway-stale"));
    let list = app.get("/v1/tables/notes?n=eq.7").await;
    assert_eq!(list.status(), StatusCode::OK);

    proxy.set_up(false);
    let stale = app.get(&path).await;
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(stale.headers()["x-gateway-stale"], "true");
    assert!(
        stale.headers()["warning"]
            .to_str()
            .unwrap()
            .starts_with("110")
    );
    assert!(stale.headers().contains_key("age"));
    assert_eq!(json_of(stale).await["n"], 7);
    let stale_list = app.get("/v1/tables/notes?n=eq.7").await;
    assert_eq!(stale_list.headers()["x-gateway-stale"], "true");
    assert_eq!(json_of(stale_list).await["items"][0]["n"], 7);
    // Cached per caller: another caller's read was never cached, so it fails.
    let other = app.client_for(&app.token("other", &[]));
    let miss = other.get(app.url(&path)).send().await.unwrap();
    assert_eq!(miss.status(), StatusCode::SERVICE_UNAVAILABLE);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&metrics, "gateway_stale_reads_total"), 2.0);
}

#[tokio::test]
async fn rate_limits_apply_per_caller_and_role_with_headers() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        r#"
[roles.anonymous]
tables = { "public" = ["read"] }
rate_limit = "2/min"

[roles.authenticated]
tables = { "*" = ["read", "write", "delete"] }
rate_limit = "3/min"

[roles.service]
rate_limit = "unlimited"
"#,
    )
    .unwrap();
    let app = spawn_app_with(|c| {
        c.auth.policy_path = Some(path.clone());
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;

    for remaining in ["2", "1", "0"] {
        let ok = app.get("/v1/tables/notes").await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()["ratelimit-limit"], "3");
        assert_eq!(ok.headers()["ratelimit-remaining"], remaining);
        assert_eq!(ok.headers()["ratelimit-policy"], "3;w=60");
    }
    let limited = app.get("/v1/tables/notes").await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers()["ratelimit-remaining"], "0");
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // Another caller has its own budget; an unlimited role lifts it; probes are never limited.
    let other = app.client_for(&app.token("other", &[]));
    assert_eq!(
        other
            .get(app.url("/v1/tables/notes"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let service = app.client_for(&app.token("svc", &["service"]));
    for _ in 0..5 {
        let r = service
            .get(app.url("/v1/tables/notes"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(!r.headers().contains_key("ratelimit-limit"));
    }
    for _ in 0..5 {
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    }
    // Anonymous callers are keyed by address.
    for _ in 0..2 {
        let r = app
            .anon
            .get(app.url("/v1/tables/public"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app
        .anon
        .get(app.url("/v1/tables/public"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Through a trusted proxy (the peer's address, as the server saw it), the client it names
    // has its own budget.
    let r = app
        .anon
        .get(app.url("/v1/tables/public"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("gateway_rate_limited_total{role=\"authenticated\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gateway_rate_limited_total{role=\"anonymous\"} 1"),
        "{metrics}"
    );
}

/// The issue's acceptance run: 8 writers send 2,000 keyed inserts over about 20 seconds; Convex
/// is unreachable for 10 seconds in the middle, connections in flight cut. Every write ends
/// acknowledged (writers retry a 5xx with the same key, as clients should), and at the end each
/// is in Convex exactly once.
#[tokio::test]
async fn no_acknowledged_write_is_lost_or_doubled_across_an_outage() {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 250;
    let (app, proxy) = behind_proxy(|_| {}).await;
    let app = Arc::new(app);
    let acked = Arc::new(AtomicUsize::new(0));
    let queued = Arc::new(AtomicUsize::new(0));
    let retried = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (app, acked, queued, retried) = (
            Arc::clone(&app),
            Arc::clone(&acked),
            Arc::clone(&queued),
            Arc::clone(&retried),
        );
        tasks.push(tokio::spawn(async move {
            let client = app.client_for(&app.token(&format!("writer{writer}"), &[]));
            for n in 0..PER_WRITER {
                // Spread the writes over about 20 seconds.
                let due = started + Duration::from_millis((n as u64) * 80);
                tokio::time::sleep_until(due.into()).await;
                let key = format!("w{writer}-n{n}");
                loop {
                    let response = client
                        .post(app.url("/v1/tables/events"))
                        .header("idempotency-key", &key)
                        .json(&json!({"writer": writer, "n": n}))
                        .send()
                        .await;
                    match response.map(|r| r.status()) {
                        Ok(StatusCode::CREATED) => break,
                        Ok(StatusCode::ACCEPTED) => {
                            queued.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Ok(status) => {
                            assert!(
                                status.is_server_error() || status == StatusCode::CONFLICT,
                                "{status}"
                            );
                            retried.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(err) => panic!("the gateway itself failed: {err}"),
                    }
                }
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Outage from about 5 s to 15 s, once writes are flowing.
    while acked.load(Ordering::Relaxed) < 400 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.set_up(false);
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.set_up(true);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(acked.load(Ordering::Relaxed), WRITERS * PER_WRITER);
    assert!(
        queued.load(Ordering::Relaxed) > 0,
        "no write was queued: the outage did not bite"
    );

    // Wait for the outbox to drain, then count what Convex holds.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metric(&metrics, "gateway_outbox_depth") == 0.0 {
            assert!(
                !metrics.contains("gateway_outbox_delivered_total{outcome=\"dead\"}"),
                "{metrics}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = app.list_all("events", "limit=1000").await;
    let mut seen = HashSet::new();
    for doc in &all {
        let pair = (doc["writer"].as_u64().unwrap(), doc["n"].as_u64().unwrap());
        assert!(seen.insert(pair), "written twice: {pair:?}");
    }
    assert_eq!(all.len(), WRITERS * PER_WRITER, "lost writes");
    eprintln!(
        "no-lost-writes: {} acknowledged ({} queued, {} retried by clients) in {:?}",
        all.len(),
        queued.load(Ordering::Relaxed),
        retried.load(Ordering::Relaxed),
        started.elapsed()
    );
}

/// Every function, to every authenticated caller: the fuzzer's role in issue 13.
const OPEN_POLICY: &str = r#"
[roles.admin]
admin = true

[roles.authenticated]
tables = { "*" = ["read", "write", "delete"] }
functions = { "*" = ["query", "mutation", "action"] }
"#;

#[tokio::test]
async fn one_callers_rejected_requests_never_open_the_breaker_for_anyone() {
    let dir = tempfile::TempDir::new().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, OPEN_POLICY).unwrap();
    let (app, proxy) = behind_proxy(|c| {
        c.auth.policy_path = Some(policy);
        if let Some(convex) = c.convex.as_mut() {
            // Three faults in a row open it; one good answer in half-open closes it.
            convex.breaker.consecutive = 3;
            convex.breaker.probes = 1;
        }
    })
    .await;
    let mallory = app.client_for(&app.token("mallory", &[]));
    let bob = app.client_for(&app.token("bob", &[]));
    let bob_succeeds = || async {
        let response = bob
            .post(app.url("/api/query"))
            .json(&json!({"path": "videos:whoami", "args": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = json_of(response).await;
        assert_eq!(body["value"]["subject"], "bob", "{body}");
    };
    bob_succeeds().await;

    let bad_args = json!({"$bad": 1});
    for round in 0..10 {
        // The drop-in routes hand back Convex's own 400 body.
        for (route, body, convex_code) in [
            ("/api/run/0", json!({"args": {}}), "MissingIdentifier"),
            (
                "/api/query",
                json!({"path": "videos:whoami", "args": bad_args}),
                "BadJsonBody",
            ),
            (
                "/api/mutation",
                json!({"path": "videos:create", "args": bad_args}),
                "BadJsonBody",
            ),
        ] {
            let response = mallory
                .post(app.url(route))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{route}");
            assert_eq!(response.headers()["content-type"], "application/json");
            let answer = json_of(response).await;
            assert_eq!(answer["code"], convex_code, "{route}: {answer}");
            assert!(answer["message"].is_string(), "{answer}");
        }
        // The REST form and the table adapter answer problem+json with Convex's code.
        for (route, body) in [
            ("/v1/functions/query/videos:whoami", bad_args.clone()),
            ("/v1/tables/notes", json!({"café": round})),
        ] {
            let response = mallory
                .post(app.url(route))
                .json(&body)
                .send()
                .await
                .unwrap();
            let problem =
                assert_problem(response, StatusCode::BAD_REQUEST, "upstream_rejected").await;
            assert_eq!(problem["convexCode"], "BadJsonBody", "{route}: {problem}");
        }
        bob_succeeds().await;
    }
    let ready = json_of(app.get("/ready").await).await;
    assert_eq!(ready["circuit"], "closed", "{ready}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&metrics, "gateway_circuit_state"), 0.0);
    assert_eq!(
        metric(&metrics, "gateway_upstream_retries_total"),
        0.0,
        "a refused request is never retried"
    );
    assert!(
        metrics.contains(
            r#"convex_function_calls_total{kind="run",outcome="rejected",path="0:default"} 10"#
        ),
        "{metrics}"
    );

    // A queued write that Convex refuses on delivery is dead at once: no outage, no retries.
    // (The outage itself opens the breaker; the refused delivery is its probe, and closes it.)
    proxy.set_up(false);
    let queued = mallory
        .post(app.url("/v1/tables/notes"))
        .json(&json!({"café": "late"}))
        .send()
        .await
        .unwrap();
    let id = accepted(queued).await;
    proxy.set_up(true);
    let dead = settled(&app, &mallory, &id).await;
    assert_eq!(dead["status"], "dead", "{dead}");
    assert_eq!(dead["attempts"], 1, "{dead}");
    assert!(
        dead["lastError"]
            .as_str()
            .unwrap_or_default()
            .starts_with("upstream_rejected"),
        "{dead}"
    );
    let ready = json_of(app.get("/ready").await).await;
    assert_eq!(ready["circuit"], "closed", "{ready}");
    bob_succeeds().await;
}
