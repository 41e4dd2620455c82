"""Installing, upgrading, uninstalling, enabling and disabling plugins — plan first.

Every operation is computed as a :class:`PluginPlan` (a dry run: ``plan_*``)
before it is applied; applying it runs in one schema transaction, so a failure
anywhere — a migration, the schema sync, a role — leaves the database as it was.
``docs/plugin-lifecycle.md`` is the integrator's guide.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
from sqlalchemy.engine import Connection

from xrm_core.errors import (
    AccessDenied,
    PluginInUse,
    PluginStateError,
    PluginVersionConflict,
    Problem,
    UnknownPlugin,
)
from xrm_core.metadata.plan import Plan
from xrm_core.plugins import ledger, plans, removal, requirements
from xrm_core.plugins.ledger import Part, PartKind
from xrm_core.plugins.manager import plugin_manifests
from xrm_core.plugins.manifest import Manifest, resolve
from xrm_core.plugins.planning import Declared, Target, declared, target
from xrm_core.plugins.plans import DATA_CHOICES, DataChoice, Operation, PluginPlan, PluginStep
from xrm_core.plugins.roles import RoleChange, apply_role, plan_roles, remove_role
from xrm_core.security.caller import Caller
from xrm_core.version import __version__

if TYPE_CHECKING:
    from xrm_core.xrm import XRM

#: The built-in plugin owning the core's entities; every plugin may extend them.
CORE_OWNER = "core"


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
            raise UnknownPlugin(
                requirements.unknown_message(name, manifests), details={"plugins": [name]}
            )
        present = ledger.installed(conn)
        if name in present:
            raise PluginStateError(
                f"plugin {name!r} is installed already (version {present[name].version}); "
                "upgrade it instead",
                details={"plugins": [name]},
            )
        order = resolve(requirements.closure(name, manifests), __version__)
        for manifest in order:
            if manifest.name in present:
                requirements.check_installed_dependency(manifest, present[manifest.name], name)
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
            raise UnknownPlugin(
                requirements.unknown_message(name, manifests), details={"plugins": [name]}
            )
        new, old = manifests[name], present[name]
        if new.version < requirements.parse_version(old.version):
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
            requirements.check_installed_dependency(
                manifests.get(dep) or new, present[dep], name, spec
            )
        for other, installed in present.items():
            spec_text = installed.dependencies.get(name)
            if spec_text is not None and not requirements.satisfies(new.version, spec_text):
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
        deps = {
            p.name: requirements.dependencies_of(p.name, manifests) | {CORE_OWNER} for p in batch
        }
        metadata = self.xrm.metadata_service
        want = target(metadata, batch, ledger.parts(conn), deps)
        schema = metadata.plan(list(want.definitions.values())) if want.definitions else Plan()
        roles = plan_roles(conn, self.xrm, batch)
        steps: list[PluginStep] = []
        for plugin in batch:
            ran = ledger.ran_migrations(conn, plugin.name)
            steps += plans.migration_steps(plugin, ran, "before")
        for s in schema.steps:
            steps.append(plans.schema_step(plans.owner_of_step(s, batch, metadata), s))
            if s.action == "create_entity":
                steps += plans.extension_steps(s.entity, batch)
        for entity in want.dropped:
            for s in metadata.plan_drop(entity).steps:
                steps.append(plans.schema_step(plans.owner_of_step(s, batch, metadata), s))
        steps += [r.step() for r in roles]
        for plugin in batch:
            steps += plans.migration_steps(
                plugin, ledger.ran_migrations(conn, plugin.name), "after"
            )
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
            if plans.nothing_to_do(work.plan):
                return replace(work.plan, applied=True)
            plans.require_confirmation(work.plan, confirm)
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
                plans.plan_of(work.plan, plugin.name),
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
            plans.require_confirmation(plan, confirm)
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
            removal.data_step(name, p, data, self.xrm)
            for p in parts
            if p.kind in ("entity", "field", "relationship", "role")
            and not removal.inside_own_entity(p, parts)
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
                exports += removal.export_records(system, name, entities, folder)
            exports += removal.drop_extensions(metadata, name, parts, caller)
            if entities:
                # All at once: a plugin's entities may refer to one another in a cycle.
                # What "export" wrote is the copy; a second, the safety net's, would only confuse.
                order = removal.drop_order(metadata, entities)
                # The references the drop clears elsewhere are exported either way.
                done = metadata.drop(
                    order,
                    confirm=True,
                    actor=caller,
                    export=data == "drop",
                    export_dir=Path(export_dir or metadata.export_dir),
                )
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


def _check_choice(data: object) -> None:
    if data not in DATA_CHOICES:
        raise PluginStateError(
            "say what to do with the plugin's data: keep, export or drop "
            f"(got {data!r}); nothing is dropped unless asked",
            [Problem("/data", "one of keep, export, drop")],
        )


def _who(caller: Caller) -> str:
    return f"user {caller.user_id}" if caller.user_id else (caller.reason or "system")


__all__ = ["DATA_CHOICES", "DataChoice", "Operation", "PluginPlan", "PluginService", "PluginStep"]
