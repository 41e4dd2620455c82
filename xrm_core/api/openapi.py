"""The OpenAPI 3.1 document at ``GET /api/openapi.json``, generated from live metadata.

How an API module adds its paths
--------------------------------
Every module listed in :data:`xrm_core.api.app.ROUTE_MODULES` may define::

    def openapi_paths(spec: Spec) -> dict[str, dict[str, Any]]:
        ...

returning OpenAPI path items keyed by their full path (``/api/v1/metadata/entities``);
they are merged into the document (two modules giving the same path and method
is a bug and raises ``ValueError``). :class:`Spec` is the document being built
for one caller. Use it rather than writing shared parts by hand:

- ``spec.entities``: the entity definitions documented for this caller;
  ``spec.actions``: the registered actions of those entities.
- ``spec.entity_schema(name, "record" | "create" | "update")``: a ``$ref`` to the
  JSON Schema of a record as answered, as created, as changed.
- ``spec.action_schema(action, "input" | "output")``: a ``$ref`` to an action's models.
- ``spec.component(name, schema)``: add a schema of your own, get its ``$ref``.
- ``spec.operation(summary, responses, ...)``, ``spec.json_body(schema)``,
  ``spec.json_response(description, schema)`` and ``spec.problems(400, 404, ...)``
  (errors as ``application/problem+json`` with the ``problem`` schema).

Which entities are documented: those the caller may read at all through a role
(or a plugin's grant rule); administrators see every entity. The document is
cached per metadata version (``xrm.metadata_service.version``), set of documented
entities and registered actions; a metadata change makes the next request build
a new one.
"""

from __future__ import annotations

import copy
import importlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from starlette.routing import BaseRoute, Route

from xrm_core.actions import RegisteredAction
from xrm_core.api.endpoint import Call, endpoint
from xrm_core.api.records.schemas import create_schema, record_schema, update_schema
from xrm_core.metadata.definition import EntityDefinition, Ownership
from xrm_core.security.principal import Scope
from xrm_core.version import __version__
from xrm_core.xrm import XRM

OPENAPI_VERSION = "3.1.0"
PROBLEM_MEDIA_TYPE = "application/problem+json"
Variant = Literal["record", "create", "update"]

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; 'errors' point into the input for bad input.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "examples": ["urn:xrm:problem:invalid_record"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "Stable error code."},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {"type": "string", "description": "JSON pointer (RFC 6901)"},
                    "detail": {"type": "string"},
                },
            },
        },
        "correlation_id": {"type": "string"},
    },
}

_STATUS_TEXT = {
    400: "Bad request: a query parameter that is not valid or not taken, or a body that is no JSON",
    401: "No valid API token",
    403: "The caller lacks a privilege",
    404: "No such entity or record (or one the caller cannot see)",
    409: "A conflict: duplicate value, delete restricted",
    412: "The record changed since the ETag sent in If-Match",
    413: "The request body is too large",
    422: "The body is not valid (its shape or its content); 'errors' point at each problem",
    429: "Too many requests; see Retry-After",
}


class Spec:
    """The OpenAPI document being built for one caller (see the module docstring)."""

    def __init__(self, entities: list[EntityDefinition], actions: list[RegisteredAction]) -> None:
        self.entities = entities
        self.actions = actions
        self.schemas: dict[str, Any] = {"problem": PROBLEM_SCHEMA}

    def component(self, name: str, schema: Mapping[str, Any]) -> dict[str, str]:
        """Add ``schema`` as ``#/components/schemas/<name>``; its ``$ref``."""
        self.schemas[name] = dict(schema)
        return ref(name)

    def entity_schema(self, name: str, variant: Variant = "record") -> dict[str, str]:
        """A ``$ref`` to an entity's record as answered, as created or as changed."""
        component = name if variant == "record" else f"{name}.{variant}"
        if component not in self.schemas:
            definition = next(e for e in self.entities if e.name == name)
            build = {"record": record_schema, "create": create_schema, "update": update_schema}
            self.schemas[component] = build[variant](definition)
        return ref(component)

    def action_schema(
        self, action: RegisteredAction, part: Literal["input", "output"]
    ) -> dict[str, str]:
        """A ``$ref`` to an action's input or output model (its ``$defs`` become components)."""
        name = f"action.{action.qualified_name}.{part}"
        if name not in self.schemas:
            source = action.input_schema if part == "input" else action.output_schema
            self.schemas.update(hoisted(source, name))
        return ref(name)

    def problems(self, *statuses: int) -> dict[str, Any]:
        """Error responses for ``statuses`` (400, 401 and 429 are added: every call can get
        them — a query parameter the endpoint does not take is a 400 everywhere)."""
        wanted = sorted({*statuses, 400, 401, 429})
        return {
            str(s): {
                "description": _STATUS_TEXT.get(s, "Error"),
                "content": {PROBLEM_MEDIA_TYPE: {"schema": ref("problem")}},
                **({"headers": {"Retry-After": _header("integer")}} if s == 429 else {}),
            }
            for s in wanted
        }

    @staticmethod
    def json_body(schema: Mapping[str, Any], *, required: bool = True) -> dict[str, Any]:
        """A JSON request body."""
        return {"required": required, "content": {"application/json": {"schema": dict(schema)}}}

    @staticmethod
    def json_response(
        description: str, schema: Mapping[str, Any], headers: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A JSON response (``headers``: name → OpenAPI header object)."""
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": dict(schema)}},
        }
        if headers:
            response["headers"] = dict(headers)
        return response

    @staticmethod
    def operation(
        summary: str,
        responses: Mapping[str, Any],
        *,
        operation_id: str,
        tags: list[str],
        parameters: list[dict[str, Any]] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An operation object."""
        op: dict[str, Any] = {
            "summary": summary,
            "operationId": operation_id,
            "tags": tags,
            "responses": dict(responses),
        }
        if parameters:
            op["parameters"] = parameters
        if body is not None:
            op["requestBody"] = dict(body)
        return op


def ref(name: str) -> dict[str, str]:
    """``{"$ref": "#/components/schemas/<name>"}``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _header(type_: str) -> dict[str, Any]:
    return {"schema": {"type": type_}}


def hoisted(schema: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A pydantic JSON Schema as components: itself as ``name``, each ``$defs`` entry beside it."""
    body = copy.deepcopy(dict(schema))
    defs = body.pop("$defs", {})

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str) and target.startswith("#/$defs/"):
                node = {**node, "$ref": f"#/components/schemas/{name}.{target[8:]}"}
            return {k: rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    found = {name: rewrite(body)}
    found.update({f"{name}.{key}": rewrite(value) for key, value in defs.items()})
    return found


# -- which entities a caller sees ----------------------------------------------


def documented_entities(xrm: XRM) -> list[EntityDefinition]:
    """The entities the caller may read at all: through a role's read privilege at a
    scope that reaches records, or a plugin's grant rule; every entity for administrators.

    Records only shared with the caller do not put their entity in the document.
    """
    entities = xrm.metadata_service.entities()
    caller = xrm.caller
    if caller is None or caller.is_system:
        return entities
    security = xrm.security_service
    principal = security.principal(caller)
    if principal.administrator:
        return entities
    return [
        e
        for e in entities
        if _reaches(principal.grant(e.name, "read").scope, e)
        or any(r.mode == "grant" and "read" in r.privileges for r in security.rules(e.name))
    ]


def _reaches(scope: Scope, definition: EntityDefinition) -> bool:
    # Organization-owned records have no owner: only organization scope reads them.
    if definition.ownership is Ownership.ORGANIZATION:
        return scope is Scope.ORGANIZATION
    return scope > Scope.NONE


# -- the document ----------------------------------------------------------------


def build_document(xrm: XRM, modules: tuple[str, ...]) -> dict[str, Any]:
    """The OpenAPI document as ``xrm``'s caller sees it, with the paths of ``modules``."""
    entities = documented_entities(xrm)
    names = {e.name for e in entities}
    actions = [a for a in xrm.actions.list() if a.action.entity in names]
    spec = Spec(entities, actions)
    paths: dict[str, dict[str, Any]] = {}
    for module, contributed in _contributions(spec, modules):
        for path, item in contributed.items():
            merged = paths.setdefault(path, {})
            clash = set(merged) & set(item)
            if clash:
                raise ValueError(f"{module} documents {path} {sorted(clash)} a second time")
            merged.update(item)
    for action in actions:  # every action's models, whichever module serves the action
        spec.action_schema(action, "input")
        spec.action_schema(action, "output")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "xRM API",
            "version": __version__,
            "description": "Generated from the live metadata; see docs/rest-api.md.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(spec.schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token"}
            },
        },
        "security": [{"bearer": []}],
    }


def _contributions(
    spec: Spec, modules: tuple[str, ...]
) -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    for name in modules:
        module = importlib.import_module(name)
        contribute = getattr(module, "openapi_paths", None)
        if contribute is not None:
            yield name, contribute(spec)


class DocumentCache:
    """Documents by (metadata version, documented entities, actions); only the current
    metadata version's are kept."""

    def __init__(self) -> None:
        self._documents: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._version = -1
        self._lock = threading.Lock()

    def document(self, xrm: XRM, modules: tuple[str, ...]) -> dict[str, Any]:
        """The document for ``xrm``'s caller, built if its key is new."""
        xrm.metadata_service.refresh()  # another process may have changed the metadata
        version = xrm.metadata_service.version
        entities = tuple(e.name for e in documented_entities(xrm))
        actions = tuple(a.qualified_name for a in xrm.actions.list())
        key = (version, entities, actions, modules)
        with self._lock:
            if version != self._version:
                self._documents.clear()
                self._version = version
            found = self._documents.get(key)
        if found is None:
            found = build_document(xrm, modules)
            with self._lock:
                self._documents[key] = found
        return found


_CACHES_LOCK = threading.Lock()


def openapi(call: Call) -> Any:
    """The OpenAPI 3.1 document for the caller."""
    from xrm_core.api.app import ROUTE_MODULES  # the app imports this module

    state = call.request.app.state
    with _CACHES_LOCK:
        cache = getattr(state, "openapi_cache", None)
        if cache is None:
            cache = state.openapi_cache = DocumentCache()
    return cache.document(call.xrm, ROUTE_MODULES)


def routes() -> list[BaseRoute]:
    """``GET /openapi.json`` (mounted under ``/api``)."""
    return [Route("/openapi.json", endpoint(openapi), methods=["GET"])]


def openapi_paths(spec: Spec) -> dict[str, dict[str, Any]]:
    """This document's own path, and ``/api/v1/me`` (served by the app itself)."""
    me = {
        "type": "object",
        "required": ["id", "username", "version"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "username": {"type": ["string", "null"]},
            "version": {"type": "string", "description": "The server's version"},
        },
    }
    return {
        "/api/openapi.json": {
            "get": spec.operation(
                "This OpenAPI document",
                {"200": spec.json_response("OpenAPI 3.1", {"type": "object"}), **spec.problems()},
                operation_id="openapi",
                tags=["api"],
            )
        },
        "/api/v1/me": {
            "get": spec.operation(
                "Who the API token stands for",
                # 404: a user whose roles do not let them read their own user record.
                {"200": spec.json_response("The user", me), **spec.problems(404)},
                operation_id="me",
                tags=["api"],
            )
        },
    }
