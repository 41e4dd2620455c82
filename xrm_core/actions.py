"""Actions: operations plugins declare (``lead.qualify``), run one way for every interface.

A plugin declares an :class:`~xrm_core.plugins.Action` through the ``xrm_actions``
hook; :func:`~xrm_core.plugins.start` registers it in the XRM's
:class:`ActionRegistry`, owned by the plugin. ``xrm.actions`` is that registry as
one caller sees it (:class:`ActionService`): REST, GraphQL and the CLI list and
run actions through it, so every interface gets the same input validation,
permission check, transaction, event and audit trail, and no plugin writes an
endpoint of its own.

A run, in order: the input is validated with the action's input model
(:class:`~xrm_core.errors.InvalidActionInput`, nothing changed); the caller's
privilege is checked (on the record, or on the entity for a collection action);
then, in one unit of work, the record is locked, the handler runs with an XRM
acting as the same caller, its result is checked against the output model
(:class:`~xrm_core.errors.InvalidActionOutput`) and the event ``entity.name`` is
raised. Any error rolls the whole unit back, even inside a caller's own
transaction (the run is a savepoint).
"""

from __future__ import annotations

import builtins
import difflib
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic
import sqlalchemy as sa
from pydantic.errors import PydanticUserError
from pydantic_core import PydanticSerializationError
from sqlalchemy.engine import Connection

from xrm_core.errors import (
    AccessDenied,
    InvalidActionInput,
    InvalidActionOutput,
    InvalidDeclaration,
    Problem,
    RecordNotFound,
    UnknownAction,
    XRMError,
    pointer,
)
from xrm_core.ids import as_uuid
from xrm_core.plugins.declarations import Action, ActionTarget
from xrm_core.records.results import Record
from xrm_core.security.principal import Scope

if TYPE_CHECKING:
    from xrm_core.records.service import RecordService
    from xrm_core.xrm import XRM


@dataclass(frozen=True)
class RegisteredAction:
    """An action as a process knows it: the declaration, its owner, its JSON Schemas.

    ``input_schema`` and ``output_schema`` are the JSON Schemas of the input and
    output models (what OpenAPI and GraphQL are generated from).
    """

    action: Action
    #: The plugin that declared it, or ``custom``.
    owner: str
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any]

    @property
    def qualified_name(self) -> str:
        """``entity.name`` (``lead.qualify``)."""
        return self.action.qualified_name

    @property
    def on(self) -> ActionTarget:
        """``record`` or ``collection``."""
        return self.action.on

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, the same for every interface."""
        action = self.action
        return {
            "name": action.qualified_name,
            "entity": action.entity,
            "action": action.name,
            "on": action.on,
            "privilege": action.privilege,
            "description": action.description,
            "owner": self.owner,
            "input_schema": dict(self.input_schema),
            "output_schema": dict(self.output_schema),
        }


class ActionRegistry:
    """Every action of one process, by qualified name (as the event bus holds subscribers)."""

    def __init__(self) -> None:
        self._actions: dict[str, RegisteredAction] = {}
        self._lock = threading.Lock()

    def register(self, action: Action, *, owner: str = "custom") -> RegisteredAction:
        """Add ``action``, owned by ``owner``; its qualified name must be new.

        Raises :class:`~xrm_core.errors.InvalidDeclaration` for a name taken
        already, or models that have no JSON Schema.
        """
        self.register_all({owner: [action]})
        return self._actions[action.qualified_name]

    def register_all(self, declared: Mapping[str, Sequence[Action]]) -> None:
        """Add the actions of several owners (plugin name → actions), all or none.

        Raises :class:`~xrm_core.errors.InvalidDeclaration` naming both owners
        when two declare one name, or one declares a name registered already.
        """
        entries = [_registered(a, owner) for owner, actions in declared.items() for a in actions]
        with self._lock:
            seen = dict(self._actions)
            for entry in entries:
                taken = seen.get(entry.qualified_name)
                if taken is not None:
                    raise _duplicate(entry, taken)
                seen[entry.qualified_name] = entry
            self._actions = seen

    def unregister(self, qualified_name: str) -> None:
        """Remove the action called ``qualified_name`` (nothing if there is none)."""
        with self._lock:
            self._actions = {k: v for k, v in self._actions.items() if k != qualified_name}

    def get(self, qualified_name: str) -> RegisteredAction:
        """The action called ``qualified_name``; raises :class:`~xrm_core.errors.UnknownAction`."""
        found = self._actions.get(qualified_name) if isinstance(qualified_name, str) else None
        if found is None:
            raise _unknown(qualified_name, builtins.list(self._actions))
        return found

    def all(self, entity: str | None = None) -> builtins.list[RegisteredAction]:
        """Every action (of ``entity``, if given), by qualified name."""
        return sorted(
            (a for a in self._actions.values() if entity is None or a.action.entity == entity),
            key=lambda a: a.qualified_name,
        )


@dataclass(frozen=True)
class ActionContext:
    """What a handler gets besides its input: who runs it, on what, in which unit of work.

    ``xrm`` acts as the caller who runs the action, inside the action's
    transaction: the handler's record calls are checked against the caller's
    permissions, audited as theirs under one correlation id, and roll back with
    the action.
    """

    xrm: XRM
    action: Action
    #: The record the action runs on; None for a collection action.
    record_id: uuid.UUID | None

    def records(self, entity: str | None = None) -> RecordService:
        """The record service of ``entity`` (default: the action's) for the caller."""
        return self.xrm.records(entity or self.action.entity)

    def record(self) -> Record:
        """The record the action runs on, as the caller reads it."""
        if self.record_id is None:
            raise ValueError(f"{self.action.qualified_name} runs on no record in particular")
        return self.records().get(self.record_id)


class ActionService:
    """The actions as one caller lists and runs them: ``xrm.actions``."""

    def __init__(self, registry: ActionRegistry, xrm: XRM) -> None:
        self.registry = registry
        self.xrm = xrm

    def register(self, action: Action, *, owner: str = "custom") -> RegisteredAction:
        """Add an action that no plugin declares (see :meth:`ActionRegistry.register`)."""
        return self.registry.register(action, owner=owner)

    def list(self, entity: str | None = None) -> builtins.list[RegisteredAction]:
        """Every action (of ``entity``, if given), by name, with its input and output schemas.

        Which actions exist is no secret (as entity definitions are not); whether
        the caller may run one is decided per run.
        """
        return self.registry.all(entity)

    def get(self, qualified_name: str) -> RegisteredAction:
        """The action called ``qualified_name`` (``lead.qualify``); raises ``UnknownAction``."""
        return self.registry.get(qualified_name)

    def run(
        self,
        qualified_name: str,
        record_id: uuid.UUID | str | None = None,
        data: Mapping[str, Any] | pydantic.BaseModel | None = None,
    ) -> pydantic.BaseModel:
        """Run an action as this XRM's caller; return its output model.

        ``record_id`` is required for a record action and refused for a
        collection action; ``data`` is a mapping (or an instance of the input
        model; None is ``{}``). Raises :class:`UnknownAction`,
        :class:`UnknownEntity` (the action's entity is not installed),
        :class:`InvalidActionInput`, :class:`RecordNotFound` (also for a record
        the caller cannot read), :class:`AccessDenied`, whatever the handler
        raises, and :class:`InvalidActionOutput`; after any of them nothing
        the action did remains.
        """
        registered = self.get(qualified_name)
        action = registered.action
        records = self.xrm.records(action.entity)  # no caller or no entity: refused here
        rid = _target(action, record_id)
        given = _input(action, data)
        if rid is None:
            _require_privilege(records, action.privilege)
        with self.xrm.db.transaction() as conn:
            savepoint = conn.begin_nested()
            try:
                if rid is not None:
                    _lock_record(records, conn, rid, action.privilege)
                output, dumped = self._call(registered, rid, given)
                self.xrm.raise_event(
                    action.qualified_name,
                    data={"input": given.model_dump(mode="json"), "output": dumped},
                    entity=action.entity,
                    record_id=rid,
                )
            except BaseException:
                savepoint.rollback()
                raise
            savepoint.commit()
        return output

    def _call(
        self, registered: RegisteredAction, rid: uuid.UUID | None, given: pydantic.BaseModel
    ) -> tuple[pydantic.BaseModel, dict[str, Any]]:
        action = registered.action
        context = ActionContext(self.xrm, action, rid)
        try:
            returned = action.handler(context, rid, given)
        except XRMError:
            raise
        except Exception as exc:
            exc.add_note(f"raised by action {action.qualified_name} of {registered.owner!r}")
            raise
        return _output(registered, returned)


def _registered(action: Action, owner: str) -> RegisteredAction:
    if not isinstance(action, Action):
        raise InvalidDeclaration(
            f"{owner!r} registers {type(action).__name__}, not an Action",
            details={"plugins": [owner], "hook": "xrm_actions"},
        )
    # Built once here, so that a model without a JSON Schema is refused at start-up
    # and not when the OpenAPI document is first asked for.
    try:
        at = "/input_model"
        input_schema = action.input_model.model_json_schema(mode="validation")
        at = "/output_model"
        output_schema = action.output_model.model_json_schema(mode="serialization")
    except PydanticUserError as exc:
        raise InvalidDeclaration(
            f"invalid action {action.qualified_name} of {owner!r}",
            [Problem(at, f"has no JSON Schema: {exc}")],
            {"plugins": [owner], "hook": "xrm_actions"},
        ) from None
    return RegisteredAction(action, owner, input_schema, output_schema)


def _duplicate(entry: RegisteredAction, taken: RegisteredAction) -> InvalidDeclaration:
    owners = sorted({taken.owner, entry.owner})
    who = " and ".join(repr(o) for o in owners) if len(owners) > 1 else f"{owners[0]!r} twice"
    return InvalidDeclaration(
        f"action {entry.qualified_name!r} is declared by {who}",
        [Problem("/name", "taken by another action")],
        {"plugins": owners, "hook": "xrm_actions", "action": entry.qualified_name},
    )


def _unknown(name: object, known: builtins.list[str]) -> UnknownAction:
    close = difflib.get_close_matches(name, known, n=1) if isinstance(name, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UnknownAction(f"no action called {name!r}{hint}", details={"action": str(name)})


def _target(action: Action, record_id: uuid.UUID | str | None) -> uuid.UUID | None:
    if action.on == "collection":
        if record_id is not None:
            raise InvalidActionInput(
                f"{action.qualified_name} runs on {action.entity} records as a whole, "
                "not on one record: give no record id"
            )
        return None
    if record_id is None:
        raise InvalidActionInput(
            f"{action.qualified_name} runs on one {action.entity} record: give its id"
        )
    return as_uuid(record_id, "/record_id")


def _input(
    action: Action, data: Mapping[str, Any] | pydantic.BaseModel | None
) -> pydantic.BaseModel:
    model = action.input_model
    if isinstance(data, model):
        return data
    given = dict(data) if isinstance(data, Mapping) else ({} if data is None else data)
    try:
        return model.model_validate(given)
    except pydantic.ValidationError as exc:
        raise InvalidActionInput(
            f"the input of {action.qualified_name} is not valid",
            _problems(exc, given),
        ) from None


def _output(
    registered: RegisteredAction, returned: object
) -> tuple[pydantic.BaseModel, dict[str, Any]]:
    action = registered.action
    model = action.output_model
    blame = f"action {action.qualified_name} of {registered.owner!r}"
    given = dict(returned) if isinstance(returned, Mapping) else returned
    try:
        output = given if isinstance(given, model) else model.model_validate(given)
        return output, output.model_dump(mode="json")
    except pydantic.ValidationError as exc:
        raise InvalidActionOutput(
            f"{blame} returned {type(returned).__name__}, which {model.__name__} refuses",
            _problems(exc, given),
            {"action": action.qualified_name, "plugins": [registered.owner]},
        ) from None
    except PydanticSerializationError as exc:
        raise InvalidActionOutput(
            f"{blame} returned a {model.__name__} that is not JSON: {exc}",
            details={"action": action.qualified_name, "plugins": [registered.owner]},
        ) from None


def _require_privilege(records: RecordService, privilege: str) -> None:
    """Refuse a collection action to a caller holding ``privilege`` on no record of the entity."""
    caller = records.caller
    if caller.is_system:
        return
    principal = records.security.principal(caller)
    if principal.administrator:
        return
    if not principal.active or principal.grant(records.entity, privilege).scope is Scope.NONE:
        raise AccessDenied(
            f"you do not have the {privilege} privilege on {records.entity!r}",
            details={"entity": records.entity, "privilege": privilege},
        )


def _lock_record(records: RecordService, conn: Connection, rid: uuid.UUID, privilege: str) -> None:
    """Check ``privilege`` on the record as the record service does, then lock it.

    The lock (``FOR UPDATE`` on PostgreSQL; SQLite has one writer anyway) makes
    two runs on one record take turns, so a handler's checks hold until commit.
    """
    records.authorize(conn, [rid], privilege)
    table = records.table()
    found = conn.execute(sa.select(table.c.id).where(table.c.id == rid).with_for_update()).first()
    if found is None:
        # The system context and organization-wide grants are not checked row by row.
        raise RecordNotFound(f"no {records.entity} with id {rid}", details={"id": str(rid)})


def _problems(exc: pydantic.ValidationError, data: object) -> builtins.list[Problem]:
    """Pydantic's errors with JSON pointers into ``data`` and pydantic's own messages.

    (Record validation words its messages for entities; an action's model is
    the plugin's own, so its messages are kept.) Location parts that do not
    index into ``data`` are tags pydantic adds for union members and are left
    out, except the last part of a missing key.
    """
    problems = []
    for error in exc.errors(include_url=False):
        path: builtins.list[str | int] = []
        current: Any = data
        for n, part in enumerate(error["loc"]):
            if isinstance(current, Mapping) and part in current:
                current = current[part]
            elif isinstance(current, list | tuple) and isinstance(part, int):
                current = current[part] if part < len(current) else None
            elif n < len(error["loc"]) - 1 or error["type"] != "missing":
                continue
            path.append(part)
        problems.append(Problem(pointer(*path), error["msg"]))
    return problems
