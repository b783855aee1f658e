"""A running gateway for the Python client's smoke tests and the Python examples: the binary on a
free loopback port with its own data folder, and an admin token from its `token` command."""

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gateway():
    binary = os.environ.get("GATEWAY_BIN", str(ROOT / "target/debug/convex-gateway"))
    with tempfile.TemporaryDirectory(prefix="gateway-py-") as data:
        port = _free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GATEWAY_ADDR": f"127.0.0.1:{port}",
            "GATEWAY_DATA_DIR": data,
        }
        process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "the gateway did not become ready"
                time.sleep(0.05)
            token = subprocess.run(
                [binary, "token", "--sub", "py-tests", "--role", "admin", "--ttl", "1h"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            yield url, token
        finally:
            process.terminate()
            process.wait(timeout=10)
