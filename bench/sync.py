"""The table sync's benchmark scenarios (issue 19), against a real Postgres and the Convex test
backend:

- sync-backfill: N rows copied Postgres -> Convex and N documents Convex -> Postgres, each
  direction alone, in rows per second; beside them the test backend's own ceiling (N inserts
  through `gateway:syncApply` in the gateway's batch size, nothing else), which bounds the
  Convex figure.
- sync-steady: changes made at a steady rate on both sides at once; the lag of each change from
  its commit on one side to its arrival on the other, p50 and p99.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request

KEY = "bench|sync-deploy-key"


def post(url: str, body: dict, key: bool = True) -> dict:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Convex {KEY}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read())


def convex_apply(backend: str, ops: list) -> None:
    answer = post(backend + "/api/mutation",
                  {"path": "gateway:apply", "args": {"ops": ops}, "format": "convex_encoded_json"})
    assert answer.get("status") == "success", answer


def convex_count(backend: str, table: str) -> int:
    count, snapshot, cursor = 0, None, None
    while True:
        body = {"tableName": table, "format": "convex_encoded_json"}
        if snapshot is not None:
            body["snapshot"] = snapshot
        if cursor is not None:
            body["cursor"] = cursor
        page = post(backend + "/api/list_snapshot", body)
        count += len(page["values"])
        if not page["hasMore"]:
            return count
        snapshot, cursor = page["snapshot"], page["cursor"]


def convex_docs(backend: str, table: str) -> list:
    docs, snapshot, cursor = [], None, None
    while True:
        body = {"tableName": table, "format": "json"}
        if snapshot is not None:
            body["snapshot"] = snapshot
        if cursor is not None:
            body["cursor"] = cursor
        page = post(backend + "/api/list_snapshot", body)
        docs += page["values"]
        if not page["hasMore"]:
            return docs
        snapshot, cursor = page["snapshot"], page["cursor"]


def wait(what: str, check, deadline_s: float = 600.0, pause: float = 0.05) -> float:
    """Seconds until `check()` holds; a check that fails (a table the sync has not created
    yet) counts as not yet."""
    def holds() -> bool:
        try:
            return check()
        except subprocess.CalledProcessError:
            return False

    started = time.perf_counter()
    while not holds():
        if time.perf_counter() - started > deadline_s:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(pause)
    return time.perf_counter() - started


def sync_file(h, name: str, pairs: list[tuple[str, str, str]]) -> str:
    path = h.tmp / f"{name}.toml"
    text = "[sync]\nidle_poll_max_ms = 100\n"
    for pg, cx, direction in pairs:
        text += f'[[sync.tables]]\npostgres = "{pg}"\nconvex = "{cx}"\ndirection = "{direction}"\n'
    path.write_text(text)
    return str(path)


def gateway_env(backend: str, url: str, sync: str) -> dict:
    return {"CONVEX_URL": backend, "CONVEX_DEPLOYMENT_KEY": KEY, "DATABASE_URL": url, "GATEWAY_SYNC": sync}


def install(h, url: str) -> None:
    subprocess.run([str(h.binary("convex-gateway")), "postgres", "install"],
                   env={"PATH": os.environ.get("PATH", ""), "DATABASE_URL": url},
                   check=True, capture_output=True)


def backfill(h, root, psql, pg_database, start_convex_backend) -> list[dict]:
    n = 1_000 if h.smoke else 10_000
    url = pg_database(h)
    backend_proc, backend = start_convex_backend(root)
    try:
        # The test backend's ceiling: n inserts through gateway:syncApply, 128 at a time.
        started = time.perf_counter()
        for start in range(0, n, 128):
            changes = [{"key": f"ceiling:{i:020}", "table": "ceiling", "op": "insert",
                        "fields": {"name": f"c-{i}", "weight": i / 10}}
                       for i in range(start, min(n, start + 128))]
            answer = post(backend + "/api/mutation", {"path": "gateway:syncApply",
                                                      "args": {"changes": changes},
                                                      "format": "convex_encoded_json"})
            assert answer.get("status") == "success", answer
        ceiling = n / (time.perf_counter() - started)
        # The sync starts on a fresh backend too: the test backend reads every document for
        # each indexed query (convex-test), so it slows as it fills.
        backend_proc.terminate()
        backend_proc.wait()
        backend_proc, backend = start_convex_backend(root)

        # Postgres -> Convex, alone.
        psql(url, "CREATE TABLE pg_rows (id bigserial PRIMARY KEY, name text NOT NULL, weight float8);"
                  f"INSERT INTO pg_rows (name, weight) SELECT 'pg-' || i, i / 10.0 FROM generate_series(1, {n}) i;"
                  "CREATE TABLE cx_rows (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL, weight float8);")
        install(h, url)
        sync = sync_file(h, "to-convex", [("pg_rows", "pgrows", "to_convex")])
        gw = h.start_gateway(gateway_env(backend, url, sync), "sync-to-convex")
        to_convex_s = wait("the backfill into Convex",
                           lambda: psql(url, "SELECT count(*) FROM gateway.sync_keys WHERE pair = 'pg_rows'") == str(n))
        assert convex_count(backend, "pgrows") == n
        gw.stop()
        h.procs.remove(gw)

        # Convex -> Postgres, alone.
        for start in range(0, n, 500):
            convex_apply(backend, [{"kind": "insert", "table": "cxrows",
                                    "fields": {"name": f"cx-{i}", "weight": i / 10}}
                                   for i in range(start, min(n, start + 500))])
        sync = sync_file(h, "to-postgres", [("cx_rows", "cxrows", "to_postgres")])
        gw = h.start_gateway(gateway_env(backend, url, sync), "sync-to-postgres")
        to_postgres_s = wait("the backfill into Postgres",
                             lambda: psql(url, "SELECT count(*) FROM cx_rows") == str(n))
        gw.stop()
        h.procs.remove(gw)
    finally:
        backend_proc.terminate()
        backend_proc.wait()
    return [{
        "scenario": "sync-backfill",
        "rows": n,
        "to_postgres_rows_per_s": round(n / to_postgres_s, 1),
        "to_convex_rows_per_s": round(n / to_convex_s, 1),
        "backend_ceiling_rows_per_s": round(ceiling, 1),
        "to_convex_of_ceiling": round((n / to_convex_s) / ceiling, 2),
        "baseline": {"name": "the test backend's syncApply alone", "rows_per_s": round(ceiling, 1)},
    }]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def steady(h, root, psql, pg_database, start_convex_backend) -> list[dict]:
    rate = 200
    seconds = 3 if h.smoke else 20
    url = pg_database(h)
    backend_proc, backend = start_convex_backend(root)
    try:
        psql(url, "CREATE TABLE pg_side (id bigserial PRIMARY KEY, n int NOT NULL, made timestamptz NOT NULL);"
                  "CREATE TABLE cx_side (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int, made float8,"
                  " arrived timestamptz NOT NULL DEFAULT clock_timestamp());")
        install(h, url)
        sync = sync_file(h, "steady", [("pg_side", "pgside", "both"), ("cx_side", "cxside", "both")])
        gw = h.start_gateway(gateway_env(backend, url, sync), "sync-steady")
        wait("the sync to start", lambda: psql(url, "SELECT count(*) FROM gateway.sync_checkpoints") == "2")
        # Postgres: one session writing `rate` rows a second; Convex: `rate` documents a second
        # in batches of 10, each stamped with the time it was made.
        writer = subprocess.Popen(["psql", "-X", "-q", "-d", url], stdin=subprocess.PIPE, text=True,
                                  stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        made = 0
        while made < rate * seconds:
            due = started + made / rate
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            writer.stdin.write(f"INSERT INTO pg_side (n, made) VALUES ({made}, clock_timestamp());\n")
            writer.stdin.flush()
            if made % 10 == 0:
                stamp = time.time() * 1000
                convex_apply(backend, [{"kind": "insert", "table": "cxside",
                                        "fields": {"n": made + i, "made": stamp}} for i in range(10)])
            made += 1
        writer.stdin.close()
        writer.wait()
        total = rate * seconds
        wait("every change on the other side",
             lambda: convex_count(backend, "pgside") == total
             and psql(url, "SELECT count(*) FROM cx_side") == str(total), deadline_s=120)
        # Postgres -> Convex: the document's creation time minus the row's commit time.
        made_at = dict(tuple(line.split("|")) for line in psql(
            url, "SELECT n, (extract(epoch FROM made) * 1000)::float8 FROM pg_side").splitlines())
        to_convex = [(d["_creationTime"] - float(made_at[str(int(d["n"]))])) / 1000
                     for d in convex_docs(backend, "pgside")]
        # Convex -> Postgres: the row's arrival minus the document's making.
        to_postgres = [float(v) / 1000 for v in psql(
            url, "SELECT (extract(epoch FROM arrived) * 1000 - made)::float8 FROM cx_side").splitlines()]
        gw.stop()
        h.procs.remove(gw)
    finally:
        backend_proc.terminate()
        backend_proc.wait()
    return [{
        "scenario": "sync-steady",
        "changes_per_s_each_way": rate,
        "seconds": seconds,
        "to_convex_lag_p50_s": round(percentile(to_convex, 50), 3),
        "to_convex_lag_p99_s": round(percentile(to_convex, 99), 3),
        "to_postgres_lag_p50_s": round(percentile(to_postgres, 50), 3),
        "to_postgres_lag_p99_s": round(percentile(to_postgres, 99), 3),
        "baseline": {"name": "changes per second each way", "rate": rate},
    }]
