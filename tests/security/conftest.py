"""Shared fixtures for the security tests: an installed security model and an organization builder.

``secured`` is the tests' system-context :class:`XRM` with the core security
entities installed; ``org`` builds an organization on it — business units,
roles with their privilege cells, users and teams — through the record
service, as an administrator would, and reads tables back for before/after
comparisons; ``crm`` adds a user-owned ``contact`` and an organization-owned
``country``. All run on SQLite and PostgreSQL (through ``xrm``).

``module_org`` is the same builder on a database shared by one module's tests,
for suites that build a large organization once and give each test fresh
records (see test_matrix).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from xrm_core import XRM
from xrm_core.security.principal import PRIVILEGES
from xrm_core.security.tables import share_table
from xrm_core.testing.postgres import PostgresServer

#: A user-owned entity: records have an owner (a user or a team) and the owner's unit.
CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "email": {"type": "string"},
    },
    "required": ["name"],
}
#: An organization-owned entity (reference data): no owner, only none/organization apply.
COUNTRY = {
    "x-xrm": {"name": "country", "ownership": "organization"},
    "properties": {"name": {"type": "string", "maxLength": 100}},
    "required": ["name"],
}

#: One cell of a role: (entity or "*", privilege, scope).
Cell = tuple[str, str, str]


class Org:
    """Builds an organization through the record service (system context) and reads it back.

    Names given to :meth:`unit`, :meth:`role`, :meth:`user` and :meth:`team`
    are used as they are; :meth:`unique` makes names that never collide, for
    tests that build many organizations in one database (property tests).
    """

    def __init__(self, xrm: XRM, root: uuid.UUID) -> None:
        self.xrm = xrm
        self.root = root
        self._serial = itertools.count(1)

    def unique(self, prefix: str) -> str:
        """``prefix`` with a number no earlier call returned."""
        return f"{prefix}_{next(self._serial)}"

    def unit(self, name: str, parent: uuid.UUID | None = None) -> uuid.UUID:
        """A business unit below ``parent`` (the root unit by default)."""
        record = self.xrm.records("business_unit").create(
            {"name": name, "parent": parent or self.root}
        )
        return uuid.UUID(str(record["id"]))

    @staticmethod
    def cells(entity: str, scope: str, privileges: Iterable[str] = PRIVILEGES) -> list[Cell]:
        """The cells granting ``privileges`` (all six by default) on ``entity`` at ``scope``."""
        return [(entity, privilege, scope) for privilege in privileges]

    def role(
        self,
        name: str,
        grants: Iterable[Cell] = (),
        *,
        administrator: bool = False,
        customize: bool = False,
    ) -> uuid.UUID:
        """A role with privilege cells ``(entity or "*", privilege, scope)``."""
        role = self.xrm.records("role").create(
            {"name": name, "administrator": administrator, "customize": customize}
        )
        rows = [
            {"role": role["id"], "entity": entity, "privilege": privilege, "scope": scope}
            for entity, privilege, scope in grants
        ]
        if rows:
            self.xrm.records("role_privilege").create_many(rows)
        return uuid.UUID(str(role["id"]))

    def role_id(self, role: str | uuid.UUID) -> uuid.UUID:
        """A role's id, given its id or its name."""
        return role if isinstance(role, uuid.UUID) else self.xrm.security.role_id(role)

    def user(
        self,
        username: str,
        unit: uuid.UUID | None = None,
        *,
        roles: Sequence[str | uuid.UUID] = (),
        teams: Sequence[uuid.UUID] = (),
        manager: uuid.UUID | None = None,
        active: bool = True,
    ) -> uuid.UUID:
        """A user in ``unit`` (the root by default) holding ``roles`` (names or ids)."""
        uid = self.xrm.security.create_user(
            username, business_unit=unit or self.root, teams=teams, manager=manager
        )
        for role in roles:
            self.give(uid, role)
        if not active:
            self.xrm.records("user").update(uid, {"is_active": False})
        return uid

    def give(self, user: uuid.UUID, role: str | uuid.UUID) -> None:
        """Give a user a role (by name or id)."""
        self.xrm.records("user").link(user, "roles", self.role_id(role))

    def team(
        self,
        name: str,
        unit: uuid.UUID | None = None,
        *,
        members: Sequence[uuid.UUID] = (),
        roles: Sequence[str | uuid.UUID] = (),
    ) -> uuid.UUID:
        """A team in ``unit`` (the root by default) with ``members``, holding ``roles``."""
        record = self.xrm.records("team").create({"name": name, "business_unit": unit or self.root})
        tid = uuid.UUID(str(record["id"]))
        for member in members:
            self.join(tid, member)
        for role in roles:
            self.xrm.records("team").link(tid, "roles", self.role_id(role))
        return tid

    def join(self, team: uuid.UUID, user: uuid.UUID) -> None:
        """Make ``user`` a member of ``team``."""
        self.xrm.records("team").link(team, "members", user)

    def as_user(self, user: uuid.UUID) -> XRM:
        """The XRM acting as ``user``."""
        return self.xrm.as_user(user)

    def rows(self, entity: str) -> list[dict[str, Any]]:
        """Every row of ``entity``'s table as stored, by id (no permission applies)."""
        table = self.xrm.metadata.catalog.table(entity)
        with self.xrm.db.transaction(write=False) as conn:
            found = conn.execute(sa.select(table).order_by(table.c.id)).mappings()
            return [dict(row) for row in found]

    def shares(self, entity: str) -> list[dict[str, Any]]:
        """Every share of ``entity``'s records, as stored."""
        t = share_table
        with self.xrm.db.transaction(write=False) as conn:
            found = conn.execute(
                sa.select(t).where(t.c.entity == entity).order_by(t.c.record_id, t.c.principal_id)
            ).mappings()
            return [dict(row) for row in found]

    def clear(self, *entities: str) -> None:
        """Remove every record of ``entities`` and their shares (cleanup between tests)."""
        with self.xrm.db.transaction() as conn:
            for entity in entities:
                conn.execute(self.xrm.metadata.catalog.table(entity).delete())
                conn.execute(share_table.delete().where(share_table.c.entity == entity))

    def state(self, entity: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The rows and shares of ``entity``: equal before and after a refused write."""
        return self.rows(entity), self.shares(entity)


@pytest.fixture
def secured(xrm: XRM) -> XRM:
    """The tests' system-context XRM with security installed (SQLite and PostgreSQL)."""
    xrm.security.install()
    return xrm


@pytest.fixture
def org(secured: XRM) -> Org:
    """An organization builder on ``secured`` (only the root unit and built-in roles exist)."""
    return Org(secured, secured.security.root_business_unit())


@pytest.fixture
def crm(org: Org) -> Org:
    """``org`` with ``contact`` (user-owned) and ``country`` (organization-owned) defined."""
    org.xrm.metadata.define([CONTACT, COUNTRY])
    return org


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ],
)
def module_org(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Org]:
    """An organization builder with ``contact`` and ``country``, shared by one module's tests.

    The same database for every test of the module (on SQLite and on
    PostgreSQL, like ``db_url``): tests must leave principals as they found
    them, and clean up the records they make.
    """
    folder: Path = tmp_path_factory.mktemp("security")
    server: PostgresServer | None = None
    name = f"m_{uuid.uuid4().hex}"
    if request.param == "sqlite":
        url = f"sqlite:///{folder}/xrm.db"
    else:
        server = request.getfixturevalue("postgres_server")
        server.create_database(name)
        url = server.url(name)
    xrm = XRM.from_url(url, export_dir=folder / "exports").as_system("tests")
    try:
        xrm.security.install()
        xrm.metadata.define([CONTACT, COUNTRY])
        yield Org(xrm, xrm.security.root_business_unit())
    finally:
        xrm.close()
        if server is not None:
            server.drop_database(name)
