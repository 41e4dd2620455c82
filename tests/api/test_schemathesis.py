"""Schemathesis against a live ``xrm serve``: no 5xx, nothing that contradicts the document.

The server is a real uvicorn process (as ``xrm serve`` runs it) on a SQLite file
prepared with entities of every field kind; schemathesis reads the OpenAPI
document from the server and sends generated requests (valid and invalid) with
an administrator's token, with a fixed seed and a bounded number of examples.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from xrm_core import XRM

#: What "contradicts the document" means here, plus malformed input answered with 4xx.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)

ENTITIES: list[dict[str, Any]] = [
    {
        "x-xrm": {
            "name": "company",
            "alternate_keys": [{"name": "by_code", "fields": ["code"]}],
            "relationships": [
                {
                    "name": "partners",
                    "target": "company",
                    "attributes": {"since": {"type": "string", "format": "date"}},
                }
            ],
        },
        "properties": {
            "name": {"type": "string", "maxLength": 80},
            "code": {"type": "string", "maxLength": 20},
            "website": {"type": "string", "format": "uri"},
            "phone": {"x-xrm": {"kind": "phone"}},
            "founded": {"type": "string", "format": "date"},
            "size": {"type": "integer", "minimum": 0, "maximum": 100000},
            "revenue": {"x-xrm": {"kind": "money"}},
            "rating": {"x-xrm": {"kind": "decimal", "precision": 6, "scale": 2}},
            "active": {"type": "boolean", "default": True},
            "tier": {"enum": ["gold", "silver", "bronze"]},
            "sectors": {"type": "array", "items": {"enum": ["retail", "food", "tech"]}},
            "profile": {"x-xrm": {"kind": "json"}},
            "notes": {"x-xrm": {"kind": "text"}},
        },
        "required": ["name"],
    },
    {
        "x-xrm": {"name": "person"},
        "properties": {
            "full_name": {"type": "string", "maxLength": 100},
            "email": {"type": "string", "format": "email", "x-xrm": {"unique": True}},
            "employer": {"x-xrm": {"kind": "lookup", "target": "company", "on_delete": "restrict"}},
            "born_at": {"type": "string", "format": "date-time"},
            "regarding": {
                "x-xrm": {"kind": "polymorphic_lookup", "targets": ["company", "person"]}
            },
        },
        "required": ["full_name"],
    },
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _prepare(url: str, exports: Path) -> str:
    """Entities, a few records and an administrator's token; the token."""
    xrm = XRM.from_url(url, export_dir=exports)
    try:
        system = xrm.as_system("schemathesis fixture")
        system.security.install()
        system.metadata.define(ENTITIES)
        acme = system.records("company").create({"name": "Acme", "code": "A-1", "revenue": "12.50"})
        system.records("person").create(
            {
                "full_name": "Ada",
                "employer": acme["id"],
                "regarding": {"entity": "company", "id": acme["id"]},
            }
        )
        admin = system.security.create_user("fuzzer", roles=["System Administrator"])
        return system.auth.create_token(admin, name="schemathesis").token
    finally:
        xrm.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``xrm serve`` on a prepared SQLite file: its base URL and an administrator's token."""
    url = f"sqlite:///{tmp_path}/xrm.db"
    token = _prepare(url, tmp_path / "exports")
    port = _free_port()
    command = [sys.executable, "-c", "from xrm_core.cli import main; main()", "serve"]
    command += ["--db", url, "--port", str(port)]
    # Schemathesis sends requests as fast as it can; the rate limit is tested elsewhere.
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "XRM_RATE_LIMIT": "1000000",
        "XRM_RATE_BURST": "1000000",
    }
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # uvicorn says when it accepts requests
            if "Application startup complete" in line:
                break
        else:
            pytest.fail(f"xrm serve stopped: {process.wait()}")
        yield f"http://127.0.0.1:{port}", token
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_nothing_against_the_document(
    live_server: tuple[str, str], tmp_path: Path
) -> None:
    base, token = live_server
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        "8",
        "--seed",
        "20240501",
        # One worker: with two, the order in which operations change the
        # server's data varied from run to run, and so did what was found.
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    print(done.stdout[-6000:])  # the summary, for -s runs
    assert done.returncode == 0, _failures(tmp_path / "report") or done.stdout[-20000:]


def _failures(report: Path) -> str:
    """One line per failing or erroring operation, from the JUnit report.

    Errors (schemathesis could not finish an operation) come first: CI shows only
    the start and the end of a long message.
    """
    lines: dict[str, list[str]] = {"error": [], "failure": []}
    for found in report.glob("junit-*.xml"):
        for case in ElementTree.parse(found).iter("testcase"):
            for kind, found_lines in lines.items():
                for element in case.findall(kind):
                    text = " ".join(((element.get("message") or "") + (element.text or "")).split())
                    found_lines.append(f"{kind} in {case.get('name')}: {text[:1500]}")
    return "\n".join(lines["error"] + lines["failure"])
