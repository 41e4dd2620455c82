"""The record endpoints in the OpenAPI document: explicit paths per documented entity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xrm_core.api.records.schemas import link_schema
from xrm_core.metadata.definition import EntityDefinition, Kind
from xrm_core.records.filters import OPERATORS
from xrm_core.records.service import MAX_LIMIT

if TYPE_CHECKING:
    from xrm_core.api.openapi import Spec

_ETAG_HEADER = {"description": 'The record\'s version: W/"<version>"', "schema": {"type": "string"}}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The ETag read (W/"<version>"): refused with 412 if the record changed since.',
    "schema": {"type": "string"},
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
#: Kinds the short filter form can compare with a single text value.
_SHORT_KINDS = frozenset(Kind) - {Kind.JSON, Kind.MULTI_CHOICE, Kind.POLYMORPHIC_LOOKUP}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_FILTER = {
    "name": "filter",
    "in": "query",
    "required": False,
    "description": "A filter of the query language as JSON (docs/queries.md), e.g. "
    '{"stage": "won", "amount": {"ge": 1000}}.',
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_GET_PARAMS = [
    _query("fields", {"type": "string"}, "Comma-separated fields to return (id always)."),
    _query("expand", {"type": "string"}, "Comma-separated lookups to replace by their record."),
]


def _short_filters(definition: EntityDefinition) -> list[dict[str, Any]]:
    ops = ", ".join(OPERATORS)
    found = []
    for f in definition.fields:
        if f.kind not in _SHORT_KINDS:
            continue
        schema: dict[str, Any] = {"type": "string"}
        if f.kind is Kind.CHOICE:
            schema["enum"] = list(f.choices)
        text = (
            f"Short filter: {f.name} equals this; where.{f.name}[op] for other operators ({ops})."
        )
        found.append(_query(f"where.{f.name}", schema, text))
    return found


def _list_params(definition: EntityDefinition) -> list[dict[str, Any]]:
    return [
        _FILTER,
        *_short_filters(definition),
        _query("order", {"type": "string"}, "Comma-separated sort keys, '-' for descending."),
        *_GET_PARAMS,
        _query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
            "Page size.",
        ),
        _query("cursor", {"type": "string"}, "The next_cursor of the previous page."),
        _query("count", {"type": "boolean", "default": False}, "Add the total count."),
    ]


def openapi_paths(spec: Spec) -> dict[str, dict[str, Any]]:
    """Paths of the record endpoints of every entity ``spec`` documents."""
    paths: dict[str, dict[str, Any]] = {}
    for definition in spec.entities:
        paths.update(_entity_paths(spec, definition))
    return paths


def _entity_paths(spec: Spec, definition: EntityDefinition) -> dict[str, dict[str, Any]]:
    name = definition.name
    base = f"/api/v1/{name}"
    record = spec.entity_schema(name)
    tags = [name]
    page = spec.component(
        f"{name}.page",
        {
            "type": "object",
            "required": ["items", "next_cursor", "omitted"],
            "properties": {
                "items": {"type": "array", "items": record},
                "next_cursor": {"type": ["string", "null"]},
                "total": {"type": ["integer", "null"]},
                "omitted": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": False,
        },
    )
    one = {"ETag": _ETAG_HEADER}
    created = {
        **one,
        "Location": {"description": "The record's path", "schema": {"type": "string"}},
    }
    paths: dict[str, dict[str, Any]] = {
        base: {
            "get": spec.operation(
                f"List {definition.plural.lower()}",
                {"200": spec.json_response("A page", page), **spec.problems(400, 403, 404)},
                operation_id=f"list_{name}",
                tags=tags,
                parameters=_list_params(definition),
            ),
            "post": spec.operation(
                f"Create a {definition.label.lower()}",
                {
                    "201": {
                        **spec.json_response("Created", record, created),
                        "links": _links(name),
                    },
                    **spec.problems(400, 403, 404, 409, 413, 422),
                },
                operation_id=f"create_{name}",
                tags=tags,
                body=spec.json_body(spec.entity_schema(name, "create")),
            ),
        },
        base + "/{id}": {
            "parameters": [_ID],
            "get": spec.operation(
                f"Get a {definition.label.lower()}",
                {
                    "200": spec.json_response("The record", record, one),
                    **spec.problems(400, 403, 404),
                },
                operation_id=f"get_{name}",
                tags=tags,
                parameters=_GET_PARAMS,
            ),
            "patch": spec.operation(
                f"Change a {definition.label.lower()}",
                {
                    "200": spec.json_response("The record as changed", record, one),
                    **spec.problems(400, 403, 404, 409, 412, 413, 422),
                },
                operation_id=f"update_{name}",
                tags=tags,
                parameters=[_IF_MATCH],
                body=spec.json_body(spec.entity_schema(name, "update")),
            ),
            "delete": spec.operation(
                f"Delete a {definition.label.lower()}",
                {
                    "200": spec.json_response(
                        "What the delete removed", _ref(spec, "delete_report")
                    ),
                    **spec.problems(400, 403, 404, 409, 412, 422),
                },
                operation_id=f"delete_{name}",
                tags=tags,
                parameters=[
                    _IF_MATCH,
                    _query("dry_run", {"type": "boolean", "default": False}, "Only count."),
                ],
            ),
        },
        base + "/$bulk": {
            "post": spec.operation(
                f"Create, update or upsert many {definition.plural.lower()}",
                {
                    "200": spec.json_response(
                        "Each row's outcome", _bulk_result(spec, name, record)
                    ),
                    **spec.problems(400, 403, 404, 409, 413, 422),
                },
                operation_id=f"bulk_{name}",
                tags=tags,
                body=spec.json_body(_bulk_request(spec, name)),
            )
        },
        base + "/$aggregate": {
            "get": spec.operation(
                f"Aggregate {definition.plural.lower()}",
                {
                    "200": spec.json_response("One row per group", _ref(spec, "aggregate")),
                    **spec.problems(400, 403, 404),
                },
                operation_id=f"aggregate_{name}",
                tags=tags,
                parameters=[
                    _FILTER,
                    *_short_filters(definition),
                    _query(
                        "group_by",
                        {"type": "string"},
                        "Comma-separated fields, or field:day|month|year.",
                    ),
                ],
            )
        },
    }
    for rel in definition.relationships:
        paths.update(_link_paths(spec, definition, rel.name, rel.attributes))
    return paths


def _link_paths(
    spec: Spec, definition: EntityDefinition, rel: str, attributes: Any
) -> dict[str, Any]:
    name = definition.name
    path = f"/api/v1/{name}/{{id}}/links/{rel}"
    link = spec.component(f"{name}.{rel}.link", link_schema(attributes, answered=True))
    new = {
        "type": "object",
        "required": ["target_id"],
        "properties": {
            "target_id": {"type": "string", "format": "uuid"},
            "attributes": link_schema(attributes, answered=False),
        },
        "additionalProperties": False,
    }
    listing = {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": link}},
    }
    tags = [name]
    target = {
        "name": "target_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    return {
        path: {
            "parameters": [_ID],
            "get": spec.operation(
                f"Links of a {name} through {rel}",
                {
                    "200": spec.json_response("The links, oldest first", listing),
                    **spec.problems(400, 403, 404),
                },
                operation_id=f"links_{name}_{rel}",
                tags=tags,
            ),
            "post": spec.operation(
                f"Link a {name} through {rel}",
                {
                    "200": spec.json_response("The link", link),
                    **spec.problems(400, 403, 404, 413, 422),
                },
                operation_id=f"link_{name}_{rel}",
                tags=tags,
                body=spec.json_body(new),
            ),
        },
        path + "/{target_id}": {
            "parameters": [_ID, target],
            "delete": spec.operation(
                f"Unlink a {name} through {rel}",
                {"204": {"description": "Unlinked"}, **spec.problems(400, 403, 404)},
                operation_id=f"unlink_{name}_{rel}",
                tags=tags,
            ),
        },
    }


def _links(name: str) -> dict[str, Any]:
    """What a client can do next with a record it created (the id comes from the body)."""
    given = {"parameters": {"id": "$response.body#/id"}}
    return {
        verb: {"operationId": f"{verb.lower()}_{name}", **given}
        for verb in ("Get", "Update", "Delete")
    }


def _ref(spec: Spec, name: str) -> dict[str, str]:
    """A shared component of the record endpoints, added once."""
    if name not in spec.schemas:
        spec.component(name, _SHARED[name])
    return {"$ref": f"#/components/schemas/{name}"}


_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_SHARED: dict[str, dict[str, Any]] = {
    "delete_report": {
        "type": "object",
        "required": ["deleted", "cleared", "unlinked", "dry_run"],
        "properties": {
            "deleted": _COUNTS,
            "cleared": _COUNTS,
            "unlinked": _COUNTS,
            "dry_run": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    "aggregate": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"type": "object"}}},
        "additionalProperties": False,
    },
    "row_error": {
        "type": "object",
        "required": ["code", "detail", "errors"],
        "properties": {
            "code": {"type": "string"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    },
}


def _bulk_request(spec: Spec, name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["operation", "rows"],
        "properties": {
            "operation": {"enum": ["create", "update", "upsert"]},
            "mode": {"enum": ["atomic", "per_row"], "default": "atomic"},
            "key": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "null"},
                ],
                "description": "upsert only: an alternate key's name or fields, or a unique field",
            },
            "rows": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": False,
    }


def _bulk_result(spec: Spec, name: str, record: dict[str, str]) -> dict[str, Any]:
    row = {
        "type": "object",
        "required": ["index", "ok"],
        "properties": {
            "index": {"type": "integer"},
            "ok": {"type": "boolean"},
            "created": {"type": "boolean"},
            "record": record,
            "error": _ref(spec, "row_error"),
        },
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "required": ["succeeded", "failed", "rows"],
        "properties": {
            "succeeded": {"type": "integer"},
            "failed": {"type": "integer"},
            "rows": {"type": "array", "items": row},
        },
        "additionalProperties": False,
    }
