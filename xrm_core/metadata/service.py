"""The metadata service: define, evolve and drop entities, plan first.

Definitions are data: each lives as a row of ``xrm_entity`` (with an owner and
a version) and every change adds a row to ``xrm_entity_history``. A change is
first computed as a :class:`~xrm_core.metadata.plan.Plan`; applying it runs the
DDL, converts or exports values and records the new definitions in one
transaction, so a failure leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import (
    ConfirmationRequired,
    DefinitionError,
    Problem,
    UnknownEntity,
    XRMError,
    pointer,
)
from xrm_core.ids import new_id
from xrm_core.metadata import dropping, impact, link_impact
from xrm_core.metadata import plan as planning
from xrm_core.metadata.definition import EntityDefinition, normalize, parse
from xrm_core.metadata.models import RecordValidator, compile_validator
from xrm_core.metadata.plan import Plan, Safety, Step
from xrm_core.metadata.validation import check, check_record_rules
from xrm_core.security.caller import Caller
from xrm_core.storage.database import Database
from xrm_core.storage.ddl import Catalog, SchemaChanger
from xrm_core.storage.tables import (
    core_metadata,
    core_relation_names,
    entity_history_table,
    entity_table,
    relation_names,
    state_table,
)

Schema = Mapping[str, Any]
Renames = Mapping[str, Mapping[str, str]]

T = TypeVar("T")
#: ``(conn, actor, entity, "define" | "drop", old document, new document)``
Recorder = Callable[
    [Connection, "Caller | None", str, str, Mapping[str, Any] | None, Mapping[str, Any] | None],
    None,
]

CUSTOM = "custom"
"""Owner of what an administrator defines (as opposed to a plugin's name)."""


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded change of one entity's definition."""

    entity: str
    version: int
    owner: str
    definition: Mapping[str, Any] | None
    plan: Mapping[str, Any]
    changed_at: dt.datetime
    #: The user who made the change; None for the system context.
    changed_by: uuid.UUID | None = None


@dataclass(frozen=True)
class _Registered:
    definition: EntityDefinition
    version: int
    owner: str


class MetadataService:
    """Entity definitions: read, planned, applied; the only path that changes them."""

    def __init__(self, db: Database, export_dir: Path) -> None:
        self.db = db
        self.export_dir = export_dir
        self._entities: dict[str, _Registered] = {}
        self._catalog: Catalog | None = None
        self._validators: dict[str, RecordValidator] = {}
        self._derived: dict[tuple[str, str], Any] = {}
        self._listeners: list[Callable[[], None]] = []
        #: Called in the transaction of each change, per entity (the audit log listens).
        self.recorders: list[Recorder] = []
        self.version = 0
        self._prepare()

    # -- reading ---------------------------------------------------------

    def get(self, name: str) -> EntityDefinition:
        """The definition of ``name``; raises :class:`UnknownEntity`."""
        try:
            return self._entities[name].definition
        except KeyError:
            raise UnknownEntity(f"no entity called {name!r}") from None

    def owner(self, name: str) -> str:
        """Who owns ``name``: a plugin's name or ``custom``."""
        self.get(name)
        return self._entities[name].owner

    def entity_version(self, name: str) -> int:
        """How many times ``name`` has been defined or changed."""
        self.get(name)
        return self._entities[name].version

    def entities(self) -> list[EntityDefinition]:
        """Every defined entity, by name."""
        return [self._entities[n].definition for n in sorted(self._entities)]

    def exists(self, name: str) -> bool:
        """True when an entity called ``name`` is defined."""
        return name in self._entities

    def history(self, name: str) -> list[HistoryEntry]:
        """Every change of ``name``'s definition, oldest first (kept after a drop)."""
        t = entity_history_table
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.entity == name).order_by(t.c.version)
            ).mappings()
            return [
                HistoryEntry(
                    r["entity"],
                    r["version"],
                    r["owner"],
                    r["definition"],
                    r["plan"],
                    r["changed_at"],
                    r["changed_by"],
                )
                for r in rows
            ]

    @property
    def catalog(self) -> Catalog:
        """SQLAlchemy tables of the definitions in force."""
        if self._catalog is None:
            defs = {n: e.definition for n, e in self._entities.items()}
            self._catalog = Catalog(defs, self.db.dialect)
        return self._catalog

    def validator(self, name: str) -> RecordValidator:
        """The compiled record validator of ``name``'s current definition."""
        found = self._validators.get(name)
        if found is None:
            found = self._validators[name] = compile_validator(self.get(name))
        return found

    def derived(self, name: str, purpose: str, build: Callable[[EntityDefinition], T]) -> T:
        """Something computed from ``name``'s definition (a statement, a row reader),
        built once and kept until the definition changes."""
        key = (name, purpose)
        if key not in self._derived:
            self._derived[key] = build(self.get(name))
        return self._derived[key]  # type: ignore[no-any-return]

    def refresh(self) -> bool:
        """Reload the definitions if another process changed them; True when it did.

        Each process keeps the definitions in memory; a server calls this at the
        start of a request (one small query) so that every process sees a change.
        """
        with self.db.transaction(write=False) as conn:
            version = conn.execute(
                sa.select(state_table.c.value).where(state_table.c.key == "metadata_version")
            ).scalar()
        if (version or 0) == self.version:
            return False
        self._changed()
        return True

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every applied change (caches keyed on metadata)."""
        self._listeners.append(listener)

    # -- changing --------------------------------------------------------

    def plan(self, schemas: Schema | Sequence[Schema], *, renames: Renames | None = None) -> Plan:
        """What :meth:`define` would do, without doing it (a dry run)."""
        wanted = self._check(_as_list(schemas))
        with self.db.transaction(write=False) as conn:
            steps = impact.measure(
                conn, self.catalog, planning.diff(self._current(), wanted, renames), wanted
            )
        return Plan(tuple(steps))

    def define(
        self,
        schemas: Schema | Sequence[Schema],
        *,
        renames: Renames | None = None,
        confirm: bool = False,
        owner: str | Mapping[str, str] = CUSTOM,
        actor: Caller | None = None,
    ) -> Plan:
        """Create or change entities to match ``schemas``; return the applied plan.

        ``owner`` (a plugin's name, or ``custom``; or one per entity name) makes
        the change: history names it, and it owns the entities this creates
        (changed ones keep their owner). Raises :class:`DefinitionError` listing every problem, and
        :class:`ConfirmationRequired` when the plan is destructive and
        ``confirm`` is false. Values a change drops are exported first.
        """
        wanted = self._check(_as_list(schemas))
        with self.db.ddl_transaction() as conn:
            steps = impact.measure(
                conn, self.catalog, planning.diff(self._current(), wanted, renames), wanted
            )
            plan = Plan(tuple(steps))
            impact.refuse_duplicates(plan, wanted)
            self._require_confirmation(plan, confirm)
            if plan.is_empty:
                return plan
            new = {**self._current(), **{d.name: d for d in wanted}}
            exports = self._apply(conn, plan, new, owner, actor)
        self._changed()
        return replace(plan, applied=True, exports=tuple(exports))

    def plan_drop(self, name: str | Sequence[str]) -> Plan:
        """What :meth:`drop` would do (a dry run).

        Raises :class:`DefinitionError` while a lookup of another entity names
        one to drop as its target; a lookup to any entity (``"targets": "*"``)
        does not hold a drop back: its references to the dropped records are
        cleared (a ``clear_references`` step says how many).
        """
        names = _names(name)
        definitions = [self.get(n) for n in names]
        dropping.check_not_referenced(self.entities(), names)
        clears = self.clearing_steps(names)
        return Plan((*(s for d in definitions for s in planning.drop_steps(d)), *clears))

    def clearing_steps(self, name: str | Sequence[str]) -> list[Step]:
        """The ``clear_references`` steps of dropping ``name`` (see :meth:`plan_drop`)."""
        names = _names(name)
        with self.db.transaction(write=False) as conn:
            return dropping.reference_steps(conn, self.catalog, names)

    def drop(
        self,
        name: str | Sequence[str],
        *,
        confirm: bool = False,
        actor: Caller | None = None,
        export: bool = True,
        export_dir: Path | None = None,
    ) -> Plan:
        """Drop an entity, or several together, and their records (exported first);
        needs ``confirm``.

        Entities dropped together may refer to one another. ``export=False``
        skips the export of the dropped records, for a caller that has just
        exported every record itself (a plugin uninstalled with ``data="export"``);
        the references the drop clears in other entities' records are exported
        all the same, to ``export_dir`` (default: the service's).
        """
        names = _names(name)
        plan = self.plan_drop(names)
        self._require_confirmation(plan, confirm)
        with self.db.ddl_transaction() as conn:
            new = {n: e.definition for n, e in self._entities.items() if n not in names}
            owners = {n: self._entities[n].owner for n in names}
            dropping.drop_foreign_keys(conn, self.catalog, names)
            exports = self._apply(
                conn, plan, new, owners, actor, export=export, export_dir=export_dir
            )
            # After the export of what the plan counted; clears what came since, too.
            who = actor.user_id if actor else None
            dropping.clear_references(conn, self.catalog, names, who)
        self._changed()
        return replace(plan, applied=True, exports=tuple(exports))

    # -- internals -------------------------------------------------------

    def set_owner(self, name: str, owner: str) -> None:
        """Make ``owner`` the owner of entity ``name`` (a plugin uninstalled, keeping its data)."""
        self.get(name)
        with self.db.transaction() as conn:
            conn.execute(
                entity_table.update().where(entity_table.c.name == name).values(owner=owner)
            )
            self._bump_version(conn)
        self._changed()

    def reload(self) -> None:
        """Read every definition again (after a transaction that changed them rolled back)."""
        self._changed()

    def _prepare(self) -> None:
        with self.db.transaction() as conn:
            core_metadata.create_all(conn, checkfirst=True)
        self._load()

    def _load(self) -> None:
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(sa.select(entity_table)).mappings().all()
            version = conn.execute(
                sa.select(state_table.c.value).where(state_table.c.key == "metadata_version")
            ).scalar()
        self._entities = {
            r["name"]: _Registered(parse(r["definition"]), r["version"], r["owner"]) for r in rows
        }
        self.version = version or 0
        self._catalog = None
        self._validators = {}
        self._derived = {}

    def _changed(self) -> None:
        self._load()
        for listener in self._listeners:
            listener()

    def _current(self) -> dict[str, EntityDefinition]:
        return {n: e.definition for n, e in self._entities.items()}

    def _check(self, schemas: list[Schema]) -> list[EntityDefinition]:
        names = [_entity_name(s) for s in schemas]
        known = {*self._entities, *(n for n in names if n is not None)}
        problems: list[Problem] = []
        for i, schema in enumerate(schemas):
            prefix = pointer(i) if len(schemas) > 1 else ""
            problems.extend(Problem(prefix + p.pointer, p.message) for p in check(schema, known))
        duplicates = {n for n in names if n is not None and names.count(n) > 1}
        problems.extend(Problem("", f"entity {n!r} is defined twice") for n in duplicates)
        if problems:
            raise DefinitionError("the entity definition is not valid", problems)
        wanted = [parse(normalize(s)) for s in schemas]
        for i, definition in enumerate(wanted):
            prefix = pointer(i) if len(wanted) > 1 else ""
            found = check_record_rules(definition)
            problems.extend(Problem(prefix + p.pointer, p.message) for p in found)
        problems.extend(self._name_clashes(wanted))
        if problems:
            raise DefinitionError("the entity definition is not valid", problems)
        return wanted

    def _name_clashes(self, wanted: Sequence[EntityDefinition]) -> list[Problem]:
        """Tables and indexes whose database names another table or index already has.

        Index names are prefixed with their table's name, so entity ``a``'s index
        ``b_x`` and entity ``a_b``'s index ``x`` would both be ``a_b_x``.
        """
        holders = dict.fromkeys(core_relation_names(), "the core's tables")
        names = {d.name for d in wanted}
        for name, definition in self._current().items():
            if name not in names:
                taken = (n for n, _ in relation_names(definition))
                holders.update(dict.fromkeys(taken, f"entity {name!r}"))
        problems = []
        for i, definition in enumerate(wanted):
            prefix = pointer(i) if len(wanted) > 1 else ""
            for sql_name, what in relation_names(definition):
                if sql_name in holders:
                    problems.append(
                        Problem(
                            prefix + _relation_pointer(definition, what),
                            f"its database name {sql_name!r} is already taken by "
                            f"{holders[sql_name]}",
                        )
                    )
                holders.setdefault(sql_name, f"entity {definition.name!r}")
        return problems

    @staticmethod
    def _require_confirmation(plan: Plan, confirm: bool) -> None:
        if plan.safety is Safety.DESTRUCTIVE and not confirm:
            destructive = [s for s in plan.steps if s.safety is Safety.DESTRUCTIVE]
            raise ConfirmationRequired(
                "this change drops data; confirm it to go ahead (dropped values are exported)",
                [
                    Problem(pointer(s.entity, *([s.field] if s.field else [])), s.description)
                    for s in destructive
                ],
                {"plan": plan.to_dict()},
            )

    def _apply(
        self,
        conn: Connection,
        plan: Plan,
        new: Mapping[str, EntityDefinition],
        owner: str | Mapping[str, str],
        actor: Caller | None,
        *,
        export: bool = True,
        export_dir: Path | None = None,
    ) -> list[str]:
        old_catalog = self.catalog
        new_catalog = Catalog(new, self.db.dialect)
        folder = export_dir or self.export_dir
        exports = impact.export_losses(conn, old_catalog, plan, new, folder, records=export)
        conversions = {
            (s.entity, str(s.field)): impact.conversion(conn, old_catalog, s, new[s.entity])[0]
            for s in plan.steps
            if s.action == "convert_field"
        }
        link_conversions = link_impact.conversions(conn, old_catalog, plan, new)
        try:
            ddl = [s for s in plan.steps if s.action not in planning.DATA_ACTIONS]
            SchemaChanger(conn, old_catalog, new_catalog).apply(ddl)
            for (entity, field), values in conversions.items():
                if values:
                    table = new_catalog.table(entity)
                    conn.execute(
                        table.update()
                        .where(table.c.id == sa.bindparam("_id"))
                        .values({field: sa.bindparam("_value")}),
                        values,
                    )
            link_impact.write(conn, new_catalog, link_conversions)
        except sa.exc.IntegrityError as exc:
            # What the measurement cannot foresee (say, a converted value now
            # duplicating another under a key of several fields); the transaction rolls back.
            first_line = str(exc.orig).splitlines()[0]
            raise XRMError(
                f"the existing records do not fit the new definition: {first_line}"
            ) from exc
        self._record(conn, plan, new, owner, exports, actor)
        return exports

    def _record(
        self,
        conn: Connection,
        plan: Plan,
        new: Mapping[str, EntityDefinition],
        owners: str | Mapping[str, str],
        exports: Sequence[str],
        actor: Caller | None,
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        touched = dict.fromkeys(s.entity for s in plan.steps)
        for name in touched:
            before = self._entities.get(name)
            # Who makes this change (history); a new entity is also theirs to own.
            owner = owners if isinstance(owners, str) else owners.get(name, CUSTOM)
            version = (before.version if before else self._last_version(conn, name)) + 1
            definition = new.get(name)
            doc = dict(definition.schema) if definition else None
            if definition is None:
                conn.execute(entity_table.delete().where(entity_table.c.name == name))
            elif before is None:
                conn.execute(
                    entity_table.insert().values(
                        name=name, owner=owner, version=version, definition=doc, updated_at=now
                    )
                )
            else:
                conn.execute(
                    entity_table.update()
                    .where(entity_table.c.name == name)
                    .values(version=version, definition=doc, updated_at=now)
                )
            steps = [s.to_dict() for s in plan.steps if s.entity == name]
            conn.execute(
                entity_history_table.insert().values(
                    id=new_id(),
                    entity=name,
                    version=version,
                    owner=owner,
                    definition=doc,
                    plan={"steps": steps, "exports": list(exports)},
                    changed_at=now,
                    changed_by=actor.user_id if actor else None,
                )
            )
            for recorder in self.recorders:
                old = dict(before.definition.schema) if before else None
                recorder(conn, actor, name, "define" if doc else "drop", old, doc)
        self._bump_version(conn)

    @staticmethod
    def _last_version(conn: Connection, name: str) -> int:
        t = entity_history_table
        found = conn.execute(sa.select(sa.func.max(t.c.version)).where(t.c.entity == name))
        return found.scalar() or 0

    @staticmethod
    def _bump_version(conn: Connection) -> None:
        t = state_table
        updated = conn.execute(
            t.update().where(t.c.key == "metadata_version").values(value=t.c.value + 1)
        )
        if updated.rowcount == 0:
            conn.execute(t.insert().values(key="metadata_version", value=1))


def _relation_pointer(definition: EntityDefinition, what: str) -> str:
    """Where the table or index ``what`` (see ``relation_names``) comes from."""
    kind, _, name = what.partition(":")
    if kind == "index":
        return impact.index_pointer(definition, name)
    if kind == "relationship":
        names = [r.name for r in definition.relationships]
        return pointer("x-xrm", "relationships", names.index(name), "name")
    return pointer("x-xrm", "name")


def _entity_name(schema: Any) -> str | None:
    """The name a definition gives its entity, if it is well-formed enough to say."""
    xrm = schema.get("x-xrm") if isinstance(schema, Mapping) else None
    name = xrm.get("name") if isinstance(xrm, Mapping) else None
    return name if isinstance(name, str) else None


def _names(name: str | Sequence[str]) -> list[str]:
    return [name] if isinstance(name, str) else list(dict.fromkeys(name))


def _as_list(schemas: Schema | Sequence[Schema]) -> list[Schema]:
    if isinstance(schemas, list | tuple):
        return list(schemas)
    # One definition, or something else that the checker will refuse clearly.
    return [schemas]  # type: ignore[list-item]
