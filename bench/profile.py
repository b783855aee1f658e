"""Instruction counts per request, from `valgrind --tool=callgrind` (`bench/profile`).

The machine is shared and noisy, and its CPU counters are not readable (`perf stat` says "not
supported"), so the A/B measure that repeats is callgrind's count of instructions executed: the
same binary, inputs and environment give the same count whatever else runs.

It builds the gateway with the `profiling` profile (release, plus line tables), starts the
Convex-like stub, starts the gateway under callgrind in front of it (Convex passthrough, minted
identity, the bench's policy and HS256 tokens: every feature on), warms it up, zeroes the
counters, sends exactly `--requests` queries over `--connections` keep-alive connections, dumps
the counters, and prints instructions per request, the inclusive cost of the main parts, and
the functions that cost most. `--env K=V` adds to the gateway's environment, for A/B runs.
`--scenario get` profiles a read by id on the embedded store instead; `bare` the bare forwarder
and `haproxy` HAProxy with bench/run's jwt_verify configuration, in front of the same stub, for
what the same requests cost them. Instructions are user space only: the kernel's share of each
request (the same socket calls for every proxy) is not counted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (POLICY, ROOT, SECRET, free_port, haproxy_config, log, request,  # noqa: E402
                     token, wait_http, wait_listening)

BODY = json.dumps({"path": "videos:get", "args": {"id": "jd7a2x3q9r5kqv0b8m1n2p3s4t5u6v7w"}})


def drive(url: str, path: str, method: str, body: str | None, total: int, connections: int,
          bearer: str) -> None:
    """Sends exactly `total` requests over `connections` keep-alive connections at once; every
    answer must be 200 or 201."""
    host, port = url.removeprefix("http://").split(":")
    errors: list[str] = []

    def one(count: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        headers = {"authorization": f"Bearer {bearer}", "content-type": "application/json"}
        for _ in range(count):
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status not in (200, 201):
                errors.append(f"{response.status}")
        conn.close()

    share = [total // connections + (1 if i < total % connections else 0) for i in range(connections)]
    threads = [threading.Thread(target=one, args=(n,)) for n in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"profile: {len(errors)} requests failed, e.g. {errors[0]}")


def callgrind_control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


# Subsystems whose inclusive cost (the function and all it calls, per request) is printed, by a
# pattern of the function's name.
PARTS = {
    "HTTP/1 server: parse the request": r"^<hyper::proto::h1::role::Server as .*>::parse$",
    "HTTP/1 server: write the answer": r"^hyper::proto::h1::role::write_headers$",
    "request span (tower-http trace)": r"^<tower_http::trace::service::Trace<.*>::call$",
    "request id (uuid)": r"^<tower_http::request_id::SetRequestId<.*>::call$",
    "compression's checks": r"^<tower_http::compression::service::Compression<S,P> as .*Clone>::clone$|should_compress$",
    "authentication": r"^convex_gateway::auth::.*(verify|authenticate).*",
    "metrics": r"^convex_gateway::metrics::Metrics::observe",
    "request context": r"RequestCtx.*from_request_parts",
    "outbound call (reqwest)": r"^reqwest::async_impl::client::Client::execute_request$",
    "URL parsing": r"^url::parser::Parser::parse_url$",
    "JSON in (serde_json::from_slice)": r"^serde_json::de::from_slice$",
    "memcpy (moving futures and buffers)": r"^__memcpy",
}


def parse_callgrind(path: Path) -> tuple[dict, dict]:
    """Self cost and inclusive cost (self plus calls made, a function's calls to itself left out)
    of each function in a callgrind output file."""
    names: dict[str, str] = {}

    def name(rest: str) -> str:
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if not m:
            return rest
        key, text = m.groups()
        if text:
            names[key] = text
        return names.get(key, rest)

    own: dict[str, int] = {}
    calls: dict[str, int] = {}
    current = callee = None
    pending = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                current = name(line[3:].rstrip("\n"))
            elif line.startswith("cfn="):
                callee = name(line[4:].rstrip("\n"))
            elif line.startswith("calls="):
                pending = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) < 2 or current is None:
                    continue
                cost = int(parts[1])
                if pending:
                    pending = False
                    if callee != current:
                        calls[current] = calls.get(current, 0) + cost
                else:
                    own[current] = own.get(current, 0) + cost
    inclusive = {f: own.get(f, 0) + calls.get(f, 0) for f in set(own) | set(calls)}
    return own, inclusive


def summary(out_file: Path, requests: int, top: int) -> dict:
    """Instructions per request, the subsystems' inclusive costs and the costliest functions."""
    own, inclusive = parse_callgrind(out_file)
    total = sum(own.values())
    parts = {}
    for label, pattern in PARTS.items():
        rx = re.compile(pattern)
        parts[label] = sum(c for f, c in inclusive.items() if rx.search(f)) / requests
    ranked = sorted(own.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return {"instructions": total, "per_request": total / requests, "parts": parts,
            "exclusive": [(c / requests, f[:160]) for f, c in ranked]}


def main() -> int:
    parser = argparse.ArgumentParser(description="callgrind instructions per gateway request")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--scenario", choices=["passthrough", "get", "bare", "haproxy"],
                        default="passthrough",
                        help="bare: the bare forwarder (examples/bare_forwarder.rs) instead of the gateway; "
                             "haproxy: HAProxy with bench/run's configuration (jwt_verify)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--env", action="append", default=[], help="K=V for the gateway")
    parser.add_argument("--keep", help="copy the callgrind output here")
    args = parser.parse_args()

    log("building (profiling)")
    subprocess.run(["cargo", "build", "-q", "--profile", "profiling", "--bin", "convex-gateway",
                    "--example", "convex_stub", "--example", "bare_forwarder"], cwd=ROOT, check=True)
    target = ROOT / "target" / "profiling"
    tmp = Path(tempfile.mkdtemp(prefix="gw-profile-"))
    stub = subprocess.Popen([str(target / "examples" / "convex_stub"), "0"], stdout=subprocess.PIPE, text=True)
    stub_url = stub.stdout.readline().strip().removeprefix("listening on ")
    port = free_port()
    (tmp / "policy.toml").write_text(POLICY)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GATEWAY_ADDR": f"127.0.0.1:{port}",
        "GATEWAY_DATA_DIR": str(tmp / "data"),
        "GATEWAY_POLICY": str(tmp / "policy.toml"),
        "JWT_SECRET": SECRET,
        "LOG_FORMAT": "json",
        "GATEWAY_WORKER_THREADS": "1",
    }
    if args.scenario == "passthrough":
        env.update({"CONVEX_URL": stub_url, "CONVEX_AUTH_MODE": "mint"})
    for pair in args.env:
        key, _, value = pair.partition("=")
        env[key] = value
    out_file = tmp / "callgrind.out"
    command = [str(target / "convex-gateway"), "serve"]
    if args.scenario == "bare":
        command = [str(target / "examples" / "bare_forwarder"), stub_url, str(port)]
    elif args.scenario == "haproxy":
        config = haproxy_config(tmp, port, stub_url)
        command = [shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(config)]
    gateway = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", "--dump-instr=no",
         "--trace-children=no", *command],
        env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "w"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_listening(port, gateway, tmp / "gateway.log", deadline_s=300)
        if args.scenario == "passthrough" or args.scenario == "get":
            wait_http(url + "/ready", deadline_s=300)
        bearer = token()
        if args.scenario != "get":
            path, method, body = "/api/query", "POST", BODY
        else:
            status, doc = request("POST", url + "/v1/tables/items", {"title": "profiled"}, bearer)
            assert status == 201, status
            path, method, body = f"/v1/tables/items/{doc['_id']}", "GET", None
        log("warming up")
        drive(url, path, method, body, 500, args.connections, bearer)
        callgrind_control(gateway.pid, "--zero")
        log(f"{args.requests} requests over {args.connections} connections")
        started = time.perf_counter()
        drive(url, path, method, body, args.requests, args.connections, bearer)
        log(f"took {time.perf_counter() - started:.1f} s under callgrind")
        callgrind_control(gateway.pid, "--dump=measured")
        # The dump is written to <out_file>.<n> or <out_file>; take the newest.
        deadline = time.time() + 60
        dumps: list[Path] = []
        while time.time() < deadline:
            dumps = sorted(tmp.glob("callgrind.out*"), key=lambda p: p.stat().st_mtime)
            if dumps:
                break
            time.sleep(0.2)
        result = summary(dumps[-1], args.requests, args.top)
        if args.keep:
            Path(args.keep).write_bytes(dumps[-1].read_bytes())
    finally:
        gateway.terminate()
        gateway.wait(timeout=60)
        stub.terminate()
        stub.wait()
    print(f"instructions per request: {result['per_request']:,.0f} "
          f"({args.scenario}, {args.requests} requests, {args.connections} connections)")
    print("\nparts, inclusive (instructions per request; some overlap):")
    for label, cost in result["parts"].items():
        print(f"{cost:>12,.0f}  {label}")
    print("\nfunctions, exclusive (instructions per request):")
    for cost, name in result["exclusive"]:
        print(f"{cost:>12,.0f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
