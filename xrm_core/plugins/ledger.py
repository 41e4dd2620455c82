"""The ownership ledger: which plugin is installed, and which plugin owns what.

Four tables, written only by the plugin lifecycle, each in the transaction of
the install, upgrade or uninstall that changes them:

``xrm_plugin``
    one row per plugin installed in this database: its version, whether it is
    enabled, the dependencies its manifest named, and what it *shipped* at that
    version (entity definitions, extensions, roles) — the base of the three-way
    merge that lets an administrator's changes survive the next upgrade.
``xrm_plugin_part``
    who owns each entity, field, relationship, role, subscriber and action a
    plugin declared. A part no row names is the administrator's (``custom``).
    When a plugin is uninstalled keeping its data, its parts pass to ``custom``
    and remember who released them, so installing the plugin again takes them back.
``xrm_plugin_migration``
    each data migration that has run, so that it never runs twice.
``xrm_plugin_history``
    every install, upgrade, uninstall, enable and disable, with its plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import OwnershipConflict, Problem, pointer
from xrm_core.ids import new_id
from xrm_core.storage.tables import core_metadata
from xrm_core.storage.types import UTCDateTime

#: What the ledger tracks. Fields and relationships are named ``entity.name``.
PartKind = Literal["entity", "field", "relationship", "role", "subscriber", "action"]
PART_KINDS: tuple[PartKind, ...] = get_args(PartKind)
#: The owner of what no plugin owns: an administrator's work.
CUSTOM = "custom"

plugin_table = sa.Table(
    "xrm_plugin",
    core_metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    # {name: version range} from the manifest: what uninstall and disable check.
    sa.Column("dependencies", sa.JSON, nullable=False),
    # {"entities": {name: normalized doc}, "extensions": {entity: doc}, "roles": {name: doc}}
    sa.Column("shipped", sa.JSON, nullable=False),
    sa.Column("installed_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

part_table = sa.Table(
    "xrm_plugin_part",
    core_metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    # The plugin that gave the part up when uninstalled keeping its data.
    sa.Column("released_by", sa.String(64), nullable=True),
    sa.Index("ix_xrm_plugin_part_owner", "owner"),
)

migration_table = sa.Table(
    "xrm_plugin_migration",
    core_metadata,
    sa.Column("plugin", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("phase", sa.String(8), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("ran_at", UTCDateTime, nullable=False),
)

history_table = sa.Table(
    "xrm_plugin_history",
    core_metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("plugin", sa.String(64), nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("from_version", sa.String(64), nullable=True),
    sa.Column("to_version", sa.String(64), nullable=True),
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("actor", sa.Uuid, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_xrm_plugin_history_plugin", "plugin", "at"),
)


@dataclass(frozen=True)
class InstalledPlugin:
    """A plugin as this database has it installed."""

    name: str
    version: str
    enabled: bool
    dependencies: Mapping[str, str]
    shipped: Mapping[str, Any]
    installed_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class Part:
    """One line of the ledger: ``owner`` owns the ``kind`` called ``name``."""

    kind: PartKind
    name: str
    owner: str
    released_by: str | None = None


def installed(conn: Connection) -> dict[str, InstalledPlugin]:
    """Every installed plugin, by name."""
    rows = conn.execute(sa.select(plugin_table).order_by(plugin_table.c.name)).mappings()
    return {r["name"]: InstalledPlugin(**r) for r in rows}


def parts(conn: Connection, *, owner: str | None = None) -> list[Part]:
    """The ledger (of one owner), by kind and name."""
    query = sa.select(part_table).order_by(part_table.c.kind, part_table.c.name)
    if owner is not None:
        query = query.where(part_table.c.owner == owner)
    return [Part(**r) for r in conn.execute(query).mappings()]


def ran_migrations(conn: Connection, plugin: str) -> set[str]:
    """Ids of ``plugin``'s migrations that have run in this database."""
    t = migration_table
    return set(conn.execute(sa.select(t.c.id).where(t.c.plugin == plugin)).scalars())


def record_migration(conn: Connection, plugin: str, id: str, phase: str, version: str) -> None:
    """Log that a migration ran (in the transaction that ran it)."""
    conn.execute(
        migration_table.insert().values(
            plugin=plugin, id=id, phase=phase, version=version, ran_at=_now()
        )
    )


def forget_migrations(conn: Connection, plugin: str) -> None:
    """Forget ``plugin``'s migrations: its data is gone, a new install starts afresh."""
    conn.execute(migration_table.delete().where(migration_table.c.plugin == plugin))


def save_plugin(
    conn: Connection,
    name: str,
    version: str,
    dependencies: Mapping[str, str],
    shipped: Mapping[str, Any],
) -> None:
    """Record ``name`` as installed at ``version`` (enabled), with what it shipped."""
    now = _now()
    values = {
        "version": version,
        "dependencies": dict(dependencies),
        "shipped": dict(shipped),
        "updated_at": now,
    }
    updated = conn.execute(plugin_table.update().where(plugin_table.c.name == name).values(values))
    if updated.rowcount == 0:
        conn.execute(
            plugin_table.insert().values(name=name, enabled=True, installed_at=now, **values)
        )


def set_enabled(conn: Connection, name: str, enabled: bool) -> None:
    """Enable or disable an installed plugin."""
    conn.execute(plugin_table.update().where(plugin_table.c.name == name).values(enabled=enabled))


def remove_plugin(conn: Connection, name: str) -> None:
    """Forget an installed plugin (its parts are dealt with by the caller)."""
    conn.execute(plugin_table.delete().where(plugin_table.c.name == name))


def claim(conn: Connection, owner: str, wanted: Mapping[str, set[str]]) -> None:
    """Make ``owner``'s parts exactly ``wanted`` (kind → names): add, take back, drop the rest."""
    t = part_table
    held: set[tuple[str, str]] = {(p.kind, p.name) for p in parts(conn, owner=owner)}
    want = {(kind, name) for kind, names in wanted.items() for name in names}
    for kind, name in sorted(held - want):
        conn.execute(t.delete().where(t.c.kind == kind, t.c.name == name))
    taken = {
        (r.kind, r.name): r.owner
        for r in conn.execute(sa.select(t).where(t.c.owner.not_in([owner, CUSTOM])))
    }
    clashes = sorted((k, n, taken[k, n]) for k, n in want - held if (k, n) in taken)
    if clashes:
        raise OwnershipConflict(
            f"plugin {owner!r} declares what other plugins own: "
            + ", ".join(f"{k} {n!r} ({o!r})" for k, n, o in clashes),
            [Problem(pointer(owner, k, n), f"owned by {o!r}") for k, n, o in clashes],
            {"plugins": [owner, *sorted({o for *_, o in clashes})]},
        )
    for kind, name in sorted(want - held):
        # A part an administrator holds (released by an uninstall) is taken back.
        conn.execute(t.delete().where(t.c.kind == kind, t.c.name == name))
        conn.execute(t.insert().values(kind=kind, name=name, owner=owner, released_by=None))


def release(conn: Connection, owner: str) -> None:
    """Pass every part of ``owner`` to ``custom``, remembering who released it."""
    t = part_table
    conn.execute(t.update().where(t.c.owner == owner).values(owner=CUSTOM, released_by=owner))


def forget_parts(conn: Connection, owner: str) -> None:
    """Remove every part of ``owner`` from the ledger (its things are gone)."""
    conn.execute(part_table.delete().where(part_table.c.owner == owner))


def log_operation(
    conn: Connection,
    plugin: str,
    operation: str,
    from_version: str | None,
    to_version: str | None,
    plan: Mapping[str, Any],
    actor: Any,
    reason: str | None,
) -> None:
    """Add a line to the plugin history."""
    conn.execute(
        history_table.insert().values(
            id=new_id(),
            plugin=plugin,
            operation=operation,
            from_version=from_version,
            to_version=to_version,
            plan=dict(plan),
            actor=actor,
            reason=reason,
            at=_now(),
        )
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
