"""The core's tests use xRM's pytest plugin (``xrm_core.testing.pytest_plugin``), registered
by the ``xrm`` package's ``pytest11`` entry point: ``db_url``, ``sqlite_url``, ``xrm`` and
``postgres_server`` run each test on SQLite and on a real PostgreSQL. Fixtures only this
repository's tests use live here.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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
