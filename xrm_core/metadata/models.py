"""Record validators compiled from definitions with pydantic (once per definition).

Each entity gets two validators: one for a whole new record (required fields
must be there) and one for a partial change (any subset of fields). Both
return plain dicts of Python values ready for the database, and report every
failing field with its JSON pointer.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, Required

import pydantic
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, TypeAdapter
from pydantic_core import ErrorDetails, to_jsonable_python
from typing_extensions import TypedDict

from xrm_core.errors import Problem, pointer
from xrm_core.metadata.definition import (
    MAX_NAME,
    SYSTEM_COLUMNS,
    TEXT_KINDS,
    EntityDefinition,
    FieldDefinition,
    Kind,
)

_BIGINT = 2**63
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_PHONE = r"^\+?[0-9][0-9 ().\-/]{1,31}$"
_URL = r"^[a-zA-Z][a-zA-Z0-9+.\-]*://\S+$"
# Any entity's name (whether it exists is the record service's to check).
_ENTITY_NAME = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=MAX_NAME)]


def _utc(value: dt.datetime) -> dt.datetime:
    # A datetime without a zone is taken as UTC; every stored datetime is UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
        raise ValueError("is out of the range of datetimes") from None


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no database can store a lone
    # surrogate: refused here, they would otherwise fail inside the driver.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


#: The largest JSON number most readers take (RFC 8259 §6): SQLite would store a larger
#: one as infinity, and Python turns an int of over 4,300 digits into no text at all.
_JSON_INT_LIMIT = int(sys.float_info.max)


def _storable_json(value: Any) -> Any:
    if isinstance(value, str):
        _storable(value)
    elif isinstance(value, float) and not math.isfinite(value):
        # JSON has no NaN or Infinity: PostgreSQL refuses them, SQLite would store non-JSON.
        raise ValueError("must not hold NaN or Infinity, which JSON cannot express")
    elif isinstance(value, int) and not -_JSON_INT_LIMIT <= value <= _JSON_INT_LIMIT:
        raise ValueError("must not hold a number beyond ±1.8e308, which JSON readers cannot take")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable_json(item)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item)
    return value


def _number_bounds(field: FieldDefinition) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    if field.minimum is not None:
        bounds["ge"] = field.minimum
    if field.maximum is not None:
        bounds["le"] = field.maximum
    return bounds


def value_type(field: FieldDefinition) -> Any:
    """The pydantic type of one field's (non-null) value."""
    kind = field.kind
    if kind in TEXT_KINDS - {Kind.CHOICE}:
        pattern = field.pattern or {Kind.EMAIL: _EMAIL, Kind.PHONE: _PHONE, Kind.URL: _URL}.get(
            kind
        )
        constraints = StringConstraints(
            max_length=field.max_length, min_length=field.min_length, pattern=pattern
        )
        return Annotated[str, constraints, AfterValidator(_storable)]
    if kind is Kind.CHOICE:
        return _literal(field.choices)
    if kind is Kind.MULTI_CHOICE:
        return Annotated[_LIST[_literal(field.choices)], AfterValidator(_no_repeats)]
    if kind is Kind.INTEGER:
        # The column is 64 bits whatever the definition allows.
        own = _number_bounds(field)
        low = max(-_BIGINT, own.get("ge", -_BIGINT))
        high = min(_BIGINT - 1, own.get("le", _BIGINT - 1))
        return Annotated[int, Field(ge=low, le=high)]
    if kind in (Kind.DECIMAL, Kind.MONEY):
        return Annotated[
            decimal.Decimal,
            Field(
                max_digits=field.precision,
                decimal_places=field.scale,
                allow_inf_nan=False,
                **_number_bounds(field),
            ),
            AfterValidator(_quantizer(field.scale)),
        ]
    if kind is Kind.BOOLEAN:
        return bool
    if kind is Kind.DATE:
        return dt.date
    if kind is Kind.DATETIME:
        return Annotated[dt.datetime, AfterValidator(_utc)]
    if kind is Kind.JSON:
        return Annotated[pydantic.JsonValue, AfterValidator(_storable_json)]
    if kind is Kind.LOOKUP:
        return uuid.UUID
    return _polymorphic_type(field)


def _quantizer(scale: int | None) -> Any:
    """Give decimals the field's scale, so a value reads back as it was written."""
    if scale is None:
        return lambda value: value
    exponent = decimal.Decimal(1).scaleb(-scale)
    return lambda value: value.quantize(exponent)


def _no_repeats(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("values must not repeat")
    return values


# Types built at run time from metadata: through Any, because a type checker can
# only follow literal arguments to these special forms.
_LITERAL: Any = Literal
_LIST: Any = list
_TYPED_DICT: Any = TypedDict


def _literal(values: tuple[str, ...]) -> Any:
    return _LITERAL[values]


def _typed_dict(name: str, fields: dict[str, Any]) -> Any:
    shape = _TYPED_DICT(name, fields)
    shape.__pydantic_config__ = ConfigDict(extra="forbid")
    return shape


def _polymorphic_type(field: FieldDefinition) -> Any:
    entity = _ENTITY_NAME if field.any_entity else _literal(field.targets)
    return _typed_dict("Reference", {"entity": entity, "id": uuid.UUID})


def field_type(field: FieldDefinition, *, nullable: bool) -> Any:
    """The pydantic type of a field, admitting None when ``nullable``."""
    base = value_type(field)
    return base | None if nullable else base


@dataclass(frozen=True)
class RecordValidator:
    """Compiled validators for one definition version."""

    create: TypeAdapter[dict[str, Any]]
    patch: TypeAdapter[dict[str, Any]]
    defaults: Mapping[str, Any]

    def validate_create(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a new record (defaults filled in); raise :class:`InvalidRecord`."""
        # Anything but a mapping is left to pydantic, which reports it at "".
        merged = {**self.defaults, **data} if self.defaults and isinstance(data, Mapping) else data
        return _run(self.create, merged)

    def validate_patch(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a partial change; raise :class:`InvalidRecord`."""
        return _run(self.patch, data)


class InvalidRecord(ValueError):
    """Raised by :class:`RecordValidator`; the record service turns it into an XRMError."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


def _run(adapter: TypeAdapter[dict[str, Any]], data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return adapter.validate_python(data)
    except pydantic.ValidationError as exc:
        raise InvalidRecord(problems_from(exc, data=data)) from None


_NO_INPUT: Any = object()


def problems_from(
    exc: pydantic.ValidationError, prefix: tuple[str | int, ...] = (), *, data: Any = _NO_INPUT
) -> list[Problem]:
    """Turn pydantic's errors into problems with JSON pointers and plain messages.

    With the validated ``data``, pointers follow the input itself, so keys that
    look like pydantic's own location tags (``a[b]``, ``dict``) are kept.
    """
    problems = []
    for error in exc.errors(include_url=False):
        if data is _NO_INPUT:
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        else:
            loc = _input_path(data, error)
        problems.append(Problem(pointer(*prefix, *loc), _message(error, loc)))
    return problems


def _input_path(data: Any, error: ErrorDetails) -> tuple[str | int, ...]:
    """The parts of pydantic's location that index into ``data``.

    The others are tags pydantic adds for union members (``dict``,
    ``function-after[...]``). The last part of a missing key, or of a key that
    is not text (which pydantic turns into text), is kept: the input has no such part.
    """
    path: list[str | int] = []
    current = data
    parts = error["loc"]
    for n, part in enumerate(parts):
        if _indexes(current, part):
            current = current[part]
        elif not (n == len(parts) - 1 and error["type"] in ("missing", "invalid_key")):
            continue
        path.append(part)
    return tuple(path)


def _indexes(value: Any, part: str | int) -> bool:
    if isinstance(value, list | tuple):
        return isinstance(part, int) and part < len(value)
    return isinstance(value, Mapping) and part in value


def _message(error: ErrorDetails, loc: tuple[str | int, ...]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        if len(loc) == 1 and loc[0] in SYSTEM_COLUMNS:
            return "is set by the system and cannot be written"
        return "is not a field of this entity"
    # Only required fields refuse None at the top level (the others are
    # nullable), so "should be a valid string" would hide the real rule.
    if len(loc) == 1 and error["input"] is None:
        return "is required"
    if kind == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])  # our own message, without "Value error, "
    return str(error["msg"])


def compile_validator(definition: EntityDefinition) -> RecordValidator:
    """Compile the validators of one definition."""
    fields = definition.fields
    create = _new_record_fields(fields)
    create["id"] = NotRequired[uuid.UUID]
    patch = {f.name: NotRequired[field_type(f, nullable=not f.required)] for f in fields}
    return RecordValidator(
        create=_adapter(f"{definition.name}_create", create),
        patch=_adapter(f"{definition.name}_patch", patch),
        defaults={f.name: f.default for f in fields if f.has_default},
    )


def _new_record_fields(fields: tuple[FieldDefinition, ...]) -> dict[str, Any]:
    """Typed-dict fields of a new record: required ones must be there and not null."""
    return {
        f.name: (
            Required[field_type(f, nullable=False)]
            if f.required
            else NotRequired[field_type(f, nullable=True)]
        )
        for f in fields
    }


def _adapter(name: str, fields: dict[str, Any]) -> TypeAdapter[dict[str, Any]]:
    adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(_typed_dict(name, fields))
    return adapter


def link_validator(attributes: tuple[FieldDefinition, ...]) -> RecordValidator:
    """Validators for the attributes of a many-to-many link."""
    fields = _new_record_fields(attributes)
    return RecordValidator(
        create=_adapter("link_create", fields),
        patch=_adapter("link_patch", {k: NotRequired[v] for k, v in fields.items()}),
        defaults={f.name: f.default for f in attributes if f.has_default},
    )


def convert_value(value: Any, old: FieldDefinition, new: FieldDefinition) -> tuple[bool, Any]:
    """Convert a stored value to a new kind: ``(True, value)`` or ``(False, None)`` if lost."""
    if value is None:
        return True, None
    plain = to_jsonable_python(value)
    # A list of one choice becomes that choice (before the text rule would
    # turn ["a"] into the string "['a']").
    if old.kind is Kind.MULTI_CHOICE and new.kind is not Kind.MULTI_CHOICE:
        if not isinstance(plain, list) or len(plain) != 1:
            return False, None
        plain = plain[0]
    if new.kind in TEXT_KINDS and not isinstance(plain, str):
        plain = str(plain).lower() if isinstance(plain, bool) else str(plain)
    elif new.kind is Kind.MULTI_CHOICE and not isinstance(plain, list):
        plain = [plain]
    try:
        converted = TypeAdapter(field_type(new, nullable=True)).validate_python(plain)
    except pydantic.ValidationError:
        return False, None
    if new.kind is Kind.INTEGER and isinstance(value, decimal.Decimal) and value != converted:
        return False, None
    return True, converted
