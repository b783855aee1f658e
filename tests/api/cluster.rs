//! The replica harness: three gateway processes sharing one state store (`GATEWAY_STATE_URL`,
//! a fresh Postgres database per test) behind a real HAProxy from Debian's packages, round
//! robin, which names the replica that answered in `X-Replica`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{GatewayProcess, binary, free_port};
use crate::pg::TestDb;

/// The issuer the harness's gateways and tokens share (as `GatewayProcess` sets it).
const PUBLIC_URL: &str = "http://gateway.test";

/// HAProxy in front of the replicas.
pub struct Balancer {
    child: Child,
    pub addr: SocketAddr,
}

impl Balancer {
    /// Starts HAProxy over `servers` (round robin, health-checked on `/health` every 300 ms),
    /// and waits until it accepts connections.
    pub async fn start(dir: &Path, servers: &[SocketAddr]) -> Self {
        let haproxy = which_haproxy();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let backends: String = servers
            .iter()
            .enumerate()
            .map(|(i, s)| format!("    server r{i} {s} check inter 300ms fall 2 rise 2\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 4096\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 120s\n    timeout server 120s\n    retries 3\n    option redispatch\n\
             frontend gateways\n    bind {addr}\n    default_backend replicas\n\
             backend replicas\n    balance roundrobin\n    option httpchk GET /health\n    http-response set-header X-Replica %s\n{backends}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new(haproxy)
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("haproxy runs (scripts/test installs Debian's haproxy)");
        let balancer = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen: {}",
                std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        balancer
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which_haproxy() -> PathBuf {
    for candidate in [
        "/usr/sbin/haproxy",
        "/usr/bin/haproxy",
        "/usr/local/sbin/haproxy",
    ] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    "haproxy".into()
}

/// Three replicas, their shared database, and the balancer.
pub struct Cluster {
    pub replicas: Vec<Option<GatewayProcess>>,
    pub balancer: Balancer,
    pub db: TestDb,
    envs: Vec<(String, String)>,
    pub dir: TempDir,
}

/// The policy every cluster test uses: admins, authenticated callers who read and write every
/// table, a role limited to 50 requests a second (burst 10), and a service account.
pub const POLICY: &str = r#"
[roles.admin]
admin = true

[roles.authenticated]
tables = { "*" = ["read", "write", "delete"] }
functions = { "*" = ["query", "mutation"] }

[roles.limited]
tables = { "*" = ["read"] }
rate_limit = "50/s"
rate_burst = 10

[[clients]]
id = "pipeline"
# sha256("pipeline-secret")
secret_sha256 = "SECRET_SHA256"
roles = ["writer"]
"#;

/// In [`Cluster::start`]'s settings, the URL of the test's database.
pub const DATABASE: &str = "<the test database>";

/// The service account's secret.
pub const CLIENT_SECRET: &str = "pipeline-secret";

impl Cluster {
    /// Starts three replicas (at once, so they race to create the shared schema and the first
    /// signing key) over a fresh database that `schema` prepares, with `envs` on top of the
    /// shared settings (a value of [`DATABASE`] stands for the database's URL), and the balancer
    /// in front.
    pub async fn start(schema: &str, envs: &[(&str, &str)]) -> Self {
        let schema = schema.to_owned();
        let db = tokio::task::spawn_blocking(move || {
            let db = TestDb::create();
            if !schema.is_empty() {
                db.psql(&schema);
            }
            db
        })
        .await
        .unwrap();
        let dir = TempDir::new().unwrap();
        let policy = dir.path().join("policy.toml");
        let secret_hash = convex_gateway::auth::tokens::sha256_hex(CLIENT_SECRET);
        std::fs::write(&policy, POLICY.replace("SECRET_SHA256", &secret_hash)).unwrap();
        let mut all: Vec<(String, String)> = vec![
            ("GATEWAY_STATE_URL".into(), db.url.clone()),
            ("GATEWAY_POLICY".into(), policy.display().to_string()),
        ];
        all.extend(envs.iter().map(|(k, v)| {
            let v = if *v == DATABASE {
                db.url.clone()
            } else {
                (*v).to_owned()
            };
            ((*k).to_owned(), v)
        }));
        let starts: Vec<_> = (0..3)
            .map(|i| {
                let data = dir.path().join(format!("replica{i}"));
                let mut envs = all.clone();
                envs.push(("GATEWAY_INSTANCE_ID".into(), format!("r{i}")));
                tokio::spawn(async move {
                    let envs: Vec<(&str, &str)> =
                        envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    GatewayProcess::start(&data, &envs).await
                })
            })
            .collect();
        let mut replicas = Vec::new();
        for start in starts {
            replicas.push(start.await.unwrap());
        }
        let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
        let balancer = Balancer::start(dir.path(), &addrs).await;
        Self {
            replicas: replicas.into_iter().map(Some).collect(),
            balancer,
            db,
            envs: all,
            dir,
        }
    }

    /// The balancer's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        self.balancer.url(path)
    }

    /// Replica `i`'s own URL for `path`.
    pub fn replica_url(&self, i: usize, path: &str) -> String {
        self.replicas[i].as_ref().expect("a live replica").url(path)
    }

    /// A token from `convex-gateway token`, signed with the shared key that signs now.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        let mut command = Command::new(binary());
        command
            .args(["token", "--sub", sub, "--ttl", "10m"])
            .env_clear()
            .env("GATEWAY_DATA_DIR", self.dir.path().join("cli"))
            .env("GATEWAY_PUBLIC_URL", PUBLIC_URL)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for role in roles {
            command.args(["--role", role]);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Runs the binary with the cluster's settings and `args`; answers its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(binary())
            .args(args)
            .env_clear()
            .env("GATEWAY_DATA_DIR", self.dir.path().join("cli"))
            .env("GATEWAY_PUBLIC_URL", PUBLIC_URL)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// Sends SIGHUP to every live replica: each reads its schema and the shared keys again.
    pub fn hangup_all(&self) {
        for replica in self.replicas.iter().flatten() {
            let pid = replica.child.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-HUP", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
        }
    }

    /// Stops replica `i` with SIGTERM and waits for it to exit.
    pub async fn terminate(&mut self, i: usize) {
        let Some(mut replica) = self.replicas[i].take() else {
            return;
        };
        let pid = replica.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while replica.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "replica {i} did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills replica `i` with SIGKILL; it is not restarted.
    pub fn kill_9(&mut self, i: usize) {
        if let Some(mut replica) = self.replicas[i].take() {
            replica.kill_9();
        }
    }
}

/// The `kid` in a compact JWS's header.
pub fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&bytes).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The replica that answered, as the balancer names it.
pub fn replica_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-replica")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_deployed_balancer_config_is_valid() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg");
    let output = Command::new(which_haproxy())
        .args(["-c", "-f", config])
        .output()
        .expect("haproxy runs (scripts/test installs Debian's haproxy)");
    // The replicas' names resolve only inside Compose's network: warnings, not errors.
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let compose =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/compose.yaml"))
            .unwrap();
    for replica in ["gateway-1", "gateway-2", "gateway-3"] {
        assert!(
            compose.contains(&format!("  {replica}:\n")),
            "{replica} is not a service"
        );
        assert!(
            std::fs::read_to_string(config)
                .unwrap()
                .contains(&format!("server {replica} {replica}:8080")),
            "the balancer does not send to {replica}"
        );
    }
}
