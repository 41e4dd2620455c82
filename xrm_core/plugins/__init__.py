"""Plugins: their manifests, what they declare, and the plugin manager.

A plugin is an ordinary Python package announcing itself under the entry-point
group ``xrm.plugins`` and implementing hooks of :mod:`xrm_core.hookspecs`.
"""

from xrm_core.events.model import Subscriber
from xrm_core.plugins.declarations import (
    Action,
    AdminPanel,
    EntityExtension,
    Migration,
    RolePrivilege,
    RoleSpec,
)
from xrm_core.plugins.manager import (
    DEFAULT_PLUGINS,
    call_each,
    contributions,
    make_plugin_manager,
    plugin_manifests,
)
from xrm_core.plugins.manifest import (
    ENTRY_POINT_GROUP,
    Manifest,
    check_manifest,
    manifest_from_distribution,
    resolve,
)
from xrm_core.plugins.startup import start

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "Action",
    "AdminPanel",
    "EntityExtension",
    "Manifest",
    "Migration",
    "RolePrivilege",
    "RoleSpec",
    "Subscriber",
    "call_each",
    "check_manifest",
    "contributions",
    "make_plugin_manager",
    "manifest_from_distribution",
    "plugin_manifests",
    "resolve",
    "start",
]
