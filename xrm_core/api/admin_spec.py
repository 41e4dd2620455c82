"""The OpenAPI paths of the metadata, action, audit, import/export, webhook and plugin endpoints.

Each route module binds its ``openapi_paths`` to one function here (see
:mod:`xrm_core.api.openapi`). Paths under an entity are written per documented
entity (``/api/v1/contact/{id}/audit``), as the record endpoints are, and
actions per registered action with their own input and output models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xrm_core.timeline import MAX_LIMIT as MAX_ENTRIES

if TYPE_CHECKING:
    from xrm_core.api.openapi import Spec

V1 = "/api/v1"
OBJECT: dict[str, Any] = {"type": "object"}
LIST: dict[str, Any] = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {"type": "array", "items": OBJECT},
        "next_cursor": {"type": ["string", "null"]},
    },
}
PLAN: dict[str, Any] = {
    "type": "object",
    "description": "A plan: its steps, each safe, breaking or destructive.",
    "required": ["safety", "applied", "steps"],
    "properties": {
        "safety": {"enum": ["safe", "breaking", "destructive"]},
        "applied": {"type": "boolean"},
        "steps": {"type": "array", "items": OBJECT},
        "exports": {"type": "array", "items": {"type": "string"}},
    },
}


def path_param(name: str, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} | (
        {"description": description} if description else {}
    )


def query_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


LIMIT = query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size.")
CURSOR = query_param("cursor", {"type": "string"}, "The next_cursor of the previous page.")
_TIMES = [
    query_param("since", {"type": "string", "format": "date-time"}, "From (inclusive)."),
    query_param("until", {"type": "string", "format": "date-time"}, "Until (exclusive)."),
]
_ID_OR_NULL: dict[str, Any] = {"type": ["string", "null"], "format": "uuid"}
_TIMELINE_ENTRY: dict[str, Any] = {
    "at": {"type": "string", "format": "date-time"},
    "source": {"type": "string", "description": "audit, or a plugin's word (activity)"},
    "kind": {"type": "string"},
    "title": {"type": "string"},
    "text": {"type": "string"},
    "entity": {"type": ["string", "null"]},
    "record_id": _ID_OR_NULL,
    "actor_id": _ID_OR_NULL,
    "changes": OBJECT,
}
TIMELINE: dict[str, Any] = {
    "type": "object",
    "description": "A record's timeline, newest first: audit entries and what plugins add.",
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": list(_TIMELINE_ENTRY),
                "properties": _TIMELINE_ENTRY,
            },
        }
    },
}
_CONFIRM = query_param("confirm", {"type": "boolean"}, "Confirm a plan that drops data.")


def operation(
    spec: Spec,
    summary: str,
    op_id: str,
    tag: str,
    ok: tuple[str, dict[str, Any]],
    errors: tuple[int, ...],
    **extra: Any,
) -> dict[str, Any]:
    status, response = ok
    if any(p.get("in") == "path" for p in extra.get("parameters") or ()):
        errors = (*errors, 404)  # also what the router answers for a path it cannot match
    if extra.get("body") is not None:
        errors = (*errors, 422)  # a body that is not what the endpoint takes
    return spec.operation(
        summary,
        {status: response, **spec.problems(*errors)},
        operation_id=op_id,
        tags=[tag],
        **extra,
    )


def json_answer(spec: Spec, text: str, schema: dict[str, Any]) -> dict[str, Any]:
    return spec.json_response(text, schema)


def metadata_paths(spec: Spec) -> dict[str, dict[str, Any]]:
    """``/api/v1/metadata/...``."""
    plan = spec.component("metadata_plan", PLAN)
    body = spec.component(
        "metadata_change",
        {
            "type": "object",
            "required": ["definitions"],
            "properties": {
                "definitions": {
                    "type": ["object", "array"],
                    "description": "JSON Schema documents",
                },
                "renames": {"type": "object", "description": "{entity: {old: new}}"},
                "confirm": {"type": "boolean", "default": False},
            },
        },
    )
    ok = ("200", json_answer(spec, "The plan", plan))
    tag = "metadata"
    return {
        f"{V1}/metadata/entities": {
            "get": operation(
                spec,
                "List entities",
                "listEntities",
                tag,
                ("200", json_answer(spec, "Entities", LIST)),
                (),
            )
        },
        f"{V1}/metadata/entities/{{name}}": {
            "get": operation(
                spec,
                "Get an entity's definition",
                "getEntity",
                tag,
                ("200", json_answer(spec, "The definition, owner and version", OBJECT)),
                (404,),
                parameters=[path_param("name")],
            ),
            "delete": operation(
                spec,
                "Drop an entity (409 with the plan unless confirm=true)",
                "dropEntity",
                tag,
                ok,
                (400, 403, 404, 409, 422),
                parameters=[path_param("name"), _CONFIRM],
            ),
        },
        f"{V1}/metadata/actions": {
            "get": operation(
                spec,
                "List actions",
                "listActions",
                tag,
                ("200", json_answer(spec, "Actions", LIST)),
                (),
                parameters=[
                    query_param("entity", {"type": "string"}, "Only this entity's actions.")
                ],
            )
        },
        f"{V1}/metadata/plan": {
            "post": operation(
                spec,
                "Plan a schema change (dry run)",
                "planMetadata",
                tag,
                ok,
                (400, 403, 422),
                body=spec.json_body(body),
            )
        },
        f"{V1}/metadata/apply": {
            "post": operation(
                spec,
                "Apply a schema change",
                "applyMetadata",
                tag,
                ok,
                (400, 403, 409, 422),
                body=spec.json_body(body),
            )
        },
    }


def operations_paths(spec: Spec) -> dict[str, dict[str, Any]]:
    """Actions, audit and explain: per documented entity and action."""
    page = ("200", json_answer(spec, "Audit entries, newest first", LIST))
    paths: dict[str, dict[str, Any]] = {
        f"{V1}/audit/users/{{user_id}}": {
            "get": operation(
                spec,
                "What a user did",
                "auditByUser",
                "audit",
                page,
                (400, 403),
                parameters=[path_param("user_id"), *_TIMES, LIMIT, CURSOR],
            )
        },
        f"{V1}/audit/bypassed": {
            "get": operation(
                spec,
                "Changes that bypassed handlers",
                "auditBypassed",
                "audit",
                page,
                (400, 403),
                parameters=[*_TIMES, LIMIT, CURSOR],
            )
        },
        f"{V1}/audit/correlations/{{correlation_id}}": {
            "get": operation(
                spec,
                "What one unit of work did",
                "auditUnit",
                "audit",
                page,
                (403,),
                parameters=[path_param("correlation_id")],
            )
        },
        f"{V1}/audit/definitions/{{name}}": {
            "get": operation(
                spec,
                "Changes of a definition",
                "auditDefinition",
                "audit",
                page,
                (400,),
                parameters=[path_param("name"), LIMIT, CURSOR],
            )
        },
    }
    for entity in spec.entities:
        one = f"{V1}/{entity.name}/{{id}}"
        paths[f"{one}/audit"] = {
            "get": operation(
                spec,
                f"History of a {entity.name}",
                f"audit_{entity.name}",
                entity.name,
                page,
                (400, 403, 404),
                parameters=[path_param("id"), LIMIT, CURSOR],
            )
        }
        paths[f"{one}/timeline"] = {
            "get": operation(
                spec,
                f"Timeline of a {entity.name}",
                f"timeline_{entity.name}",
                entity.name,
                ("200", json_answer(spec, "Timeline entries, newest first", TIMELINE)),
                (400, 403, 404),
                parameters=[
                    path_param("id"),
                    query_param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_ENTRIES},
                        "At most.",
                    ),
                ],
            )
        }
        paths[f"{one}/explain"] = {
            "get": operation(
                spec,
                f"Why a user may (not) act on a {entity.name}",
                f"explain_{entity.name}",
                entity.name,
                ("200", json_answer(spec, "Granted or refused, with reasons", OBJECT)),
                (403, 404, 422),
                parameters=[
                    path_param("id"),
                    query_param(
                        "privilege",
                        {"enum": ["read", "update", "delete", "assign", "share"]},
                        "The privilege (read by default).",
                    ),
                    query_param(
                        "user", {"type": "string", "format": "uuid"}, "Default: the caller."
                    ),
                ],
            )
        }
    for action in spec.actions:
        act = action.action
        where = f"{V1}/{act.entity}/{{id}}/actions/{act.name}"
        params = [path_param("id")]
        if act.on == "collection":
            where, params = f"{V1}/{act.entity}/$actions/{act.name}", []
        paths[where] = {
            "post": operation(
                spec,
                act.description or act.qualified_name,
                f"action_{act.entity}_{act.name}",
                act.entity,
                (
                    "200",
                    json_answer(spec, "The action's output", spec.action_schema(action, "output")),
                ),
                (400, 403, 404, 422, 500),
                parameters=params,
                # No body (or null) is the input {}: whether that is valid is the model's to say.
                body=spec.json_body(
                    {"anyOf": [spec.action_schema(action, "input"), {"type": "null"}]},
                    required=False,
                ),
            )
        }
    return paths
