"""Saved views: a user's named filter, sort and columns of one entity's list.

A view is a record of the core entity ``saved_view`` (decision 0033), so it is
owned, permitted and audited like any record: a user lists their own views,
and one whose roles grant nothing on ``saved_view`` simply has none. Its filter
is kept in the query language, so other interfaces can run it too.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.fields import columns, names_of
from admin_ui.records_list_filters import combine, rows_of
from admin_ui.records_list_state import ListState, parse
from admin_ui.web import Page, view
from xrm_core.errors import AccessDenied, Problem, QueryError, RecordNotFound, UnknownEntity
from xrm_core.records.results import Record
from xrm_core.xrm import XRM

ENTITY = "saved_view"
#: Views one list offers (a user with more sees the first, by name).
MAX_VIEWS = 100


def routes() -> list[BaseRoute]:
    """Saving, opening and deleting views (their own paths: none clash with a record's)."""
    return [
        Route("/saved-views", view(save), methods=["POST"]),
        Route("/saved-views/{id}", view(open_view), methods=["GET"]),
        Route("/saved-views/{id}/delete", view(delete), methods=["POST"]),
    ]


def mine(xrm: XRM, entity: str) -> list[Record]:
    """The caller's views of ``entity``, by name; none when they may read no view."""
    user = xrm.caller.user_id if xrm.caller is not None else None
    if user is None:
        return []
    wanted = {"entity": entity, "owner_id": str(user)}
    try:
        return xrm.records(ENTITY).query(filter=wanted, order=["name"], limit=MAX_VIEWS).records
    except (AccessDenied, UnknownEntity):
        return []


def may_save(xrm: XRM) -> bool:
    """Whether the caller may save views at all."""
    try:
        xrm.records(ENTITY).require_create()
    except (AccessDenied, UnknownEntity):
        return False
    return True


def state_query(state: ListState) -> str:
    """What a view keeps of a list, as a query string (not its page, nor the view itself)."""
    kept = [(k, v) for k, v in state.params(page=False) if k != "view"]
    return urlencode(kept)


def save(page: Page) -> Response:
    """Save the list's state under a name; a view of the same name is replaced."""
    entity, name = page.value("entity"), page.value("name").strip()
    definition = page.xrm.metadata.get(entity)
    params = {k: v[-1] for k, v in parse_qs(page.value("state")).items()}
    state = parse(params, parse_qs(page.value("state")).get("col", []))
    fields = {f.name: f for f in columns(definition)}
    names = names_of(page.xrm)
    combined = combine(definition, fields, state.rows, state.query, names)
    wrong = [r.error for r in state.rows if r.error] + [combined.query_error or ""]
    if any(wrong):
        raise QueryError("the view's filter is not valid", [Problem("/filter", wrong[0] or "")])
    # The service checks the filter and sort before anything is saved.
    order = [state.sort] if state.sort else []
    page.xrm.records(entity).query(filter=combined.filter, order=order, limit=1, fields=["id"])
    values = {
        "name": name,
        "entity": entity,
        "filter": combined.filter,
        "order": order,
        "columns": state.columns,
    }
    views = page.xrm.records(ENTITY)
    same = [v for v in mine(page.xrm, entity) if v["name"] == name]
    if same:
        saved = views.update(same[0]["id"], values, if_version=same[0]["version"])
    else:
        saved = views.create(values)
    return page.redirect(f"/saved-views/{saved['id']}")


def open_view(page: Page) -> Response:
    """The list a view describes (a redirect to its URL, which can be bookmarked)."""
    saved = page.xrm.records(ENTITY).get(page.request.path_params["id"])
    entity = str(saved["entity"])
    definition = page.xrm.metadata.get(entity)
    fields = {f.name: f for f in columns(definition)}
    rows, rest = rows_of(definition, fields, saved.get("filter"), names_of(page.xrm))
    query = json.dumps(rest[0] if len(rest) == 1 else {"and": rest}) if rest else ""
    order = saved.get("order") or []
    sort = order[0] if isinstance(order, list) and order and isinstance(order[0], str) else ""
    cols = saved.get("columns") or []
    state = ListState(
        rows=rows,
        query=query,
        sort=sort,
        columns=[c for c in cols if isinstance(c, str)] if isinstance(cols, list) else [],
        view=str(saved["id"]),
    )
    return page.redirect(state.url(f"/records/{entity}"))


def delete(page: Page) -> Response:
    """Delete a view; back to its entity's list."""
    views = page.xrm.records(ENTITY)
    saved = views.get(page.request.path_params["id"])
    caller = page.xrm.caller
    if caller is None or saved.get("owner_id") != caller.user_id:
        # An administrator may read everyone's views; this button is for one's own.
        raise RecordNotFound("no such saved view of yours")
    views.delete(saved["id"])
    return page.redirect(f"/records/{saved['entity']}")
