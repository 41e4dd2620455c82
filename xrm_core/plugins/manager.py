"""The plugin manager: built per XRM, never at import time; each plugin asked for itself.

pluggy calls every implementation of a hook and returns one list of answers; the
core needs to know which plugin gave which answer (the ownership ledger) and to
ask them in dependency order, so :func:`contributions` calls each plugin's
implementation itself, in the order it is given.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as metadata
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pluggy

from xrm_core import hookspecs
from xrm_core.declaring import is_name
from xrm_core.errors import (
    DuplicatePlugin,
    InvalidDeclaration,
    InvalidHook,
    InvalidManifest,
    PluginError,
    Problem,
    pointer,
)
from xrm_core.events.model import Subscriber
from xrm_core.plugins.declarations import (
    Action,
    AdminPanel,
    EntityExtension,
    Migration,
    RoleSpec,
)
from xrm_core.plugins.manifest import ENTRY_POINT_GROUP, Manifest, manifest_from_distribution
from xrm_core.security.predicates import Rule
from xrm_core.security.principal import PRIVILEGES

#: Modules registered as plugins before any installed one, as datasette does. The
#: core's own entities (users, teams, business units, roles) are declared through
#: these same hooks by the built-in plugin ``core``: if the hooks are enough for
#: the core, they are enough for everyone.
DEFAULT_PLUGINS: tuple[str, ...] = ("xrm_core.plugins.core",)
#: Only a plugin of :data:`DEFAULT_PLUGINS` may be called this: the ledger's owner
#: of what the core itself declares.
CORE_PLUGIN = "core"


def make_plugin_manager(
    *,
    load_entrypoints: bool = True,
    blocked: Iterable[str] = (),
    plugins: Iterable[object] = (),
) -> pluggy.PluginManager:
    """A plugin manager holding the built-in plugins, the installed ones and ``plugins``.

    Installed plugins are those announced by packages under the entry-point group
    ``xrm.plugins`` (left out with ``load_entrypoints=False``). ``plugins`` are
    extra plugin objects (modules, or instances of classes with hook methods),
    each registered under the name its ``xrm_manifest`` gives. Plugins named in
    ``blocked`` are never loaded (not even imported, when installed).

    The environment variable ``XRM_LOAD_PLUGINS`` (as datasette's
    ``DATASETTE_LOAD_PLUGINS``), when set, lists the installed plugins to load,
    comma-separated; the others are not imported. Empty, it loads none.

    Raises :class:`~xrm_core.errors.DuplicatePlugin` when two plugins share a
    name, :class:`~xrm_core.errors.InvalidHook` when a plugin implements a hook
    that does not exist (a misspelling) or with arguments the hook does not
    have, and :class:`~xrm_core.errors.PluginError` when an installed plugin
    cannot be imported.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    # Blocked first, so that a blocked plugin's module is never even imported.
    for name in blocked:
        pm.set_blocked(name)
    for module in DEFAULT_PLUGINS:
        _register(pm, importlib.import_module(module), builtin=True)
    if load_entrypoints:
        _load_entry_points(pm, _allowed())
    for plugin in plugins:
        _register(pm, plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise _unknown_hooks(pm) from exc
    return pm


#: Names the installed plugins to load (comma-separated); unset: all of them.
LOAD_PLUGINS_VARIABLE = "XRM_LOAD_PLUGINS"


def _allowed() -> set[str] | None:
    value = os.environ.get(LOAD_PLUGINS_VARIABLE)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _register(pm: pluggy.PluginManager, plugin: object, *, builtin: bool = False) -> None:
    name = _declared_name(plugin)
    if name == CORE_PLUGIN and not builtin:
        raise _reserved(name)
    if name is not None and pm.has_plugin(name):
        raise DuplicatePlugin(f"two plugins are called {name!r}", details={"plugins": [name]})
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise _wrong_arguments(pm, plugin, name or repr(plugin), exc) from exc
    except ValueError as exc:
        raise DuplicatePlugin(
            f"plugin {name or plugin!r} is registered twice",
            details={"plugins": [name or repr(plugin)]},
        ) from exc


def _wrong_arguments(
    pm: pluggy.PluginManager, plugin: object, name: str, exc: Exception
) -> InvalidHook:
    """Say which hook of ``plugin`` takes arguments its specification does not pass."""
    problems = []
    for attr in dir(plugin):
        caller = getattr(pm.hook, attr, None)
        if pm.parse_hookimpl_opts(plugin, attr) is None or caller is None or caller.spec is None:
            continue
        passed = caller.spec.argnames
        taken = [p for p in inspect.signature(getattr(plugin, attr)).parameters if p != "self"]
        extra = [arg for arg in taken if arg not in passed]
        if extra:
            problems.append(
                Problem(
                    pointer(name, attr),
                    f"plugin {name!r} implements {attr!r} taking {', '.join(map(repr, extra))}, "
                    f"which the hook does not pass (it passes: {', '.join(passed) or 'nothing'})",
                )
            )
    if not problems:  # pluggy found something else wrong: its own words
        return InvalidHook(f"plugin {name!r}: {exc}", details={"plugins": [name]})
    return InvalidHook("; ".join(p.message for p in problems), problems, {"plugins": [name]})


def _declared_name(plugin: object) -> str | None:
    """The name a plugin's own manifest gives, or None when it gives none."""
    declare = getattr(plugin, "xrm_manifest", None)
    if not callable(declare):
        return None
    try:
        doc = declare()
    except Exception:
        # Registered under pluggy's name instead; plugin_manifests calls the hook
        # again and reports the failure with that name.
        return None
    name = doc.get("name") if isinstance(doc, Mapping) else None
    return name if isinstance(name, str) else None


def _load_entry_points(pm: pluggy.PluginManager, allowed: set[str] | None) -> None:
    found: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, []).append(ep)
    for name, eps in sorted(found.items()):
        if pm.is_blocked(name) or (allowed is not None and name not in allowed):
            continue
        if name == CORE_PLUGIN:
            raise _reserved(name)
        packages = ", ".join(sorted(ep.dist.name if ep.dist else ep.value for ep in eps))
        if len(eps) > 1 or pm.has_plugin(name):
            raise DuplicatePlugin(
                f"two plugins are called {name!r} (installed by {packages})",
                details={"plugins": [name]},
            )
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
        except pluggy.PluginValidationError as exc:
            raise _wrong_arguments(pm, exc.plugin, name, exc) from exc
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} (installed by {packages}) cannot be loaded: {exc!r}",
                details={"plugins": [name]},
            ) from exc


def _reserved(name: str) -> InvalidManifest:
    return InvalidManifest(
        f"plugin {name!r}: the name 'core' belongs to the core's built-in plugin",
        [Problem("/name", "reserved")],
        {"plugins": [name]},
    )


def _unknown_hooks(pm: pluggy.PluginManager) -> InvalidHook:
    known = [name for name in vars(pm.hook) if getattr(pm.hook, name).has_spec()]
    problems = []
    for name, caller in sorted(vars(pm.hook).items()):
        if name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                Problem(
                    pointer(impl.plugin_name, name),
                    f"plugin {impl.plugin_name!r} implements {name!r}, "
                    f"which is not an xRM hook{hint}",
                )
            )
    plugins = sorted({p.pointer.split("/")[1] for p in problems})
    return InvalidHook("; ".join(p.message for p in problems), problems, {"plugins": plugins})


def plugin_manifests(pm: pluggy.PluginManager) -> dict[str, Manifest]:
    """Every registered plugin's manifest, by name, in name order.

    Each plugin's own ``xrm_manifest`` answers for it; for a plugin installed
    from a package, what it leaves out is taken from the package's metadata
    (:func:`~xrm_core.plugins.manifest_from_distribution`). Raises
    :class:`~xrm_core.errors.InvalidManifest` naming the plugin when a manifest
    is missing or not valid, or when it names the plugin differently from its
    entry point.
    """
    impls = {impl.plugin_name: impl for impl in pm.hook.xrm_manifest.get_hookimpls()}
    packages = {pm.get_name(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    manifests = {}
    for registered, plugin in sorted(pm.list_name_plugin()):
        if plugin is None:
            continue  # blocked
        impl = impls.get(registered)
        if impl is None:
            raise InvalidManifest(
                f"plugin {registered!r} does not implement xrm_manifest: every plugin "
                "declares its manifest",
                details={"plugins": [registered]},
            )
        doc = _call(impl, "xrm_manifest", {})
        if not isinstance(doc, Mapping):
            raise InvalidManifest(
                f"xrm_manifest of plugin {registered!r} returned {type(doc).__name__}, "
                "not a JSON object",
                details={"plugins": [registered]},
            )
        dist = packages.get(registered)
        source = ""
        if dist is not None:
            doc = {**manifest_from_distribution(dist.project_name), **doc}
            source = f" (completed from package {dist.project_name!r})"
        try:
            manifest = Manifest.from_dict(doc)
        except InvalidManifest as exc:
            raise InvalidManifest(
                f"the manifest of plugin {registered!r}{source} is not valid",
                exc.problems,
                {"plugins": [registered]},
            ) from None
        if manifest.name != registered:
            raise InvalidManifest(
                f"plugin {registered!r}{source} calls itself {manifest.name!r} in its manifest; "
                "a plugin's entry point must have the plugin's name",
                [Problem("/name", f"expected {registered!r}")],
                {"plugins": [registered, manifest.name]},
            )
        manifests[manifest.name] = manifest
    return manifests


def call_each(
    pm: pluggy.PluginManager, hook: str, order: Iterable[str] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Call ``hook`` of each plugin implementing it, one at a time; their answers by plugin.

    ``order`` lists plugin names in the order to call them (usually
    :func:`~xrm_core.plugins.resolve`'s); plugins missing from it are not called,
    and names not implementing the hook are skipped. Without it, plugins are
    called in name order. ``kwargs`` are the hook's arguments. An exception from
    a plugin comes out unchanged, with a note naming the plugin and hook.
    """
    caller = getattr(pm.hook, hook, None)
    if caller is None or caller.spec is None:
        raise ValueError(f"{hook!r} is not an xRM hook")
    if set(kwargs) != set(caller.spec.argnames):
        wanted = ", ".join(caller.spec.argnames) or "no arguments"
        raise TypeError(f"{hook} takes {wanted}; got {', '.join(sorted(kwargs)) or 'none'}")
    impls = {impl.plugin_name: impl for impl in caller.get_hookimpls()}
    names = sorted(impls) if order is None else [n for n in order if n in impls]
    return {name: _call(impls[name], hook, kwargs) for name in names}


def _call(impl: pluggy.HookImpl, hook: str, kwargs: Mapping[str, Any]) -> Any:
    try:
        return impl.function(*(kwargs[arg] for arg in impl.argnames))
    except InvalidDeclaration as exc:
        raise InvalidDeclaration(
            f"plugin {impl.plugin_name!r}, {hook}: {exc.message}",
            exc.problems,
            {"plugins": [impl.plugin_name], "hook": hook},
        ) from exc
    except Exception as exc:
        exc.add_note(f"(in {hook} of xRM plugin {impl.plugin_name!r})")
        raise


def _route_type() -> type:
    # Imported only when a plugin serves routes: only such plugins need Starlette.
    from starlette.routing import BaseRoute

    return BaseRoute


def _rule_problems(rule: Rule) -> list[Problem]:
    problems = []
    if not is_name(rule.entity):
        problems.append(Problem("/entity", f"bad entity name {rule.entity!r}"))
    if not isinstance(rule.name, str) or not rule.name:
        problems.append(Problem("/name", "must not be empty"))
    if rule.mode not in ("grant", "restrict"):
        problems.append(Problem("/mode", f"unknown mode {rule.mode!r}; grant or restrict"))
    unknown = sorted(set(rule.privileges) - set(PRIVILEGES))
    if unknown or not rule.privileges:
        problems.append(Problem("/privileges", f"privileges among {', '.join(PRIVILEGES)}"))
    if not callable(rule.build):
        problems.append(Problem("/build", "must be callable"))
    return problems


def _entity_name(doc: Mapping[str, Any]) -> str | None:
    xrm = doc.get("x-xrm")
    name = xrm.get("name") if isinstance(xrm, Mapping) else None
    return name if isinstance(name, str) else None  # the metadata service reports the rest


# What each declaring hook's list holds, and the key no two items of one plugin may share.
_DECLARING: dict[str, tuple[Callable[[], type], Callable[[Any], object] | None]] = {
    "xrm_entity_schemas": (lambda: Mapping, _entity_name),
    "xrm_entity_extensions": (lambda: EntityExtension, lambda e: e.entity),
    "xrm_roles": (lambda: RoleSpec, lambda r: r.name),
    "xrm_permission_rules": (lambda: Rule, lambda r: (r.entity, r.name)),
    "xrm_subscribers": (lambda: Subscriber, lambda s: s.name),
    "xrm_actions": (lambda: Action, lambda a: a.qualified_name),
    "xrm_routes": (_route_type, None),
    "xrm_admin_panels": (lambda: AdminPanel, lambda p: p.name),
    "xrm_migrations": (lambda: Migration, lambda m: m.id),
}


def contributions(
    pm: pluggy.PluginManager, hook: str, order: Iterable[str] | None = None
) -> dict[str, list[Any]]:
    """What each plugin declares through a declaring hook (``xrm_roles``, ...), checked.

    Plugins are asked as by :func:`call_each`; those answering nothing (None or
    an empty list) are left out. Raises
    :class:`~xrm_core.errors.InvalidDeclaration` naming the plugin and hook when
    an answer is not a list of the hook's declaration type, or when two of one
    plugin's declarations share a name.
    """
    if hook not in _DECLARING:
        raise ValueError(f"{hook!r} is not a declaring hook; one of {', '.join(_DECLARING)}")
    kind, key = _DECLARING[hook]
    result: dict[str, list[Any]] = {}
    for plugin, answer in call_each(pm, hook, order).items():
        if answer is None:
            continue
        problems = _answer_problems(answer, kind(), key)
        if problems:
            raise InvalidDeclaration(
                f"plugin {plugin!r}, {hook}: " + "; ".join(p.message for p in problems),
                problems,
                {"plugins": [plugin], "hook": hook},
            )
        if answer:
            result[plugin] = list(answer)
    return result


def _answer_problems(
    answer: object, kind: type, key: Callable[[Any], object] | None
) -> list[Problem]:
    if not isinstance(answer, Sequence) or isinstance(answer, str | bytes):
        return [Problem("", f"returned {type(answer).__name__}, not a list")]
    problems = []
    seen: set[object] = set()
    for i, item in enumerate(answer):
        if not isinstance(item, kind):
            problems.append(
                Problem(pointer(i), f"item {i} is {type(item).__name__}, not {kind.__name__}")
            )
            continue
        if isinstance(item, Rule):
            problems += [Problem(pointer(i) + p.pointer, p.message) for p in _rule_problems(item)]
        name = key(item) if key is not None else None
        if name is not None and name in seen:
            problems.append(Problem(pointer(i), f"{name!r} is declared twice"))
        seen.add(name)
    return problems
