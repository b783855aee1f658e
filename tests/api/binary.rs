//! The real binary: durability across `kill -9`, startup validation, the `healthcheck`
//! subcommand, graceful exit on SIGTERM, and secrets kept out of the logs.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{GatewayProcess, binary, free_port, spawn_app};

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let mut gateway = GatewayProcess::start(&data, &[]).await;
    let client = authorized(&gateway.cli_token(&data, "writer"));

    // Concurrent writers; every write that was acknowledged must come back after SIGKILL.
    let mut writers = Vec::new();
    for w in 0..8 {
        let client = client.clone();
        let url = gateway.url("/v1/tables/durable");
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..25 {
                let response = client
                    .post(&url)
                    .json(&json!({"writer": w, "i": i}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
                acked.push(response.json::<Value>().await.unwrap());
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    let doc = &acked[0];
    let path = format!("/v1/tables/durable/{}", doc["_id"].as_str().unwrap());
    let patched = client
        .patch(gateway.url(&path))
        .json(&json!({"patched": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    gateway.kill_9();

    let gateway = GatewayProcess::start(&data, &[]).await;
    // The signing key survived too: a token minted before the crash still works.
    for doc in &acked {
        let path = format!("/v1/tables/durable/{}", doc["_id"].as_str().unwrap());
        let response = client.get(gateway.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "lost {doc}");
        let stored: Value = response.json().await.unwrap();
        assert_eq!(stored["writer"], doc["writer"]);
        assert_eq!(stored["i"], doc["i"]);
    }
    let get_json = |url: String| {
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let first = get_json(gateway.url(&path)).await;
    assert_eq!(first["patched"], true);
    let all = get_json(gateway.url("/v1/tables/durable?limit=1000")).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 200);
    assert!(data.join("gateway.sqlite3").exists());
}

fn authorized(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test]
async fn batches_are_all_or_nothing_across_kill_9() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let mut gateway = GatewayProcess::start(&data, &[]).await;
    let client = authorized(&gateway.cli_token(&data, "writer"));
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..6 {
        let client = client.clone();
        let url = gateway.url("/v1/transactions");
        let progress = std::sync::Arc::clone(&progress);
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for b in 0..200 {
                let batch = format!("{w}-{b}");
                let ops: Vec<Value> = (0..5)
                    .map(|i| json!({"op": "insert", "table": "batches", "document": {"batch": batch, "i": i}}))
                    .collect();
                match client.post(&url).json(&json!({"operations": ops})).send().await {
                    Ok(r) if r.status() == StatusCode::OK => {
                        acked.push(batch);
                        progress.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
            acked
        }));
    }
    // Kill it while the writers are still committing: after some batches, long before all.
    for _ in 0..1000 {
        if progress.load(std::sync::atomic::Ordering::SeqCst) >= 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gateway.kill_9();
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    assert!(!acked.is_empty(), "no batch was committed before the kill");

    let gateway = GatewayProcess::start(&data, &[]).await;
    let client = authorized(&gateway.cli_token(&data, "reader"));
    let mut per_batch = std::collections::HashMap::<String, usize>::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = gateway.url("/v1/tables/batches?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        for doc in page["items"].as_array().unwrap() {
            *per_batch
                .entry(doc["batch"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for (batch, n) in &per_batch {
        assert_eq!(*n, 5, "batch {batch} is partly present");
    }
    for batch in &acked {
        assert_eq!(
            per_batch.get(batch),
            Some(&5),
            "acknowledged batch {batch} was lost"
        );
    }
}

#[test]
fn a_bad_setting_stops_startup_and_names_the_variable() {
    for (var, value) in [
        ("GATEWAY_ADDR", "localhost"),
        ("LOG_FORMAT", "yaml"),
        ("GATEWAY_MAX_BODY_BYTES", "big"),
        ("GATEWAY_CORS_ORIGINS", "not an origin"),
        ("GATEWAY_WORKER_THREADS", "0"),
        ("GATEWAY_WORKER_THREADS", "many"),
    ] {
        let output = Command::new(binary())
            .arg("serve")
            .env_clear()
            .env(var, value)
            .env("GATEWAY_DATA_DIR", std::env::temp_dir().join("never-used"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
}

#[tokio::test]
async fn gateway_worker_threads_sets_the_runtime_s_workers() {
    for threads in [1usize, 3] {
        let dir = tempfile::TempDir::new().unwrap();
        let gateway = GatewayProcess::start(
            &dir.path().join("data"),
            &[("GATEWAY_WORKER_THREADS", threads.to_string().as_str())],
        )
        .await;
        // The runtime's own count, as the gateway logs it at start.
        let log = gateway.log_text();
        let started: Value = log
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["message"] == "async runtime started")
            .unwrap_or_else(|| panic!("no start line in {log}"));
        assert_eq!(started["worker_threads"], threads, "{started}");
    }
}

#[tokio::test]
async fn the_healthcheck_subcommand_reflects_readiness() {
    let app = spawn_app().await;
    let check = |addr: String| {
        Command::new(binary())
            .arg("healthcheck")
            .env_clear()
            .env("GATEWAY_ADDR", addr)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    };
    let addr = app.addr.to_string();
    let up = tokio::task::spawn_blocking(move || check(addr))
        .await
        .unwrap();
    assert!(up.success());
    let closed = format!("127.0.0.1:{}", free_port());
    let down = tokio::task::spawn_blocking(move || check(closed))
        .await
        .unwrap();
    assert_eq!(down.code(), Some(1));
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly_and_secrets_stay_out_of_logs() {
    let dir = TempDir::new().unwrap();
    let mut gateway =
        GatewayProcess::start(&dir.path().join("data"), &[("RUST_LOG", "trace")]).await;
    let data = dir.path().join("data");
    let token = gateway.cli_token(&data, "tester");
    let client = reqwest::Client::new();
    let response = client
        .get(gateway.url("/v1/tables/t?secretfilter=eq.hunter2"))
        .header("authorization", format!("Bearer {token}"))
        .header("cookie", "session=cookie-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rejected = client
        .get(gateway.url("/v1/tables/t"))
        .header("authorization", "Bearer super-secret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), StatusCode::UNAUTHORIZED);

    let pid = gateway.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = gateway.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = exited.expect("the gateway exits after SIGTERM");
    assert!(status.success(), "{status}");
    let log = gateway.log_text();
    assert!(log.contains("shutting down"), "{log}");
    let signature = token.rsplit('.').next().unwrap();
    for secret in ["super-secret-token", "cookie-secret", "hunter2", signature] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
    // JSON logs carry the request id on each request line.
    assert!(log.lines().any(|l| l.contains("\"request_id\"")), "{log}");
}

#[tokio::test]
async fn data_folder_is_created_and_reused() {
    let app = spawn_app().await;
    assert!(app.data_dir.path().join("gateway.sqlite3").exists());
}

#[test]
fn the_token_command_never_creates_a_key_and_says_what_it_signed_for() {
    let empty = tempfile::TempDir::new().unwrap();
    let token = |data: &std::path::Path| {
        Command::new(binary())
            .args(["token", "--sub", "me", "--role", "admin"])
            .env_clear()
            .env("GATEWAY_DATA_DIR", data)
            .env("GATEWAY_PUBLIC_URL", "http://gw.test:8080")
            .output()
            .unwrap()
    };
    let refused = token(empty.path());
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(refused.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("no signing key at") && stderr.contains("GATEWAY_DATA_DIR"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(empty.path()).unwrap().next().is_none(),
        "the token command created a file"
    );

    // With the server's key it signs, and says for which issuer.
    let config = convex_gateway::config::AuthConfig::defaults("http://gw.test:8080".into());
    let (signer, _) =
        convex_gateway::auth::signer::Signer::load_or_generate(&config, empty.path()).unwrap();
    let signed = token(empty.path());
    assert!(signed.status.success(), "{signed:?}");
    let stderr = String::from_utf8_lossy(&signed.stderr);
    assert!(
        stderr.contains("http://gw.test:8080") && stderr.contains(signer.kid()),
        "{stderr}"
    );
    let jwt = String::from_utf8(signed.stdout).unwrap();
    let header = jsonwebtoken::decode_header(jwt.trim()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(signer.kid()));
}

#[tokio::test]
async fn pretty_logs_are_plain_text_when_the_output_is_not_a_terminal() {
    let dir = TempDir::new().unwrap();
    let gateway =
        GatewayProcess::start(&dir.path().join("data"), &[("LOG_FORMAT", "pretty")]).await;
    let client = reqwest::Client::new();
    let health = client.get(gateway.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let log = gateway.log_text();
    assert!(log.contains("INFO"), "the log has lines: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file: {log:?}"
    );
}
