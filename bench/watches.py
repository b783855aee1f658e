"""Live-query scenarios for bench/run: fan-out of one table watch to many subscribers, the memory
of many idle watches, and many subscribers of one Convex function watch sharing one upstream
subscription.

Subscribers are plain HTTP/1.1 connections driven by asyncio (the standard library only), each
reading its Server-Sent Events off a chunked body, so the harness itself is what it measures
against: every number is taken on the same machine, in the same run, next to its baseline.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.parse
from pathlib import Path


async def open_watch(url: str, path: str, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Opens `path` as an event stream; returns the connection once the headers are read."""
    parsed = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        rest = await reader.read(2000)
        raise RuntimeError(f"watch refused: {status!r} {rest!r}")
    while (line := await reader.readline()) not in (b"\r\n", b""):
        pass
    return reader, writer


async def events(reader: asyncio.StreamReader):
    """The events of a chunked event-stream body, as (event, data) pairs."""
    buffer = b""
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.strip().split(b";")[0] or b"0", 16)
        if size == 0:
            return
        buffer += (await reader.readexactly(size + 2))[:-2]
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            event, data = "message", []
            for line in block.decode().split("\n"):
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
            if data or event != "message":
                yield event, "\n".join(data)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def fanout_run(url: str, token: str, subscribers: int, writes: int, insert) -> dict:
    """Opens `subscribers` changes watches of one table, makes `writes` inserts, and measures
    each delivery from the document's creation time (taken in the commit) to its arrival."""
    path = "/v1/tables/fan?mode=changes"
    connections = []
    opening = asyncio.Semaphore(100)

    async def one():
        async with opening:
            reader, writer = await open_watch(url, path, token)
        stream = events(reader)
        event, _ = await anext(stream)
        assert event == "ready", event
        connections.append((stream, writer))

    await asyncio.gather(*(one() for _ in range(subscribers)))
    latencies: list[float] = []

    async def receive(stream):
        got = 0
        async for event, data in stream:
            if event != "change":
                continue
            now = time.time() * 1000
            latencies.append(now - json.loads(data)["document"]["_creationTime"])
            got += 1
            if got == writes:
                return

    receivers = [asyncio.create_task(receive(stream)) for stream, _ in connections]
    loop = asyncio.get_running_loop()
    for n in range(writes):
        await loop.run_in_executor(None, insert, {"n": n})
        await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*receivers), timeout=60)
    for _, writer in connections:
        writer.close()
    return {
        "subscribers": subscribers,
        "deliveries": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else 0.0,
    }


async def idle_run(url: str, token: str, watches: int, open_count) -> list:
    """Opens `watches` idle changes watches and keeps them open; returns their writers."""
    writers = []
    opening = asyncio.Semaphore(200)

    async def one(i: int):
        async with opening:
            reader, writer = await open_watch(url, f"/v1/tables/idle{i % 10}?mode=changes", token)
            stream = events(reader)
            event, _ = await anext(stream)
            assert event == "ready", event
            writers.append(writer)

    await asyncio.gather(*(one(i) for i in range(watches)))
    deadline = time.time() + 60
    while open_count() < watches:
        if time.time() > deadline:
            raise RuntimeError(f"only {open_count()} of {watches} watches open")
        await asyncio.sleep(0.1)
    return writers


async def multiplex_run(url: str, token: str, subscribers: int, changes: int, mutate) -> dict:
    """Opens `subscribers` watches of one Convex query with one identity, makes `changes`
    mutations, and measures each delivery from the mutation's start to its arrival."""
    args = urllib.parse.quote(json.dumps({}))
    path = f"/v1/functions/query/videos:list?args={args}"
    streams = []
    opening = asyncio.Semaphore(100)

    async def one():
        async with opening:
            reader, writer = await open_watch(url, path, token)
        stream = events(reader)
        event, _ = await anext(stream)
        assert event == "value", event
        streams.append((stream, writer))

    await asyncio.gather(*(one() for _ in range(subscribers)))
    started: dict[int, float] = {}
    latencies: list[float] = []

    async def receive(stream):
        seen = 0
        async for event, data in stream:
            if event != "value":
                continue
            count = len(json.loads(data)["value"])
            now = time.time() * 1000
            if count in started:
                latencies.append(now - started[count])
            seen = max(seen, count)
            if seen >= changes:
                return

    receivers = [asyncio.create_task(receive(stream)) for stream, _ in streams]
    loop = asyncio.get_running_loop()
    for n in range(1, changes + 1):
        started[n] = time.time() * 1000
        await loop.run_in_executor(None, mutate, n)
        await asyncio.sleep(0.1)
    await asyncio.wait_for(asyncio.gather(*receivers), timeout=60)
    for _, writer in streams:
        writer.close()
    return {
        "subscribers": subscribers,
        "deliveries": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }


def start_convex_backend(root: Path) -> tuple[subprocess.Popen, str]:
    """The Convex test backend (tests/convex-backend), which speaks the sync protocol."""
    if not (root / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=root, check=True)
    popen = subprocess.Popen(
        ["node", "--import", "tsx", "tests/convex-backend/server.mjs"],
        cwd=root,
        env={"PATH": __import__("os").environ.get("PATH", ""), "PORT": "0", "EMU_ERROR_STATUS": "200"},
        stdout=subprocess.PIPE,
        text=True,
    )
    line = popen.stdout.readline().strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"the Convex test backend did not start: {line!r}")
    return popen, line.removeprefix("listening on ")
