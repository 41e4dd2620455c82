"""A record's form, generated from its entity's definition: inputs, conversions, errors.

Each field gets the input its kind calls for (text, textarea, number, checkbox,
select, date, lookup search ...). What a person submits is text; :func:`read_form`
turns it into the values the record service takes — an empty input is null, a
number a number, a date a date — and says what it could not read, by field, so
that the page shows each problem next to its input and saves nothing. Everything
else (required fields, lengths, choices, references) is the record service's to
check: its problems come back as JSON pointers and land next to their field too.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xrm_core.errors import Problem
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind

#: Submitted form values of one request: a field's text, or every value of a repeated one.
Submitted = Callable[[str], str]
SubmittedAll = Callable[[str], list[str]]
#: Finds records of ``entity`` matching typed text: (id, label) pairs.
Resolver = Callable[[str, str], list[tuple[str, str]]]

#: The input each kind is edited with (lookups and JSON get their own widgets).
INPUTS: dict[Kind, str] = {
    Kind.STRING: "text",
    Kind.TEXT: "textarea",
    Kind.INTEGER: "number",
    Kind.DECIMAL: "number",
    Kind.MONEY: "number",
    Kind.BOOLEAN: "checkbox",
    Kind.DATE: "date",
    Kind.DATETIME: "datetime-local",
    Kind.EMAIL: "email",
    Kind.PHONE: "tel",
    Kind.URL: "url",
    Kind.CHOICE: "select",
    Kind.MULTI_CHOICE: "multiselect",
    Kind.JSON: "json",
    Kind.LOOKUP: "lookup",
    Kind.POLYMORPHIC_LOOKUP: "polymorphic",
}
_SINGLE_LINE = frozenset({Kind.STRING, Kind.EMAIL, Kind.PHONE, Kind.URL, Kind.CHOICE})


@dataclass
class FormField:
    """One field as the form shows it: its input, what is in it, and what is wrong with it."""

    definition: FieldDefinition
    input: str
    #: The input's text; a list for a multi-choice, "on" / "" for a checkbox.
    value: Any = ""
    #: For a lookup: the chosen record's label (the search box shows it).
    label: str = ""
    #: For a polymorphic lookup: the chosen entity.
    entity: str = ""
    error: str | None = None
    #: After a version conflict: what the other person saved, when it differs.
    theirs: str | None = None
    #: Field security lets the caller see the field but not write it: shown, not an input.
    read_only: bool = False

    @property
    def name(self) -> str:
        """The input's name (the field's)."""
        return self.definition.name

    @property
    def display(self) -> str:
        """The value as text, for a field shown read-only ("" when empty)."""
        if self.input == "checkbox":
            return "yes" if self.value else "no"
        if isinstance(self.value, list):
            return ", ".join(self.value)
        if self.input in ("lookup", "polymorphic") and self.value:
            return " ".join(p for p in (self.entity, self.label or str(self.value)) if p)
        return str(self.value)

    @property
    def step(self) -> str:
        """The ``step`` of a number input: 1 for integers, the scale for decimals."""
        if self.definition.kind is Kind.INTEGER:
            return "1"
        scale = self.definition.scale
        return "any" if scale is None else str(decimal.Decimal(1).scaleb(-scale))


def field_text(f: FieldDefinition, value: Any) -> Any:
    """A stored value as its input shows it (the inverse of :func:`read_field`)."""
    if value is None:
        return [] if f.kind is Kind.MULTI_CHOICE else ""
    if f.kind is Kind.BOOLEAN:
        return "on" if value else ""
    if f.kind is Kind.MULTI_CHOICE:
        return [str(v) for v in value]
    if f.kind in (Kind.DECIMAL, Kind.MONEY):
        return format(decimal.Decimal(value), "f")
    if f.kind is Kind.DATETIME and isinstance(value, dt.datetime):
        # Shown and entered in UTC, as stored: the label says so.
        utc = value.astimezone(dt.UTC) if value.tzinfo else value
        return utc.replace(tzinfo=None).isoformat(timespec="seconds")
    if f.kind is Kind.DATE and isinstance(value, dt.date):
        return value.isoformat()
    if f.kind is Kind.JSON:
        return json.dumps(value, indent=1, ensure_ascii=False, default=str)
    if f.kind is Kind.POLYMORPHIC_LOOKUP and isinstance(value, Mapping):
        return str(value.get("id", ""))
    return str(value)


def submitted_text(f: FieldDefinition, one: Submitted, many: SubmittedAll) -> Any:
    """What the form sent for ``f``, in the shape :func:`field_text` gives."""
    if f.kind is Kind.MULTI_CHOICE:
        return many(f.name)
    if f.kind is Kind.BOOLEAN:
        return "on" if one(f.name) else ""
    return one(f.name)


@dataclass
class FormReading:
    """What :func:`read_form` made of a submitted form."""

    #: Field name → value for the record service (only the fields the form holds).
    values: dict[str, Any] = field(default_factory=dict)
    #: Field name → what was wrong with its text.
    errors: dict[str, str] = field(default_factory=dict)
    #: Field name → the text as submitted (shown again when the form is).
    texts: dict[str, Any] = field(default_factory=dict)
    #: Lookup field name → the chosen record's label, as the search box showed it.
    labels: dict[str, str] = field(default_factory=dict)
    #: Polymorphic lookup field name → the chosen entity.
    entities: dict[str, str] = field(default_factory=dict)


def read_form(
    fields: Iterable[FieldDefinition], one: Submitted, many: SubmittedAll, resolve: Resolver
) -> FormReading:
    """Read each field's input into a value; collect what cannot be read, by field."""
    reading = FormReading()
    for f in fields:
        reading.texts[f.name] = submitted_text(f, one, many)
        if f.is_reference:
            reading.labels[f.name] = one(f"{f.name}__search")
        if f.kind is Kind.POLYMORPHIC_LOOKUP:
            reading.entities[f.name] = one(f"{f.name}__entity")
        try:
            reading.values[f.name] = read_field(f, one, many, resolve)
        except ValueError as error:
            reading.errors[f.name] = str(error)
    return reading


def read_field(f: FieldDefinition, one: Submitted, many: SubmittedAll, resolve: Resolver) -> Any:
    """One field's value from the form; raises ValueError with a message for the person."""
    if f.kind is Kind.BOOLEAN:
        return bool(one(f.name))
    if f.kind is Kind.MULTI_CHOICE:
        chosen = many(f.name)
        return chosen or None
    if f.kind is Kind.LOOKUP:
        return _reference(one(f.name), one(f"{f.name}__search"), f.target or "", resolve)
    if f.kind is Kind.POLYMORPHIC_LOOKUP:
        entity = one(f"{f.name}__entity").strip()
        found = _reference(one(f.name), one(f"{f.name}__search"), entity, resolve)
        if found is None:
            return None
        if not entity:
            raise ValueError("choose what kind of record it is")
        return {"entity": entity, "id": found}
    text = one(f.name)
    if f.kind in _SINGLE_LINE:
        text = text.strip()
    if not text.strip():
        return None
    return _CONVERT.get(f.kind, _as_text)(text.strip())


def _reference(chosen: str, typed: str, target: str, resolve: Resolver) -> str | None:
    """The id picked in a lookup's list; without a script, the one record the text matches."""
    if chosen.strip():
        try:
            return str(uuid.UUID(chosen.strip()))
        except ValueError:
            raise ValueError("choose a record from the list") from None
    typed = typed.strip()
    if not typed:
        return None
    if not target:
        raise ValueError("choose what kind of record it is")
    matches = resolve(target, typed)
    if len(matches) == 1:
        return matches[0][0]
    if not matches:
        raise ValueError(f"no {target} matches {typed!r}")
    raise ValueError(f"{len(matches)} or more records match {typed!r}: choose one from the list")


def _as_text(text: str) -> str:
    return text


def _integer(text: str) -> int:
    try:
        return int(text.replace(" ", ""))
    except ValueError:
        raise ValueError("must be a whole number, such as 42") from None


def _number(text: str) -> decimal.Decimal:
    try:
        number = decimal.Decimal(text.replace(" ", ""))
    except decimal.InvalidOperation:
        raise ValueError("must be a number, such as 1234.50") from None
    if not number.is_finite():
        raise ValueError("must be a number, such as 1234.50")
    return number


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a date, such as 2026-03-31") from None


def _datetime(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a date and time, such as 2026-03-31T14:30") from None
    # Entered in UTC (the label says so) unless the text names its own offset.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"must be valid JSON ({error})") from None


_CONVERT: dict[Kind, Callable[[str], Any]] = {
    Kind.INTEGER: _integer,
    Kind.DECIMAL: _number,
    Kind.MONEY: _number,
    Kind.DATE: _date,
    Kind.DATETIME: _datetime,
    Kind.JSON: _json,
}


def new_values(fields: Iterable[FieldDefinition], reading: FormReading) -> dict[str, Any]:
    """The values of a new record: those that differ from what leaving them out would give.

    Leaving a field out gives its default (or null), and asks nothing of field
    security; a default the person cleared is sent as null.
    """
    values = {}
    for f in fields:
        value = reading.values.get(f.name)
        if value != _default(f):
            values[f.name] = value
    return values


def changed_values(
    fields: Iterable[FieldDefinition], reading: FormReading, record: Mapping[str, Any]
) -> dict[str, Any]:
    """The fields whose input differs from the record as it is shown (only those are sent)."""
    changed = {}
    for f in fields:
        if f.name not in record:
            continue
        stored = record[f.name]
        differs = reading.texts.get(f.name) != field_text(f, stored)
        if f.kind is Kind.POLYMORPHIC_LOOKUP:
            differs = differs or reading.entities.get(f.name, "") != _entity_of(stored)
        if differs:
            changed[f.name] = reading.values.get(f.name)
    return changed


def _default(f: FieldDefinition) -> Any:
    return f.default if f.has_default else None


def _entity_of(value: Any) -> str:
    return str(value.get("entity", "")) if isinstance(value, Mapping) else ""


def field_of(pointer: str, names: Sequence[str]) -> str | None:
    """The field a problem's JSON pointer is about (``/regarding/id`` → ``regarding``)."""
    first = pointer.removeprefix("/").split("/", 1)[0].replace("~1", "/").replace("~0", "~")
    return first if first in names else None


def problems_by_field(
    problems: Iterable[Problem], names: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Problems placed by field, and those about no field of the form (for the summary)."""
    placed: dict[str, str] = {}
    loose: list[str] = []
    for p in problems:
        name = field_of(p.pointer, names)
        if name is None:
            loose.append(str(p))
        else:
            placed[name] = f"{placed[name]}; {p.message}" if name in placed else p.message
    return placed, loose


def form_fields(
    definition: EntityDefinition,
    record: Mapping[str, Any] | None,
    reading: FormReading | None = None,
    errors: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    locked: Collection[str] = frozenset(),
) -> list[FormField]:
    """The form's fields: the record's values (or defaults), or what was submitted.

    On a record, only the fields the caller may read are shown (secured ones
    they may not are absent from the record they get). ``locked`` fields (field
    security lets the caller read but not write them) are read-only and always
    show the record's value (or default), whatever was submitted.
    """
    shown = []
    for f in definition.fields:
        if record is not None and f.name not in record:
            continue
        if reading is not None and f.name not in locked:
            value = reading.texts.get(f.name, "")
            label = reading.labels.get(f.name, "")
            entity = reading.entities.get(f.name, "")
        else:
            stored = (
                record[f.name] if record is not None else (f.default if f.has_default else None)
            )
            value = field_text(f, stored)
            label = (labels or {}).get(f.name, "")
            entity = _entity_of(stored)
        if f.kind is Kind.POLYMORPHIC_LOOKUP and not entity and len(f.targets) == 1:
            entity = f.targets[0]
        error = (errors or {}).get(f.name)
        made = FormField(f, INPUTS[f.kind], value, label, entity, error, read_only=f.name in locked)
        shown.append(made)
    return shown
