"""xRM's pytest plugin: fixtures running a test on SQLite and on a real PostgreSQL.

Registered through the ``pytest11`` entry point of the ``xrm`` package, so
every project with xRM installed — the core's suite, the bundled plugins, a
third-party plugin's own tests — gets ``db_url``, ``sqlite_url``, ``xrm`` and
``postgres_server`` without copying them (as pytest-django does for Django).

PostgreSQL is a real throwaway server (``xrm_core.testing.postgres``) started
once per test session (once per xdist worker). If it cannot start, the
PostgreSQL tests fail with the reason; they are never skipped. Only outside CI
can ``XRM_TEST_POSTGRES=0`` leave them out, and then they are deselected
visibly rather than skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xrm_core import XRM
from xrm_core.testing.postgres import PostgresServer

_DESELECTED_KEY = "xrm_postgresql_deselected"
_deselected_count = pytest.StashKey[int]()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def _postgres_disabled() -> bool:
    return os.environ.get("XRM_TEST_POSTGRES", "").strip() == "0"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: runs against the real PostgreSQL server started by the tests"
    )
    if _postgres_disabled() and _in_ci():
        raise pytest.UsageError(
            "XRM_TEST_POSTGRES=0 is not allowed when CI=true: CI always runs the PostgreSQL tests"
        )


def _needs_postgres(item: pytest.Item) -> bool:
    if item.get_closest_marker("postgresql") is not None:
        return True
    # Tests that use the server directly would otherwise try to start it.
    return "postgres_server" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _postgres_disabled():
        return
    kept = [item for item in items if not _needs_postgres(item)]
    deselected = [item for item in items if _needs_postgres(item)]
    config.stash[_deselected_count] = len(deselected)
    # xdist workers collect but cannot write to the terminal; the controller
    # reads the count from workeroutput in pytest_testnodedown.
    workeroutput: dict[str, Any] | None = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_DESELECTED_KEY] = len(deselected)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    count = node.workeroutput.get(_DESELECTED_KEY)
    if count is not None:
        # Every worker collects the full suite, so they all report the same.
        node.config.stash[_deselected_count] = count


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if getattr(config, "workeroutput", None) is not None:
        return
    count = config.stash.get(_deselected_count, None)
    if count is not None:
        terminalreporter.write_line(
            f"XRM_TEST_POSTGRES=0: deselected {count} PostgreSQL test(s)", yellow=True
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (per xdist worker)."""
    # No try/except here on purpose: a start failure must surface as an error
    # in every PostgreSQL test, not as a skip. pytest caches the exception, so
    # the start is attempted only once.
    with PostgresServer() as server:
        yield server


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of an empty SQLite database file private to the test."""
    return f"sqlite:///{tmp_path}/xrm.db"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database private to the test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/xrm.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex}"
    server.create_database(name)
    try:
        yield server.url(name)
    finally:
        # Fixtures built on db_url (the xrm fixture) are torn down first and
        # dispose their engines; WITH (FORCE) ends any connection a test leaked.
        server.drop_database(name)


@pytest.fixture
def xrm(db_url: str, tmp_path: Path) -> Iterator[XRM]:
    """An :class:`XRM` on an empty database (SQLite and PostgreSQL); exports go to tmp."""
    instance = XRM.from_url(db_url, export_dir=tmp_path / "exports").as_system("tests")
    try:
        yield instance
    finally:
        instance.close()
