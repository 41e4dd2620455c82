"""Actions, audit and explanations over HTTP.

- ``POST /api/v1/{entity}/{id}/actions/{name}`` and ``POST /api/v1/{entity}/$actions/{name}``
  run a plugin's action through ``xrm.actions`` (input validation, permission,
  one unit of work, event);
- ``GET /api/v1/{entity}/{id}/audit`` and ``/api/v1/audit/...`` read the audit
  log through ``xrm.audit``, which decides who may read what;
- ``GET /api/v1/{entity}/{id}/timeline`` is ``xrm.timeline``: the record's audit
  entries and what plugins add (activities), newest first;
- ``GET /api/v1/{entity}/{id}/explain`` asks ``xrm.security.explain`` why a
  user may (or may not) do something with a record.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import xrm_core.api.records  # noqa: F401  (registers the xrm_entity path convertor)
from xrm_core.api import inputs
from xrm_core.api.admin_spec import operations_paths as openapi_paths
from xrm_core.api.endpoint import Call, endpoint
from xrm_core.api.problems import from_error
from xrm_core.audit import AuditEntry
from xrm_core.audit.log import MAX_LIMIT
from xrm_core.context import correlation_id
from xrm_core.errors import InvalidActionOutput
from xrm_core.security.explain import Explanation
from xrm_core.timeline import DEFAULT_LIMIT as TIMELINE_LIMIT
from xrm_core.timeline import MAX_LIMIT as TIMELINE_MAX

logger = logging.getLogger("xrm.api")

_E = "/v1/{entity:xrm_entity}"
#: The query parameters of a page of audit entries, and of a period of them.
_PAGE = ("limit", "cursor")
_PERIOD = (*_PAGE, "since", "until")

__all__ = ["openapi_paths", "routes"]


def routes() -> list[BaseRoute]:
    """The action, audit and explain endpoints."""
    return [
        Route("/v1/audit/users/{user_id}", endpoint(audit_by_user, query=_PERIOD), methods=["GET"]),
        Route("/v1/audit/bypassed", endpoint(audit_bypassed, query=_PERIOD), methods=["GET"]),
        Route("/v1/audit/correlations/{correlation_id}", endpoint(audit_unit), methods=["GET"]),
        Route(
            "/v1/audit/definitions/{name}", endpoint(audit_definition, query=_PAGE), methods=["GET"]
        ),
        Route(_E + "/$actions/{name}", endpoint(run_collection_action), methods=["POST"]),
        Route(_E + "/{id}/actions/{name}", endpoint(run_record_action), methods=["POST"]),
        Route(_E + "/{id}/audit", endpoint(audit_record, query=_PAGE), methods=["GET"]),
        Route(_E + "/{id}/timeline", endpoint(timeline, query=("limit",)), methods=["GET"]),
        Route(
            _E + "/{id}/explain", endpoint(explain, query=("user", "privilege")), methods=["GET"]
        ),
    ]


# -- actions ---------------------------------------------------------------------


def run_record_action(call: Call) -> Any:
    """Run the action ``{entity}.{name}`` on one record; the body is its input."""
    return _run(call, call.params["id"])


def run_collection_action(call: Call) -> Any:
    """Run the collection action ``{entity}.{name}``; the body is its input."""
    return _run(call, None)


def _run(call: Call, record_id: str | None) -> Any:
    if call.body is not None and not isinstance(call.body, dict):
        raise inputs.refuse("", "an action's input is a JSON object")
    name = f"{call.params['entity']}.{call.params['name']}"
    try:
        output = call.xrm.actions.run(name, record_id, call.body)
    except InvalidActionOutput as error:
        return _plugin_bug(call, error)
    return output.model_dump(mode="json")


def _plugin_bug(call: Call, error: InvalidActionOutput) -> Response:
    """A 500 naming the action and its plugin (their bug, not the client's); logged."""
    ref = correlation_id()
    logger.error("%s [%s]", error, ref)
    # What the output lacked is the plugin's business (it is in the log), not the client's.
    blamed = InvalidActionOutput(
        f"{error.message}; this is a bug of the plugin: quote {ref} when reporting it"
    )
    return from_error(call.request, blamed, correlation_id=ref)


# -- audit -----------------------------------------------------------------------


def audit_record(call: Call) -> dict[str, Any]:
    """A record's history, newest first (whoever may read the record)."""
    limit, cursor = _paging(call)
    entries = call.xrm.audit.for_record(
        call.params["entity"], call.params["id"], limit=limit, cursor=cursor
    )
    return _entries(entries, limit)


def audit_by_user(call: Call) -> dict[str, Any]:
    """What one user did, newest first (administrators, and the user themself)."""
    limit, cursor = _paging(call)
    since, until = inputs.moment(call.request, "since"), inputs.moment(call.request, "until")
    entries = call.xrm.audit.by_user(
        call.params["user_id"], since=since, until=until, limit=limit, cursor=cursor
    )
    return _entries(entries, limit)


def audit_bypassed(call: Call) -> dict[str, Any]:
    """Changes made while plugins' handlers were bypassed, newest first (administrators)."""
    limit, cursor = _paging(call)
    since, until = inputs.moment(call.request, "since"), inputs.moment(call.request, "until")
    entries = call.xrm.audit.bypassed(since=since, until=until, limit=limit, cursor=cursor)
    return _entries(entries, limit)


def audit_unit(call: Call) -> dict[str, Any]:
    """Everything one unit of work (request, import, command) did, oldest first (administrators)."""
    entries = call.xrm.audit.by_correlation(call.params["correlation_id"])
    return {"items": [_entry(e) for e in entries], "next_cursor": None}


def audit_definition(call: Call) -> dict[str, Any]:
    """The changes of an entity's definition, newest first (definitions are no secret)."""
    limit, cursor = _paging(call)
    entries = call.xrm.audit.for_definition(call.params["name"], limit=limit, cursor=cursor)
    return _entries(entries, limit)


def _paging(call: Call) -> tuple[int, str | None]:
    return inputs.number(call.request, "limit", 100, 1, MAX_LIMIT), inputs.text(
        call.request, "cursor"
    )


def _entries(entries: list[AuditEntry], limit: int) -> dict[str, Any]:
    return inputs.page(entries, limit, lambda e: e.cursor, _entry)


def _entry(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "reason": entry.reason,
        "bypassed_handlers": entry.bypassed_handlers,
        "correlation_id": entry.correlation_id,
        "entity": entry.entity,
        "record_id": entry.record_id,
        "operation": entry.operation,
        "changes": dict(entry.changes),
        "cursor": entry.cursor,
    }


# -- timeline --------------------------------------------------------------------


def timeline(call: Call) -> dict[str, Any]:
    """A record's timeline, newest first (whoever may read the record)."""
    limit = inputs.number(call.request, "limit", TIMELINE_LIMIT, 1, TIMELINE_MAX)
    entries = call.xrm.timeline(call.params["entity"], call.params["id"], limit=limit)
    return {"items": [e.to_dict() for e in entries]}


# -- explain ---------------------------------------------------------------------


def explain(call: Call) -> dict[str, Any]:
    """Whether ``?user=`` (default: the caller) may ``?privilege=`` (default read) the record."""
    caller = call.xrm.caller
    user = inputs.text(call.request, "user")
    if user is None:
        user = str(caller.user_id) if caller else ""
    privilege = inputs.text(call.request, "privilege", "read") or "read"
    found = call.xrm.security.explain(user, call.params["entity"], call.params["id"], privilege)
    return _explanation(found)


def _explanation(found: Explanation) -> dict[str, Any]:
    return {
        "user_id": found.user_id,
        "entity": found.entity,
        "record_id": found.record_id,
        "privilege": found.privilege,
        "granted": found.granted,
        "reasons": [dataclasses.asdict(r) for r in found.reasons],
        "refusal": found.refusal or None,
        "restrictions": list(found.restrictions),
        "text": str(found),
    }
