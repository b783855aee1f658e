//! Test harness: `spawn_app()` builds the real application on 127.0.0.1:0 with a temporary data
//! folder, runs it in the background, and returns a `TestApp` with typed helpers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use convex_gateway::auth::signer::Signer;
use convex_gateway::store::SharedStore;
use convex_gateway::{Application, Config};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

/// A running gateway and HTTP clients for it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Sends a valid token for the plain user `tester` on every request.
    pub client: reqwest::Client,
    /// Sends no token.
    pub anon: reqwest::Client,
    /// The configuration the app was built with.
    pub config: Config,
    /// The data folder; removed when the app is dropped.
    pub data_dir: TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The Convex test backend the app fronts, when it runs on the Convex adapter.
    pub convex: Option<ConvexBackend>,
    /// The app's own Postgres database, when it runs on the Postgres adapter (dropped after it).
    pub postgres: Option<crate::pg::TestDb>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The embedded-store app with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The embedded-store app, with settings changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = TempDir::new().unwrap();
    let mut config = Config::for_data_dir(data_dir.path());
    configure(&mut config);
    let app = Application::build(config.clone()).await.unwrap();
    start(app, data_dir, config)
}

/// The app on the Convex adapter, fronting a fresh Convex test backend whose function errors
/// come back as HTTP 560 (what convex-js expects).
pub async fn spawn_convex_app() -> TestApp {
    spawn_convex_app_with(560, |_| {}).await
}

/// The same with function errors as HTTP 200 and no empty `logLines` (the real backend's shape).
pub async fn spawn_convex_app_200() -> TestApp {
    spawn_convex_app_with(200, |_| {}).await
}

/// The app on the Convex adapter, with settings changed by `configure`.
pub async fn spawn_convex_app_with(
    error_status: u16,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let backend = tokio::task::spawn_blocking(move || ConvexBackend::start(error_status))
        .await
        .unwrap();
    let mut app = spawn_app_with(|c| {
        *c = c.clone().with_convex(backend.url.clone());
        configure(c);
    })
    .await;
    app.convex = Some(backend);
    app
}

/// The Convex test backend (`tests/convex-backend/server.mjs`) on a free loopback port.
pub struct ConvexBackend {
    child: Child,
    pub url: String,
}

impl ConvexBackend {
    /// Starts the backend and waits until it listens.
    pub fn start(error_status: u16) -> Self {
        Self::start_with(error_status, &[])
    }

    /// Starts the backend with more environment (`EMU_ADMIN_KEY`, page sizes…).
    pub fn start_with(error_status: u16, envs: &[(&str, &str)]) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new("node")
            .args(["--import", "tsx", "tests/convex-backend/server.mjs"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .envs(envs.iter().copied())
            .env("PORT", "0")
            .env("EMU_ERROR_STATUS", error_status.to_string())
            .env(
                "EMU_OMIT_EMPTY_LOGLINES",
                if error_status == 200 { "1" } else { "0" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs the Convex test backend; run `npm ci` first (scripts/test does)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.trim().to_owned();
                    }
                }
                _ => panic!("the Convex test backend exited before listening"),
            }
        };
        // Keep draining its output so the pipe never fills.
        std::thread::spawn(move || for _ in lines {});
        Self { child, url }
    }

    /// What callers sent to the backend, oldest first.
    pub async fn requests(&self) -> Vec<Value> {
        reqwest::get(format!("{}/_emu/requests", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for ConvexBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An app on a store the test provides (for forcing faults).
pub async fn spawn_app_on(store: SharedStore, configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = TempDir::new().unwrap();
    let mut config = Config::for_data_dir(data_dir.path());
    configure(&mut config);
    let app = Application::build_with_store(config.clone(), store)
        .await
        .unwrap();
    start(app, data_dir, config)
}

fn start(app: Application, data_dir: TempDir, config: Config) -> TestApp {
    convex_gateway::http_client::install_crypto_provider();
    let addr = app.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let mut app = TestApp {
        addr,
        client: reqwest::Client::new(),
        anon: reqwest::Client::new(),
        config,
        data_dir,
        shutdown: Some(tx),
        server: Some(server),
        convex: None,
        postgres: None,
    };
    app.client = app.client_for(&app.token("tester", &[]));
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An access token signed with the app's own key, as `POST /auth/token` would issue.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        self.token_with(sub, roles, Duration::from_secs(600), serde_json::Map::new())
    }

    /// A token with a chosen lifetime and extra claims.
    pub fn token_with(
        &self,
        sub: &str,
        roles: &[&str],
        ttl: Duration,
        mut claims: serde_json::Map<String, Value>,
    ) -> String {
        let (signer, _) =
            Signer::load_or_generate(&self.config.auth, self.data_dir.path()).unwrap();
        claims.insert("sub".into(), sub.into());
        claims.insert("role".into(), roles.to_vec().into());
        signer.sign(claims, signer.issuer(), ttl).unwrap()
    }

    /// `/admin/status`, read as an admin.
    pub async fn admin_status(&self) -> Value {
        let admin = self.client_for(&self.token("suite-admin", &["admin"]));
        let response = admin.get(self.url("/admin/status")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The store adapter's capabilities, as `/admin/status` states them.
    pub async fn capabilities(&self) -> Value {
        self.admin_status().await["capabilities"].clone()
    }

    /// The adapter's count of round trips to its database (`storeRoundTrips`).
    pub async fn store_round_trips(&self) -> u64 {
        self.admin_status().await["storeRoundTrips"]
            .as_u64()
            .unwrap()
    }

    /// A client that sends `token` on every request.
    pub fn client_for(&self, token: &str) -> reqwest::Client {
        bearer_client(token)
    }
}

/// A client that sends `token` on every request.
pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl TestApp {
    /// Asks the server to stop (gracefully).
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.client
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Inserts one document into `table` and returns it (asserting 201).
    pub async fn insert(&self, table: &str, doc: Value) -> Value {
        let response = self.post_json(&format!("/v1/tables/{table}"), &doc).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Inserts many documents in one atomic call and returns them.
    pub async fn insert_many(&self, table: &str, docs: Vec<Value>) -> Vec<Value> {
        let response = self
            .post_json(&format!("/v1/tables/{table}"), &Value::Array(docs))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// One page of `table` with a raw query string; asserts 200.
    pub async fn list(&self, table: &str, query: &str) -> Value {
        let response = self.get(&format!("/v1/tables/{table}?{query}")).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Every document of `table` in the default order, following cursors.
    pub async fn list_all(&self, table: &str, query: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = query.to_owned();
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={c}"));
            }
            let page = self.list(table, &q).await;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    }
}

/// Reads a problem response: asserts the status, the media type and the code, returns the body.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(
        body["type"],
        format!("urn:convex-gateway:problem:{code}"),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// The `_id`s of a list of documents.
pub fn ids(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| d["_id"].as_str().unwrap().to_owned())
        .collect()
}

// === the real binary ===

/// The compiled `convex-gateway` binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_convex-gateway")
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The issuer of binary-started gateways: fixed, so tokens outlive a restart on another port.
const PUBLIC_URL: &str = "http://gateway.test";

/// A gateway process started from the binary.
pub struct GatewayProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl GatewayProcess {
    /// Starts `convex-gateway serve` on a free port with `data_dir`, and waits for `/health`.
    pub async fn start(data_dir: &Path, envs: &[(&str, &str)]) -> Self {
        convex_gateway::http_client::install_crypto_provider();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = data_dir.with_extension(format!("{}.log", addr.port()));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary())
            .arg("serve")
            .env_clear()
            .env("GATEWAY_ADDR", addr.to_string())
            .env("GATEWAY_DATA_DIR", data_dir)
            .env("LOG_FORMAT", "json")
            .env("GATEWAY_PUBLIC_URL", PUBLIC_URL)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let process = Self { child, addr, log };
        process.wait_healthy().await;
        process
    }

    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client
                .get(format!("http://{}/health", self.addr))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "gateway did not become healthy; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A development token from `convex-gateway token`, signed with this gateway's key.
    pub fn cli_token(&self, data_dir: &Path, sub: &str) -> String {
        let output = Command::new(binary())
            .args(["token", "--sub", sub, "--ttl", "10m"])
            .env_clear()
            .env("GATEWAY_ADDR", self.addr.to_string())
            .env("GATEWAY_DATA_DIR", data_dir)
            .env("GATEWAY_PUBLIC_URL", PUBLIC_URL)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
