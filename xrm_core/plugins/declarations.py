"""What plugins declare through the hooks: small frozen values, checked when built.

A declaration refuses a bad value as soon as it is constructed, with an
:class:`~xrm_core.errors.InvalidDeclaration` whose problems point at the
attribute at fault (``/stage``); :func:`xrm_core.plugins.contributions` adds the
plugin and the hook to the message. What needs other plugins or the database to
check (does the extended entity exist? is the field valid?) is checked when the
plugin is installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel

from xrm_core.declaring import name_problems, refuse
from xrm_core.errors import Problem, pointer
from xrm_core.records._changes import EVENT_NAMES
from xrm_core.security.principal import PRIVILEGES, Scope

if TYPE_CHECKING:
    from xrm_core.xrm import XRM

#: When a data migration runs, relative to the schema sync of an install or upgrade.
Phase = Literal["before", "after"]
PHASES: tuple[Phase, ...] = get_args(Phase)
SCOPES = tuple(s.label for s in Scope)

#: ``handler(context, record_id, data)``: the :class:`~xrm_core.actions.ActionContext`,
#: the record's id (None for a collection action) and the validated input model;
#: returns the output model (or a mapping that validates as one).
ActionHandler = Callable[..., BaseModel | Mapping[str, Any]]
#: What an action works on: one record (``lead.qualify``) or the entity as a whole
#: (``lead.import_list``).
ActionTarget = Literal["record", "collection"]
ACTION_TARGETS: tuple[ActionTarget, ...] = get_args(ActionTarget)
#: Runs a data migration with a system-context XRM inside the install transaction.
MigrationHandler = Callable[["XRM"], object]

_MIGRATION_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*")


@dataclass(frozen=True)
class EntityExtension:
    """Fields and many-to-many relationships added to an entity another plugin owns.

    ``properties`` are field schemas exactly as in an entity definition,
    ``required`` names some of them (kept as a tuple), ``relationships`` are
    ``x-xrm`` many-to-many relationships (kept as a tuple). The extended entity
    must belong to one of the plugin's dependencies; the ownership ledger records
    the added parts as the extender's.
    """

    entity: str
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    required: Sequence[str] = ()
    relationships: Sequence[Mapping[str, Any]] = field(default=(), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "required", tuple(self.required))
        object.__setattr__(self, "relationships", tuple(self.relationships))
        problems = name_problems("/entity", self.entity, "entity name")
        if not isinstance(self.properties, Mapping):
            problems.append(Problem("/properties", "must map field names to field schemas"))
            props: Mapping[str, Any] = {}
        else:
            props = self.properties
        for name, schema in props.items():
            problems += name_problems(pointer("properties", name), name, "field name")
            if not isinstance(schema, Mapping):
                problems.append(Problem(pointer("properties", name), "must be a field schema"))
        for i, name in enumerate(self.required):
            if name not in props:
                problems.append(
                    Problem(pointer("required", i), f"required field {name!r} is not added here")
                )
        for i, rel in enumerate(self.relationships):
            if not isinstance(rel, Mapping):
                problems.append(Problem(pointer("relationships", i), "must be an object"))
                continue
            problems += name_problems(
                pointer("relationships", i, "name"), rel.get("name"), "relationship name"
            )
            problems += name_problems(
                pointer("relationships", i, "target"), rel.get("target"), "target entity"
            )
        if not props and not self.relationships:
            problems.append(Problem("", "an extension adds at least one field or relationship"))
        refuse(f"extension of {self.entity!r}", problems)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EntityExtension:
        """Build an extension from its JSON form (``{"entity": ..., "properties": ...}``)."""
        known = {"entity", "properties", "required", "relationships"}
        unknown = sorted(set(doc) - known)
        refuse("extension", [Problem(pointer(key), f"unknown key {key!r}") for key in unknown])
        if "entity" not in doc:
            refuse("extension", [Problem("", "missing required key 'entity'")])
        return cls(
            entity=doc["entity"],
            properties=doc.get("properties", {}),
            required=tuple(doc.get("required", ())),
            relationships=tuple(doc.get("relationships", ())),
        )


@dataclass(frozen=True)
class RolePrivilege:
    """One cell of a role's matrix: ``privilege`` on ``entity`` (``*`` = every entity) at
    ``scope`` (``none``, ``own``, ``business_unit``, ``subtree``, ``organization``)."""

    entity: str
    privilege: str
    scope: str

    def problems(self, at: str = "") -> list[Problem]:
        """What is wrong with this cell, pointed at from ``at``."""
        found = [] if self.entity == "*" else name_problems(f"{at}/entity", self.entity, "entity")
        if self.privilege not in PRIVILEGES:
            found.append(
                Problem(
                    f"{at}/privilege",
                    f"unknown privilege {self.privilege!r}; one of {', '.join(PRIVILEGES)}",
                )
            )
        if self.scope not in SCOPES:
            found.append(
                Problem(f"{at}/scope", f"unknown scope {self.scope!r}; one of {', '.join(SCOPES)}")
            )
        return found

    def __post_init__(self) -> None:
        refuse("role privilege", self.problems())


@dataclass(frozen=True)
class RoleSpec:
    """A role a plugin ships (``Sales Manager``), with its privileges.

    ``privileges`` takes :class:`RolePrivilege` cells or ``(entity, privilege,
    scope)`` tuples. Administrators may change the role after install; their
    changes survive upgrades.
    """

    name: str
    description: str = ""
    privileges: tuple[RolePrivilege, ...] = ()

    def __init__(
        self,
        name: str,
        description: str = "",
        privileges: Iterable[RolePrivilege | tuple[str, str, str]] = (),
    ) -> None:
        cells = tuple(p if isinstance(p, RolePrivilege) else _cell(p) for p in privileges)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "privileges", cells)
        problems = []
        if not isinstance(name, str) or not name.strip() or len(name) > 160:
            problems.append(Problem("/name", "a role name is 1 to 160 characters"))
        seen: set[tuple[str, str]] = set()
        for i, cell in enumerate(cells):
            if (cell.entity, cell.privilege) in seen:
                problems.append(
                    Problem(
                        pointer("privileges", i),
                        f"{cell.privilege!r} on {cell.entity!r} is given twice",
                    )
                )
            seen.add((cell.entity, cell.privilege))
        refuse(f"role {name!r}", problems)


def _cell(value: tuple[str, str, str]) -> RolePrivilege:
    if not isinstance(value, tuple) or len(value) != 3:
        refuse("role", [Problem("/privileges", f"{value!r} is not (entity, privilege, scope)")])
    return RolePrivilege(*value)


@dataclass(frozen=True)
class Action:
    """An operation on an entity's records (``lead.qualify``), or on the entity as a whole.

    ``on="record"`` (the default) runs on one record: the caller needs
    ``privilege`` on that record. ``on="collection"`` runs on no record in
    particular (``lead.import_list``): the caller needs ``privilege`` on the
    entity at some scope. The core validates the input with ``input_model``,
    runs ``handler(context, record_id, data)`` in one transaction as the caller
    (through the event pipeline and the audit log), checks what it returns
    against ``output_model``, raises the event ``entity.name``, and exposes the
    action to REST, GraphQL and the CLI (see :mod:`xrm_core.actions`).
    """

    entity: str
    name: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    handler: ActionHandler
    privilege: str = "update"
    description: str = ""
    on: ActionTarget = "record"

    def __post_init__(self) -> None:
        problems = name_problems("/entity", self.entity, "entity name")
        problems += name_problems("/name", self.name, "action name")
        if self.name in EVENT_NAMES.values():
            # The action's event is ``entity.name``: it must not pass for a record change.
            problems.append(
                Problem("/name", f"{self.name!r} names a record change event; choose another")
            )
        for attr in ("input_model", "output_model"):
            model = getattr(self, attr)
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                problems.append(Problem(f"/{attr}", "must be a pydantic model class"))
        if not callable(self.handler):
            problems.append(Problem("/handler", "must be callable"))
        if self.privilege not in PRIVILEGES:
            problems.append(
                Problem(
                    "/privilege",
                    f"unknown privilege {self.privilege!r}; one of {', '.join(PRIVILEGES)}",
                )
            )
        if self.on not in ACTION_TARGETS:
            problems.append(
                Problem("/on", f"unknown target {self.on!r}; one of {', '.join(ACTION_TARGETS)}")
            )
        if not isinstance(self.description, str):
            problems.append(Problem("/description", "must be text"))
        refuse(f"action {self.entity}.{self.name}", problems)

    @property
    def qualified_name(self) -> str:
        """``entity.name``, as events, URLs and the CLI call it."""
        return f"{self.entity}.{self.name}"


@dataclass(frozen=True)
class AdminPanel:
    """A page a plugin adds to the admin UI.

    ``endpoint`` is a Starlette endpoint (or ASGI app) the admin UI mounts under
    the plugin's name. With ``entity`` the panel shows on that entity's pages, to
    those who may read it; without, in the main menu. Panels sort by ``order``.
    """

    name: str
    title: str
    endpoint: Callable[..., Any]
    entity: str | None = None
    order: int = 0

    def __post_init__(self) -> None:
        problems = name_problems("/name", self.name, "panel name")
        if not isinstance(self.title, str) or not self.title.strip():
            problems.append(Problem("/title", "must not be empty"))
        if not callable(self.endpoint):
            problems.append(Problem("/endpoint", "must be callable"))
        if self.entity is not None:
            problems += name_problems("/entity", self.entity, "entity name")
        refuse(f"admin panel {self.name!r}", problems)


@dataclass(frozen=True)
class Migration:
    """A data migration, run once per database when the plugin is installed or upgraded.

    ``phase`` says whether it runs ``before`` the schema sync (while the old
    fields still exist) or ``after`` it (when the new ones do). Migrations of one
    phase run in the order the plugin lists them; each is logged under the
    plugin's name and ``id`` and never runs twice.

    ``safety`` is how the install plan shows it: ``breaking`` (the default: it
    changes data), ``safe`` (it only adds, such as default records) or
    ``destructive`` (it removes data; the plan then needs confirming).
    """

    id: str
    phase: Phase
    handler: MigrationHandler
    description: str = ""
    safety: Literal["safe", "breaking", "destructive"] = "breaking"

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.id, str) or not _MIGRATION_ID.fullmatch(self.id):
            problems.append(
                Problem("/id", f"bad migration id {self.id!r}: lower case, digits, _ . -")
            )
        elif len(self.id) > 100:
            problems.append(Problem("/id", "at most 100 characters"))
        if self.phase not in PHASES:
            problems.append(Problem("/phase", f"unknown phase {self.phase!r}; before or after"))
        if not callable(self.handler):
            problems.append(Problem("/handler", "must be callable"))
        if self.safety not in ("safe", "breaking", "destructive"):
            problems.append(
                Problem("/safety", f"unknown safety {self.safety!r}; safe, breaking or destructive")
            )
        refuse(f"migration {self.id!r}", problems)
