"""Record lists: the entities one may read, and any entity's records, filtered and sorted.

``/admin/records`` lists the entities whose records the user's roles let them
read. ``/admin/records/{entity}`` is one entity's list: columns from metadata,
filter rows turned into the query language (ANDed), sorting by a column,
cursor pagination and saved views. Everything the list shows is in its URL
(:mod:`admin_ui.records_list_state`), so htmx only spares the page reload: a
plain GET of the same URL shows the same list.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui import records_list_views as views
from admin_ui.fields import columns, default_columns, names_of
from admin_ui.record_form_lookup import title_fields
from admin_ui.records_list_filters import (
    FilterRow,
    combine,
    input_kind,
    operator,
    operators,
    options,
    row_of_problem,
)
from admin_ui.records_list_state import LIMITS, ListState, parse
from admin_ui.records_list_table import Listing, table
from admin_ui.web import Page, admin_url, view
from xrm_core.errors import AccessDenied, QueryError, XRMError
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind


def routes() -> list[BaseRoute]:
    """The entity index, each entity's list, and saved views."""
    return [
        Route("/records", view(index), methods=["GET"]),
        Route("/records/{entity}", view(record_list), methods=["GET"]),
        *views.routes(),
    ]


def index(page: Page) -> Response:
    """The entities whose records the user may read, each linked to its list."""
    readable: list[EntityDefinition] = []
    for definition in page.xrm.metadata.entities():
        try:
            page.xrm.records(definition.name).require_read()
        except AccessDenied:
            continue
        readable.append(definition)
    readable.sort(key=lambda d: d.plural.lower())
    return page.render("records/index.html", {"entities": readable})


def record_list(page: Page) -> Response:
    """One entity's records: filters, sort, columns and page from the query string."""
    entity = page.request.path_params["entity"]
    definition = page.xrm.metadata.get(entity)
    try:
        page.xrm.records(entity).require_read()
    except AccessDenied:
        message = f"Your roles do not let you read {definition.plural.lower()}."
        context = {"title": "No access", "message": message}
        return page.render("error.html", context, status=403)
    params = page.request.query_params
    state = parse(params, params.getlist("col"))
    fields = {f.name: f for f in readable_columns(page, definition)}
    if state.columns == default_columns(definition):
        state.columns = []  # the default needs no parameters
    edited = _edit_rows(state, params, fields)
    base = admin_url(f"/records/{entity}")
    if edited and not page.htmx:
        return page.redirect(state.url(base).removeprefix("/admin"))
    listing = run(page, definition, state)
    context = _context(page, definition, state, listing, base)
    template = "records/_list.html" if page.htmx else "records/list.html"
    response = page.render(template, context, status=422 if listing.failed else 200)
    if page.htmx:
        response.headers["HX-Push-Url"] = state.url(base)
    return response


def _edit_rows(state: ListState, params: Any, fields: dict[str, FieldDefinition]) -> bool:
    """Apply the form's *Add filter* and *Remove* buttons; True when one was pressed."""
    removed = params.get("remove", "")
    if removed.isdigit() and 1 <= int(removed) <= len(state.rows):
        del state.rows[int(removed) - 1]
        return True
    added = fields.get(params.get("new_field", "")) if params.get("add") else None
    if added is not None:
        state.rows.append(FilterRow(added.name, operators(added)[0].name))
        return True
    return bool(params.get("add"))


def run(page: Page, definition: EntityDefinition, state: ListState) -> Listing:
    """The list's query through the record service; problems are put next to what caused them."""
    fields = {f.name: f for f in columns(definition)}
    combined = combine(definition, fields, state.rows, state.query, names_of(page.xrm))
    listing = Listing(query_error=combined.query_error)
    if listing.query_error or any(r.error for r in state.rows):
        return listing
    records = page.xrm.records(definition.name)
    try:
        listing.page = records.query(
            filter=combined.filter,
            order=order_of(definition, state),
            limit=state.limit,
            cursor=state.after or None,
            count=True,
        )
    except (QueryError, AccessDenied) as error:
        _place(error, state, combined.owners, listing)
        _check_each_row(page, definition, state)
    return listing


def readable_columns(page: Page, definition: EntityDefinition) -> list[FieldDefinition]:
    """The columns the signed-in user may read: field security hides the others.

    Only these are offered as columns and filters (a secured field one may not read
    is no choice at all, even before a query says so).
    """
    caller = page.xrm.caller
    hidden = page.xrm.security.unreadable_fields(caller, definition.name) if caller else frozenset()
    return [f for f in columns(definition) if f.name not in hidden]


def order_of(definition: EntityDefinition, state: ListState) -> list[str]:
    """The sort of the list: the chosen column, else the records' name."""
    if state.sort:
        return [state.sort]
    return list(title_fields(definition)[:1])


def _place(error: XRMError, state: ListState, owners: list[int | None], listing: Listing) -> None:
    for problem in error.problems or ():
        concerns_filter, row = row_of_problem(problem.pointer, owners)
        if row is not None:
            state.rows[row].error = state.rows[row].error or problem.message
        elif concerns_filter and state.query:
            listing.query_error = problem.message
        elif problem.pointer.startswith("/cursor"):
            listing.problems.append("This page link is out of date: start again from page 1.")
        elif problem.pointer.startswith("/order"):
            listing.problems.append(f"Cannot sort this way: {problem.message}.")
        else:
            listing.problems.append(problem.message)
    if not error.problems:
        listing.problems.append(error.message)


def _check_each_row(page: Page, definition: EntityDefinition, state: ListState) -> None:
    # The service stops at the first problem: ask about each other row alone, so
    # that every wrong row says so at once (only when something was wrong).
    fields = {f.name: f for f in columns(definition)}
    records = page.xrm.records(definition.name)
    for row in state.rows:
        if row.error:
            continue
        alone = combine(definition, fields, [row], "", names_of(page.xrm))
        try:
            records.query(filter=alone.filter, limit=1, fields=["id"])
        except (QueryError, AccessDenied) as error:
            row.error = error.problems[0].message if error.problems else error.message


def _context(
    page: Page, definition: EntityDefinition, state: ListState, listing: Listing, base: str
) -> dict[str, Any]:
    omitted = set(listing.page.omitted) if listing.page is not None else set()
    available = [f for f in readable_columns(page, definition) if f.name not in omitted]
    shown = [c for c in state.columns or default_columns(definition) if c not in omitted]
    fields = {f.name: f for f in available}
    shown = [c for c in shown if c in fields] or [available[0].name]
    order = order_of(definition, state)
    my_views = views.mine(page.xrm, definition.name)
    entity_names = [d.name for d in page.xrm.metadata.entities()]  # for lookups to any entity
    return {
        "definition": definition,
        "state": state,
        "base": base,
        "listing": listing,
        "table": table(page.xrm, definition, listing.page, [fields[c] for c in shown], order),
        "filterable": [f for f in available if f.kind is not Kind.JSON],
        "fields": fields,
        "shown": shown,
        "may_create": _may_create(page, definition.name),
        "views": my_views,
        "may_save": views.may_save(page.xrm),
        "state_query": views.state_query(state),
        "sort_url": lambda key: state.sorted_by(base, key),
        "next_url": (
            state.next_page(base, listing.page.next_cursor)
            if listing.page is not None and listing.page.next_cursor
            else None
        ),
        "previous_url": state.previous_page(base),
        "current_view": next((v for v in my_views if str(v["id"]) == state.view), None),
        "limits": LIMITS,
        "focus_row": len(state.rows) if page.request.query_params.get("add") else None,
        "operators": operators,
        "operator": operator,
        "input_kind": input_kind,
        "options": lambda f, op: options(f, op, entity_names),
    }


def _may_create(page: Page, entity: str) -> bool:
    try:
        page.xrm.records(entity).require_create()
    except AccessDenied:
        return False
    return True
