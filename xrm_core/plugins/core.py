"""The core's own plugin: users, teams, business units and roles, through the plugin hooks.

Registered before every other plugin (:data:`~xrm_core.plugins.DEFAULT_PLUGINS`),
as datasette registers its defaults: if the hooks are enough for the core, they
are enough for everyone. ``xrm.security.install()`` (``xrm db upgrade``, ``xrm
serve``) installs or upgrades it with the plugin lifecycle, so the core's
entities evolve between versions by the same three-way merge as any plugin's,
keeping an administrator's own fields and changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from xrm_core.hookspecs import hookimpl
from xrm_core.plugins.declarations import Migration
from xrm_core.security.service import core_schemas
from xrm_core.version import __version__

if TYPE_CHECKING:
    from xrm_core.xrm import XRM

#: The plugin's name: the owner of the core's entities in the ledger.
NAME = "core"


@hookimpl
def xrm_manifest() -> Mapping[str, Any]:
    """The core, at the version of this package."""
    return {
        "name": NAME,
        "version": __version__,
        "description": "Users, teams, business units, roles and field security.",
    }


@hookimpl
def xrm_entity_schemas() -> Sequence[Mapping[str, Any]]:
    """The core entities (``xrm_core/schemas/core/*.json``), and the saved views of
    record lists (not a security entity: they are records like any other)."""
    return [*core_schemas(), *_schemas(UI_ENTITIES)]


#: Core entities that are not part of the security model (saved views, decision 0033).
UI_ENTITIES = ("saved_view",)


def _schemas(names: Sequence[str]) -> list[dict[str, Any]]:
    folder = resources.files("xrm_core") / "schemas" / "core"
    return [json.loads((folder / f"{name}.json").read_text()) for name in names]


@hookimpl
def xrm_migrations() -> Sequence[Migration]:
    """The organization every database starts with: its root business unit and the
    built-in roles (administrator, customizer, basic user)."""
    return [Migration("0001-organization", "after", _organization, "root unit and roles", "safe")]


def _organization(xrm: XRM) -> None:
    xrm.security.seed_organization()
