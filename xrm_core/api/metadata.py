"""Metadata over HTTP: read entity definitions; plan, apply and drop them (customizers).

``/api/v1/metadata/...``. Reads are open to every authenticated user
(definitions are not secret); plans and changes go through ``xrm.metadata``,
which refuses callers without the customize privilege. A change that drops
data and is not confirmed answers 409 with the plan in the problem body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from xrm_core.api import inputs
from xrm_core.api.admin_spec import metadata_paths as openapi_paths
from xrm_core.api.endpoint import Call, endpoint
from xrm_core.api.problems import from_error
from xrm_core.api.records.params import etag
from xrm_core.errors import ConfirmationRequired, DefinitionError, InvalidRequest, Problem, pointer
from xrm_core.metadata.definition import EntityDefinition
from xrm_core.xrm import XRM

_ONE = "/v1/metadata/entities/{name}"

__all__ = ["openapi_paths", "routes"]


def routes() -> list[BaseRoute]:
    """The metadata endpoints."""
    return [
        Route("/v1/metadata/entities", endpoint(list_entities), methods=["GET"]),
        Route(_ONE, endpoint(get_entity), methods=["GET"]),
        Route(_ONE, endpoint(drop_entity, query=("confirm",)), methods=["DELETE"]),
        Route("/v1/metadata/actions", endpoint(list_actions, query=("entity",)), methods=["GET"]),
        Route("/v1/metadata/plan", endpoint(plan), methods=["POST"]),
        Route("/v1/metadata/apply", endpoint(apply), methods=["POST"]),
    ]


def list_entities(call: Call) -> dict[str, Any]:
    """Every entity: name, labels, ownership, owner and definition version."""
    gate = call.xrm.metadata
    return {"items": [_summary(call.xrm, d) for d in gate.entities()], "next_cursor": None}


def get_entity(call: Call) -> dict[str, Any]:
    """One entity with its JSON Schema document and its actions; ETag is its version."""
    xrm = call.xrm
    definition = xrm.metadata.get(call.params["name"])
    described = _summary(xrm, definition)
    call.headers["ETag"] = etag(described["version"])
    actions = [a.to_dict() for a in xrm.actions.list(definition.name)]
    return {**described, "definition": dict(definition.schema), "actions": actions}


def list_actions(call: Call) -> dict[str, Any]:
    """Every action (of ``?entity=``), with its input and output JSON Schemas."""
    entity = inputs.text(call.request, "entity")
    return {"items": [a.to_dict() for a in call.xrm.actions.list(entity)], "next_cursor": None}


def plan(call: Call) -> Any:
    """What applying ``definitions`` (with ``renames``) would do: a dry run."""
    body = inputs.body_object(call.body, ("definitions", "renames"), required=("definitions",))
    definitions, renames = _definitions(body), _renames(body)
    return _planned(call, lambda: call.xrm.metadata.plan(definitions, renames=renames))


def apply(call: Call) -> Any:
    """Create or change entities; a plan that drops data needs ``"confirm": true``."""
    allowed = ("definitions", "renames", "confirm")
    body = inputs.body_object(call.body, allowed, required=("definitions",))
    definitions, renames = _definitions(body), _renames(body)
    confirm = inputs.member(body, "confirm", bool, False)
    gate = call.xrm.metadata
    return _planned(call, lambda: gate.define(definitions, renames=renames, confirm=confirm))


def drop_entity(call: Call) -> Any:
    """Drop an entity and its records (exported first): ``?confirm=true``, else 409 and the plan."""
    confirm = inputs.flag(call.request, "confirm")
    name = call.params["name"]
    return _planned(call, lambda: call.xrm.metadata.drop(name, confirm=confirm))


def _summary(xrm: XRM, definition: EntityDefinition) -> dict[str, Any]:
    gate = xrm.metadata
    return {
        "name": definition.name,
        "label": definition.label,
        "plural": definition.plural,
        "ownership": str(definition.ownership),
        "owner": gate.owner(definition.name),
        "version": gate.entity_version(definition.name),
    }


def _definitions(body: Mapping[str, Any]) -> Any:
    given = body["definitions"]
    if not isinstance(given, dict | list):
        raise inputs.refuse("/definitions", "must be a definition (object) or a list of them")
    return given


def _renames(body: Mapping[str, Any]) -> dict[str, dict[str, str]] | None:
    given = body.get("renames")
    if given is None:
        return None
    problems = []
    if not isinstance(given, dict):
        problems.append(Problem("/renames", "must be an object: {entity: {old: new}}"))
    else:
        for entity, pairs in given.items():
            at = pointer("renames", entity)
            if not isinstance(pairs, dict) or not all(isinstance(v, str) for v in pairs.values()):
                problems.append(Problem(at, "must be an object of old field name: new name"))
    if problems:
        raise InvalidRequest("the renames are not valid", problems)
    return dict(given)


def _planned(call: Call, run: Any) -> Any:
    """The plan ``run`` returns; its refusals with pointers into the body, or with the plan."""
    try:
        return run().to_dict()
    except ConfirmationRequired as error:
        return with_plan(call, error)
    except DefinitionError as error:
        if not isinstance(call.body, dict) or "definitions" not in call.body:
            raise
        located = [_in_definitions(p) for p in error.problems]
        raise DefinitionError(error.message, located, error.details) from None


def _in_definitions(found: Problem) -> Problem:
    # Rename problems already point at /renames; the others point into the documents.
    if found.pointer.startswith("/renames/"):
        return found
    return Problem("/definitions" + found.pointer, found.message)


def with_plan(call: Call, error: ConfirmationRequired) -> Response:
    """A 409 problem for an unconfirmed destructive plan, carrying the plan to confirm."""
    return from_error(call.request, error, plan=error.details.get("plan"))
