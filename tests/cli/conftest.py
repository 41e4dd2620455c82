"""Fixtures for the ``xrm`` command line: the real commands, in process, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from xrm_core import XRM
from xrm_core.cli import main


@dataclass(frozen=True)
class Cli:
    """Runs ``xrm`` commands against one database, as an operator types them."""

    url: str

    def __call__(self, *args: str, input: str | None = None) -> Result:
        """``xrm ARGS --db URL``; stdout and stderr apart (``result.stdout``, ``.stderr``)."""
        return CliRunner().invoke(main, [*args, "--db", self.url], input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Like calling it, but the command must succeed."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``xrm`` on an empty database (SQLite and PostgreSQL), run from a private folder."""
    monkeypatch.chdir(tmp_path)  # where exports land
    return Cli(db_url)


@pytest.fixture
def system(cli: Cli, tmp_path: Path) -> Iterator[XRM]:
    """The same database, prepared by ``xrm db upgrade``, in the system context."""
    cli.ok("db", "upgrade")
    xrm = XRM.from_url(cli.url, export_dir=tmp_path / "exports").as_system("tests")
    try:
        yield xrm
    finally:
        xrm.close()
