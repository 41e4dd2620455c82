"""The audit log: who changed what and when, filtered by entity, record, user and time.

A GET form, so a filtered list is a link that can be kept and shared. Pages
are keyset pages of the log (newest first): "Older entries" carries the last
entry's cursor. Times are entered and shown in UTC. A filter that cannot be
read is said next to its field, and nothing is searched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.web import Page, view
from xrm_core.audit import AuditEntry
from xrm_core.errors import AccessDenied, QueryError
from xrm_core.xrm import XRM

#: Entries on one page.
PAGE_SIZE = 50
#: The filters, in the order the form has them.
FILTERS = ("entity", "record_id", "user", "since", "until")
#: Which filter a service problem's pointer is about.
POINTER_FIELDS = {
    "/entity": "entity",
    "/record_id": "record_id",
    "/actor_id": "user",
    "/since": "since",
    "/until": "until",
}
#: Longest value shown in the list (the whole one is in the record's history).
MAX_SHOWN = 120


def routes() -> list[BaseRoute]:
    """The audit log."""
    return [Route("/audit", view(audit_log), methods=["GET"])]


@dataclass(frozen=True)
class Search:
    """The filters as read from the query string, and what was wrong with them."""

    given: Mapping[str, str]
    arguments: Mapping[str, Any]
    errors: Mapping[str, str]


@dataclass(frozen=True)
class Row:
    """One entry as the list shows it."""

    entry: AuditEntry
    actor: str
    changes: list[tuple[str, str, str]]


def audit_log(page: Page) -> Response:
    """The filter form and one page of matching entries, newest first."""
    query = page.request.query_params
    search = read_filters(page.xrm, {name: query.get(name, "").strip() for name in FILTERS})
    cursor = query.get("cursor") or None
    errors = dict(search.errors)
    rows: list[Row] = []
    more = None
    if not errors:
        try:
            entries = page.xrm.audit.search(**search.arguments, limit=PAGE_SIZE, cursor=cursor)
        except QueryError as error:
            errors = _placed(error)
        else:
            rows = _rows(page.xrm, entries)
            if len(entries) == PAGE_SIZE:
                more = _link({**search.given, "cursor": entries[-1].cursor})
    context = {
        "given": search.given,
        "errors": errors,
        "rows": rows,
        "older": more,
        "first": _link(search.given) if cursor else None,
        # A dropped entity's entries stay in the log: its name is kept as an option.
        "entities": sorted(
            {d.name for d in page.xrm.metadata.entities()} | _given(search, "entity")
        ),
    }
    template = "audit/_search.html" if page.htmx else "audit/log.html"
    return page.render(template, context, status=422 if errors else 200)


def read_filters(xrm: XRM, given: Mapping[str, str]) -> Search:
    """The service's arguments from the form's text, or a message per field that is wrong."""
    arguments: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if given["entity"]:
        arguments["entity"] = given["entity"]
    if given["record_id"]:
        try:
            arguments["record_id"] = uuid.UUID(given["record_id"])
        except ValueError:
            errors["record_id"] = "Not a record id (an id looks like 0190f0e4-8b7a-7c41-…)."
    if given["user"]:
        found = _user_id(xrm, given["user"])
        if found is None:
            errors["user"] = f"No user is called {given['user']!r}."
        else:
            arguments["actor_id"] = found
    for name in ("since", "until"):
        if given[name]:
            moment = _moment(given[name])
            if moment is None:
                errors[name] = "Not a date and time (2026-01-31 or 2026-01-31T14:30)."
            else:
                arguments[name] = moment
    since, until = arguments.get("since"), arguments.get("until")
    if since is not None and until is not None and until <= since:
        errors["until"] = "Must be later than From."
    return Search(given, arguments, errors)


def _given(search: Search, name: str) -> set[str]:
    return {search.given[name]} if search.given[name] else set()


def _moment(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    # The form's times are UTC, as the list shows them.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _user_id(xrm: XRM, username: str) -> uuid.UUID | None:
    found = xrm.records("user").query(filter={"username": username}, fields=["id"], limit=1)
    return uuid.UUID(str(found.records[0]["id"])) if found.records else None


def _placed(error: QueryError) -> dict[str, str]:
    placed: dict[str, str] = {}
    for problem in error.problems:
        field = POINTER_FIELDS.get(problem.pointer, "")
        placed[field] = (placed.get(field, "") + " " + problem.message).strip()
    if "" in placed:  # a problem of no field (a stale cursor): said above the list
        placed["form"] = placed.pop("")
    return placed


def _rows(xrm: XRM, entries: list[AuditEntry]) -> list[Row]:
    names = _usernames(xrm, {e.actor_id for e in entries if e.actor_id is not None})
    rows = []
    for entry in entries:
        if entry.actor_id is None:
            actor = "system" + (f" ({entry.reason})" if entry.reason else "")
        else:
            actor = names.get(entry.actor_id, str(entry.actor_id))
        rows.append(Row(entry, actor, _changes(entry)))
    return rows


def _usernames(xrm: XRM, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    try:
        found = xrm.records("user").query(
            filter={"id": {"in": [str(i) for i in ids]}}, fields=["username"], limit=len(ids)
        )
    except AccessDenied:
        return {}  # the ids are shown instead
    return {uuid.UUID(str(r["id"])): str(r["username"]) for r in found.records}


def _changes(entry: AuditEntry) -> list[tuple[str, str, str]]:
    if entry.record_id is None:  # a definition: the documents are too long for a list
        return [("definition", "", "changed")]
    return [(key, _shown(c.get("old")), _shown(c.get("new"))) for key, c in _items(entry.changes)]


def _items(changes: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for key, change in changes.items():
        if isinstance(change, Mapping):
            yield key, change


def _shown(value: object) -> str:
    if value is None:
        return "—"
    text = str(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _link(params: Mapping[str, str]) -> str:
    return "/admin/audit?" + urlencode({k: v for k, v in params.items() if v})
