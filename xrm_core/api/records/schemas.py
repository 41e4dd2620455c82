"""JSON Schemas of records as the REST API sends and takes them, from entity definitions.

A record as answered: ids as ``uuid`` strings, times as ``date-time`` strings,
decimals and money as strings (``format: decimal``, so no cent is lost to a
double), choices as enums, lookups as ids — or, when expanded, the record they
point at. Every field may be empty (``null``) or absent (field selection, secured
fields); ``id`` is always there. As created: the required fields without a
default are required, constraints as the record validator applies them, and
``owner_id`` / ``owner_type`` may name another owner. As changed: any subset.
"""

from __future__ import annotations

from typing import Any

from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind

_UUID = {"type": "string", "format": "uuid"}
_DATETIME = {"type": "string", "format": "date-time"}
#: 64-bit integer columns.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1

#: The system columns as answered with every record.
SYSTEM_PROPERTIES: dict[str, Any] = {
    "id": _UUID,
    "created_at": _DATETIME,
    "created_by": {"type": ["string", "null"], "format": "uuid"},
    "updated_at": _DATETIME,
    "updated_by": {"type": ["string", "null"], "format": "uuid"},
    "owner_id": {"type": ["string", "null"], "format": "uuid"},
    "owner_type": {"type": ["string", "null"], "enum": ["user", "team", None]},
    "business_unit_id": {"type": ["string", "null"], "format": "uuid"},
    "version": {"type": "integer", "minimum": 1, "description": "The ETag's version"},
}


def value_schema(f: FieldDefinition, *, answered: bool) -> dict[str, Any]:
    """The JSON Schema of one field's (non-empty) value, as answered or as written."""
    kind = f.kind
    if kind in (Kind.STRING, Kind.TEXT, Kind.EMAIL, Kind.PHONE, Kind.URL):
        schema: dict[str, Any] = {"type": "string"}
        schema.update({Kind.EMAIL: {"format": "email"}, Kind.URL: {"format": "uri"}}.get(kind, {}))
        if not answered:
            _copy(f, schema, maxLength="max_length", minLength="min_length", pattern="pattern")
        return schema
    if kind is Kind.CHOICE:
        return {"type": "string", "enum": list(f.choices)}
    if kind is Kind.MULTI_CHOICE:
        return {"type": "array", "uniqueItems": True, "items": {"enum": list(f.choices)}}
    if kind is Kind.INTEGER:
        schema = {"type": "integer", "minimum": _INT_MIN, "maximum": _INT_MAX}
        if not answered:
            _copy(f, schema, minimum="minimum", maximum="maximum")
        return schema
    if kind in (Kind.DECIMAL, Kind.MONEY):
        return _decimal(f, answered)
    if kind is Kind.BOOLEAN:
        return {"type": "boolean"}
    if kind is Kind.DATE:
        return {"type": "string", "format": "date"}
    if kind is Kind.DATETIME:
        return dict(_DATETIME)
    if kind is Kind.JSON:
        return {}
    if kind is Kind.LOOKUP:
        if answered:
            return {"anyOf": [_UUID, {"type": "object", "description": "expanded"}]}
        return {**_UUID, "description": f"id of a {f.target} record"}
    reference = {
        "type": "object",
        "required": ["entity", "id"],
        "properties": {
            "entity": (
                {"type": "string", "description": "the name of any entity"}
                if f.any_entity
                else {"enum": list(f.targets)}
            ),
            "id": _UUID,
        },
        "additionalProperties": False,
    }
    if answered:
        return {"anyOf": [reference, {"type": "object", "description": "expanded"}]}
    return reference


def _decimal(f: FieldDefinition, answered: bool) -> dict[str, Any]:
    text = {"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
    if answered:
        return text
    # Written as a JSON number or as text; bounds as the validator applies them.
    number: dict[str, Any] = {"type": "number"}
    _copy(f, number, minimum="minimum", maximum="maximum")
    return {"anyOf": [text, number], "description": f"{f.kind}: a number or its text"}


def _copy(f: FieldDefinition, schema: dict[str, Any], **keys: str) -> None:
    for key, attribute in keys.items():
        value = getattr(f, attribute)
        if value is not None:
            schema[key] = value


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or ``null``."""
    if not schema:
        return schema  # anything, null included
    return {"anyOf": [schema, {"type": "null"}]}


def _described(f: FieldDefinition, schema: dict[str, Any]) -> dict[str, Any]:
    return {"title": f.label, **schema, "x-xrm-kind": str(f.kind)}


def record_schema(definition: EntityDefinition) -> dict[str, Any]:
    """A record of ``definition`` as the API answers it."""
    fields = {
        f.name: _described(f, nullable(value_schema(f, answered=True))) for f in definition.fields
    }
    return {
        "type": "object",
        "title": definition.label,
        "required": ["id"],
        "properties": {**SYSTEM_PROPERTIES, **fields},
        "additionalProperties": False,
    }


def create_schema(definition: EntityDefinition) -> dict[str, Any]:
    """The body creating a record of ``definition``."""
    properties: dict[str, Any] = {}
    required = []
    for f in definition.fields:
        value = value_schema(f, answered=False)
        if f.required and not f.has_default:
            required.append(f.name)
            properties[f.name] = _described(f, value)
        else:
            properties[f.name] = _described(f, nullable(value))
    properties["owner_id"] = {**_UUID, "description": "another owner (a user or a team)"}
    properties["owner_type"] = {"enum": ["user", "team"]}
    return {
        "type": "object",
        "title": f"New {definition.label.lower()}",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def update_schema(definition: EntityDefinition) -> dict[str, Any]:
    """The body of a PATCH of a record of ``definition``: any subset of its fields."""
    properties = {
        f.name: _described(
            f,
            value_schema(f, answered=False)
            if f.required
            else nullable(value_schema(f, answered=False)),
        )
        for f in definition.fields
    }
    return {
        "type": "object",
        "title": f"Changes to a {definition.label.lower()}",
        "properties": properties,
        "additionalProperties": False,
    }


def link_schema(attributes: tuple[FieldDefinition, ...], *, answered: bool) -> dict[str, Any]:
    """A many-to-many link as answered, or the attributes of one to make."""
    values = {f.name: nullable(value_schema(f, answered=answered)) for f in attributes}
    if not answered:
        return {"type": "object", "properties": values, "additionalProperties": False}
    return {
        "type": "object",
        "required": ["source_id", "target_id", "created_at"],
        "properties": {
            "source_id": _UUID,
            "target_id": _UUID,
            "created_at": _DATETIME,
            "created_by": {"type": ["string", "null"], "format": "uuid"},
            **values,
        },
        "additionalProperties": False,
    }
