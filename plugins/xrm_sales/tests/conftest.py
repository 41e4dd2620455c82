"""Fixtures: a database (SQLite and PostgreSQL) with contacts and sales installed and started.

``db_url`` and the PostgreSQL server come from xRM's pytest plugin
(``xrm_core.testing.pytest_plugin``), so these tests run on both databases like the core's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pluggy
import pytest
import xrm_contacts.hooks
import xrm_sales.hooks

from xrm_core import XRM
from xrm_core.plugins import make_plugin_manager, start


def plugin_manager() -> pluggy.PluginManager:
    """contacts and sales, handed over directly (whatever else is installed)."""
    return make_plugin_manager(
        load_entrypoints=False, plugins=[xrm_contacts.hooks, xrm_sales.hooks]
    )


def installed(db_url: str, tmp_path: Path) -> XRM:
    """An XRM on ``db_url`` with sales (and so contacts) installed and started."""
    xrm = XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=plugin_manager())
    system = xrm.as_system("tests")
    system.plugins.install("sales")
    start(system, system.plugin_manager)
    return system


@pytest.fixture
def xrm(db_url: str, tmp_path: Path) -> Iterator[XRM]:
    """Sales installed and started on an empty database, in the system context."""
    system = installed(db_url, tmp_path)
    try:
        yield system
    finally:
        system.close()


@dataclass(frozen=True)
class Org:
    """Two business units: North (with North East below it) and South, and their people."""

    north: uuid.UUID
    north_east: uuid.UUID
    south: uuid.UUID
    #: Sales Manager of North.
    maria: uuid.UUID
    #: Salespeople: bob in North, erin in North East, carol in South.
    bob: uuid.UUID
    erin: uuid.UUID
    carol: uuid.UUID


@pytest.fixture
def org(xrm: XRM) -> Org:
    """The sales organization of the tests."""
    units = xrm.records("business_unit")
    root = units.query(filter={"parent": {"is_null": True}}, limit=1).records[0]["id"]
    north = units.create({"name": "North", "parent": root})["id"]
    north_east = units.create({"name": "North East", "parent": north})["id"]
    south = units.create({"name": "South", "parent": root})["id"]
    make = xrm.security.create_user
    return Org(
        north=north,
        north_east=north_east,
        south=south,
        maria=make("maria", business_unit=north, roles=["Sales Manager"]),
        bob=make("bob", business_unit=north, roles=["Salesperson"]),
        erin=make("erin", business_unit=north_east, roles=["Salesperson"]),
        carol=make("carol", business_unit=south, roles=["Salesperson"]),
    )
