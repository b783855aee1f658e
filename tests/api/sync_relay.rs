//! Convex's WebSocket sync protocol through the gateway: the official `ConvexClient` against
//! the gateway in front of the test backend, and the relay's rules checked message by message
//! with a plain WebSocket client.

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{ConvexBackend, GatewayProcess, TestApp, spawn_convex_app_with};

const POLICY: &str = r#"
[roles.admin]
admin = true

[roles.authenticated]
functions = { "videos:list" = ["query"], "videos:whoami" = ["query"], "videos:create" = ["mutation"] }

[roles.anonymous]
functions = { "videos:whoami" = ["query"] }
"#;

#[tokio::test]
async fn the_official_convex_client_works_through_the_gateway() {
    let backend = tokio::task::spawn_blocking(|| ConvexBackend::start(560))
        .await
        .unwrap();
    let dir = TempDir::new().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let data = dir.path().join("data");
    let gateway = GatewayProcess::start(
        &data,
        &[
            ("CONVEX_URL", backend.url.as_str()),
            ("GATEWAY_POLICY", policy.to_str().unwrap()),
            // Minted identities live 10 s, so the relay renews them every 2 s.
            ("CONVEX_TOKEN_TTL", "10"),
        ],
    )
    .await;
    let alice = gateway.cli_token(&data, "alice");
    let url = gateway.url("");
    let backend_url = backend.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .args([
                "--import",
                "tsx",
                "--test",
                "tests/convex-backend/client/sync-through-gateway.test.mjs",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("GATEWAY_URL", url.trim_end_matches('/'))
            .env("BACKEND_URL", backend_url)
            .env("USER_TOKEN", alice)
            .env("BAD_TOKEN", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
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
}

async fn spawn() -> (TestApp, TempDir) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, POLICY).unwrap();
    let app = spawn_convex_app_with(560, |c| {
        c.auth.policy_path = Some(path.clone());
        c.sync_relay.max_message = 4096;
    })
    .await;
    (app, dir)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app: &TestApp, path: &str) -> Socket {
    let url = format!("ws://{}{path}", app.addr);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message, or `None` once the socket is closed; skips pings.
async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "Ping" {
                    return Some(value);
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

fn connect() -> Value {
    json!({"type": "Connect", "sessionId": "5f0e3b52-8d1a-4c8e-9a55-0c3c1d6c2b10", "connectionCount": 0, "lastCloseReason": "InitialConnect", "clientTs": 0})
}

#[tokio::test]
async fn the_relays_rules_apply_message_by_message() {
    let (app, _dir) = spawn().await;
    // Anonymous: a granted query runs, with no identity.
    let mut socket = open(&app, "/api/1.51.0/sync").await;
    send(&mut socket, connect()).await;
    send(&mut socket, json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
        "modifications": [{"type": "Add", "queryId": 0, "udfPath": "videos:whoami", "args": [{}]}]})).await;
    let transition = next(&mut socket).await.unwrap();
    assert_eq!(transition["type"], "Transition");
    assert_eq!(transition["modifications"][0]["value"], Value::Null);
    // A mutation the policy does not grant an anonymous caller: answered by the gateway.
    send(&mut socket, json!({"type": "Mutation", "requestId": 0, "udfPath": "videos:create", "args": [{"twitchId": "x"}]})).await;
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "MutationResponse");
    assert_eq!(refused["success"], false);
    assert!(refused["result"].as_str().unwrap().starts_with("forbidden"));
    // Authenticated, the caller's identity reaches the query (minted by the gateway).
    let token = app.token("alice", &[]);
    send(
        &mut socket,
        json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": token}),
    )
    .await;
    let transition = next(&mut socket).await.unwrap();
    assert_eq!(transition["endVersion"]["identity"], 1);
    assert_eq!(transition["modifications"][0]["value"]["subject"], "alice");
    let seen = app.convex.as_ref().unwrap().requests().await;
    let auth = seen
        .iter()
        .rev()
        .find(|r| r["route"] == "ws:authenticate")
        .unwrap();
    assert_eq!(auth["identity"]["subject"], "alice");
    assert_ne!(
        auth["identity"]["issuer"],
        Value::Null,
        "the gateway's minted identity"
    );
    // A message over the size limit (4 KiB here) closes the socket.
    send(
        &mut socket,
        json!({"type": "Event", "eventType": "x", "event": {"pad": "y".repeat(4500)}}),
    )
    .await;
    let fatal = next(&mut socket).await.unwrap();
    assert_eq!(fatal["type"], "FatalError");
    assert_eq!(next(&mut socket).await, None);

    // A bad token: AuthError, then the socket closes.
    let mut socket = open(&app, "/api/sync").await;
    send(&mut socket, connect()).await;
    send(&mut socket, json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": "not.a.jwt"})).await;
    let error = next(&mut socket).await.unwrap();
    assert_eq!(error["type"], "AuthError");
    assert_eq!(next(&mut socket).await, None);

    // An admin key is never accepted from a client.
    let mut socket = open(&app, "/api/sync").await;
    send(&mut socket, connect()).await;
    send(&mut socket, json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "Admin", "value": "prod:secret"})).await;
    let error = next(&mut socket).await.unwrap();
    assert_eq!(error["type"], "AuthError");
    assert!(error["error"].as_str().unwrap().contains("admin"));
    assert_eq!(next(&mut socket).await, None);

    // A denied query ends the socket with FatalError naming it.
    let mut socket = open(&app, "/api/sync").await;
    send(&mut socket, connect()).await;
    send(
        &mut socket,
        json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
        "modifications": [{"type": "Add", "queryId": 0, "udfPath": "videos:list", "args": [{}]}]}),
    )
    .await;
    let fatal = next(&mut socket).await.unwrap();
    assert_eq!(fatal["type"], "FatalError");
    assert!(fatal["error"].as_str().unwrap().contains("videos:list"));
    assert_eq!(next(&mut socket).await, None);

    // Counted.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for reason in ["bad_token", "admin_key", "query", "mutation", "too_large"] {
        assert!(
            metrics.contains(&format!(
                "gateway_sync_denials_total{{reason=\"{reason}\"}} 1"
            )),
            "{reason}: {metrics}"
        );
    }
    assert!(
        metrics.contains("gateway_sync_messages_total{direction=\"client\",type=\"Connect\"} 4")
    );
}

#[tokio::test]
async fn a_plain_request_to_the_sync_endpoint_is_a_problem() {
    let (app, _dir) = spawn().await;
    let response = app.get("/api/sync").await;
    crate::helpers::assert_problem(response, reqwest::StatusCode::BAD_REQUEST, "bad_request").await;
    let local = crate::helpers::spawn_app().await;
    let response = local.get("/api/sync").await;
    crate::helpers::assert_problem(
        response,
        reqwest::StatusCode::NOT_FOUND,
        "convex_not_configured",
    )
    .await;
}
