"""The benchmark harness behind `bench/run`.

It builds the gateway, the Convex-like stub (`examples/convex_stub.rs`) and the bare forwarder
(`examples/bare_forwarder.rs`, the floor under `passthrough`), starts what each
scenario needs on 127.0.0.1, drives it with wrk, and measures the gateway process itself
(peak RSS, CPU-seconds per 1,000 requests). Every scenario that goes through the gateway is
reported next to what it is compared with in the same run, because absolute numbers drift
between runs on a shared 2-core machine and ratios do not.

Results print as a Markdown table and are written to bench/results/<date>.json
(smoke runs: target/bench-smoke.json). Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk"
SECRET = "bench-secret-bench-secret-bench-secret-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")
POLICY = """
[roles.admin]
admin = true

[roles.authenticated]
tables = { "*" = ["read", "write", "delete"] }
functions = { "*" = ["query", "mutation"] }
"""
SCENARIOS = ["passthrough", "rest-get", "rest-list", "rest-insert", "convex-rest-get",
             "pg-rest-get", "pg-rest-list", "pg-rest-insert", "shared-limit", "replicated", "startup",
             "watch-fanout", "watch-idle", "watch-multiplex", "sync-backfill", "sync-steady"]

# Targets from the performance issue, checked against each run.
TARGETS = {
    # Issue 21: against HAProxy checking the same tokens, in the same run.
    "passthrough@32": {"ratio_min": 0.8, "p99_over_haproxy_ms_max": 1.0, "peak_rss_mb_max": 64},
    "passthrough-1w@32": {"per_core_of_haproxy_min": 0.8},
    "passthrough-1w@128": {"per_core_of_haproxy_min": 0.8, "per_core_of_c32_min": 0.9},
    "passthrough@128": {"per_core_of_c32_min": 0.9},
    "rest-get": {"ratio_min": 0.5},
    "rest-insert": {"rps_min": 5_000},
    "rest-list": {"p99_over_health_ms_max": 3.0},
    "startup": {"startup_ms_max": 150, "idle_rss_mb_max": 20},
    "pg-rest-get": {"ratio_min": 0.5},
    "pg-rest-list": {"round_trips_per_list_max": 2},
    "watch-fanout": {"p99_ms_max": 100},
    "watch-idle": {"rss_mb_max": 200},
    "watch-multiplex": {"upstream_subscriptions_max": 1, "reruns_per_change_max": 1},
    "sync-backfill": {"to_postgres_rows_per_s_min": 2_000, "to_convex_rows_per_s_min": 1_000},
    "sync-steady": {"to_convex_lag_p99_s_max": 2.0, "to_postgres_lag_p99_s_max": 2.0},
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hs256(claims: dict) -> str:
    def part(obj: dict) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = part({"alg": "HS256", "typ": "JWT"}) + "." + part(claims)
    sig = hmac.new(SECRET.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def request(method: str, url: str, body=None, token: str | None = None, timeout=30.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return response.status, json.loads(response.read() or b"null")


def wait_http(url: str, deadline_s: float = 30.0, pause: float = 0.002) -> float:
    """Polls `url` until it answers 200; returns the seconds it took."""
    start = time.perf_counter()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except OSError:
            pass
        if time.perf_counter() - start > deadline_s:
            raise RuntimeError(f"{url} did not answer 200 within {deadline_s} s")
        time.sleep(pause)


def wait_listening(port: int, popen: subprocess.Popen, log_file: Path, deadline_s: float = 30.0) -> None:
    """Waits until something accepts connections on 127.0.0.1:`port`; fails with the process's
    log if it exits first."""
    start = time.perf_counter()
    while True:
        if popen.poll() is not None:
            raise RuntimeError(f"{popen.args[0]} exited: {log_file.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.perf_counter() - start > deadline_s:
                raise RuntimeError(f"nothing listens on port {port} after {deadline_s} s")
            time.sleep(0.01)


def proc_stats(pid: int) -> dict:
    """CPU seconds so far, current and peak RSS, and the anonymous (private) part of the current
    RSS (MB) of a process, from /proc. RSS also counts file pages mapped into the process, once
    per mapping: with the embedded store's readers memory-mapping the database, each reader's
    mapping counts the same page-cache pages again, so `rss_anon_mb` is the gateway's own memory."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = hwm = anon = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1]) / 1024
    return {"cpu_s": cpu, "rss_mb": rss, "peak_rss_mb": hwm, "rss_anon_mb": anon}


def haproxy_config(folder: Path, port: int, upstream: str) -> Path:
    """HAProxy's configuration for the passthrough comparison (bench/run and bench/profile): one
    thread, listening on `port`, checking bearer tokens as the gateway does, forwarding to
    `upstream` over reused connections."""
    host, upstream_port = upstream.removeprefix("http://").split(":")
    config = folder / "haproxy.cfg"
    config.write_text(f"""
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend gateway
    bind 127.0.0.1:{port}
    http-request set-var(txn.bearer) http_auth_bearer
    http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
    http-request deny deny_status 401 unless {{ var(txn.alg) -m str HS256 }}
    http-request deny deny_status 401 unless {{ var(txn.bearer),jwt_verify(txn.alg,"{SECRET}") -m int 1 }}
    http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
    http-request deny deny_status 401 unless {{ var(txn.exp) -m found }}
    http-request set-var(txn.now) date()
    http-request deny deny_status 401 if {{ var(txn.exp),sub(txn.now) -m int le 0 }}
    default_backend upstream
backend upstream
    http-reuse always
    server stub {host}:{upstream_port} maxconn 512
""")
    return config


@dataclass
class Proc:
    popen: subprocess.Popen
    url: str

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Harness:
    profile: str
    duration: int
    smoke: bool
    repeat: int = 1
    stub: Proc | None = None
    procs: list = field(default_factory=list)
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gw-bench-")))

    # --- processes ---------------------------------------------------------------------------

    def binary(self, name: str, example: bool = False) -> Path:
        folder = "release" if self.profile == "release" else "debug"
        base = ROOT / "target" / folder
        return base / "examples" / name if example else base / name

    def start_example(self, name: str, *args: str) -> Proc:
        """Starts one of the repo's examples, which prints `listening on URL` once it serves."""
        popen = subprocess.Popen(
            [str(self.binary(name, example=True)), *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = popen.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"{name} did not start: {line!r}")
        proc = Proc(popen, line.removeprefix("listening on "))
        self.procs.append(proc)
        return proc

    def start_stub(self) -> Proc:
        if self.stub is None:
            self.stub = self.start_example("convex_stub", "0")
        return self.stub

    def start_gateway(self, env: dict, name: str) -> Proc:
        port = free_port()
        data = self.tmp / name
        data.mkdir(parents=True, exist_ok=True)
        policy = self.tmp / "policy.toml"
        policy.write_text(POLICY)
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "GATEWAY_ADDR": f"127.0.0.1:{port}",
            "GATEWAY_DATA_DIR": str(data),
            "GATEWAY_POLICY": str(policy),
            "JWT_SECRET": SECRET,
            "LOG_FORMAT": "json",
        }
        full_env.update(env)
        # BENCH_GATEWAY_ENV (a JSON object) adds to every gateway's environment, for A/B runs.
        full_env.update(json.loads(os.environ.get("BENCH_GATEWAY_ENV", "{}")))
        # BENCH_GATEWAY_BINARY runs another build of the gateway (an A/B of two commits).
        binary = os.environ.get("BENCH_GATEWAY_BINARY") or str(self.binary("convex-gateway"))
        popen = subprocess.Popen(
            [binary, "serve"],
            env=full_env,
            cwd=self.tmp,
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / f"{name}.log", "w"),
        )
        proc = Proc(popen, f"http://127.0.0.1:{port}")
        self.procs.append(proc)
        wait_http(proc.url + "/ready")
        return proc

    def start_haproxy(self, upstream: str) -> Proc:
        """HAProxy (Debian's package) in front of `upstream`, one thread, checking each request's
        bearer token as the gateway does: HS256 pinned (`alg` must say so), the signature, and an
        `exp` that is present and in the future. A request failing any check gets 401."""
        port = free_port()
        config = haproxy_config(self.tmp, port, upstream)
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        popen = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                                 stderr=open(self.tmp / "haproxy.log", "w"))
        proc = Proc(popen, f"http://127.0.0.1:{port}")
        self.procs.append(proc)
        wait_listening(port, popen, self.tmp / "haproxy.log")
        self.check_jwt_refusals(proc.url)
        return proc

    def check_jwt_refusals(self, url: str) -> None:
        """The comparison is fair only if HAProxy refuses what the gateway refuses: a forged
        signature, another algorithm, an expired token, and a token without `exp`."""
        good = token()
        forged = good[: good.rfind(".") + 1] + hs256({"sub": "x"}).rsplit(".", 1)[1]
        expired = hs256({"sub": "bench", "exp": int(time.time()) - 60})
        no_exp = hs256({"sub": "bench"})
        head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        unsigned = head + "." + good.split(".")[1] + "."
        body = {"path": "videos:get", "args": {}}
        assert request("POST", url + "/api/query", body, good)[0] == 200
        for name, bad in (("forged", forged), ("expired", expired), ("no exp", no_exp),
                          ("alg none", unsigned), ("none", None)):
            try:
                status = request("POST", url + "/api/query", body, bad)[0]
            except urllib.error.HTTPError as e:
                status = e.code
            if status != 401:
                raise RuntimeError(f"HAProxy let a {name} token through ({status})")

    def start_nginx(self, upstream: str) -> Proc:
        """nginx (Debian's package) in front of `upstream` with no auth at all: one worker, one
        process, upstream keep-alive: the least a proxy does."""
        port = free_port()
        prefix = self.tmp / "nginx"
        prefix.mkdir(exist_ok=True)
        config = prefix / "nginx.conf"
        config.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream stub {{ server {upstream.removeprefix("http://")}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://stub;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""")
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        popen = subprocess.Popen([binary, "-p", str(prefix), "-c", str(config), "-e", "stderr"],
                                 stdout=subprocess.DEVNULL, stderr=open(self.tmp / "nginx.log", "w"))
        proc = Proc(popen, f"http://127.0.0.1:{port}")
        self.procs.append(proc)
        wait_listening(port, popen, self.tmp / "nginx.log")
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        self.stub = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- load ----------------------------------------------------------------------------------

    def wrk(self, url: str, script: str, connections: int, env: dict | None = None,
            watch: Proc | None = None) -> dict:
        """Runs wrk `repeat` times and returns the run with the median req/s."""
        runs = sorted((self.wrk_once(url, script, connections, env, watch) for _ in range(self.repeat)),
                      key=lambda r: r["rps"])
        result = runs[len(runs) // 2]
        if self.repeat > 1:
            result["rps_range"] = [round(runs[0]["rps"], 1), round(runs[-1]["rps"], 1)]
        return result

    def wrk_once(self, url: str, script: str, connections: int, env: dict | None = None,
                 watch: Proc | None = None) -> dict:
        """Runs wrk for the configured time and returns its summary (and the watched process's
        CPU and peak RSS over the run)."""
        before = proc_stats(watch.pid) if watch else None
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{self.duration}s", "--timeout", "5s",
             "-s", str(LUA / script), url],
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        line = next((l for l in out.splitlines() if l.startswith("JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no summary:\n{out}")
        result = json.loads(line[5:])
        seconds = result.pop("duration_us") / 1e6
        result["rps"] = result["requests"] / seconds if seconds else 0.0
        result["p50_ms"] = result.pop("p50_us") / 1000
        result["p99_ms"] = result.pop("p99_us") / 1000
        if watch:
            after = proc_stats(watch.pid)
            used = after["cpu_s"] - before["cpu_s"]
            result["cpu_s_per_1k"] = used / result["requests"] * 1000 if result["requests"] else None
            result["peak_rss_mb"] = after["peak_rss_mb"]
            result["rss_anon_mb"] = after["rss_anon_mb"]
        return result


# --- scenarios ---------------------------------------------------------------------------------

def token(sub="bench", roles=None) -> str:
    claims = {"sub": sub, "exp": int(time.time()) + 24 * 3600}
    if roles:
        claims["role"] = roles
    return hs256(claims)


def per_core(result: dict) -> float:
    """Requests served per CPU-second the process used: its rate on one core."""
    cpu = result.get("cpu_s_per_1k")
    return 1000 / cpu if cpu else 0.0


def passthrough(h: Harness) -> list[dict]:
    """Convex queries through the gateway (its default worker threads, and one), next to HAProxy
    checking the same HS256 bearer tokens (one thread), nginx with no auth (one worker), the
    bare forwarder (examples/bare_forwarder.rs, the least a forwarder on the gateway's stack
    does) and the stub straight, all in front of the same stub, at 32 and 128 connections.
    Every proxy's own CPU is measured, so each is also compared per core."""
    stub = h.start_stub()
    settings = {"CONVEX_URL": stub.url, "CONVEX_AUTH_MODE": "mint"}
    gateways = {
        "passthrough": h.start_gateway(settings, "passthrough"),
        "passthrough-1w": h.start_gateway({**settings, "GATEWAY_WORKER_THREADS": "1"}, "passthrough-1w"),
    }
    others = {
        "haproxy-jwt": h.start_haproxy(stub.url),
        "nginx": h.start_nginx(stub.url),
        "bare-forwarder": h.start_example("bare_forwarder", stub.url, "0"),
    }
    env = {"BENCH_TOKEN": token()}
    rows = []
    by_load: dict[int, dict] = {}
    for connections in (32, 128):
        direct = h.wrk(stub.url + "/api/query", "query.lua", connections, env)
        runs = {name: h.wrk(proc.url + "/api/query", "query.lua", connections, env, watch=proc)
                for name, proc in {**others, **gateways}.items()}
        by_load[connections] = runs
        haproxy = runs["haproxy-jwt"]
        for name, result in runs.items():
            if name == "haproxy-jwt":
                out = row(f"{name}@{connections}", result, "stub direct", direct)
            else:
                result["ratio"] = result["rps"] / haproxy["rps"] if haproxy["rps"] else 0.0
                out = row(f"{name}@{connections}", result, "haproxy-jwt", haproxy)
                if per_core(haproxy):
                    out["per_core_of_haproxy"] = round(per_core(result) / per_core(haproxy), 3)
                out["p99_over_haproxy_ms"] = round(result["p99_ms"] - haproxy["p99_ms"], 3)
            out["per_core"] = round(per_core(result))
            out["of_stub_direct"] = round(result["rps"] / direct["rps"], 3) if direct["rps"] else 0.0
            if name in gateways and runs["bare-forwarder"]["rps"]:
                out["of_bare_forwarder"] = round(result["rps"] / runs["bare-forwarder"]["rps"], 3)
            rows.append(out)
    for r in rows:
        name, connections = r["scenario"].rsplit("@", 1)
        if connections == "128" and per_core(by_load[32][name]):
            r["per_core_of_c32"] = round(per_core(by_load[128][name]) / per_core(by_load[32][name]), 3)
    return rows


def seed(gw: Proc, count: int) -> list[str]:
    """Inserts `count` documents into `items`, 1000 per request; returns their ids."""
    ids = []
    statuses = ["Queued", "Downloading", "Transcribing", "Analyzing", "Completed"]
    tok = token("seeder")
    for start in range(0, count, 1000):
        docs = [
            {
                "title": f"video {n}",
                "status": statuses[n % len(statuses)],
                "score": (n * 7919) % 100_000,
                "twitchId": str(2_000_000_000 + n),
                "body": "lorem ipsum dolor sit amet " * 4,
            }
            for n in range(start, min(start + 1000, count))
        ]
        status, stored = request("POST", gw.url + "/v1/tables/items", docs, tok, timeout=120)
        assert status == 201, status
        ids.extend(d["_id"] for d in stored)
    return ids


def local_store(h: Harness) -> tuple[Proc, Path]:
    gw = h.start_gateway({"GATEWAY_INDEXES": "items(status,score)"}, "local")
    count = 2_000 if h.smoke else 100_000
    log(f"seeding {count} documents")
    ids = seed(gw, count)
    ids_file = h.tmp / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    return gw, ids_file


def rest_scenarios(h: Harness, wanted: list[str]) -> list[dict]:
    gw, ids_file = local_store(h)
    env = {"BENCH_TOKEN": token(), "BENCH_IDS": str(ids_file)}
    rows = []
    health = h.wrk(gw.url + "/health", "get.lua", 32, env)

    def against_health(name: str, result: dict) -> dict:
        result["ratio"] = result["rps"] / health["rps"] if health["rps"] else 0.0
        out = row(name, result, "/health", health)
        out["p99_over_health_ms"] = round(result["p99_ms"] - health["p99_ms"], 3)
        return out

    if "rest-get" in wanted:
        result = h.wrk(gw.url + "/v1/tables/items/", "get_random.lua", 32, env, watch=gw)
        rows.append(against_health("rest-get", result))
    if "rest-list" in wanted:
        path = "/v1/tables/items?status=eq.Transcribing&order=score.desc&limit=50"
        result = h.wrk(gw.url + path, "get.lua", 32, env, watch=gw)
        rows.append(against_health("rest-list", result))
    if "rest-insert" in wanted:
        result = h.wrk(gw.url + "/v1/tables/inserts", "insert.lua", 32, env, watch=gw)
        rows.append(against_health("rest-insert", result))
    return rows


def convex_rest_get(h: Harness) -> list[dict]:
    stub = h.start_stub()
    gw = h.start_gateway({"CONVEX_URL": stub.url, "CONVEX_AUTH_MODE": "mint"}, "convex-rest")
    env = {"BENCH_TOKEN": token()}
    passthrough_run = h.wrk(gw.url + "/api/query", "query.lua", 32, env)
    result = h.wrk(gw.url + "/v1/tables/videos/jd7a2x3q9r5kqv0b8m1n2p3s4t5u6v7w", "get.lua", 32,
                   env, watch=gw)
    result["ratio"] = result["rps"] / passthrough_run["rps"] if passthrough_run["rps"] else 0.0
    return [row("convex-rest-get", result, "passthrough@32", passthrough_run)]


# --- Postgres ------------------------------------------------------------------------------------

PG_SCHEMA = """
CREATE TABLE items (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    title text, status text, score int4, "twitchId" text, body text);
CREATE INDEX items_status_score ON items (status, score NULLS FIRST);
CREATE TABLE inserts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    title text, status text, score int4, tags text[]);
GRANT ALL ON items, inserts TO anon, authenticated, service_role;
"""


def psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                          capture_output=True, text=True, check=True).stdout.strip()


def pg_database(h: Harness) -> str:
    """A fresh database for this run on the server scripts/postgres-setup found (bench/run
    drops it at the end)."""
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        raise SystemExit("the pg-* scenarios need TEST_DATABASE_URL; run them through bench/run")
    name = f"{os.environ.get('TEST_PG_PREFIX', 'cg_bench')}_bench"
    psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(admin, f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + "/" + name


def pgbench_select(h: Harness, url: str) -> dict:
    """`pgbench -S`: primary-key reads straight from the database, no HTTP: the floor."""
    out = subprocess.run(["pgbench", "-n", "-S", "-c", "32", "-j", "2", "-T", str(h.duration), url],
                         capture_output=True, text=True, check=True).stdout
    tps = next(float(line.split("=")[1].split()[0]) for line in out.splitlines()
               if line.startswith("tps") and "without initial" in line)
    latency = next((float(line.split("=")[1].split()[0]) for line in out.splitlines()
                    if line.startswith("latency average")), 0.0)
    return {"rps": tps, "p50_ms": latency, "p99_ms": latency}


def pg_scenarios(h: Harness, wanted: list[str]) -> list[dict]:
    url = pg_database(h)
    count = 2_000 if h.smoke else 100_000
    log(f"seeding {count} rows into Postgres")
    psql(url, PG_SCHEMA)
    psql(url, f"""INSERT INTO items (title, status, score, "twitchId", body)
        SELECT 'video ' || n, (ARRAY['Queued','Downloading','Transcribing','Analyzing','Completed'])[n % 5 + 1],
               (n * 7919) % 100000, (2000000000 + n)::text, repeat('lorem ipsum dolor sit amet ', 4)
        FROM generate_series(0, {count - 1}) n; ANALYZE items;""")
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", url], capture_output=True, check=True)
    subprocess.run([str(h.binary("convex-gateway")), "postgres", "install"], env={
        "PATH": os.environ.get("PATH", ""), "DATABASE_URL": url, "GATEWAY_DATA_DIR": str(h.tmp)},
        capture_output=True, check=True)
    ids_file = h.tmp / "pg-ids.txt"
    ids_file.write_text(psql(url, "SELECT id FROM items ORDER BY random() LIMIT 20000") + "\n")
    # Two gateways: as the connecting user (one statement per read, like pgbench -S), and with
    # row-level security set-up per request (the bench database has the Supabase roles).
    settings = {"GATEWAY_STORE": "postgres", "DATABASE_URL": url, "GATEWAY_PG_POOL_SIZE": "32"}
    plain = h.start_gateway({**settings, "GATEWAY_PG_RLS": "off"}, "postgres-plain")
    gw = h.start_gateway({**settings, "GATEWAY_PG_RLS": "on"}, "postgres")
    env = {"BENCH_TOKEN": token(), "BENCH_IDS": str(ids_file)}
    floor = pgbench_select(h, url)
    rows = []
    if "pg-rest-get" in wanted:
        for name, target in (("pg-rest-get", plain), ("pg-rest-get-rls", gw)):
            result = h.wrk(target.url + "/v1/tables/items/", "get_random.lua", 32, env, watch=target)
            result["ratio"] = result["rps"] / floor["rps"] if floor["rps"] else 0.0
            rows.append(row(name, result, "pgbench -S", floor))
    if "pg-rest-list" in wanted:
        path = "/v1/tables/items?status=eq.Transcribing&order=score.desc&limit=50"
        result = h.wrk(gw.url + path, "get.lua", 32, env, watch=gw)
        result["ratio"] = result["rps"] / floor["rps"] if floor["rps"] else 0.0
        out = row("pg-rest-list", result, "pgbench -S", floor)
        # The adapter's own counter: round trips one list of 50 rows costs, with and without
        # row-level security set-up.
        admin = token("bench-admin", ["admin"])
        for key, target in (("round_trips_per_list", gw), ("round_trips_per_list_plain", plain)):
            _, before = request("GET", target.url + "/admin/status", token=admin)
            status, page = request("GET", target.url + path, token=token())
            assert status == 200 and len(page["items"]) == 50, (status, len(page.get("items", [])))
            _, after = request("GET", target.url + "/admin/status", token=admin)
            out[key] = after["storeRoundTrips"] - before["storeRoundTrips"]
        rows.append(out)
    if "pg-rest-insert" in wanted:
        result = h.wrk(gw.url + "/v1/tables/inserts", "insert.lua", 32, env, watch=gw)
        result["ratio"] = result["rps"] / floor["rps"] if floor["rps"] else 0.0
        rows.append(row("pg-rest-insert", result, "pgbench -S", floor))
    return rows


def shared_limit(h: Harness) -> list[dict]:
    """What counting rate limits in Redis (GATEWAY_RATE_LIMIT_URL) costs a request: the same
    reads by id, under a limit too high to refuse anything, counted in memory and in Redis."""
    redis = os.environ.get("TEST_REDIS_URL")
    if not redis:
        raise SystemExit("the shared-limit scenario needs TEST_REDIS_URL; run it through bench/run")
    policy = h.tmp / "limited-policy.toml"
    policy.write_text(POLICY.replace('functions = { "*" = ["query", "mutation"] }',
                                     'functions = { "*" = ["query", "mutation"] }\nrate_limit = "1000000/s"'))
    memory_gw = h.start_gateway({"GATEWAY_POLICY": str(policy)}, "limit-memory")
    redis_gw = h.start_gateway({"GATEWAY_POLICY": str(policy), "GATEWAY_RATE_LIMIT_URL": redis,
                                "GATEWAY_RATE_LIMIT_PREFIX": f"bench:{os.getpid()}:"}, "limit-redis")
    count = 1_000 if h.smoke else 10_000
    ids = seed(memory_gw, count)
    (h.tmp / "memory-ids.txt").write_text("\n".join(ids) + "\n")
    ids = seed(redis_gw, count)
    (h.tmp / "redis-ids.txt").write_text("\n".join(ids) + "\n")
    in_memory = h.wrk(memory_gw.url + "/v1/tables/items/", "get_random.lua", 32,
                      {"BENCH_TOKEN": token(), "BENCH_IDS": str(h.tmp / "memory-ids.txt")}, watch=memory_gw)
    shared = h.wrk(redis_gw.url + "/v1/tables/items/", "get_random.lua", 32,
                   {"BENCH_TOKEN": token(), "BENCH_IDS": str(h.tmp / "redis-ids.txt")}, watch=redis_gw)
    shared["ratio"] = shared["rps"] / in_memory["rps"] if in_memory["rps"] else 0.0
    return [row("shared-limit", shared, "limit in memory", in_memory)]


def state_commits(url: str) -> int:
    """Transactions committed in the database at `url` so far (each statement outside an explicit
    transaction is one). Backends report their counts to the statistics a while after they go
    idle, so this reads until two readings half a second apart agree (for at most 10 s)."""
    name = url.rsplit("/", 1)[1].split("?")[0]
    sql = f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{name}'"
    last = int(psql(url, sql))
    for _ in range(20):
        time.sleep(0.5)
        now = int(psql(url, sql))
        if now == last:
            break
        last = now
    return last


def redis_round_trips(url: str) -> int:
    """Requests Redis has answered so far: script calls (each runs several commands inside, as
    one round trip) and pings."""
    out = subprocess.run(["redis-cli", "-u", url, "info", "commandstats"], capture_output=True,
                         text=True, check=True).stdout
    total = 0
    for line in out.splitlines():
        name, _, rest = line.partition(":")
        if name in ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_ping"):
            total += int(rest.split(",")[0].split("=")[1])
    return total


def replicated(h: Harness) -> list[dict]:
    """What sharing state costs one replica: the same requests on the embedded store, by a
    gateway that keeps its state in its data folder and counts limits in memory, and by one with
    GATEWAY_STATE_URL and GATEWAY_RATE_LIMIT_URL set. Reports, per request, the extra CPU and
    latency, and the transactions the state store committed and the round trips Redis answered (the state store's
    own heartbeat and sweeps, a few a second, are counted too)."""
    redis = os.environ.get("TEST_REDIS_URL")
    admin = os.environ.get("TEST_DATABASE_URL")
    if not redis or not admin:
        raise SystemExit("the replicated scenario needs TEST_DATABASE_URL and TEST_REDIS_URL; run it through bench/run")
    name = f"{os.environ.get('TEST_PG_PREFIX', 'cg_bench')}_bench_state"
    psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(admin, f'CREATE DATABASE "{name}"')
    state = admin.rsplit("/", 1)[0] + "/" + name
    policy = h.tmp / "replicated-policy.toml"
    policy.write_text(POLICY + '\n[roles.limited]\ntables = { "*" = ["read"] }\nrate_limit = "1000000/s"\n')
    base = {"GATEWAY_POLICY": str(policy)}
    single = h.start_gateway(base, "single")
    shared = h.start_gateway({**base, "GATEWAY_STATE_URL": state, "GATEWAY_RATE_LIMIT_URL": redis,
                              "GATEWAY_RATE_LIMIT_PREFIX": f"bench:{os.getpid()}:"}, "replicated")
    count = 1_000 if h.smoke else 10_000
    for gw, label in ((single, "single"), (shared, "shared")):
        (h.tmp / f"{label}-ids.txt").write_text("\n".join(seed(gw, count)) + "\n")
    rows = []
    cases = (
        ("replicated-get", "unkeyed read", "get_random.lua", "/v1/tables/items/", token()),
        ("replicated-insert-keyed", "keyed insert", "insert_keyed.lua", "/v1/tables/inserts", token()),
        ("replicated-limited-get", "rate-limited read", "get_random.lua", "/v1/tables/items/",
         token("limited", ["limited"])),
    )
    for scenario, what, script, path, tok in cases:
        results = {}
        for gw, label in ((single, "single"), (shared, "shared")):
            env = {"BENCH_TOKEN": tok, "BENCH_IDS": str(h.tmp / f"{label}-ids.txt"), "BENCH_RUN": label}
            commits, commands = state_commits(state), redis_round_trips(redis)
            result = h.wrk(gw.url + path, script, 32, env, watch=gw)
            if label == "shared":
                # Over every repeat's requests: the median run's count times the repeats.
                total = result["requests"] * h.repeat
                result["state_commits_per_request"] = (state_commits(state) - commits) / total
                result["redis_round_trips_per_request"] = (redis_round_trips(redis) - commands) / total
            results[label] = result
        one, many = results["single"], results["shared"]
        out = row(scenario, many, f"{what}, one replica", one)
        out["ratio"] = round(many["rps"] / one["rps"], 3) if one["rps"] else 0.0
        out["extra_p50_ms"] = round(many["p50_ms"] - one["p50_ms"], 3)
        if many.get("cpu_s_per_1k") is not None and one.get("cpu_s_per_1k") is not None:
            # CPU seconds per 1,000 requests = CPU milliseconds per request.
            out["extra_cpu_ms_per_request"] = round(many["cpu_s_per_1k"] - one["cpu_s_per_1k"], 4)
        out["state_commits_per_request"] = round(many["state_commits_per_request"], 3)
        out["redis_round_trips_per_request"] = round(many["redis_round_trips_per_request"], 3)
        rows.append(out)
    return rows


def metric_value(url: str, name: str) -> float:
    """A metric's value (summed over its series) from /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def watch_fanout(h: Harness) -> list[dict]:
    """One changes watch of a table on the embedded store with 1,000 subscribers: the time from a
    write's commit to its delivery to each of them, next to the same with one subscriber."""
    import asyncio

    from watches import fanout_run

    gw = h.start_gateway({"GATEWAY_WATCH_PER_CALLER": "5000"}, "watch-fanout")
    tok = token()
    writes = 5 if h.smoke else 20

    def insert(doc):
        status, _ = request("POST", gw.url + "/v1/tables/fan", doc, tok)
        assert status == 201, status

    single = asyncio.run(fanout_run(gw.url, tok, 1, writes, insert))
    subscribers = 100 if h.smoke else 1000
    before = proc_stats(gw.pid)
    many = asyncio.run(fanout_run(gw.url, tok, subscribers, writes, insert))
    after = proc_stats(gw.pid)
    return [{
        "scenario": "watch-fanout",
        "subscribers": subscribers,
        "deliveries": many["deliveries"],
        "p50_ms": round(many["p50_ms"], 2),
        "p99_ms": round(many["p99_ms"], 2),
        "cpu_s_per_1k": round((after["cpu_s"] - before["cpu_s"]) / max(1, many["deliveries"]) * 1000, 3),
        "peak_rss_mb": after["peak_rss_mb"],
        "baseline": {"name": "one subscriber", "p50_ms": round(single["p50_ms"], 2),
                     "p99_ms": round(single["p99_ms"], 2)},
    }]


def watch_idle(h: Harness) -> list[dict]:
    """10,000 idle changes watches: the gateway's memory with them open, next to its memory with
    none."""
    import asyncio

    from watches import idle_run

    gw = h.start_gateway({"GATEWAY_WATCH_PER_CALLER": "20000", "GATEWAY_WATCH_MAX": "20000"},
                         "watch-idle")
    tok = token()
    watches = 1000 if h.smoke else 10_000
    request("GET", gw.url + "/v1/tables/idle0?limit=1", token=tok)
    time.sleep(0.5)
    idle = proc_stats(gw.pid)

    async def hold():
        writers = await idle_run(gw.url, tok, watches,
                                 lambda: metric_value(gw.url, "gateway_watches_open"))
        await asyncio.sleep(1.0)
        stats = proc_stats(gw.pid)
        for writer in writers:
            writer.close()
        return stats

    held = asyncio.run(hold())
    return [{
        "scenario": "watch-idle",
        "watches": watches,
        "rss_mb": round(held["rss_mb"], 1),
        "rss_anon_mb": round(held["rss_anon_mb"], 1),
        "kb_per_watch": round((held["rss_mb"] - idle["rss_mb"]) * 1024 / watches, 2),
        "baseline": {"name": "no watch", "rss_mb": round(idle["rss_mb"], 1)},
    }]


def watch_multiplex(h: Harness) -> list[dict]:
    """1,000 watches of one Convex query with one identity, through the Convex test backend's
    sync protocol: upstream subscriptions, re-runs per change, and delivery times."""
    import asyncio

    from watches import multiplex_run, start_convex_backend

    backend, backend_url = start_convex_backend(ROOT)
    try:
        gw = h.start_gateway({"CONVEX_URL": backend_url, "GATEWAY_WATCH_PER_CALLER": "5000"},
                             "watch-multiplex")
        tok = token()
        changes = 3 if h.smoke else 10

        def mutate(n):
            status, _ = request("POST", gw.url + "/v1/functions/mutation/videos:create",
                                {"twitchId": f"bench-{n}"}, tok)
            assert status == 200, status

        subscribers = 100 if h.smoke else 1000
        result = {}

        async def run():
            nonlocal result
            task = asyncio.create_task(multiplex_run(gw.url, tok, subscribers, changes, mutate))
            # Read the gauge while every watch is open.
            while not task.done():
                if metric_value(gw.url, "gateway_watches_open") >= subscribers:
                    result["upstream"] = metric_value(gw.url, "gateway_watch_upstream_subscriptions")
                    break
                await asyncio.sleep(0.1)
            result.update(await task)

        asyncio.run(run())
        with urllib.request.urlopen(backend_url + "/_emu/requests", timeout=10) as response:
            seen = json.loads(response.read())
        runs = sum(1 for r in seen if r["route"] == "ws:query" and r["path"] == "videos:list")
    finally:
        backend.terminate()
        try:
            backend.wait(timeout=5)
        except subprocess.TimeoutExpired:
            backend.kill()
            backend.wait()
    return [{
        "scenario": "watch-multiplex",
        "subscribers": subscribers,
        "deliveries": result["deliveries"],
        "p50_ms": round(result["p50_ms"], 2),
        "p99_ms": round(result["p99_ms"], 2),
        "upstream_subscriptions": result.get("upstream"),
        # The first run subscribes; each change after it is one re-run.
        "reruns_per_change": round((runs - 1) / changes, 2),
        "baseline": {"name": "subscribers", "count": subscribers},
    }]


def sync_backfill(h: Harness) -> list[dict]:
    from sync import backfill
    from watches import start_convex_backend
    return backfill(h, ROOT, psql, pg_database, start_convex_backend)


def sync_steady(h: Harness) -> list[dict]:
    from sync import steady
    from watches import start_convex_backend
    return steady(h, ROOT, psql, pg_database, start_convex_backend)


def startup(h: Harness) -> list[dict]:
    runs = []
    for attempt in range(3 if h.smoke else 7):
        port = free_port()
        data = h.tmp / f"startup-{attempt}"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GATEWAY_ADDR": f"127.0.0.1:{port}",
            "GATEWAY_DATA_DIR": str(data),
            "JWT_SECRET": SECRET,
            "LOG_FORMAT": "json",
        }
        started = time.perf_counter()
        popen = subprocess.Popen([str(h.binary("convex-gateway")), "serve"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/ready", pause=0.001)
            elapsed = time.perf_counter() - started
            time.sleep(1.0)
            idle = proc_stats(popen.pid)["rss_mb"]
        finally:
            Proc(popen, "").stop()
        runs.append((elapsed * 1000, idle))
    runs.sort()
    ms, idle = runs[len(runs) // 2]
    return [{
        "scenario": "startup",
        "startup_ms": round(ms, 1),
        "idle_rss_mb": round(idle, 1),
        "runs": len(runs),
    }]


def row(name: str, result: dict, baseline_name: str, baseline: dict) -> dict:
    out = {"scenario": name}
    for key in ("rps", "rps_range", "p50_ms", "p99_ms", "errors", "requests", "cpu_s_per_1k", "peak_rss_mb", "rss_anon_mb", "ratio", "round_trips_per_list", "round_trips_per_list_plain"):
        if key in result and result[key] is not None:
            out[key] = round(result[key], 3) if isinstance(result[key], float) else result[key]
    out["baseline"] = {
        "name": baseline_name,
        "rps": round(baseline["rps"], 1),
        "p50_ms": round(baseline["p50_ms"], 3),
        "p99_ms": round(baseline["p99_ms"], 3),
    }
    return out


def check(rows: list[dict]) -> list[str]:
    """Which targets each row meets, as text."""
    verdicts = []
    for r in rows:
        target = TARGETS.get(r["scenario"])
        if not target:
            continue
        for key, bound in target.items():
            metric, kind = key.rsplit("_", 1)
            value = r.get(metric)
            if value is None:
                continue
            ok = value >= bound if kind == "min" else value <= bound
            r.setdefault("targets", {})[metric] = {"bound": f"{kind} {bound}", "met": ok}
            verdicts.append(f"{r['scenario']}: {metric} {value} ({kind} {bound}) {'met' if ok else 'MISSED'}")
    return verdicts


def memory(r: dict) -> str:
    return f"{r.get('peak_rss_mb', 0):.1f} ({r.get('rss_anon_mb', 0):.1f})"


def table(rows: list[dict]) -> str:
    lines = [
        "| Scenario | req/s | p50 ms | p99 ms | errors | CPU s / 1k req | peak RSS MB (anon at end) | compared with | its req/s | its p99 ms | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["scenario"] == "startup":
            lines.append(f"| startup | {r['startup_ms']} ms to /ready 200 | | | | | idle {r['idle_rss_mb']} | | | | |")
            continue
        if r["scenario"] == "watch-idle":
            lines.append(f"| watch-idle | {r['watches']:,} open watches | | | | | {r['rss_mb']} ({r['rss_anon_mb']}); "
                         f"{r['kb_per_watch']} KB per watch | no watch | | | rss {r['baseline']['rss_mb']} |")
            continue
        if r["scenario"] == "sync-backfill":
            lines.append(f"| sync-backfill | {r['rows']:,} rows each way: to Postgres {r['to_postgres_rows_per_s']:,.0f} rows/s, "
                         f"to Convex {r['to_convex_rows_per_s']:,.0f} rows/s | | | | | | {r['baseline']['name']} "
                         f"| {r['backend_ceiling_rows_per_s']:,.0f} rows/s | | {r['to_convex_of_ceiling']:.2f}× |")
            continue
        if r["scenario"] == "sync-steady":
            lines.append(f"| sync-steady | {r['changes_per_s_each_way']} changes/s each way for {r['seconds']} s: lag to Convex "
                         f"p50 {r['to_convex_lag_p50_s']} s / p99 {r['to_convex_lag_p99_s']} s, to Postgres p50 "
                         f"{r['to_postgres_lag_p50_s']} s / p99 {r['to_postgres_lag_p99_s']} s | | | | | | | | | |")
            continue
        if r["scenario"].startswith("watch-"):
            extra = (f"{r['upstream_subscriptions']} upstream subscription(s), {r['reruns_per_change']} re-run(s) per change"
                     if "upstream_subscriptions" in r else f"{r['subscribers']:,} subscribers")
            b = r["baseline"]
            lines.append(f"| {r['scenario']} | {r['deliveries']:,} deliveries | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | 0 "
                         f"| {r.get('cpu_s_per_1k', 0):.3f} | {r.get('peak_rss_mb', 0):.1f} | {b['name']} | {extra} "
                         f"| {b.get('p99_ms', '')} | |")
            continue
        b = r["baseline"]
        # The baseline's p99 is this machine's scheduling tail at the same load: the floor
        # under any p99 measured in the run.
        ratio = f"{r['ratio']:.2f}×" if "ratio" in r else ""
        lines.append(
            f"| {r['scenario']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} "
            f"| {r.get('cpu_s_per_1k', 0):.3f} | {memory(r)} | {b['name']} | {b['rps']:,.0f} "
            f"| {b['p99_ms']:.2f} | {ratio} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="convex-gateway benchmarks")
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--smoke", action="store_true",
                        help="a few seconds per scenario on the debug build, to prove the harness runs")
    parser.add_argument("--duration", type=int, default=None, help="seconds per wrk run (default 10)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="wrk runs per measurement; the median by req/s is reported (default 1)")
    args = parser.parse_args()
    wanted = args.scenarios or SCENARIOS
    unknown = [s for s in wanted if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    profile = "dev" if args.smoke else "release"
    duration = args.duration or (2 if args.smoke else 10)

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed; bench/run installs it with apt-get")
    log(f"building ({profile})")
    subprocess.run(["cargo", "build", "-q", "--profile", profile, "--bin", "convex-gateway",
                    "--example", "convex_stub", "--example", "bare_forwarder"], cwd=ROOT, check=True)

    h = Harness(profile=profile, duration=duration, smoke=args.smoke, repeat=max(1, args.repeat))
    rows: list[dict] = []
    try:
        for name in wanted:
            if name.startswith(("rest-", "pg-")):
                continue
            log(f"scenario {name}")
            rows += {"passthrough": passthrough, "convex-rest-get": convex_rest_get,
                     "shared-limit": shared_limit, "replicated": replicated, "startup": startup,
                     "watch-fanout": watch_fanout, "watch-idle": watch_idle,
                     "watch-multiplex": watch_multiplex, "sync-backfill": sync_backfill,
                     "sync-steady": sync_steady}[name](h)
        rest = [s for s in wanted if s.startswith("rest-")]
        if rest:
            log(f"scenarios {', '.join(rest)}")
            rows += rest_scenarios(h, rest)
        pg = [s for s in wanted if s.startswith("pg-")]
        if pg:
            log(f"scenarios {', '.join(pg)}")
            rows += pg_scenarios(h, pg)
    finally:
        h.stop_all()

    order = {name: i for i, name in enumerate(
        [f"{name}@{c}" for c in (32, 128) for name in
         ("passthrough", "passthrough-1w", "haproxy-jwt", "nginx", "bare-forwarder")] + [*SCENARIOS[:6],
         "pg-rest-get-rls", *SCENARIOS[6:]])}
    rows.sort(key=lambda r: order.get(r["scenario"], 99))
    verdicts = check(rows)
    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "smoke": args.smoke,
        "profile": profile,
        "wrk": f"wrk -t2 -c<connections> -d{duration}s, median of {max(1, args.repeat)}",
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "results": rows,
    }
    if args.smoke:
        out = ROOT / "target" / "bench-smoke.json"
    else:
        out = ROOT / "bench" / "results" / f"{dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(rows))
    print()
    if args.smoke:
        print("- smoke run (debug build, short runs): it proves the harness works; speed is not judged")
    else:
        for verdict in verdicts:
            print(f"- {verdict}")
        for r in rows:
            if "round_trips_per_list" in r:
                print(f"- {r['scenario']}: {r['round_trips_per_list']} round trip(s) to Postgres for one list of 50 rows "
                      f"with row-level security set-up, {r.get('round_trips_per_list_plain')} without")
            if "state_commits_per_request" in r:
                print(f"- {r['scenario']}: {r['ratio']:.2f}× one replica's req/s, {r['extra_p50_ms']:+} ms p50, "
                      f"{r.get('extra_cpu_ms_per_request', 0):+} ms CPU per request; "
                      f"{r['state_commits_per_request']} state-store commits and "
                      f"{r['redis_round_trips_per_request']} Redis round trips per request")
            if "per_core" in r:
                parts = [f"{r['per_core']:,} req per CPU-second"]
                if "per_core_of_haproxy" in r:
                    parts.append(f"{r['per_core_of_haproxy']:.2f}× HAProxy's per core, {r['ratio']:.2f}× its req/s, "
                                 f"p99 {r['p99_over_haproxy_ms']:+.2f} ms over its")
                if "per_core_of_c32" in r:
                    parts.append(f"per core {r['per_core_of_c32']:.2f}× its rate at 32 connections")
                if "of_bare_forwarder" in r:
                    parts.append(f"{r['of_bare_forwarder']:.2f}× the bare forwarder's req/s")
                print(f"- {r['scenario']}: " + "; ".join(parts))
    print(f"\nwritten to {out.relative_to(ROOT)}")
    # The harness ran when every scenario produced numbers and no request failed.
    broken = [r["scenario"] for r in rows if r.get("errors") or (r.get("rps") == 0)
              or (r["scenario"] in ("watch-fanout", "watch-multiplex") and not r.get("deliveries"))]
    if broken:
        print(f"bench: requests failed in {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
