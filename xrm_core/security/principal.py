"""What one user may do: roles, teams, business units and field permissions, resolved.

The vocabulary, in one place:

- A *role* grants *privileges* (create, read, update, delete, assign, share) per
  entity (``*`` for every entity), each at a *scope*: ``own`` (the record's owner
  is me or one of my teams), ``business_unit`` (the record's business unit is
  mine), ``subtree`` (mine or one below it), ``organization`` (every record).
- A user holds roles directly and through every team they are a member of.
  Rights add up: for each entity and privilege the widest scope wins.
- Scopes are measured from the user (their business unit, their teams), also
  for roles inherited from a team.
- Organization-owned entities have no owner, so only ``organization`` grants
  anything on them.
- The manager hierarchy, when switched on, lets a manager read (and, if set,
  update) what the users below them own, to a set depth.

:func:`load_principal` reads all of it in a handful of queries; the security
service caches the result until something security-related changes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.storage.ddl import Catalog

PRIVILEGES = ("create", "read", "update", "delete", "assign", "share")


class Scope(IntEnum):
    """How far a privilege reaches; a wider scope includes the narrower ones."""

    NONE = 0
    OWN = 1
    BUSINESS_UNIT = 2
    SUBTREE = 3
    ORGANIZATION = 4

    @property
    def label(self) -> str:
        """The name used in role privileges (``business_unit``)."""
        return self.name.lower()

    @classmethod
    def named(cls, name: str) -> Scope:
        """The scope called ``name`` in a role privilege."""
        return cls[name.upper()]


@dataclass(frozen=True)
class Source:
    """Where a grant comes from: a role, held directly or through a team."""

    role: str
    team: str | None = None

    def __str__(self) -> str:
        return f"role {self.role!r}" + (f" (through team {self.team!r})" if self.team else "")


@dataclass(frozen=True)
class Grant:
    """The widest scope a user has for one privilege, and every role that gives it."""

    scope: Scope = Scope.NONE
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class FieldAccess:
    """What a user may do with one secured field."""

    read: bool = False
    create: bool = False
    update: bool = False


@dataclass(frozen=True)
class Hierarchy:
    """The manager hierarchy setting."""

    enabled: bool = False
    depth: int = 1
    update: bool = False


@dataclass(frozen=True)
class Principal:
    """One user's resolved rights."""

    user_id: uuid.UUID
    username: str
    active: bool
    business_unit_id: uuid.UUID | None
    #: Teams the user is a member of, by id, with their names.
    teams: Mapping[uuid.UUID, str]
    #: The user's business unit and every one below it.
    subtree: frozenset[uuid.UUID]
    administrator: bool
    customize: bool
    #: (entity or "*", privilege) -> grant
    grants: Mapping[tuple[str, str], Grant]
    #: Users below this one in the manager hierarchy -> how many levels below.
    subordinates: Mapping[uuid.UUID, int]
    hierarchy: Hierarchy
    #: (entity, field) -> access, for secured fields a profile mentions.
    fields: Mapping[tuple[str, str], FieldAccess] = field(default_factory=dict)
    #: May skip plugins' synchronous handlers (``XRM.bypassing_handlers``).
    bypass_handlers: bool = False

    @property
    def team_ids(self) -> frozenset[uuid.UUID]:
        """The teams' ids."""
        return frozenset(self.teams)

    @property
    def owners(self) -> list[uuid.UUID]:
        """Owner ids that count as "own": the user and their teams."""
        return [self.user_id, *self.teams]

    def grant(self, entity: str, privilege: str) -> Grant:
        """The widest grant for ``privilege`` on ``entity`` (``*`` rows included)."""
        own = self.grants.get((entity, privilege), Grant())
        every = self.grants.get(("*", privilege), Grant())
        if own.scope == every.scope:
            return Grant(own.scope, tuple(dict.fromkeys((*own.sources, *every.sources))))
        return own if own.scope > every.scope else every

    def field_access(self, entity: str, name: str) -> FieldAccess:
        """What this user may do with the secured field ``entity.name``."""
        if self.administrator:
            return FieldAccess(True, True, True)
        return self.fields.get((entity, name), FieldAccess())


def load_principal(
    conn: Connection, catalog: Catalog, user_id: uuid.UUID, hierarchy: Hierarchy
) -> Principal | None:
    """Read one user's rights; None when there is no such user."""
    users = catalog.table("user")
    user = conn.execute(
        sa.select(users.c.username, users.c.is_active, users.c.business_unit).where(
            users.c.id == user_id
        )
    ).first()
    if user is None:
        return None
    members = catalog.link_tables["team", "members"]
    teams_table = catalog.table("team")
    teams = {
        r.id: r.name
        for r in conn.execute(
            sa.select(teams_table.c.id, teams_table.c.name)
            .join(members, members.c.source_id == teams_table.c.id)
            .where(members.c.target_id == user_id)
        )
    }
    # An inactive user keeps their data but holds no role: they can do nothing.
    holders = _role_holders(conn, catalog, user_id, teams) if user.is_active else {}
    roles = catalog.table("role")
    # A database whose role entity predates the flag reads it as false until
    # ``security.install()`` (``xrm db upgrade``) adds the field.
    bypass = roles.c.get("bypass_handlers", sa.false())
    role_rows = (
        list(
            conn.execute(
                sa.select(
                    roles.c.id,
                    roles.c.name,
                    roles.c.administrator,
                    roles.c.customize,
                    bypass.label("bypass_handlers"),
                ).where(roles.c.id.in_(list(holders)))
            )
        )
        if holders
        else []
    )
    grants = _grants(conn, catalog, holders, {r.id: r.name for r in role_rows})
    units = catalog.table("business_unit")
    tree = {r.id: r.parent for r in conn.execute(sa.select(units.c.id, units.c.parent))}
    return Principal(
        user_id=user_id,
        username=user.username,
        active=bool(user.is_active),
        business_unit_id=user.business_unit,
        teams=teams,
        subtree=frozenset(subtree(tree, user.business_unit)),
        administrator=any(r.administrator for r in role_rows),
        customize=any(r.customize or r.administrator for r in role_rows),
        grants=grants,
        subordinates=_subordinates(conn, catalog, user_id, hierarchy),
        hierarchy=hierarchy,
        fields=_field_access(conn, catalog, user_id, teams),
        bypass_handlers=any(r.bypass_handlers or r.administrator for r in role_rows),
    )


def _role_holders(
    conn: Connection, catalog: Catalog, user_id: uuid.UUID, teams: Mapping[uuid.UUID, str]
) -> dict[uuid.UUID, list[str | None]]:
    """Role id -> how the user holds it: None (directly) or a team's name."""
    holders: dict[uuid.UUID, list[str | None]] = defaultdict(list)
    direct = catalog.link_tables["user", "roles"]
    for rid in conn.execute(
        sa.select(direct.c.target_id).where(direct.c.source_id == user_id)
    ).scalars():
        holders[rid].append(None)
    if teams:
        inherited = catalog.link_tables["team", "roles"]
        for team_id, rid in conn.execute(
            sa.select(inherited.c.source_id, inherited.c.target_id).where(
                inherited.c.source_id.in_(list(teams))
            )
        ):
            holders[rid].append(teams[team_id])
    return holders


def _grants(
    conn: Connection,
    catalog: Catalog,
    holders: Mapping[uuid.UUID, list[str | None]],
    names: Mapping[uuid.UUID, str],
) -> dict[tuple[str, str], Grant]:
    if not holders:
        return {}
    privileges = catalog.table("role_privilege")
    rows = conn.execute(
        sa.select(
            privileges.c.role, privileges.c.entity, privileges.c.privilege, privileges.c.scope
        ).where(privileges.c.role.in_(list(holders)))
    )
    grants: dict[tuple[str, str], Grant] = {}
    for role_id, entity, privilege, scope_name in rows:
        scope = Scope.named(scope_name)
        if scope is Scope.NONE:
            continue
        sources = tuple(Source(names[role_id], team) for team in holders[role_id])
        key = (entity, privilege)
        current = grants.get(key, Grant())
        if scope > current.scope:
            grants[key] = Grant(scope, sources)
        elif scope == current.scope:
            grants[key] = Grant(scope, tuple(dict.fromkeys((*current.sources, *sources))))
    return grants


def subtree(tree: Mapping[Any, Any], root: Any) -> set[Any]:
    """``root`` and every node below it in a ``{node: parent}`` tree."""
    if root is None:
        return set()
    children: dict[Any, list[Any]] = defaultdict(list)
    for node, parent in tree.items():
        children[parent].append(node)
    found, todo = {root}, [root]
    while todo:
        for child in children[todo.pop()]:
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _subordinates(
    conn: Connection, catalog: Catalog, user_id: uuid.UUID, hierarchy: Hierarchy
) -> dict[uuid.UUID, int]:
    if not hierarchy.enabled:
        return {}
    users = catalog.table("user")
    reports: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for uid, manager in conn.execute(sa.select(users.c.id, users.c.manager)):
        if manager is not None:
            reports[manager].append(uid)
    below: dict[uuid.UUID, int] = {}
    level = [user_id]
    for depth in range(1, hierarchy.depth + 1):
        level = [u for m in level for u in reports[m] if u not in below and u != user_id]
        below.update((u, depth) for u in level)
    return below


def _field_access(
    conn: Connection, catalog: Catalog, user_id: uuid.UUID, teams: Iterable[uuid.UUID]
) -> dict[tuple[str, str], FieldAccess]:
    by_user = catalog.link_tables["field_security_profile", "users"]
    by_team = catalog.link_tables["field_security_profile", "teams"]
    profiles = set(
        conn.execute(sa.select(by_user.c.source_id).where(by_user.c.target_id == user_id)).scalars()
    )
    team_ids = list(teams)
    if team_ids:
        profiles |= set(
            conn.execute(
                sa.select(by_team.c.source_id).where(by_team.c.target_id.in_(team_ids))
            ).scalars()
        )
    if not profiles:
        return {}
    permissions = catalog.table("field_permission")
    access: dict[tuple[str, str], FieldAccess] = {}
    for r in conn.execute(
        sa.select(permissions).where(permissions.c.profile.in_(list(profiles)))
    ).mappings():
        key = (r["entity"], r["field"])
        old = access.get(key, FieldAccess())
        access[key] = FieldAccess(
            old.read or bool(r["can_read"]),
            old.create or bool(r["can_create"]),
            old.update or bool(r["can_update"]),
        )
    return access
