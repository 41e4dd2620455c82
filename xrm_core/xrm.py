"""The :class:`XRM` object: one database, its metadata, its records, and who is acting."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
from sqlalchemy.engine import Connection

from xrm_core.actions import ActionRegistry, ActionService
from xrm_core.audit import AuditLog, AuditView
from xrm_core.errors import AccessDenied
from xrm_core.events.bus import EventBus
from xrm_core.events.domain import raise_event
from xrm_core.events.model import Event
from xrm_core.events.outbox import Outbox
from xrm_core.events.webhook_delivery import WebhookRegistry
from xrm_core.events.webhooks import Webhooks
from xrm_core.metadata.core_parts import check_core_parts
from xrm_core.metadata.definition import EntityDefinition, titles_after_renames
from xrm_core.metadata.plan import Plan
from xrm_core.metadata.service import HistoryEntry, MetadataService, Renames, Schema
from xrm_core.plugins.lifecycle import PluginService
from xrm_core.plugins.manager import make_plugin_manager
from xrm_core.records._changes import EVENT_NAMES
from xrm_core.records.service import RecordService
from xrm_core.security.caller import Caller
from xrm_core.security.service import CORE, SecurityService
from xrm_core.storage.database import Database
from xrm_core.storage.ddl import Catalog
from xrm_core.storage.tables import add_missing_indexes
from xrm_core.timeline import DEFAULT_LIMIT, TimelineEntry, TimelineSources, record_timeline
from xrm_core.transfer import Exports, Imports

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from xrm_core.security.auth import Authenticator

_NO_CALLER = (
    "no caller: act as a user with xrm.as_user(user_id), or in the system context "
    "with xrm.as_system('why') (which bypasses permissions and is audited)"
)


class XRM:
    """Entry point of the Python API.

    ``XRM.from_url`` opens a database; every record and metadata call is made
    by a caller — a user, whose roles decide what they see, or the system
    context, which sees everything and says why:

    >>> xrm = XRM.from_url("sqlite://").as_system("doctest")
    >>> plan = xrm.metadata.define({
    ...     "x-xrm": {"name": "contact"},
    ...     "properties": {"name": {"type": "string", "maxLength": 100}},
    ...     "required": ["name"],
    ... })
    >>> print(plan)
    [safe] create entity 'contact'
    >>> ada = xrm.records("contact").create({"name": "Ada"})
    >>> xrm.records("contact").get(ada["id"])["name"]
    'Ada'
    """

    def __init__(
        self,
        db: Database,
        *,
        export_dir: Path | str | None = None,
        plugins: pluggy.PluginManager | None = None,
    ) -> None:
        self.db = db
        self._plugin_manager = plugins
        self.metadata_service = MetadataService(db, Path(export_dir or Path.cwd() / "xrm-exports"))
        self.security_service = SecurityService(db, self.metadata_service, self._records_for)
        self.security_service.set_installer(self._install_core)
        self.audit_log = AuditLog(db, self.metadata_service)
        #: Subscribers to record changes and domain events (see docs/events.md).
        self.events = EventBus()
        #: Committed events waiting for ``xrm worker``, and the change feed (docs/events.md).
        self.outbox = Outbox(db, self.events)
        #: The database's webhooks, kept on this process's bus (docs/webhooks.md).
        self.webhook_registry = WebhookRegistry(db, self.events)
        #: Operations plugins declare (``lead.qualify``); run them through :attr:`actions`.
        self.action_registry = ActionRegistry()
        #: The started plugins that add entries to records' timelines (see :meth:`timeline`).
        self.timeline_sources = TimelineSources()
        self.metadata_service.recorders.append(self.audit_log.metadata_change)
        #: Who acts through this object; None until :meth:`as_user` or :meth:`as_system`.
        self.caller: Caller | None = None
        #: How new passwords are hashed; None: argon2-cffi's defaults (RFC 9106). Logins
        #: rehash a password stored with other parameters. Test suites set cheap ones.
        self.password_hasher: PasswordHasher | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        export_dir: Path | str | None = None,
        plugins: pluggy.PluginManager | None = None,
        **engine_options: Any,
    ) -> XRM:
        """Open (and prepare) the database at a SQLAlchemy URL.

        ``sqlite:///xrm.db`` is the embedded default; ``postgresql+psycopg://...``
        for production. ``export_dir`` receives values that schema changes drop.
        ``plugins`` is the plugin manager to install plugins from (by default,
        one made when first needed, holding the installed packages' plugins).
        """
        db = Database.from_url(url, **engine_options)
        return cls(db, export_dir=export_dir, plugins=plugins)

    # -- who acts --------------------------------------------------------

    def as_user(self, user_id: uuid.UUID | str) -> XRM:
        """This XRM acting as a user: every call is checked against their rights."""
        caller = Caller.user(user_id)
        self.security_service.refresh()
        self.security_service.principal(caller)  # an unknown user fails here, not later
        return self._acting(caller)

    def as_system(self, reason: str) -> XRM:
        """This XRM in the system context: no permission checks; ``reason`` is audited."""
        return self._acting(Caller.system(reason))

    def bypassing_handlers(self, reason: str) -> XRM:
        """This XRM with plugins' ``validate``, ``before`` and ``after`` handlers skipped.

        For bulk imports and data repairs, as the same caller: permissions
        still apply, ``committed`` subscribers (integrations, webhooks) still
        get every change, subscribers owned by the core still run, and every
        audited change says it bypassed handlers and why (see docs/events.md).
        Raises :class:`~xrm_core.errors.AccessDenied` for a blank ``reason``, and
        unless the caller is the system context or holds a role with
        ``bypass_handlers`` (administrators do).
        """
        caller = self._caller().bypassing(reason)
        if not caller.is_system:
            self.security_service.refresh()
        self.security_service.check_bypass(caller)
        return self._acting(caller)

    def _acting(self, caller: Caller) -> XRM:
        view = copy.copy(self)
        view.caller = caller
        return view

    def _caller(self) -> Caller:
        if self.caller is None:
            raise AccessDenied(_NO_CALLER)
        return self.caller

    # -- services --------------------------------------------------------

    @property
    def metadata(self) -> MetadataGate:
        """Entity definitions; changes need the customize privilege."""
        return MetadataGate(self.metadata_service, self.security_service, self.caller)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugins this process can install and start (see docs/plugin-lifecycle.md)."""
        if self._plugin_manager is None:
            self._plugin_manager = make_plugin_manager()
        return self._plugin_manager

    def _install_core(self, caller: Caller) -> None:
        # Built-in plugins only: installing the core must not import every installed package.
        builtin = make_plugin_manager(load_entrypoints=False)
        # Here, not on every open: on a large audit log, making an index takes a while.
        with self.db.transaction() as conn:
            add_missing_indexes(conn)
        PluginService(self._acting(caller), builtin).ensure_core()

    @property
    def plugins(self) -> PluginService:
        """Install, upgrade, uninstall, enable and disable plugins (administrators only)."""
        return PluginService(self, self.plugin_manager)

    @property
    def security(self) -> SecurityService:
        """Users, roles, settings and explanations; managing them needs an administrator."""
        return self.security_service.bound(self.caller)

    @property
    def audit(self) -> AuditView:
        """The audit log as this XRM's caller may read it (see docs/audit.md)."""
        return AuditView(self.audit_log, self.security_service, self._caller())

    @property
    def auth(self) -> Authenticator:
        """Passwords, logins and API tokens; managing them acts as this XRM's caller."""
        from xrm_core.security.auth import Authenticator

        return Authenticator(
            self.db,
            self.metadata_service,
            self.security_service,
            self.caller,
            hasher=self.password_hasher,
        )

    @property
    def actions(self) -> ActionService:
        """Plugins' operations (``lead.qualify``), listed and run as this XRM's caller."""
        return ActionService(self.action_registry, self)

    @property
    def imports(self) -> Imports:
        """Streamed imports from CSV and JSON Lines, as this XRM's caller."""
        return Imports(self)

    @property
    def exports(self) -> Exports:
        """Streamed exports of any query to CSV or JSON Lines, as this XRM's caller."""
        return Exports(self)

    @property
    def webhooks(self) -> Webhooks:
        """Webhooks (see docs/webhooks.md); managing them needs an administrator."""
        return Webhooks(
            self.webhook_registry,
            self.outbox,
            self.caller,
            is_administrator=self.security_service.is_administrator,
            entity_exists=self.metadata_service.exists,
        )

    def records(self, entity: str, *, as_user: uuid.UUID | str | None = None) -> RecordService:
        """The record service of ``entity`` for this XRM's caller (or ``as_user``).

        Raises :class:`~xrm_core.errors.UnknownEntity`, and
        :class:`~xrm_core.errors.AccessDenied` when no caller is set.
        """
        if as_user is not None:
            return self.as_user(as_user).records(entity)
        return self._records_for(entity, self._caller())

    def _records_for(self, entity: str, caller: Caller) -> RecordService:
        # Webhooks another process changed apply here within a second.
        self.webhook_registry.refresh()
        return RecordService(
            self.db,
            self.metadata_service,
            entity,
            caller=caller,
            security=self.security_service,
            audit=self.audit_log,
            events=self.events,
            outbox=self.outbox,
        )

    def raise_event(
        self,
        name: str,
        *,
        data: Mapping[str, Any] | None = None,
        entity: str | None = None,
        record_id: uuid.UUID | None = None,
    ) -> Event:
        """Raise a domain event (``sales.opportunity.won``) as this XRM's caller.

        ``after`` subscribers run in the current unit of work (an error rolls it
        back); ``committed`` ones receive it from the outbox.
        """
        self.webhook_registry.refresh()
        return raise_event(
            self.db,
            self.events,
            self.outbox,
            self._caller(),
            name,
            data=data,
            entity=entity,
            record_id=record_id,
            reserved=self._names_a_record_change,
        )

    def _names_a_record_change(self, name: str) -> bool:
        entity, _, verb = name.partition(".")
        return verb in EVENT_NAMES.values() and self.metadata_service.exists(entity)

    def timeline(
        self, entity: str, record_id: uuid.UUID | str, *, limit: int = DEFAULT_LIMIT
    ) -> list[TimelineEntry]:
        """A record's timeline as this XRM's caller may see it, newest first.

        Its audit entries and what the started plugins add through
        ``xrm_timeline_entries`` (see :func:`xrm_core.timeline.record_timeline`).
        """
        return record_timeline(self, entity, record_id, limit=limit)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """A unit of work: every record call inside commits or rolls back together.

        ``write=False`` is for reads only: they share one connection (on SQLite,
        one snapshot) without taking the write lock, e.g. a page of many counts.
        """
        with self.db.transaction(write=write) as conn:
            yield conn

    def close(self) -> None:
        """Release database connections."""
        self.webhook_registry.close()
        self.db.dispose()


class MetadataGate:
    """The metadata service as one caller sees it: reads for all, changes checked."""

    def __init__(
        self, service: MetadataService, security: SecurityService, caller: Caller | None
    ) -> None:
        self.service = service
        self.security = security
        self.caller = caller

    # Reads: definitions are not secret (field security hides values, not fields).

    def get(self, name: str) -> EntityDefinition:
        """The definition of ``name``; raises :class:`UnknownEntity`."""
        return self.service.get(name)

    def entities(self) -> list[EntityDefinition]:
        """Every defined entity, by name."""
        return self.service.entities()

    def exists(self, name: str) -> bool:
        """True when ``name`` is defined."""
        return self.service.exists(name)

    def owner(self, name: str) -> str:
        """Who owns ``name``: ``core``, a plugin's name, or ``custom``."""
        return self.service.owner(name)

    def entity_version(self, name: str) -> int:
        """How many times ``name`` has been defined or changed."""
        return self.service.entity_version(name)

    def history(self, name: str) -> list[HistoryEntry]:
        """Every change of ``name``'s definition, oldest first."""
        return self.service.history(name)

    @property
    def catalog(self) -> Catalog:
        """The tables of the definitions in force."""
        return self.service.catalog

    @property
    def version(self) -> int:
        """The metadata version (changes with any definition)."""
        return self.service.version

    @property
    def export_dir(self) -> Path:
        """Where values dropped by schema changes are exported."""
        return self.service.export_dir

    def refresh(self) -> bool:
        """Reload definitions another process changed; True when it did."""
        return self.service.refresh()

    def plan(self, schemas: Schema | Sequence[Schema], *, renames: Renames | None = None) -> Plan:
        """What :meth:`define` would do (a dry run); needs the customize privilege.

        (A plan measures every record, permissions aside: values a conversion
        loses, duplicates a new key meets.)
        """
        self._customizer()
        check_core_parts(schemas, renames, self._is_core)
        schemas = titles_after_renames(schemas, renames)
        return self.service.plan(schemas, renames=renames)

    def plan_drop(self, name: str) -> Plan:
        """What :meth:`drop` would do (a dry run); needs the customize privilege."""
        self._customizer()
        return self.service.plan_drop(name)

    # Changes: the customize privilege, and the actor goes to the history and audit.

    def define(
        self,
        schemas: Schema | Sequence[Schema],
        *,
        renames: Renames | None = None,
        confirm: bool = False,
        owner: str = "custom",
    ) -> Plan:
        """Create or change entities (see :meth:`MetadataService.define`)."""
        actor = self._customizer()
        check_core_parts(schemas, renames, self._is_core)
        schemas = titles_after_renames(schemas, renames)
        return self.service.define(
            schemas, renames=renames, confirm=confirm, owner=owner, actor=actor
        )

    def drop(self, name: str, *, confirm: bool = False) -> Plan:
        """Drop an entity and its records (see :meth:`MetadataService.drop`)."""
        actor = self._customizer()
        if self.service.exists(name) and self.service.owner(name) == CORE:
            raise AccessDenied(f"{name!r} is a core entity: security depends on it")
        return self.service.drop(name, confirm=confirm, actor=actor)

    def _is_core(self, name: str) -> bool:
        return self.service.exists(name) and self.service.owner(name) == CORE

    def _customizer(self) -> Caller:
        if self.caller is None:
            raise AccessDenied(_NO_CALLER)
        if not self.security.may_customize(self.caller):
            raise AccessDenied("changing metadata needs a role with the customize privilege")
        return self.caller
