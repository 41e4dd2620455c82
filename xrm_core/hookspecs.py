"""Every hook a plugin can implement: the plugin contract.

Plugins are found through the entry-point group ``xrm.plugins`` and implement
any of these functions, marked with :data:`hookimpl`. All hooks are named
``xrm_`` + what they answer (as pytest's are ``pytest_``).

Every hook is called **once per plugin**, in dependency order (a plugin after
the plugins it depends on), and the core keeps each plugin's answer apart: the
ownership ledger records which plugin declared which entity, field, role,
subscriber and action. An implementation may take fewer arguments than the
specification lists (pluggy passes only those it names). A hook that declares
things returns a list; returning nothing (an empty list) is always fine.

``docs/plugins.md`` is the plugin author's reference for this module; a test
checks that every hook here has a section there and a test of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from xrm_core.events.model import Subscriber
from xrm_core.plugins.declarations import (
    Action,
    AdminPanel,
    EntityExtension,
    Migration,
    RoleSpec,
)
from xrm_core.security.predicates import Rule
from xrm_core.timeline import TimelineEntry

if TYPE_CHECKING:
    import uuid

    # Starlette is needed only by plugins that serve HTTP routes.
    from starlette.routing import BaseRoute

    from xrm_core.xrm import XRM

#: The pluggy project name; also the prefix of every hook.
PROJECT = "xrm"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Marks a plugin's function as the implementation of the hook of the same name.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def xrm_manifest() -> Mapping[str, Any]:
    """The plugin's manifest: who it is and what it needs.

    Called when the plugins are loaded, before anything else, once per plugin.
    Returns a JSON object checked by ``schemas/plugin-manifest.schema.json``:
    ``name``, ``version`` (semver), ``description``, ``core`` (the range of core
    versions the plugin works with) and ``dependencies`` (plugin name → version
    range). For a plugin installed from a package, ``version``, ``description``,
    ``core`` and ``dependencies`` left out are taken from the package's metadata.
    Every plugin must implement it; it answers only for itself.
    """


@hookspec
def xrm_entity_schemas() -> Sequence[Mapping[str, Any]]:
    """The entities the plugin owns, as JSON Schema entity definitions.

    Called when the plugin is installed or upgraded, to plan the schema changes.
    Returns entity definitions (``schemas/entity.schema.json``), usually read
    from the plugin's ``schemas/*.json`` files. Lookups may point at the
    plugin's own entities and at those of its dependencies.
    """


@hookspec
def xrm_entity_extensions() -> Sequence[EntityExtension]:
    """Fields and many-to-many relationships the plugin adds to its dependencies' entities.

    Called at install and upgrade, after every plugin's ``xrm_entity_schemas``.
    Returns :class:`~xrm_core.plugins.EntityExtension` values. The added fields
    belong to the extending plugin: uninstalling it removes them, and upgrading
    the extended plugin keeps them.
    """


@hookspec
def xrm_roles() -> Sequence[RoleSpec]:
    """Security roles the plugin ships (``Sales Manager``) with their privileges.

    Called at install and upgrade. Returns :class:`~xrm_core.plugins.RoleSpec`
    values; the roles are created (or updated, keeping an administrator's own
    changes) and owned by the plugin.
    """


@hookspec
def xrm_permission_rules() -> Sequence[Rule]:
    """Predicates the plugin adds to entities' permissions.

    Called when an XRM starts, before any record is read.
    Returns :class:`~xrm_core.security.predicates.Rule` values: a ``grant`` rule
    widens access (OR-ed with roles and shares), a ``restrict`` rule narrows it
    (AND-ed). Each rule builds a SQL condition, so whole lists stay one query.
    """


@hookspec
def xrm_subscribers() -> Sequence[Subscriber]:
    """Handlers for record and domain events, by stage.

    Called when an XRM starts. Returns :class:`~xrm_core.plugins.Subscriber`
    values; the event pipeline calls each matching handler at its stage
    (``validate``, ``before``, ``after`` in the transaction; ``committed`` from the
    outbox, after commit).
    """


@hookspec
def xrm_actions() -> Sequence[Action]:
    """Operations the plugin offers on its entities' records (``lead.qualify``).

    Called when an XRM starts (:func:`~xrm_core.plugins.start`). Returns
    :class:`~xrm_core.plugins.Action` values, registered in ``xrm.actions`` and
    owned by the plugin; a name another plugin declares too refuses the start.
    The core runs each with the caller's permissions, in one transaction, raises
    its event ``entity.name``, and exposes it to REST, GraphQL and the CLI
    (:mod:`xrm_core.actions`).
    """


@hookspec
def xrm_routes() -> Sequence[BaseRoute]:
    """Extra HTTP routes the plugin serves.

    Called when the HTTP app is built. Returns Starlette routes, mounted under
    ``/plugins/<plugin name>/``. Records and actions need no routes of their own:
    the core serves them for every entity.
    """


@hookspec
def xrm_admin_panels() -> Sequence[AdminPanel]:
    """Pages the plugin adds to the admin UI.

    Called when the admin UI is built. Returns :class:`~xrm_core.plugins.AdminPanel`
    values.
    """


@hookspec
def xrm_demo_data(xrm: XRM, size: int) -> None:
    """Fill a demo database with the plugin's sample records.

    Called by ``xrm demo`` after every plugin is installed, in dependency order
    (so a plugin finds its dependencies' demo records). ``xrm`` acts in the
    system context; ``size`` is the number of main records to make (the demo's
    ``--size``), which the plugin scales its own data by. Returns nothing.
    """


@hookspec
def xrm_migrations() -> Sequence[Migration]:
    """Data migrations the plugin runs on install and upgrade.

    Called while planning an install or upgrade. Returns
    :class:`~xrm_core.plugins.Migration` values; those not yet logged in the
    database run, ``before`` ones before the schema sync and ``after`` ones after
    it, in the order listed, in the same transaction as the schema change.
    """


@hookspec
def xrm_startup(xrm: XRM) -> None:
    """Prepare the plugin for an XRM that has just opened its database.

    Called once per XRM, after every plugin's declarations are registered, in
    dependency order; ``xrm`` acts in the system context. For caches and
    connections to outside services, not for schema changes (those belong to
    install and upgrade). Returns nothing.
    """


@hookspec
def xrm_timeline_entries(
    xrm: XRM, entity: str, record_id: uuid.UUID, limit: int
) -> Sequence[TimelineEntry]:
    """Entries the plugin adds to a record's timeline (the activities regarding it).

    Called by ``xrm.timeline(entity, record_id)`` (the record page, ``GET
    /api/v1/{entity}/{id}/timeline``) once per started plugin, after checking
    that the caller may read the record. ``xrm`` acts as that caller: read through
    ``xrm.records(...)`` so that their permissions apply. Returns at most
    ``limit`` :class:`~xrm_core.TimelineEntry` values, newest first (the core
    merges them with the record's audit entries and keeps the newest
    ``limit``); an empty list when the plugin has nothing for this entity.
    """
