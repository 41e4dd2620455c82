"""Between file cells and record values: columns checked against the entity, text converted.

A CSV cell is text; each field's kind says how it becomes a value the record
service validates (``42``, ``true`` and ``2024-05-01`` are left to its validator,
which already reads them from text). A column ``account.number`` names a lookup
by a unique field of its target: the number is turned into the account's id,
looked up as the importing caller may read accounts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from xrm_core.errors import InvalidFile, Problem, pointer, shown
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind
from xrm_core.metadata.models import InvalidRecord
from xrm_core.records.service import MAX_LIMIT, RecordService

#: Columns a file may hold besides fields: a record's id and its owner.
WRITABLE_SYSTEM = ("id", "owner_id", "owner_type")
#: How a CSV cell lists the values of a multi-choice field.
SEPARATOR = ";"
#: Key values looked up per query: a unique key matches at most this many (or twice, by case).
_IN_LIMIT = 400


@dataclass(frozen=True)
class KeyColumn:
    """A column ``lookup.key``: the lookup field, its target, and the target's unique field."""

    column: str
    lookup: str
    target: str
    key: FieldDefinition


class Columns:
    """How the columns (or JSON keys) of a file map to one entity's fields."""

    def __init__(self, definition: EntityDefinition, definitions: Mapping[str, EntityDefinition]):
        self.definition = definition
        self.definitions = definitions

    def check_header(self, columns: Sequence[str]) -> list[KeyColumn]:
        """The lookup-by-key columns of a CSV header; raises InvalidFile for others unknown."""
        problems = []
        keys: list[KeyColumn] = []
        for i, name in enumerate(columns):
            if name in WRITABLE_SYSTEM or self.definition.has_field(name):
                continue
            found = self.key_column(name)
            if isinstance(found, str):
                problems.append(Problem(f"/header/{i}", found))
                continue
            twice = _twice(found, columns, keys)
            if twice:
                problems.append(Problem(f"/header/{i}", twice))
            keys.append(found)
        if problems:
            raise InvalidFile(
                f"the header does not match the fields of {self.definition.name!r}", problems
            )
        return keys

    def key_column(self, name: str) -> KeyColumn | str:
        """The lookup-by-key column ``name``, or why it is none."""
        entity = self.definition.name
        head, dot, rest = name.partition(".")
        if not dot:
            return f"{name!r} is not a field of {entity!r}"
        if (
            not self.definition.has_field(head)
            or self.definition.field(head).kind is not Kind.LOOKUP
        ):
            return f"{head!r} is not a lookup of {entity!r}"
        target = self.definition.field(head).target or ""
        found = self.definitions[target]
        singles = {i.fields[0] for i in found.all_indexes() if i.unique and len(i.fields) == 1}
        if rest not in singles:
            return f"{rest!r} is not a unique field of {target!r} (one of {sorted(singles)})"
        return KeyColumn(name, head, target, found.field(rest))

    def given_twice(self, raw: Mapping[str, Any]) -> list[Problem]:
        """A problem for each lookup a JSON object gives twice (``account`` and ``account.number``).

        Either would silently win over the other; the row is refused instead.
        """
        problems: list[Problem] = []
        keys: list[KeyColumn] = []
        for key in self.keys_in(raw):
            twice = _twice(key, raw, keys)
            if twice:
                problems.append(Problem(pointer(key.column), twice))
            keys.append(key)
        return problems

    def keys_in(self, raw: Mapping[str, Any]) -> list[KeyColumn]:
        """The lookup-by-key keys of a JSON object (other unknown keys are left to validation)."""
        found = []
        for name in raw:
            if "." in name and not self.definition.has_field(name):
                key = self.key_column(name)
                if isinstance(key, KeyColumn):
                    found.append(key)
        return found


def _twice(key: KeyColumn, names: Collection[str], earlier: Sequence[KeyColumn]) -> str | None:
    """Why ``key`` gives its lookup again (``names`` has it, or an ``earlier`` key), or None."""
    if key.lookup in names:
        return f"gives {key.lookup!r} twice, with its own column; keep one of them"
    for other in earlier:
        if other.lookup == key.lookup:
            return f"gives {key.lookup!r} twice, with {other.column!r}; keep one of them"
    return None


def from_cells(
    definition: EntityDefinition, raw: Mapping[str, str]
) -> tuple[dict[str, Any], list[Problem]]:
    """A CSV row's values: an empty cell is an empty value; text converted by field kind."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, text in raw.items():
        if text == "":
            values[name] = None
            continue
        if not definition.has_field(name):
            values[name] = text  # ids, owners and lookup keys: read as their fields read text
            continue
        try:
            values[name] = from_text(definition.field(name), text)
        except ValueError as exc:
            problems.append(Problem(pointer(name), str(exc)))
    return values, problems


def from_text(f: FieldDefinition, text: str) -> Any:
    """The value of field ``f`` written as ``text``; raises ValueError with a plain message."""
    if f.kind is Kind.MULTI_CHOICE:
        if text.lstrip().startswith("["):
            return _json(text)
        return [part.strip() for part in text.split(SEPARATOR)]
    if f.kind is Kind.JSON:
        return _json(text)
    if f.kind is Kind.POLYMORPHIC_LOOKUP:
        if text.lstrip().startswith("{"):
            return _json(text)
        entity, colon, rid = text.partition(":")
        if not colon:
            example = f.targets[0] if f.targets else "account"
            raise ValueError(f"must be written entity:id, like {example}:<id>")
        return {"entity": entity.strip(), "id": rid.strip()}
    # Numbers, booleans, dates, ids and text: the record validator reads them from text.
    return text


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"is not valid JSON ({exc})") from None


def to_text(f: FieldDefinition | None, value: Any) -> str:
    """The CSV cell of ``value`` (of field ``f``, or a system column when None)."""
    if value is None:
        return ""
    kind = None if f is None else f.kind
    if kind is Kind.JSON:
        return json.dumps(to_jsonable_python(value), ensure_ascii=False)
    if kind is Kind.MULTI_CHOICE:
        items = [str(v) for v in value]
        # JSON when the separator form would not read back as the same list.
        if not items or any(SEPARATOR in v or v != v.strip() for v in items):
            return json.dumps(items, ensure_ascii=False)
        return SEPARATOR.join(items)
    if kind is Kind.POLYMORPHIC_LOOKUP:
        return f"{value['entity']}:{value['id']}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def resolve_keys(
    rows: list[dict[str, Any]],
    key_columns: Sequence[KeyColumn],
    service_of: Callable[[str], RecordService],
) -> dict[int, list[Problem]]:
    """Replace ``lookup.key`` values by the ids they name, in place; problems by row.

    ``service_of(entity)`` is the caller's record service of an entity: a key
    names only records the caller may read. One query per column and batch.
    """
    problems: dict[int, list[Problem]] = {}
    for column in key_columns:
        wanted = {row[column.column] for row in rows if _scalar(row.get(column.column))}
        found = _find(service_of(column.target), column, wanted) if wanted else {}
        for n, row in enumerate(rows):
            if column.column not in row:
                continue
            given = row.pop(column.column)
            if given is None:
                row[column.lookup] = None
                continue
            rid = found.get(given) if _scalar(given) else None
            if rid is None:
                message = f"no {column.target} with {column.key.name} {shown(given)}"
                problems.setdefault(n, []).append(Problem(pointer(column.column), message))
            row[column.lookup] = rid
    return problems


def _find(service: RecordService, column: KeyColumn, wanted: set[Any]) -> dict[Any, uuid.UUID]:
    """The ids of the records whose key is one of ``wanted``, by the value as given."""
    name = column.key.name
    validator = service.metadata.validator(service.entity)
    typed: dict[Any, Any] = {}
    for given in wanted:
        # A value the key cannot hold names no record: its row reports it not found.
        with contextlib.suppress(InvalidRecord):
            typed[given] = validator.validate_patch({name: given})[name]
    values = sorted({to_jsonable_python(v) for v in typed.values()}, key=str)
    ids: dict[str, uuid.UUID] = {}
    for start in range(0, len(values), _IN_LIMIT):
        part = values[start : start + _IN_LIMIT]
        page = service.query(filter={name: {"in": part}}, fields=["id", name], limit=MAX_LIMIT)
        ids.update((_normal(r[name]), r["id"]) for r in page)
    return {given: ids[_normal(v)] for given, v in typed.items() if _normal(v) in ids}


def _scalar(value: Any) -> bool:
    """True for a key value that can name a record (text or a number)."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _normal(value: Any) -> str:
    # Text comparison in the database ignores ASCII case (decision 0008).
    return str(to_jsonable_python(value)).casefold()
