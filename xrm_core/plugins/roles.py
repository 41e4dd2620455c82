"""Plugins' roles: created at install, merged at upgrade, removed at uninstall.

A role a plugin ships is an ordinary ``role`` record with ``role_privilege``
cells. Administrators may change it; an upgrade merges the plugin's new cells
over the database's with the same three-way rule as entity definitions
(:mod:`xrm_core.plugins.merge`), so their changes survive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import OwnershipConflict, Problem, pointer
from xrm_core.metadata.plan import Safety
from xrm_core.plugins.merge import merge_named, pick

if TYPE_CHECKING:
    from xrm_core.plugins.lifecycle import PluginStep
    from xrm_core.plugins.planning import Declared
    from xrm_core.xrm import XRM

_ABSENT = object()


@dataclass(frozen=True)
class RoleChange:
    """A role to create or bring to ``description`` and ``cells`` (``entity/privilege`` → scope)."""

    plugin: str
    name: str
    role_id: Any | None
    description: str
    cells: Mapping[str, str]
    current: Mapping[str, str]

    def step(self) -> PluginStep:
        """How the plan shows this change."""
        from xrm_core.plugins.lifecycle import PluginStep

        if self.role_id is None:
            return PluginStep(
                self.plugin,
                "create_role",
                Safety.SAFE,
                f"create role {self.name!r} with {len(self.cells)} privilege(s)",
            )
        changed = sorted(
            k for k in {*self.cells, *self.current} if self.cells.get(k) != self.current.get(k)
        )
        shown = ", ".join(
            f"{k} {self.current.get(k, 'none')} -> {self.cells.get(k, 'none')}" for k in changed
        )
        return PluginStep(
            self.plugin,
            "change_role",
            Safety.BREAKING,
            f"change role {self.name!r}: {shown or 'description'}",
        )


def plan_roles(conn: Connection, xrm: XRM, batch: Sequence[Declared]) -> list[RoleChange]:
    """The role changes the batch's plugins need, after checking nobody else owns the names."""
    from xrm_core.plugins import ledger

    owners = {p.name: p for p in ledger.parts(conn) if p.kind == "role"}
    changes = []
    for plugin in batch:
        for name, doc in plugin.roles.items():
            existing = _find(conn, xrm, name)
            part = owners.get(name)
            mine = part is not None and plugin.name in (part.owner, part.released_by)
            if existing is not None and not mine:
                holder = part.owner if part is not None else "custom"
                raise OwnershipConflict(
                    f"plugin {plugin.name!r} ships role {name!r}, which exists already and "
                    f"belongs to {holder!r}",
                    [Problem(pointer(plugin.name, "roles", name), f"owned by {holder!r}")],
                    {"plugins": [plugin.name]},
                )
            change = _change(conn, xrm, plugin, name, doc, existing)
            if change is not None:
                changes.append(change)
        for name in plugin.base("roles"):
            if name not in plugin.roles and _find(conn, xrm, name) is not None:
                changes.append(RoleChange(plugin.name, name, _ABSENT, "", {}, {}))
    return changes


def _change(
    conn: Connection,
    xrm: XRM,
    plugin: Declared,
    name: str,
    doc: Mapping[str, Any],
    existing: Mapping[str, Any] | None,
) -> RoleChange | None:
    if existing is None:
        return RoleChange(plugin.name, name, None, doc["description"], doc["privileges"], {})
    base = plugin.base("roles").get(name, {})
    current = _cells(conn, xrm, existing["id"])
    cells = merge_named(base.get("privileges", {}), current, doc["privileges"])
    description = pick(
        base.get("description", _ABSENT), existing["description"] or "", doc["description"]
    )
    if cells == current and description == (existing["description"] or ""):
        return None
    return RoleChange(plugin.name, name, existing["id"], description, cells, current)


def apply_role(xrm: XRM, change: RoleChange) -> None:
    """Create, update or (for a role the plugin no longer ships) remove the role."""
    if change.role_id is _ABSENT:
        remove_role(xrm, change.name)
        return
    if change.role_id is None:
        cells = [(*_split(k), scope) for k, scope in change.cells.items()]
        xrm.security.create_role(change.name, cells, description=change.description)
        return
    xrm.records("role").update(change.role_id, {"description": change.description})
    privileges = xrm.records("role_privilege")
    with xrm.db.transaction() as conn:
        rows = _cell_rows(conn, xrm, change.role_id)
    for key in sorted({*rows, *change.cells}):
        row_id, scope = rows.get(key, (None, None))
        if key not in change.cells:
            if row_id is not None:
                privileges.delete(row_id)
        elif row_id is None:
            entity, privilege = _split(key)
            cell = {"entity": entity, "privilege": privilege, "scope": change.cells[key]}
            privileges.create({"role": change.role_id, **cell})
        elif scope != change.cells[key]:
            privileges.update(row_id, {"scope": change.cells[key]})


def remove_role(xrm: XRM, name: str) -> None:
    """Delete the role called ``name`` (its cells go with it; users lose it)."""
    table = xrm.metadata_service.catalog.table("role")
    with xrm.db.transaction() as conn:
        found = conn.execute(sa.select(table.c.id).where(table.c.name == name)).scalar()
    if found is not None:
        xrm.records("role").delete(found)


def _find(conn: Connection, xrm: XRM, name: str) -> Mapping[str, Any] | None:
    if not xrm.metadata_service.exists("role"):
        return None  # security is installed with the first plugin
    table = xrm.metadata_service.catalog.table("role")
    row = conn.execute(
        sa.select(table.c.id, table.c.description).where(table.c.name == name)
    ).first()
    return None if row is None else {"id": row.id, "description": row.description}


def _cells(conn: Connection, xrm: XRM, role_id: Any) -> dict[str, str]:
    return {key: scope for key, (_, scope) in _cell_rows(conn, xrm, role_id).items()}


def _cell_rows(conn: Connection, xrm: XRM, role_id: Any) -> dict[str, tuple[Any, str]]:
    """The role's cells: ``entity/privilege`` → (row id, scope)."""
    t = xrm.metadata_service.catalog.table("role_privilege")
    rows = conn.execute(
        sa.select(t.c.id, t.c.entity, t.c.privilege, t.c.scope).where(t.c.role == role_id)
    )
    return {f"{r.entity}/{r.privilege}": (r.id, r.scope) for r in rows}


def _split(key: str) -> tuple[str, str]:
    entity, _, privilege = key.partition("/")
    return entity, privilege
