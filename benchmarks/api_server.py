"""The server the api suite measures: xRM's app, with bare endpoints beside it.

:class:`Server` runs uvicorn with :func:`app` (a factory) in a process of its
own, one worker, on a free loopback port. Requests under ``/bare/`` go to a
plain Starlette app whose endpoints execute hand-written SQL through the same
SQLAlchemy engine, in the same worker threads as ours (the app's
:class:`~xrm_core.api.threads.ServiceThreads`: as many calls at once), and
encode rows with the same :class:`~xrm_core.api.responses.RecordsResponse`;
everything else goes to :func:`xrm_core.api.app.create_app`, configured by the
environment (``XRM_DATABASE_URL``, ``XRM_RATE_LIMIT``...). The ratio of the two
is then what the framework adds: authentication, permissions, validation of
the request, shaping of the answer.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from xrm_core.api.app import create_app
from xrm_core.api.responses import RecordsResponse
from xrm_core.api.threads import ServiceThreads
from xrm_core.xrm import XRM

#: The entity the bare endpoints read (the suite defines it before the server starts).
DEAL = "bench_deal"
#: Where the bare endpoints live.
BARE = "/bare/"
#: What uvicorn logs once the app is ready to serve.
READY = "Application startup complete"
#: Seconds the server may take to start (plugins, metadata) or to stop.
PATIENCE = 120.0
#: Settings for the server: no client is ever refused for its rate.
UNLIMITED = {"XRM_RATE_LIMIT": str(10**9), "XRM_RATE_BURST": str(10**9)}


class Server:
    """uvicorn serving :func:`app` over ``database_url`` in a child process, while in a ``with``.

    Readiness is uvicorn's own start-up line, read from the child's standard
    error (every line of which is kept, to be shown if it fails to start).
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.base_url = ""
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> Server:
        port = _free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "uvicorn", f"{__name__}:app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        # info, not warning: with no access log, uvicorn logs nothing per request
        # either way, and its start-up line is how readiness is known.
        command += ["--no-access-log", "--log-level", "info"]
        self._process = subprocess.Popen(
            command,
            env={**os.environ, "XRM_DATABASE_URL": self.database_url, **UNLIMITED},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(PATIENCE) or self._process.poll() is not None:
            self._stop()
            shown = "".join(self.lines[-40:])
            raise RuntimeError(f"the benchmark server did not start:\n{shown}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop()

    def _read(self) -> None:
        if self._process is None or self._process.stderr is None:
            return
        for line in self._process.stderr:
            self.lines.append(line)
            if READY in line:
                self._ready.set()
        self._ready.set()  # the process ended: stop waiting

    def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # uvicorn shuts down gracefully: the app closes its database
            try:
                process.wait(PATIENCE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join()  # the pipe ends with the process
        if process.stderr is not None:
            process.stderr.close()


def _free_port() -> int:
    # Handing the bound socket over (uvicorn --fd) would be free of races, but
    # uvicorn takes such a socket for a Unix one and asyncio then leaves
    # Nagle's algorithm on: 40 ms a request. A port just freed is good enough.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app() -> ASGIApp:
    """The app uvicorn serves: ``/bare/...`` to the bare endpoints, the rest to xRM."""
    ours = create_app()
    xrm: XRM = ours.state.xrm
    sql = _Statements(xrm.db.engine, xrm.metadata.catalog.table(DEAL))
    bare = _bare_app(sql, ours.state.api_threads)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        # The lifespan (and every other path) is ours: it closes the database.
        if scope["type"] == "http" and scope["path"].startswith(BARE):
            await bare(scope, receive, send)
        else:
            await ours(scope, receive, send)

    return dispatch


class _Statements:
    """The hand-written SQL, built once and reused, on the engine xRM uses."""

    def __init__(self, engine: Engine, table: sa.Table) -> None:
        self.engine = engine
        c = table.c
        self.by_id = sa.select(table).where(c.id == sa.bindparam("id"))
        # What ``?where.stage=...&order=-close_date&limit=50`` compiles to (close_date
        # is required, so no NULLS clause): the newest deals of one stage.
        self.by_stage = (
            sa.select(table)
            .where(c.stage == sa.bindparam("stage"))
            .order_by(c.close_date.desc(), c.id.asc())
            .limit(sa.bindparam("limit", type_=sa.Integer))
        )

    def deal(self, deal_id: uuid.UUID) -> dict[str, Any] | None:
        """The deal with ``deal_id``, or None."""
        with self.engine.connect() as conn:
            result = conn.execute(self.by_id, {"id": deal_id})
            row = result.first()
            return None if row is None else dict(zip(result.keys(), row, strict=True))

    def deals(self, stage: str, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` newest deals of ``stage``."""
        with self.engine.connect() as conn:
            result = conn.execute(self.by_stage, {"stage": stage, "limit": limit})
            keys = list(result.keys())
            return [dict(zip(keys, row, strict=True)) for row in result]


def _bare_app(sql: _Statements, threads: ServiceThreads) -> Starlette:
    def deal(request: Request) -> RecordsResponse:
        try:
            deal_id = uuid.UUID(request.path_params["id"])
        except ValueError:
            deal_id = None
        row = None if deal_id is None else sql.deal(deal_id)
        if row is None:
            return RecordsResponse({"detail": "not found"}, status_code=404)
        return RecordsResponse(row)

    def deals(request: Request) -> RecordsResponse:
        stage = request.query_params.get("stage", "")
        limit = int(request.query_params.get("limit", "50"))
        return RecordsResponse({"items": sql.deals(stage, limit)})

    def threaded(function: Callable[[Request], Response]) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            return await threads.run(function, request)

        return run

    return Starlette(
        routes=[
            Route(f"{BARE}deal/{{id}}", threaded(deal), methods=["GET"]),
            Route(f"{BARE}deals", threaded(deals), methods=["GET"]),
        ]
    )
