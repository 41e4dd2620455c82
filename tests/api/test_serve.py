"""``xrm serve`` as a user runs it: a real uvicorn process on a loopback port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``xrm serve --demo`` on a fresh SQLite file; its base URL and the token it printed."""
    port = _free_port()
    command = [sys.executable, "-c", "from xrm_core.cli import main; main()", "serve", "--demo"]
    command += ["--db", f"sqlite:///{tmp_path}/xrm.db", "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        printed: list[str] = []
        token = None
        for line in process.stdout:  # what it prints before serving
            printed.append(line)
            token = re.search(r"\(administrator\): (\S+)", line)
            if token:
                break
        assert token, printed
        # uvicorn says when it accepts requests: wait for that line, not for time to pass.
        for line in process.stderr:
            if "Application startup complete" in line:
                break
        else:
            pytest.fail(f"xrm serve stopped: {process.wait()}")
        yield f"http://127.0.0.1:{port}", token.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.mark.slow
def test_xrm_serve_answers_over_http_with_the_demo_token(served: tuple[str, str]) -> None:
    base, token = served
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/api/v1/me").status_code == 401
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["username"] == "demo"
