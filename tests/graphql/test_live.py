"""GraphQL on a running ``xrm serve``, through a standard client over real HTTP."""

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
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXTransport


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
        token = None
        for line in process.stdout:
            token = re.search(r"\(administrator\): (\S+)", line)
            if token:
                break
        assert token
        for line in process.stderr:  # serving once uvicorn says so, not after a delay
            if "Application startup complete" in line:
                break
        else:
            pytest.fail(f"xrm serve stopped: {process.wait()}")
        yield f"http://127.0.0.1:{port}", token.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.mark.slow
def test_a_standard_client_introspects_and_queries_a_running_server(
    served: tuple[str, str],
) -> None:
    base, token = served
    transport = HTTPXTransport(
        url=f"{base}/graphql", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    with Client(transport=transport, fetch_schema_from_transport=True) as session:
        made = session.execute(
            GraphQLRequest(
                "mutation($name: String) { createPerson(data: {name: $name}) { id name } }",
                variable_values={"name": "Ada Lovelace"},
            )
        )
        found = session.execute(
            GraphQLRequest('{ personList(filter: {name: {eq: "Ada Lovelace"}}) { nodes { id } } }')
        )
        assert session.client.schema is not None  # fetched by introspection
        assert "ParkingViolation" in session.client.schema.type_map
    assert found["personList"]["nodes"] == [{"id": made["createPerson"]["id"]}]
