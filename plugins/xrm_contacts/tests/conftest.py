"""Fixtures: databases (SQLite and PostgreSQL) with contacts installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from xrm_core import XRM
from xrm_core.plugins import make_plugin_manager, start

from xrm_contacts import hooks

# db_url (SQLite and PostgreSQL) and the PostgreSQL server come from xRM's pytest plugin
# (xrm_core.testing.pytest_plugin, registered by the xrm package's pytest11 entry point).


@pytest.fixture
def xrm(db_url: str, tmp_path: Path) -> Iterator[XRM]:
    """A database with contacts installed through the lifecycle, and the plugin started."""
    pm = make_plugin_manager(load_entrypoints=False, plugins=[hooks])
    instance = XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=pm)
    system = instance.as_system("tests")
    system.security.install()
    system.plugins.install("contacts")
    start(system, pm)
    try:
        yield system
    finally:
        instance.close()
