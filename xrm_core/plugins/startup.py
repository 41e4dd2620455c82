"""Starting the plugins of an XRM: their subscribers, permission rules and start-up hooks.

This is what a process running plugins does once (the server, ``xrm worker``);
installing a plugin's entities and roles into a database is the lifecycle's job.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pluggy

from xrm_core.plugins import ledger
from xrm_core.plugins.manager import call_each, contributions, plugin_manifests
from xrm_core.plugins.manifest import resolve
from xrm_core.version import __version__

if TYPE_CHECKING:
    from xrm_core.xrm import XRM


def start(xrm: XRM, pm: pluggy.PluginManager, *, installed_only: bool = False) -> list[str]:
    """Subscribe ``pm``'s plugins to ``xrm``'s events, add their rules, call ``xrm_startup``.

    Plugins are taken in dependency order; a missing dependency, a version
    conflict or a cycle refuses them all (the errors of
    :func:`~xrm_core.plugins.resolve`). Their ``xrm_actions`` join
    ``xrm.actions``, owned by each plugin; an action name two plugins declare
    refuses the start (:class:`~xrm_core.errors.InvalidDeclaration`). Returns the
    plugins' names, in order.

    Plugins the database has installed but disabled (``xrm.plugins.disable``)
    are left out, with the plugins depending on them. With ``installed_only``
    — what a process serving a database does (the server, ``xrm worker``) —
    so are the plugins the database has not installed: their handlers have no
    business with it, even when it has entities of the same names.
    ``xrm_startup`` gets ``xrm`` in the system context. The started plugins are
    the ones ``xrm.timeline`` asks for ``xrm_timeline_entries``.
    """
    with xrm.db.transaction(write=False) as conn:
        present = ledger.installed(conn)
    available = list(plugin_manifests(pm).values())
    if installed_only:
        available = [m for m in available if m.name in present]
    manifests = resolve(available, __version__)
    off = {name for name, plugin in present.items() if not plugin.enabled}
    for manifest in manifests:  # dependency order: dependencies are seen first
        if any(dep in off for dep in manifest.dependencies):
            off.add(manifest.name)
    order = [m.name for m in manifests if m.name not in off]
    # First, all or none: two plugins declaring one action refuse the start
    # before any subscriber has joined.
    xrm.action_registry.register_all(contributions(pm, "xrm_actions", order))
    for plugin, subscribers in contributions(pm, "xrm_subscribers", order).items():
        for subscriber in subscribers:
            xrm.events.subscribe(replace(subscriber, owner=plugin))
    for rules in contributions(pm, "xrm_permission_rules", order).values():
        for rule in rules:
            xrm.security_service.add_rule(
                rule.entity, rule.name, rule.build, mode=rule.mode, privileges=rule.privileges
            )
    xrm.timeline_sources.use(pm, order)
    system = xrm if xrm.caller is not None and xrm.caller.is_system else None
    call_each(pm, "xrm_startup", order, xrm=system or xrm.as_system("plugin start-up"))
    return order
