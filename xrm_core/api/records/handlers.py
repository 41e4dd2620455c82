"""The record endpoints: each a thin adapter over ``call.xrm.records(entity)``.

Validation, permissions, field security, events and audit all happen in the
record service; a handler reads the request, calls one method and shapes the
answer (status, ``ETag``, ``Location``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from starlette.responses import Response

from xrm_core.api.endpoint import Call
from xrm_core.api.inputs import body_object, boolean, member_problems, refuse
from xrm_core.api.records.params import ListQuery, etag, if_match, read_query
from xrm_core.errors import BulkError, InvalidRequest, Problem, RecordNotFound, XRMError
from xrm_core.metadata.models import problems_from
from xrm_core.records.results import BulkResult, Record, RowResult
from xrm_core.records.service import RecordService

_LIST_PARAMS = frozenset({"filter", "order", "fields", "expand", "limit", "cursor", "count"})
_GET_PARAMS = frozenset({"fields", "expand"})
_AGGREGATE_PARAMS = frozenset({"filter", "group_by"})
#: Query parameters naming the measures of an aggregate: ``measure.total=sum:amount``.
MEASURE = "measure."
_DELETE_PARAMS = frozenset({"dry_run"})
_LINK = ("target_id", "attributes")


def _records(call: Call) -> RecordService:
    return call.xrm.records(call.params["entity"])


def _has_query(call: Call) -> bool:
    return bool(call.request.scope.get("query_string"))


def location(entity: str, record_id: Any) -> str:
    """The path of a record."""
    return f"/api/v1/{entity}/{record_id}"


def _with_etag(call: Call, record: Record) -> Record:
    if "version" in record:
        call.headers["ETag"] = etag(record["version"])
    return record


# -- one record and lists ----------------------------------------------------


def list_records(call: Call) -> dict[str, Any]:
    """A page of records: filter, order, fields, expand, limit, cursor, count."""
    q = read_query(call.request.query_params, _LIST_PARAMS)
    page = _records(call).query(
        filter=q.filter,
        order=q.order,
        limit=q.limit,
        cursor=q.cursor,
        fields=q.fields,
        expand=q.expand,
        count=q.count,
    )
    answer: dict[str, Any] = {"items": page.records, "next_cursor": page.next_cursor}
    if q.count:
        answer["total"] = page.total
    answer["omitted"] = list(page.omitted)
    return answer


def get_record(call: Call) -> Record:
    """One record, with its version as the ``ETag``."""
    # Most reads have no query string: not parsing one is a measurable part of a GET.
    q = read_query(call.request.query_params, _GET_PARAMS) if _has_query(call) else ListQuery()
    # The version is read even when not asked for: it is the ETag.
    fields = None if q.fields is None else [*q.fields, "version"]
    record = _records(call).get(call.params["id"], fields=fields, expand=q.expand)
    _with_etag(call, record)
    if q.fields is not None and "version" not in q.fields:
        record.pop("version", None)
    return record


def create_record(call: Call) -> Record:
    """Create a record: 201 with ``Location`` and ``ETag``."""
    records = _records(call)
    record = records.create(body_object(call.body, what="the record"))
    call.headers["Location"] = location(records.entity, record["id"])
    return _with_etag(call, record)


def update_record(call: Call) -> Record:
    """Change some fields; ``If-Match`` makes it conditional (stale: 412)."""
    version = if_match(call.request.headers.get("if-match"))
    changes = body_object(call.body, what="the changes")
    record = _records(call).update(call.params["id"], changes, if_version=version)
    return _with_etag(call, record)


def delete_record(call: Call) -> dict[str, Any]:
    """Delete a record (``?dry_run=true`` only counts); the answer is the delete report."""
    q = read_query(call.request.query_params, _DELETE_PARAMS)
    dry_run = boolean("dry_run", q.extra.get("dry_run", "false"))
    version = if_match(call.request.headers.get("if-match"))
    report = _records(call).delete(call.params["id"], if_version=version, dry_run=dry_run)
    return {
        "deleted": report.deleted,
        "cleared": report.cleared,
        "unlinked": report.unlinked,
        "dry_run": report.dry_run,
    }


# -- aggregates ----------------------------------------------------------------


def aggregate_records(call: Call) -> dict[str, Any]:
    """Measures per group: ``group_by=stage,closed_at:month&measure.total=sum:amount``."""
    q = read_query(call.request.query_params, _AGGREGATE_PARAMS, (MEASURE,))
    group_by = [g for g in q.extra.get("group_by", "").split(",") if g.strip()]
    measures = {
        name.removeprefix(MEASURE): spec
        for name, spec in q.extra.items()
        if name.startswith(MEASURE)
    }
    rows = _records(call).aggregate(
        group_by=[g.strip() for g in group_by], measures=measures or None, filter=q.filter
    )
    return {"items": rows}


# -- bulk ----------------------------------------------------------------------


class BulkRequest(pydantic.BaseModel):
    """The body of ``POST /{entity}/$bulk``."""

    model_config = pydantic.ConfigDict(extra="forbid")

    operation: Literal["create", "update", "upsert"]
    rows: list[dict[str, Any]]
    mode: Literal["atomic", "per_row"] = "atomic"
    #: The alternate key (its name or its fields) or unique field an upsert matches on.
    key: str | list[str] | None = None


def bulk_records(call: Call) -> dict[str, Any]:
    """Create, update or upsert many records, all or nothing or row by row."""
    request = _bulk_request(call.body)
    records = _records(call)
    try:
        if request.operation == "create":
            result = records.create_many(request.rows, mode=request.mode)
        elif request.operation == "update":
            result = records.update_many(request.rows, mode=request.mode)
        else:
            result = records.upsert_many(request.rows, key=request.key or "", mode=request.mode)
    except BulkError as exc:
        # The service points into the list of rows; the API's list is at /rows.
        raise BulkError(
            exc.message,
            [Problem("/rows" + p.pointer, p.message) for p in exc.problems],
            exc.details,
        ) from None
    return _bulk_answer(result)


def _bulk_request(body: Any) -> BulkRequest:
    try:
        request = BulkRequest.model_validate(body_object(body, what="the bulk request"))
    except pydantic.ValidationError as exc:
        raise InvalidRequest("the bulk request is not valid", problems_from(exc)) from None
    if request.operation == "upsert" and not request.key:
        raise refuse("/key", "name an alternate key or unique field", "an upsert needs a key")
    if request.operation != "upsert" and request.key is not None:
        raise refuse("/key", "only for operation 'upsert'", "only an upsert takes a key")
    return request


def _bulk_answer(result: BulkResult) -> dict[str, Any]:
    return {
        "succeeded": len(result.succeeded),
        "failed": len(result.failed),
        "rows": [_row(r) for r in result.rows],
    }


def _row(row: RowResult) -> dict[str, Any]:
    answer: dict[str, Any] = {"index": row.index, "ok": row.ok}
    if row.ok:
        answer["created"] = row.created
        answer["record"] = row.record
    elif row.error is not None:
        answer["error"] = _row_error(row.error)
    return answer


def _row_error(error: XRMError) -> dict[str, Any]:
    return {
        "code": error.code,
        "detail": error.message,
        "errors": [{"pointer": p.pointer, "detail": p.message} for p in error.problems],
    }


# -- many-to-many links ----------------------------------------------------------


def list_links(call: Call) -> dict[str, Any]:
    """The links of a record through a many-to-many relationship, oldest first."""
    links = _records(call).links(call.params["id"], call.params["relationship"])
    return {"items": links}


def create_link(call: Call) -> Record:
    """Link the record to ``target_id`` (with ``attributes``); linking again replaces them."""
    body = body_object(call.body, what="the link")
    problems = member_problems(body, _LINK, required=("target_id",))
    target: Any = body.get("target_id")
    attributes = body.get("attributes")
    if "target_id" in body and not isinstance(target, str):
        problems.append(Problem("/target_id", "must be a record id (a string)"))
    if attributes is not None and not isinstance(attributes, Mapping):
        problems.append(Problem("/attributes", "must be an object"))
    if problems:
        raise InvalidRequest("the link is not valid", problems)
    return _records(call).link(call.params["id"], call.params["relationship"], target, attributes)


def delete_link(call: Call) -> Response:
    """Remove a link: 204, or 404 when there was none."""
    p = call.params
    if not _records(call).unlink(p["id"], p["relationship"], p["target_id"]):
        raise RecordNotFound(
            f"{p['entity']} {p['id']} has no {p['relationship']!r} link to {p['target_id']}",
            [Problem("/target_id", "not linked")],
        )
    return Response(status_code=204)
