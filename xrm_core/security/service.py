"""The security service: principals, the predicates of every read, the checks of every write.

The record service asks it, for each call, what the caller may see
(:meth:`SecurityService.access`, a WHERE predicate) and whether a write is
allowed; interfaces never ask it directly.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import (
    AccessDenied,
    DeleteRestricted,
    Problem,
    RecordNotFound,
    RecordValidationError,
    pointer,
    shown,
)
from xrm_core.ids import as_uuid
from xrm_core.metadata.definition import EntityDefinition, Ownership
from xrm_core.metadata.service import MetadataService
from xrm_core.security.caller import Caller
from xrm_core.security.explain import Explanation, explain
from xrm_core.security.predicates import ALL, Access, Rule, RuleBuilder, access
from xrm_core.security.principal import PRIVILEGES, Hierarchy, Principal, Scope, load_principal
from xrm_core.security.tables import SHARE_PRIVILEGES, setting_table, share_table
from xrm_core.storage.database import Database
from xrm_core.storage.tables import state_table

if TYPE_CHECKING:
    from xrm_core.records.service import RecordService

#: Owner of the core's own entities in the metadata ledger.
CORE = "core"
#: The core entities, in the order they can be defined (lookups point backwards).
CORE_ENTITIES = (
    "business_unit",
    "role",
    "role_privilege",
    "user",
    "team",
    "field_security_profile",
    "field_permission",
)
ADMINISTRATOR, CUSTOMIZER, BASIC_USER = "System Administrator", "System Customizer", "Basic User"
_VERSION_KEY = "security"
#: Predicates kept per entity (users x privileges) before the cache starts over.
_ACCESS_CACHE = 4096

RecordsFactory = Callable[[str, Caller], "RecordService"]


def core_schemas() -> list[dict[str, Any]]:
    """The JSON Schema documents of the core entities, in definition order."""
    folder = resources.files("xrm_core") / "schemas" / "core"
    return [json.loads((folder / f"{name}.json").read_text()) for name in CORE_ENTITIES]


class SecurityService:
    """Roles, teams, shares and field permissions, for one database."""

    def __init__(
        self,
        db: Database,
        metadata: MetadataService,
        records: RecordsFactory,
        caller: Caller | None = None,
        *,
        state: _State | None = None,
    ) -> None:
        self.db = db
        self.metadata = metadata
        self._records = records
        #: Who manages security through this object (installs, creates users, settings).
        self.caller = caller
        self._state = state or _State()
        self._rules = self._state.rules
        self._principals = self._state.principals
        self._lock = self._state.lock

    def configure_refresh(
        self, *, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """How often to look for security changes made by other processes (seconds)."""
        self._state.interval = interval
        self._state.clock = clock

    def bound(self, caller: Caller | None) -> SecurityService:
        """The same service (same caches and rules) managed by ``caller``."""
        return SecurityService(self.db, self.metadata, self._records, caller, state=self._state)

    def _manager(self) -> Caller:
        """The caller, if it may manage security: the system context or an administrator."""
        if self.caller is None:
            raise AccessDenied(
                "no caller: manage security through xrm.as_system('why') or as an administrator"
            )
        if not self.is_administrator(self.caller):
            raise AccessDenied("managing security needs an administrator")
        return self.caller

    # -- installation ----------------------------------------------------

    @property
    def installed(self) -> bool:
        """True once the core entities exist."""
        return all(self.metadata.exists(name) for name in CORE_ENTITIES)

    def install(self) -> uuid.UUID:
        """Install the core — its entities, the root business unit and the built-in roles —
        or bring it to this version of xRM; returns the root business unit's id.

        The core is a plugin (``xrm_core.plugins.core``) and this runs its install or
        upgrade through the plugin lifecycle, so the core's entities change between
        versions the way any plugin's do, keeping an administrator's own fields and
        changes. Safe to call again.
        """
        actor = self._manager()
        if self._state.installer is None:
            raise RuntimeError("no core installer: open the database with XRM, which has one")
        self._state.installer(actor)
        return self.root_business_unit()

    def seed_organization(self) -> uuid.UUID:
        """The root business unit and the built-in roles, each made if missing (the core
        plugin's first data migration); returns the root unit's id."""
        actor = self._manager()
        with self.db.transaction():
            root = self._root_unit()
            if root is None:
                units = self._records("business_unit", actor)
                root = units.create({"name": "Organization"})["id"]
            for name, spec in _BUILTIN_ROLES.items():
                if self._find("role", "name", name) is None:
                    self.create_role(
                        name,
                        spec.get("privileges", ()),
                        description=spec["description"],
                        administrator=spec.get("administrator", False),
                        customize=spec.get("customize", False),
                        builtin=True,
                    )
        return uuid.UUID(str(root))

    def remember_token(self, token_hash: str, token: Any) -> None:
        """Keep a token found valid for the refresh interval (a second by default).

        A request then needs no token query; a token revoked or a user
        deactivated in another process stops working within that interval, as
        other security changes do (see ``refresh``); in this process at once.
        """
        with self._lock:
            if len(self._state.tokens) > 10_000:
                self._state.tokens.clear()
            self._state.tokens[token_hash] = (self._state.clock() + self._state.interval, token)

    def recall_token(self, token_hash: str) -> Any:
        """What :meth:`remember_token` kept for a token, unless it is stale (else None)."""
        self.refresh()
        found = self._state.tokens.get(token_hash)
        if found is None or found[0] <= self._state.clock():
            return None
        return found[1]

    def forget_tokens(self) -> None:
        """Forget every remembered token (one was revoked here)."""
        with self._lock:
            self._state.tokens.clear()

    def set_installer(self, installer: Callable[[Caller], object]) -> None:
        """What :meth:`install` calls, as its caller: the plugin lifecycle, which this
        layer may not import (it sits above security)."""
        self._state.installer = installer

    def _root_unit(self) -> uuid.UUID | None:
        units = self.metadata.catalog.table("business_unit")
        with self.db.transaction(write=False) as conn:
            found = conn.execute(
                sa.select(units.c.id).where(units.c.parent.is_(None)).order_by(units.c.id).limit(1)
            ).scalar()
        return found

    def create_role(
        self,
        name: str,
        privileges: Iterable[tuple[str, str, str]] = (),
        *,
        description: str = "",
        administrator: bool = False,
        customize: bool = False,
        builtin: bool = False,
        bypass_handlers: bool = False,
    ) -> uuid.UUID:
        """Create a role with its privileges, ``(entity or "*", privilege, scope)`` each."""
        actor = self._manager()
        # Named only when set, so roles can be made before install() adds the field.
        flags = {"bypass_handlers": True} if bypass_handlers else {}
        with self.db.transaction():
            role = self._records("role", actor).create(
                {
                    "name": name,
                    "description": description,
                    "administrator": administrator,
                    "customize": customize,
                    "builtin": builtin,
                    **flags,
                }
            )
            cells = [
                {"role": role["id"], "entity": entity, "privilege": privilege, "scope": scope}
                for entity, privilege, scope in privileges
            ]
            if cells:
                self._records("role_privilege", actor).create_many(cells)
        return uuid.UUID(str(role["id"]))

    def set_privileges(
        self, role_id: uuid.UUID | str, cells: Iterable[tuple[str, str, str]]
    ) -> None:
        """Set cells of a role's matrix, ``(entity or "*", privilege, scope)`` each: all or none.

        Scope ``none`` removes the cell (no cell grants nothing); cells not given
        stay as they are. Raises :class:`RecordValidationError` with a problem
        at ``/<entity>/<privilege>`` for each unknown entity, privilege or scope
        and each scope an organization-owned entity does not take (nothing is
        changed then); :class:`RecordNotFound` for an unknown role.
        """
        actor = self._manager()
        rid = as_uuid(role_id, "/role")
        wanted = {(entity, privilege): scope for entity, privilege, scope in cells}
        problems = [p for cell in wanted.items() for p in self._cell_problems(*cell)]
        if problems:
            raise RecordValidationError(
                "some privileges are not valid; nothing was changed", problems
            )
        stored = self._records("role_privilege", actor)
        with self.db.transaction():
            self._records("role", actor).get(rid, fields=["id"])
            existing = self._cells(stored, rid)
            for (entity, privilege), scope in wanted.items():
                found = existing.get((entity, privilege))
                if found is not None and scope == "none":
                    stored.delete(found)
                elif found is not None:
                    stored.update(found, {"scope": scope})
                elif scope != "none":
                    cell = {"role": rid, "entity": entity, "privilege": privilege, "scope": scope}
                    stored.create(cell)

    @staticmethod
    def _cells(stored: RecordService, role_id: uuid.UUID) -> dict[tuple[str, str], Any]:
        found: dict[tuple[str, str], Any] = {}
        cursor: str | None = None
        while True:
            page = stored.query(filter={"role": role_id}, limit=1000, cursor=cursor)
            found.update({(r["entity"], r["privilege"]): r["id"] for r in page})
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    def _cell_problems(self, cell: tuple[str, str], scope: str) -> list[Problem]:
        entity, privilege = cell
        where = pointer(str(entity), str(privilege))
        if not isinstance(entity, str):
            return [Problem(where, f"unknown entity {shown(entity)}")]
        if privilege not in PRIVILEGES:
            return [Problem(where, f"unknown privilege {shown(privilege)}")]
        if scope not in tuple(s.label for s in Scope):
            return [Problem(where, f"unknown scope {shown(scope)}")]
        try:
            self._check_privilege({"entity": entity, "scope": scope})
        except RecordValidationError as error:
            return [Problem(where, error.message)]
        return []

    def root_business_unit(self) -> uuid.UUID:
        """The business unit at the top of the tree."""
        root = self._root_unit()
        if root is None:
            raise RecordValidationError("security is not installed: call xrm.security.install()")
        return root

    def role_id(self, name: str) -> uuid.UUID:
        """The id of the role called ``name``."""
        found = self._find("role", "name", name)
        if found is None:
            raise RecordValidationError(f"no role called {name!r}", [Problem("/role", "unknown")])
        return found

    def create_user(
        self,
        username: str,
        *,
        business_unit: uuid.UUID | None = None,
        roles: Sequence[str] = (),
        teams: Sequence[uuid.UUID] = (),
        full_name: str = "",
        email: str | None = None,
        manager: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Create a user holding ``roles`` (by name) and member of ``teams``, in one step."""
        data: dict[str, Any] = {
            "username": username,
            "business_unit": business_unit or self.root_business_unit(),
            "full_name": full_name or username,
        }
        if email is not None:
            data["email"] = email
        if manager is not None:
            data["manager"] = manager
        actor = self._manager()
        with self.db.transaction():
            users = self._records("user", actor)
            uid: uuid.UUID = users.create(data)["id"]
            for role in roles:
                users.link(uid, "roles", self.role_id(role))
            for team in teams:
                self._records("team", actor).link(team, "members", uid)
        return uid

    def _find(self, entity: str, field: str, value: Any) -> uuid.UUID | None:
        table = self.metadata.catalog.table(entity)
        with self.db.transaction(write=False) as conn:
            found: uuid.UUID | None = conn.execute(
                sa.select(table.c.id).where(table.c[field] == value)
            ).scalar()
        return found

    # -- settings and rules ----------------------------------------------

    def configure_hierarchy(self, *, enabled: bool, depth: int = 1, update: bool = False) -> None:
        """Let managers read (and with ``update``, change) their reports' records."""
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 100:
            raise RecordValidationError(
                "the hierarchy depth is a whole number from 1 to 100",
                [Problem("/depth", "must be from 1 to 100")],
            )
        self._manager()
        value = {"enabled": bool(enabled), "depth": depth, "update": bool(update)}
        with self.db.transaction() as conn:
            t = setting_table
            if conn.execute(sa.select(t.c.key).where(t.c.key == "hierarchy")).first():
                conn.execute(t.update().where(t.c.key == "hierarchy").values(value=value))
            else:
                conn.execute(t.insert().values(key="hierarchy", value=value))
            self.changed(conn)

    def hierarchy(self, conn: Connection) -> Hierarchy:
        """The manager hierarchy setting."""
        t = setting_table
        value = conn.execute(sa.select(t.c.value).where(t.c.key == "hierarchy")).scalar()
        return Hierarchy(**value) if value else Hierarchy()

    def add_rule(
        self,
        entity: str,
        name: str,
        build: RuleBuilder,
        *,
        mode: Literal["grant", "restrict"] = "grant",
        privileges: Iterable[str] = ("read",),
    ) -> None:
        """Add a predicate to ``entity``'s permissions (the extension point for plugins).

        ``build(principal, table)`` returns a SQLAlchemy condition over the
        entity's table, or None when the rule does not concern that user.
        """
        wanted = frozenset(privileges)
        unknown = wanted - set(PRIVILEGES) - {"create"}
        if unknown or mode not in ("grant", "restrict"):
            raise ValueError(f"a rule takes privileges among {PRIVILEGES} and grant or restrict")
        rules = self._rules.setdefault(entity, [])
        if any(r.name == name for r in rules):
            raise ValueError(f"entity {entity!r} already has a rule called {name!r}")
        rules.append(Rule(name, entity, build, mode, wanted))

    def rules(self, entity: str) -> list[Rule]:
        """The rules plugins added to ``entity``."""
        return list(self._rules.get(entity, ()))

    # -- principals ------------------------------------------------------

    def changed(self, conn: Connection) -> None:
        """Note, in the caller's transaction, that roles, teams or units changed."""
        t = state_table
        done = conn.execute(
            t.update().where(t.c.key == _VERSION_KEY).values(value=t.c.value + 1)
        ).rowcount
        if not done:
            conn.execute(t.insert().values(key=_VERSION_KEY, value=1))
        with self._lock:
            self._principals.clear()
            self._state.tokens.clear()

    def refresh(self, *, force: bool = False) -> None:
        """Forget cached principals if another process changed security since.

        Looks at most once per :attr:`refresh_interval` seconds (unless
        ``force``): a change made in another process applies here within that
        time, one made in this process at once.
        """
        now = self._state.clock()
        if not force and now - self._state.checked_at < self._state.interval:
            return
        self._state.checked_at = now
        t = state_table
        with self.db.transaction(write=False) as conn:
            version = conn.execute(sa.select(t.c.value).where(t.c.key == _VERSION_KEY)).scalar()
        version = version or 0
        if version != self._state.version:
            with self._lock:
                self._principals.clear()
                self._state.tokens.clear()
                self._state.version = version

    def principal(self, caller: Caller) -> Principal:
        """The resolved rights of a user caller; raises AccessDenied for an unknown user."""
        if caller.user_id is None:
            raise ValueError("the system context has no principal")
        found = self._principals.get(caller.user_id)
        if found is not None:
            return found
        if not self.installed:
            raise AccessDenied("security is not installed: call xrm.security.install() first")
        with self.db.transaction(write=False) as conn:
            loaded = load_principal(
                conn, self.metadata.catalog, caller.user_id, self.hierarchy(conn)
            )
        if loaded is None:
            raise AccessDenied(f"no user with id {caller.user_id}")
        with self._lock:
            self._principals[caller.user_id] = loaded
        return loaded

    def is_administrator(self, caller: Caller) -> bool:
        """True for the system context and holders of an administrator role."""
        return caller.is_system or self.principal(caller).administrator

    def may_customize(self, caller: Caller) -> bool:
        """True when ``caller`` may change metadata."""
        return caller.is_system or self.principal(caller).customize

    def may_bypass_handlers(self, caller: Caller) -> bool:
        """True when ``caller`` may skip plugins' synchronous handlers (system, or the flag)."""
        return caller.is_system or self.principal(caller).bypass_handlers

    def check_bypass(self, caller: Caller) -> None:
        """Raise :class:`AccessDenied` when ``caller`` bypasses handlers without the privilege."""
        if caller.bypass and not self.may_bypass_handlers(caller):
            raise AccessDenied(
                "bypassing handlers needs the system context or a role with bypass_handlers",
                details={"privilege": "bypass_handlers"},
            )

    # -- reads -----------------------------------------------------------

    def access(
        self,
        caller: Caller,
        definition: EntityDefinition,
        privilege: str,
        table: sa.FromClause | None = None,
    ) -> Access:
        """The predicate of the records ``caller`` may ``privilege`` (see predicates),
        over the entity's table or ``table``, an alias of it."""
        if caller.is_system:
            return ALL
        principal = self.principal(caller)
        rules = self._rules.get(definition.name, ())
        if table is not None or rules:
            table = self.metadata.catalog.table(definition.name) if table is None else table
            return access(principal, definition, table, privilege, rules)
        # A user's predicate changes only with their principal and the entity's
        # definition: built once for both, as it is most of a read's own work.
        cache: dict[tuple[uuid.UUID, str], tuple[Principal, Access]]
        cache = self.metadata.derived(definition.name, "access", lambda _: {})
        found = cache.get((principal.user_id, privilege))
        if found is not None and found[0] is principal:
            return found[1]
        built = access(
            principal, definition, self.metadata.catalog.table(definition.name), privilege
        )
        if len(cache) >= _ACCESS_CACHE:
            cache.clear()
        cache[principal.user_id, privilege] = (principal, built)
        return built

    def unreadable_fields(self, caller: Caller, entity: str) -> frozenset[str]:
        """Secured fields of ``entity`` that ``caller`` may not read."""
        if caller.is_system:
            return frozenset()
        secured = self.metadata.derived(entity, "secured", _secured)
        if not secured:
            return secured
        principal = self.principal(caller)
        return frozenset(n for n in secured if not principal.field_access(entity, n).read)

    def unwritable_fields(
        self, caller: Caller, entity: str, operation: Literal["create", "update"]
    ) -> frozenset[str]:
        """Secured fields of ``entity`` that ``caller`` may not ``operation``.

        The fields :meth:`check_fields` would refuse, asked beforehand (a form
        shows them read-only). Raises ``ValueError`` for another operation.
        """
        if operation not in ("create", "update"):
            raise ValueError(f"operation must be 'create' or 'update', not {operation!r}")
        if caller.is_system:
            return frozenset()
        secured = self.metadata.derived(entity, "secured", _secured)
        if not secured:
            return secured
        principal = self.principal(caller)
        return frozenset(
            n for n in secured if not getattr(principal.field_access(entity, n), operation)
        )

    def check_fields(
        self, caller: Caller, definition: EntityDefinition, names: Iterable[str], operation: str
    ) -> None:
        """Refuse a write that touches secured fields ``caller`` may not ``operation``."""
        if caller.is_system:
            return
        secured = self.metadata.derived(definition.name, "secured", _secured)
        if not secured:
            return
        principal = self.principal(caller)
        refused = [
            n
            for n in names
            if n in secured and not getattr(principal.field_access(definition.name, n), operation)
        ]
        if refused:
            raise AccessDenied(
                f"you may not {operation} the secured field(s) {', '.join(refused)} "
                f"of {definition.name!r}",
                [Problem(pointer(n), f"secured: no permission to {operation}") for n in refused],
                {"fields": refused},
            )

    def can(self, caller: Caller, entity: str, record_id: uuid.UUID | str, privilege: str) -> bool:
        """True when ``caller`` may ``privilege`` the record (the per-record check).

        Through a user's view, only about themself (an administrator: about anyone).
        """
        self._may_ask_about(caller.user_id)
        definition = self.metadata.get(entity)
        allowed = self.access(caller, definition, privilege)
        table = self.metadata.catalog.table(entity)
        query = sa.select(table.c.id).where(table.c.id == as_uuid(record_id))
        if allowed.where is not None:
            query = query.where(allowed.where)
        with self.db.transaction(write=False) as conn:
            return conn.execute(query, allowed.params).first() is not None

    # -- writes ----------------------------------------------------------

    def owner_units(
        self, conn: Connection, owners: Iterable[tuple[str, uuid.UUID]]
    ) -> dict[uuid.UUID, uuid.UUID | None]:
        """Owner id -> business unit, for users and teams; unknown owners are left out."""
        found: dict[uuid.UUID, uuid.UUID | None] = {}
        wanted: dict[str, list[uuid.UUID]] = {"user": [], "team": []}
        for kind, oid in owners:
            wanted[kind].append(oid)
        for kind, ids in wanted.items():
            if ids and self.metadata.exists(kind):
                table = self.metadata.catalog.table(kind)
                for oid, unit in conn.execute(
                    sa.select(table.c.id, table.c.business_unit).where(table.c.id.in_(ids))
                ):
                    found[oid] = unit
        return found

    def check_create(
        self, conn: Connection, caller: Caller, definition: EntityDefinition, rows: Sequence[Any]
    ) -> None:
        """Refuse new rows (owner already filled in) that ``caller`` may not create."""
        if caller.is_system:
            return
        principal = self.principal(caller)
        if principal.administrator:
            return
        grant = principal.grant(definition.name, "create")
        if not principal.active or grant.scope is Scope.NONE:
            raise _denied(definition.name, "create")
        if definition.ownership is Ownership.ORGANIZATION:
            if grant.scope is not Scope.ORGANIZATION:
                raise _denied(definition.name, "create")
            return
        for row in rows:
            if not reaches(principal, grant.scope, row["owner_id"], row["business_unit_id"]):
                raise AccessDenied(
                    f"you may not create {definition.name!r} records owned by "
                    f"{row['owner_type']} {row['owner_id']} (your create scope is "
                    f"{grant.scope.label})",
                    [Problem("/owner_id", "outside your create scope")],
                )

    def check_owner_change(
        self, caller: Caller, definition: EntityDefinition, owner_id: uuid.UUID, unit: Any
    ) -> None:
        """Refuse assigning to an owner outside the caller's assign scope."""
        if caller.is_system:
            return
        principal = self.principal(caller)
        grant = principal.grant(definition.name, "assign")
        if not principal.administrator and not reaches(principal, grant.scope, owner_id, unit):
            raise AccessDenied(
                f"you may not assign {definition.name!r} records to {owner_id} "
                f"(your assign scope is {grant.scope.label})",
                [Problem("/owner_id", "outside your assign scope")],
            )

    def check_core_record(
        self,
        conn: Connection,
        entity: str,
        record: Mapping[str, Any],
        before: Mapping[str, Any] | None = None,
    ) -> None:
        """Rules of the core entities that JSON Schema cannot state.

        ``before`` is the record as it was, for an update.
        """
        if entity == "role_privilege":
            self._check_privilege(record)
        elif entity == "business_unit":
            self._check_unit(conn, record)
        elif entity == "role" and before is not None:
            _check_builtin_role(record, before)

    def check_core_delete(self, conn: Connection, entity: str, ids: Sequence[uuid.UUID]) -> None:
        """Refuse deleting records the core finds by name (the built-in roles)."""
        if entity != "role":
            return
        roles = self.metadata.catalog.table("role")
        found = conn.execute(
            sa.select(roles.c.name).where(roles.c.id.in_(ids), roles.c.builtin.is_(True))
        ).scalars()
        for name in found:
            raise DeleteRestricted(
                f"role {name!r} is built in: the core finds it by its name, so it stays",
                [Problem("/", "a built-in role cannot be deleted")],
            )

    def role_protection(self, role: Mapping[str, Any]) -> str:
        """Why the core keeps ``role``'s name and refuses to delete it; "" when it does not.

        ``role`` is a ``role`` record as read. The rule is the one
        :meth:`check_core_record` and :meth:`check_core_delete` enforce (a
        built-in role is found by its name), so a page can say so up front.
        """
        if role.get("builtin"):
            return "It is a built-in role: the core finds it by its name."
        return ""

    def _check_privilege(self, record: Mapping[str, Any]) -> None:
        target = record.get("entity")
        if target == "*" or target is None:
            return
        if not self.metadata.exists(target):
            raise RecordValidationError(
                f"no entity called {target!r}", [Problem("/entity", "unknown entity")]
            )
        scope = record.get("scope")
        organization_owned = self.metadata.get(target).ownership is Ownership.ORGANIZATION
        if organization_owned and scope not in ("none", "organization"):
            raise RecordValidationError(
                f"{target!r} is organization-owned: its privileges take none or organization",
                [Problem("/scope", "must be none or organization")],
            )

    def _check_unit(self, conn: Connection, record: Mapping[str, Any]) -> None:
        units = self.metadata.catalog.table("business_unit")
        tree = dict(conn.execute(sa.select(units.c.id, units.c.parent)).all())
        tree[record["id"]] = record.get("parent")
        if record.get("parent") is None:
            if any(parent is None for uid, parent in tree.items() if uid != record["id"]):
                raise RecordValidationError(
                    "the organization has one root business unit; give this one a parent",
                    [Problem("/parent", "is required")],
                )
            return
        seen, node = {record["id"]}, record.get("parent")
        while node is not None:
            if node in seen:
                raise RecordValidationError(
                    "a business unit cannot be below itself",
                    [Problem("/parent", "would make a cycle")],
                )
            seen.add(node)
            node = tree.get(node)

    def _may_ask_about(self, user_id: uuid.UUID | None) -> None:
        """A user's view answers questions about that user only; an administrator's, any."""
        if self.caller is None or self.caller.user_id in (None, user_id):
            return
        if not self.is_administrator(self.caller):
            raise AccessDenied("only an administrator may ask about another user's access")

    def explain(
        self, user_id: uuid.UUID | str, entity: str, record_id: uuid.UUID | str, privilege: str
    ) -> Explanation:
        """Whether a user may ``privilege`` a record, and every reason why (or why not)."""
        if privilege not in PRIVILEGES or privilege == "create":
            raise RecordValidationError(
                f"explain takes one of {', '.join(p for p in PRIVILEGES if p != 'create')}",
                [Problem("/privilege", "unknown privilege")],
            )
        rid = as_uuid(record_id)
        caller = Caller.user(as_uuid(user_id, "/user_id"))
        self._may_ask_about(caller.user_id)
        if self.caller is not None and not self.can(self.caller, entity, rid, "read"):
            raise RecordNotFound(f"no {entity} with id {rid}")  # ids say nothing
        principal = self.principal(caller)
        definition = self.metadata.get(entity)
        table = self.metadata.catalog.table(entity)
        with self.db.transaction(write=False) as conn:
            row = conn.execute(sa.select(table).where(table.c.id == rid)).mappings().first()
            if row is None:
                raise RecordNotFound(f"no {entity} with id {rid}")
            shares = [
                dict(r)
                for r in conn.execute(
                    sa.select(share_table).where(
                        share_table.c.entity == entity, share_table.c.record_id == rid
                    )
                ).mappings()
            ]
            rules = []
            for rule in self._rules.get(entity, ()):
                built = rule.build(principal, table) if privilege in rule.privileges else None
                if built is not None:
                    hit = conn.execute(
                        sa.select(table.c.id).where(table.c.id == rid, built)
                    ).first()
                    rules.append((rule, hit is not None))
        return explain(principal, definition, dict(row), shares, privilege, rules)


def reaches(principal: Principal, scope: Scope, owner_id: Any, unit: Any) -> bool:
    """True when a record owned by ``owner_id`` in ``unit`` is within ``scope``."""
    if scope is Scope.ORGANIZATION:
        return True
    if scope is Scope.SUBTREE and unit in principal.subtree:
        return True
    if scope is Scope.BUSINESS_UNIT and unit is not None and unit == principal.business_unit_id:
        return True
    return scope >= Scope.OWN and owner_id in principal.owners


def _secured(definition: EntityDefinition) -> frozenset[str]:
    return frozenset(f.name for f in definition.fields if f.secured)


def _denied(entity: str, privilege: str) -> AccessDenied:
    return AccessDenied(
        f"you do not have the {privilege} privilege on {entity!r}",
        details={"entity": entity, "privilege": privilege},
    )


@dataclass
class _State:
    """What every bound copy of a security service shares."""

    rules: dict[str, list[Rule]] = field(default_factory=dict)
    principals: dict[uuid.UUID, Principal] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    version: int = -1
    #: When the version was last compared (``clock`` seconds).
    checked_at: float = float("-inf")
    #: Seconds between two looks at the security version (see ``refresh``).
    interval: float = 1.0
    clock: Callable[[], float] = time.monotonic
    #: API tokens recently found valid: token hash → (until, user id); see ``remember_token``.
    tokens: dict[str, tuple[float, Any]] = field(default_factory=dict)
    #: Installs or upgrades the core plugin (set by XRM; see ``install``).
    installer: Callable[[Caller], object] | None = None


_ALL = ("create", "read", "update", "delete", "assign", "share")
_BUILTIN_ROLES: dict[str, dict[str, Any]] = {
    ADMINISTRATOR: {
        "description": "Every privilege on every record and field; may change metadata.",
        "administrator": True,
    },
    CUSTOMIZER: {
        "description": "May change metadata; reads the security entities, not business data.",
        "customize": True,
        "privileges": [
            (e, "read", "organization")
            for e in ("business_unit", "role", "role_privilege", "user", "team")
        ],
    },
    BASIC_USER: {
        "description": "Works with their own records; sees colleagues, teams and units.",
        "privileges": [
            *(("*", p, "own") for p in _ALL),
            *((e, "read", "organization") for e in ("business_unit", "user", "team")),
        ],
    },
}

__all__ = ["SHARE_PRIVILEGES", "SecurityService"]


def _check_builtin_role(record: Mapping[str, Any], before: Mapping[str, Any]) -> None:
    # The core (and every install or upgrade) finds its roles by name.
    problems = []
    if before.get("builtin") and record.get("name") != before.get("name"):
        problems.append(Problem("/name", "a built-in role keeps its name"))
    if bool(record.get("builtin")) != bool(before.get("builtin")):
        problems.append(Problem("/builtin", "is set when the core makes the role, never after"))
    if problems:
        raise RecordValidationError(f"role {before.get('name')!r} cannot change so", problems)
