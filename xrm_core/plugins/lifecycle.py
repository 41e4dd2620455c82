"""Installing, upgrading, uninstalling, enabling and disabling plugins — plan first.

Every operation is computed as a :class:`PluginPlan` (a dry run: ``plan_*``)
before it is applied; applying it runs in one schema transaction, so a failure
anywhere — a migration, the schema sync, a role — leaves the database as it was.
``docs/plugin-lifecycle.md`` is the integrator's guide.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import pluggy
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import (
    AccessDenied,
    ConfirmationRequired,
    PluginInUse,
    PluginStateError,
    PluginVersionConflict,
    Problem,
    UnknownPlugin,
    pointer,
)
from xrm_core.metadata.plan import Plan, Safety, Step
from xrm_core.plugins import ledger
from xrm_core.plugins.ledger import Part, PartKind
from xrm_core.plugins.manager import plugin_manifests
from xrm_core.plugins.manifest import Manifest, resolve
from xrm_core.plugins.planning import Declared, Target, declared, target
from xrm_core.plugins.roles import RoleChange, apply_role, plan_roles, remove_role
from xrm_core.security.caller import Caller
from xrm_core.version import __version__

if TYPE_CHECKING:
    from xrm_core.xrm import XRM

Operation = Literal["install", "upgrade", "uninstall", "enable", "disable"]
#: What uninstalling does with the plugin's data.
DataChoice = Literal["keep", "export", "drop"]
DATA_CHOICES: tuple[DataChoice, ...] = get_args(DataChoice)
#: The built-in plugin owning the core's entities; every plugin may extend them.
CORE_OWNER = "core"


@dataclass(frozen=True)
class PluginStep:
    """One step of a plugin plan, with how risky it is."""

    plugin: str
    action: str
    safety: Safety
    description: str
    entity: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "plugin": self.plugin,
            "action": self.action,
            "safety": str(self.safety),
            "description": self.description,
            "entity": self.entity,
            "field": self.field,
        }


@dataclass(frozen=True)
class PluginPlan:
    """What an operation does to which plugins; ``applied`` once it has been done."""

    operation: Operation
    #: (name, version before or None, version after or None), in the order handled.
    plugins: tuple[tuple[str, str | None, str | None], ...]
    steps: tuple[PluginStep, ...]
    applied: bool = False
    #: Files holding data the operation exported or dropped (dropped data is exported first).
    exports: tuple[str, ...] = ()

    @property
    def safety(self) -> Safety:
        """The riskiest step's class."""
        return max((s.safety for s in self.steps), default=Safety.SAFE)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "operation": self.operation,
            "plugins": [{"name": n, "from": a, "to": b} for n, a, b in self.plugins],
            "safety": str(self.safety),
            "applied": self.applied,
            "steps": [s.to_dict() for s in self.steps],
            "exports": list(self.exports),
        }

    def __str__(self) -> str:
        head = ", ".join(
            f"{self.operation} {n}" + (f" {a} -> {b}" if a and b else f" {b or a}")
            for n, a, b in self.plugins
        )
        lines = [head] + [f"  [{s.safety}] {s.plugin}: {s.description}" for s in self.steps]
        return "\n".join(lines)


@dataclass
class _Work:
    """A computed plan and what applying it needs."""

    plan: PluginPlan
    batch: list[Declared] = field(default_factory=list)
    target: Target | None = None
    roles: list[RoleChange] = field(default_factory=list)


class PluginService:
    """The plugin lifecycle for one database, as one caller (an administrator or the system)."""

    def __init__(self, xrm: XRM, pm: pluggy.PluginManager) -> None:
        self.xrm = xrm
        self.pm = pm

    # -- reading ---------------------------------------------------------

    def available(self) -> dict[str, Manifest]:
        """Every plugin this process can load, by name (whether installed or not)."""
        return plugin_manifests(self.pm)

    def installed(self) -> dict[str, ledger.InstalledPlugin]:
        """Every plugin installed in this database, by name."""
        with self.xrm.db.transaction(write=False) as conn:
            return ledger.installed(conn)

    def ledger(self, owner: str | None = None) -> list[Part]:
        """Who owns which entity, field, relationship, role, subscriber and action."""
        with self.xrm.db.transaction(write=False) as conn:
            return ledger.parts(conn, owner=owner)

    def owner_of(self, kind: PartKind, name: str) -> str:
        """The plugin owning a part (``field``, ``"contact.email"``), or ``custom``."""
        found = [p for p in self.ledger() if p.kind == kind and p.name == name]
        return found[0].owner if found else ledger.CUSTOM

    # -- install and upgrade ---------------------------------------------

    def plan_install(self, name: str) -> PluginPlan:
        """What installing ``name`` (and its dependencies not yet installed) would do."""
        with self._reading() as conn:
            return self._install_work(conn, name).plan

    def install(self, name: str, *, confirm: bool = False) -> PluginPlan:
        """Install ``name``, its missing dependencies first, all or nothing."""
        return self._apply(lambda conn: self._install_work(conn, name), confirm)

    def plan_upgrade(self, name: str) -> PluginPlan:
        """What upgrading ``name`` to the version this process has would do."""
        with self._reading() as conn:
            return self._upgrade_work(conn, name).plan

    def upgrade(self, name: str, *, confirm: bool = False) -> PluginPlan:
        """Upgrade ``name`` to the version this process has, keeping others' changes."""
        return self._apply(lambda conn: self._upgrade_work(conn, name), confirm)

    def _install_work(self, conn: Connection, name: str) -> _Work:
        manifests = self.available()
        if name not in manifests:
            raise UnknownPlugin(_unknown(name, manifests), details={"plugins": [name]})
        present = ledger.installed(conn)
        if name in present:
            raise PluginStateError(
                f"plugin {name!r} is installed already (version {present[name].version}); "
                "upgrade it instead",
                details={"plugins": [name]},
            )
        order = resolve(_closure(name, manifests), __version__)
        for manifest in order:
            if manifest.name in present:
                _check_installed_dependency(manifest, present[manifest.name], name)
        if CORE_OWNER not in present and CORE_OWNER in manifests:
            # Every plugin needs the core's entities (users, roles): installed first, together.
            order = [manifests[CORE_OWNER], *(m for m in order if m.name != CORE_OWNER)]
        batch = [declared(self.pm, m, None) for m in order if m.name not in present]
        return self._work(conn, "install", batch, manifests)

    def _upgrade_work(self, conn: Connection, name: str) -> _Work:
        manifests = self.available()
        present = ledger.installed(conn)
        if name not in present:
            raise PluginStateError(
                f"plugin {name!r} is not installed; install it first", details={"plugins": [name]}
            )
        if name not in manifests:
            raise UnknownPlugin(_unknown(name, manifests), details={"plugins": [name]})
        new, old = manifests[name], present[name]
        if new.version < _version(old.version):
            raise PluginStateError(
                f"plugin {name!r} is installed at {old.version}; this process has {new.version}, "
                "an older version (downgrades are not supported)",
                details={"plugins": [name]},
            )
        for dep, spec in new.dependencies.items():
            if dep not in present:
                raise PluginStateError(
                    f"{name} {new.version} needs plugin {dep!r}, which is not installed; "
                    "install it first",
                    details={"plugins": [name, dep]},
                )
            _check_installed_dependency(manifests.get(dep) or new, present[dep], name, spec)
        for other, installed in present.items():
            spec_text = installed.dependencies.get(name)
            if spec_text is not None and not _satisfies(new.version, spec_text):
                raise PluginVersionConflict(
                    f"installed plugin {other!r} needs {name} {spec_text}; upgrading {name} to "
                    f"{new.version} would break it (upgrade {other!r} first or together)",
                    details={"plugins": [other, name]},
                )
        return self._work(conn, "upgrade", [declared(self.pm, new, old)], manifests)

    def _work(
        self,
        conn: Connection,
        operation: Operation,
        batch: list[Declared],
        manifests: Mapping[str, Manifest],
    ) -> _Work:
        deps = {p.name: _dependencies(p.name, manifests) | {CORE_OWNER} for p in batch}
        metadata = self.xrm.metadata_service
        want = target(metadata, batch, ledger.parts(conn), deps)
        schema = metadata.plan(list(want.definitions.values())) if want.definitions else Plan()
        roles = plan_roles(conn, self.xrm, batch)
        steps: list[PluginStep] = []
        for plugin in batch:
            ran = ledger.ran_migrations(conn, plugin.name)
            steps += _migration_steps(plugin, ran, "before")
        for s in schema.steps:
            steps.append(_schema_step(_owner_of_step(s, batch, metadata), s))
            if s.action == "create_entity":
                steps += _extension_steps(s.entity, batch)
        for entity in want.dropped:
            for s in metadata.plan_drop(entity).steps:
                steps.append(_schema_step(_owner_of_step(s, batch, metadata), s))
        steps += [r.step() for r in roles]
        for plugin in batch:
            steps += _migration_steps(plugin, ledger.ran_migrations(conn, plugin.name), "after")
        versions = tuple(
            (p.name, p.installed.version if p.installed else None, str(p.manifest.version))
            for p in batch
        )
        return _Work(PluginPlan(operation, versions, tuple(steps)), batch, want, roles)

    def ensure_core(self) -> PluginPlan:
        """Install the core plugin, or bring it to this version (``xrm.security.install()``).

        The core's own schema changes are applied whatever they are: values a
        change drops are exported first, as always.
        """
        if CORE_OWNER in self.installed():
            return self.upgrade(CORE_OWNER, confirm=True)
        return self.install(CORE_OWNER, confirm=True)

    def _apply(self, compute: Any, confirm: bool) -> PluginPlan:
        caller = self._manager()
        system = self.xrm.as_system(f"plugin lifecycle ({_who(caller)})")
        with self._changing() as conn:
            work: _Work = compute(conn)
            if _nothing_to_do(work.plan):
                return replace(work.plan, applied=True)
            _require_confirmation(work.plan, confirm)
            exports = self._carry_out(conn, work, system, caller)
        return replace(work.plan, applied=True, exports=tuple(exports))

    def _carry_out(self, conn: Connection, work: _Work, system: XRM, caller: Caller) -> list[str]:
        metadata = self.xrm.metadata_service
        exports: list[str] = []
        for plugin in work.batch:
            self._migrate(conn, plugin, "before", system)
        if work.target is None:
            raise RuntimeError("a plugin plan without its target definitions")
        if work.target.definitions:
            applied = metadata.define(
                list(work.target.definitions.values()),
                owner=work.target.owners,
                confirm=True,
                actor=caller,
            )
            exports += applied.exports
        for plugin in work.batch:  # entities taken back after an uninstall that kept them
            for entity in plugin.entities:
                if metadata.owner(entity) != plugin.name:
                    metadata.set_owner(entity, plugin.name)
        for entity in work.target.dropped:
            exports += metadata.drop(entity, confirm=True, actor=caller).exports
        for change in work.roles:
            apply_role(system, change)
        for plugin in work.batch:
            self._migrate(conn, plugin, "after", system)
            ledger.claim(conn, plugin.name, plugin.parts())
            deps = {d: str(s) for d, s in plugin.manifest.dependencies.items()}
            ledger.save_plugin(
                conn, plugin.name, str(plugin.manifest.version), deps, plugin.shipped
            )
            old = plugin.installed.version if plugin.installed else None
            ledger.log_operation(
                conn,
                plugin.name,
                work.plan.operation,
                old,
                str(plugin.manifest.version),
                _plan_of(work.plan, plugin.name),
                caller.user_id,
                caller.reason,
            )
        return exports

    def _migrate(self, conn: Connection, plugin: Declared, phase: str, system: XRM) -> None:
        ran = ledger.ran_migrations(conn, plugin.name)
        for migration in plugin.migrations:
            if migration.phase != phase or migration.id in ran:
                continue
            try:
                migration.handler(system)
            except Exception as exc:
                exc.add_note(f"(in migration {migration.id!r} of xRM plugin {plugin.name!r})")
                raise
            version = str(plugin.manifest.version)
            ledger.record_migration(conn, plugin.name, migration.id, phase, version)

    # -- uninstall -------------------------------------------------------

    def plan_uninstall(self, name: str, *, data: DataChoice) -> PluginPlan:
        """What uninstalling ``name`` would do with its data (``keep``, ``export``, ``drop``)."""
        _check_choice(data)
        with self._reading() as conn:
            return self._uninstall_plan(conn, name, data)

    def uninstall(
        self,
        name: str,
        *,
        data: DataChoice,
        confirm: bool = False,
        export_dir: Path | str | None = None,
    ) -> PluginPlan:
        """Uninstall ``name``: ``keep`` its data (it becomes the administrator's), or
        ``export`` it (to ``export_dir``) and drop it, or ``drop`` it (needs ``confirm``).

        Refused while an installed plugin depends on ``name``.
        """
        _check_choice(data)
        caller = self._manager()
        system = self.xrm.as_system(f"plugin lifecycle ({_who(caller)})")
        with self._changing() as conn:
            plan = self._uninstall_plan(conn, name, data)
            _require_confirmation(plan, confirm)
            exports = self._remove(conn, name, data, system, caller, plan, export_dir)
        return replace(plan, applied=True, exports=tuple(exports))

    def _uninstall_plan(self, conn: Connection, name: str, data: DataChoice) -> PluginPlan:
        _refuse_core(name, "uninstalled")
        present = ledger.installed(conn)
        if name not in present:
            raise PluginStateError(f"plugin {name!r} is not installed", details={"plugins": [name]})
        users = sorted(p for p, info in present.items() if name in info.dependencies)
        if users:
            raise PluginInUse(
                f"plugin {name!r} cannot be uninstalled: {', '.join(map(repr, users))} "
                "depend on it; uninstall them first",
                details={"plugins": [name, *users]},
            )
        parts = ledger.parts(conn, owner=name)
        steps = [
            _data_step(name, p, data, self.xrm)
            for p in parts
            if p.kind in ("entity", "field", "relationship", "role")
            and not _inside_own_entity(p, parts)
        ]
        version = present[name].version
        return PluginPlan("uninstall", ((name, version, None),), tuple(steps))

    def _remove(
        self,
        conn: Connection,
        name: str,
        data: DataChoice,
        system: XRM,
        caller: Caller,
        plan: PluginPlan,
        export_dir: Path | str | None,
    ) -> list[str]:
        parts = ledger.parts(conn, owner=name)
        metadata = self.xrm.metadata_service
        exports: list[str] = []
        if data == "keep":
            for part in parts:
                if part.kind == "entity":
                    metadata.set_owner(part.name, ledger.CUSTOM)
            ledger.release(conn, name)
        else:
            entities = [p.name for p in parts if p.kind == "entity"]
            if data == "export":
                folder = Path(export_dir or metadata.export_dir)
                exports += _export(system, name, entities, folder)
            exports += _drop_extensions(metadata, name, parts, caller)
            for entity in _drop_order(metadata, entities):
                # What "export" wrote is the copy; a second, the safety net's, would only confuse.
                done = metadata.drop(entity, confirm=True, actor=caller, export=data == "drop")
                exports += done.exports
            for part in parts:
                if part.kind == "role":
                    remove_role(system, part.name)
            ledger.forget_parts(conn, name)
            ledger.forget_migrations(conn, name)
        ledger.remove_plugin(conn, name)
        version = plan.plugins[0][1]
        ledger.log_operation(
            conn, name, "uninstall", version, None, plan.to_dict(), caller.user_id, caller.reason
        )
        return exports

    # -- enable and disable ----------------------------------------------

    def enable(self, name: str) -> None:
        """Let ``name``'s subscribers, rules and actions run again (in processes started after)."""
        self._switch(name, True)

    def disable(self, name: str) -> None:
        """Stop ``name``'s subscribers, rules and actions (in processes started after);
        its entities and data stay. Refused while an enabled plugin depends on it."""
        self._switch(name, False)

    def _switch(self, name: str, enabled: bool) -> None:
        _refuse_core(name, "enabled or disabled")
        caller = self._manager()
        with self.xrm.db.transaction() as conn:
            present = ledger.installed(conn)
            if name not in present:
                raise PluginStateError(
                    f"plugin {name!r} is not installed", details={"plugins": [name]}
                )
            if enabled:
                blocking = [d for d in present[name].dependencies if not present[d].enabled]
                why = "it depends on disabled plugin(s)"
            else:
                blocking = [p for p, i in present.items() if i.enabled and name in i.dependencies]
                why = "enabled plugin(s) depend on it"
            if blocking:
                raise PluginInUse(
                    f"plugin {name!r} cannot be {'enabled' if enabled else 'disabled'}: {why}: "
                    + ", ".join(map(repr, sorted(blocking))),
                    details={"plugins": [name, *sorted(blocking)]},
                )
            if present[name].enabled == enabled:
                return
            ledger.set_enabled(conn, name, enabled)
            operation = "enable" if enabled else "disable"
            version = present[name].version
            ledger.log_operation(
                conn, name, operation, version, version, {}, caller.user_id, caller.reason
            )

    # -- plumbing --------------------------------------------------------

    def _manager(self) -> Caller:
        caller = self.xrm.caller
        if caller is None or not self.xrm.security_service.is_administrator(caller):
            raise AccessDenied("installing and removing plugins needs an administrator")
        return caller

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        self._manager()
        with self.xrm.db.transaction(write=False) as conn:
            yield conn

    @contextmanager
    def _changing(self) -> Iterator[Connection]:
        """One schema transaction; caches read during it are dropped if it rolls back."""
        try:
            with self.xrm.db.ddl_transaction() as conn:
                yield conn
        except BaseException:
            self.xrm.metadata_service.reload()
            self.xrm.security_service.refresh(force=True)
            raise


def _refuse_core(name: str, what: str) -> None:
    if name == CORE_OWNER:
        raise PluginStateError(
            f"the core is built in: it cannot be {what}", details={"plugins": [name]}
        )


def _nothing_to_do(plan: PluginPlan) -> bool:
    """An upgrade to the version installed, with no step: nothing to write, not even history."""
    return (
        plan.operation == "upgrade" and not plan.steps and all(a == b for _, a, b in plan.plugins)
    )


def _closure(name: str, manifests: Mapping[str, Manifest]) -> list[Manifest]:
    """``name`` and the plugins it needs, transitively (missing ones are resolve's to report)."""
    seen: dict[str, Manifest] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in manifests:
            continue
        seen[current] = manifests[current]
        todo += list(manifests[current].dependencies)
    return list(seen.values())


def _dependencies(name: str, manifests: Mapping[str, Manifest]) -> set[str]:
    return {m.name for m in _closure(name, manifests)} - {name}


def _version(text: str) -> Any:
    from packaging.version import Version

    return Version(text)


def _satisfies(version: Any, spec: str) -> bool:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(spec).contains(version, prereleases=True)


def _check_installed_dependency(
    manifest: Manifest, installed: ledger.InstalledPlugin, wanted_by: str, spec: Any = None
) -> None:
    """An installed dependency must already be at the version the installer's plugin has."""
    if spec is not None:
        ok = spec.contains(_version(installed.version), prereleases=True)
    else:
        ok = _version(installed.version) == manifest.version
    if not ok:
        raise PluginVersionConflict(
            f"{wanted_by!r} needs {manifest.name} {spec or manifest.version}, but the database "
            f"has {manifest.name} {installed.version}; upgrade {manifest.name!r} first",
            details={"plugins": [wanted_by, manifest.name]},
        )


def _unknown(name: str, manifests: Mapping[str, Manifest]) -> str:
    known = ", ".join(sorted(manifests)) or "none"
    return f"no plugin called {name!r} is available (available: {known})"


def _check_choice(data: object) -> None:
    if data not in DATA_CHOICES:
        raise PluginStateError(
            "say what to do with the plugin's data: keep, export or drop "
            f"(got {data!r}); nothing is dropped unless asked",
            [Problem("/data", "one of keep, export, drop")],
        )


def _require_confirmation(plan: PluginPlan, confirm: bool) -> None:
    if plan.safety is Safety.DESTRUCTIVE and not confirm:
        raise ConfirmationRequired(
            "this plan drops data; confirm it to go ahead (dropped values are exported)",
            [
                Problem(pointer(s.plugin, s.entity or "", s.field or ""), s.description)
                for s in plan.steps
                if s.safety is Safety.DESTRUCTIVE
            ],
            {"plan": plan.to_dict()},
        )


def _migration_steps(plugin: Declared, ran: set[str], phase: str) -> list[PluginStep]:
    when = "before" if phase == "before" else "after"
    return [
        PluginStep(
            plugin.name,
            "run_migration",
            Safety[m.safety.upper()],
            f"run data migration {m.id!r} {when} the schema changes"
            + (f": {m.description}" if m.description else ""),
        )
        for m in plugin.migrations
        if m.phase == phase and m.id not in ran
    ]


def _extension_steps(entity: str, batch: Sequence[Declared]) -> list[PluginStep]:
    """What other plugins of the batch add to an entity created with their additions."""
    steps = []
    for plugin in batch:
        ext = plugin.extensions.get(entity, {})
        for name in ext.get("properties", {}):
            description = f"add field {entity}.{name}"
            steps.append(
                PluginStep(plugin.name, "add_field", Safety.SAFE, description, entity, name)
            )
        for rel in ext.get("relationships", ()):
            description = f"add relationship {entity}.{rel['name']} to {rel['target']!r}"
            steps.append(
                PluginStep(plugin.name, "add_relationship", Safety.SAFE, description, entity)
            )
    return steps


def _schema_step(plugin: str, step: Step) -> PluginStep:
    return PluginStep(plugin, step.action, step.safety, step.description, step.entity, step.field)


def _owner_of_step(step: Step, batch: Sequence[Declared], metadata: Any) -> str:
    """Which plugin of the batch a schema step is for (the extender, for an added field)."""
    for plugin in reversed(batch):
        ext = plugin.extensions.get(step.entity, {})
        names = set(ext.get("properties", {})) | {r["name"] for r in ext.get("relationships", ())}
        if step.field in names:
            return plugin.name
    for plugin in batch:
        if step.entity in plugin.entities or step.entity in plugin.base("entities"):
            return plugin.name
    return batch[-1].name if batch else str(metadata.owner(step.entity))


def _inside_own_entity(part: ledger.Part, parts: Sequence[ledger.Part]) -> bool:
    """A field of the plugin's own entity goes with the entity; one step says it."""
    entity = part.name.partition(".")[0]
    return part.kind in ("field", "relationship") and any(
        p.kind == "entity" and p.name == entity for p in parts
    )


def _data_step(name: str, part: ledger.Part, data: DataChoice, xrm: XRM) -> PluginStep:
    what = f"{part.kind} {part.name!r}"
    entity, _, fld = part.name.partition(".")
    where = {
        "entity": entity if part.kind != "role" else None,
        "field": fld or None,
    }
    if data == "keep":
        return PluginStep(
            name, "keep", Safety.SAFE, f"keep {what}; it becomes the administrator's", **where
        )
    if part.kind == "role":
        return PluginStep(name, "remove_role", Safety.BREAKING, f"remove {what}")
    verb = "export and drop" if data == "export" else "drop"
    count = ""
    if part.kind == "entity":
        table = xrm.metadata_service.catalog.table(part.name)
        with xrm.db.transaction(write=False) as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
        count = f" and its {rows} record(s)"
    return PluginStep(name, data, Safety.DESTRUCTIVE, f"{verb} {what}{count}", **where)


def _export(xrm: XRM, plugin: str, entities: Sequence[str], folder: Path) -> list[str]:
    """Every record of ``entities`` to ``folder/<plugin>-<time>/<entity>.jsonl``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{plugin}-{stamp}"
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for entity in entities:
        path = target / f"{entity}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for record in _every_record(xrm, entity):
                out.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        files.append(str(path))
    return files


def _every_record(xrm: XRM, entity: str) -> Iterator[Mapping[str, Any]]:
    records = xrm.records(entity)
    cursor = None
    while True:
        page = records.query(limit=500, cursor=cursor)
        yield from page
        cursor = page.next_cursor
        if cursor is None:
            return


def _drop_extensions(
    metadata: Any, plugin: str, parts: Sequence[ledger.Part], caller: Caller
) -> list[str]:
    """Remove the fields and relationships ``plugin`` added to others' entities."""
    own = {p.name for p in parts if p.kind == "entity"}
    added: dict[str, set[str]] = {}
    for p in parts:
        entity, _, name = p.name.partition(".")
        if p.kind in ("field", "relationship") and entity not in own:
            added.setdefault(entity, set()).add(name)
    docs = []
    for entity, names in added.items():
        if not metadata.exists(entity):
            continue
        doc = dict(metadata.get(entity).schema)
        doc["properties"] = {k: v for k, v in doc["properties"].items() if k not in names}
        required = [r for r in doc.get("required", ()) if r not in names]
        doc.pop("required", None)
        if required:
            doc["required"] = required
        xrm = dict(doc["x-xrm"])
        rels = [r for r in xrm.get("relationships", ()) if r["name"] not in names]
        xrm.pop("relationships", None)
        if rels:
            xrm["relationships"] = rels
        doc["x-xrm"] = xrm
        docs.append(doc)
    if not docs:
        return []
    return list(metadata.define(docs, confirm=True, actor=caller).exports)


def _drop_order(metadata: Any, entities: Sequence[str]) -> list[str]:
    """Entities referring to others of the list first, so each drop finds no reference left."""
    left = list(entities)
    order: list[str] = []
    while left:
        free = [
            e
            for e in left
            if not any(other != e and _refers(metadata.get(other), e) for other in left)
        ]
        if not free:  # a cycle of lookups; the metadata service explains what refers to what
            free = left[:1]
        order += free
        left = [e for e in left if e not in free]
    return order


def _refers(definition: Any, entity: str) -> bool:
    return any(f.refers_to(entity) for f in definition.fields) or any(
        r.target == entity for r in definition.relationships
    )


def _plan_of(plan: PluginPlan, plugin: str) -> dict[str, Any]:
    doc = plan.to_dict()
    doc["steps"] = [s for s in doc["steps"] if s["plugin"] == plugin]
    return doc


def _who(caller: Caller) -> str:
    return f"user {caller.user_id}" if caller.user_id else (caller.reason or "system")
