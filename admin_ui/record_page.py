"""The record page: create and edit any entity's record, and what surrounds a record.

``/admin/records/{entity}/new`` is the form of a new record;
``/admin/records/{entity}/{id}`` shows a record as its edit form, with its
actions, related lists, many-to-many links and timeline. Every write goes
through the record service: its validation problems come back next to their
fields (nothing saved), and a save carries the version the form was opened at,
so a save over someone else's is a version conflict, shown with their values
while the person's own input is kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui import record_page_actions, record_page_related
from admin_ui.record_form import (
    FormField,
    FormReading,
    changed_values,
    field_text,
    form_fields,
    new_values,
    problems_by_field,
    read_form,
)
from admin_ui.record_form_lookup import label_of, reference_labels, resolve, search
from admin_ui.record_page_actions import ActionState
from admin_ui.record_page_flash import flash, take
from admin_ui.record_page_timeline import timeline
from admin_ui.web import Page, view
from xrm_core.api.problems import status_of
from xrm_core.errors import (
    DeleteRestricted,
    InvalidRequest,
    Problem,
    RecordNotFound,
    UnknownEntity,
    VersionConflict,
    XRMError,
)
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind
from xrm_core.records.results import Record

CONFLICT_MESSAGE = (
    "Someone else saved this record since you opened it. Your input is kept below; "
    "where their values differ, they are shown under the field. Save again to keep yours."
)


def routes() -> list[BaseRoute]:
    """The new-record form, the record page, lookups' search, delete, actions and links."""
    base = "/records/{entity}"
    one = base + "/{id:uuid}"
    return [
        Route(base + "/new", view(new_record), methods=["GET"]),
        Route(base + "/new", view(create_record), methods=["POST"]),
        Route(base + "/lookup", view(lookup_options), methods=["GET"]),
        Route(one, view(show_record), methods=["GET"]),
        Route(one, view(save_record), methods=["POST"]),
        Route(one + "/delete", view(confirm_delete), methods=["GET"]),
        Route(one + "/delete", view(delete_record), methods=["POST"]),
        *record_page_actions.routes(one, show_with_action),
        *record_page_related.routes(one),
    ]


# -- a new record ----------------------------------------------------------


def new_record(page: Page) -> Response:
    """The form of a new record: defaults filled in, and lookups given in the query."""
    definition = _definition(page)
    initial: dict[str, Any] = {
        f.name: f.default if f.has_default else None for f in definition.fields
    }
    for f in definition.fields:
        given = page.request.query_params.get(f.name, "")
        if f.kind is Kind.LOOKUP and _is_id(given):
            initial[f.name] = given
    labels = reference_labels(page.xrm, definition, initial)
    locked = _locked(page, definition, "create")
    fields = form_fields(definition, initial, labels=labels, locked=locked)
    return _form_page(page, definition, fields)


def create_record(page: Page) -> Response:
    """Create the record from the form; on problems show them by field, nothing saved."""
    definition = _definition(page)
    locked = _locked(page, definition, "create")
    writable = [f for f in definition.fields if f.name not in locked]
    reading = _read(page, writable)
    if reading.errors:
        fields = _again(page, definition, reading, reading.errors)
        return _form_page(page, definition, fields, 422)
    try:
        made = page.xrm.records(definition.name).create(new_values(writable, reading))
    except (RecordNotFound, UnknownEntity):
        raise
    except XRMError as error:
        return _refused(page, definition, None, reading, error)
    flash(page, f"{definition.label} created.")
    return page.redirect(f"/records/{definition.name}/{made['id']}")


# -- a record --------------------------------------------------------------


def show_record(page: Page) -> Response:
    """The record as its edit form, with actions, related lists and timeline."""
    definition, record = _record(page)
    return _record_page(page, definition, record)


def show_with_action(page: Page, state: ActionState, status: int) -> Response:
    """The record page with one action's form open on its problems (for the actions module)."""
    definition, record = _record(page)
    return _record_page(page, definition, record, action_state=state, status=status)


def save_record(page: Page) -> Response:
    """Save the changed fields over the version the form was opened at."""
    definition, current = _record(page)
    locked = _locked(page, definition, "update")
    shown = [f for f in definition.fields if f.name in current and f.name not in locked]
    reading = _read(page, shown)
    version = _version(page)
    if reading.errors:
        fields = _again(page, definition, reading, reading.errors, current)
        return _record_page(page, definition, current, fields=fields, version=version, status=422)
    changes = changed_values(shown, reading, current)
    if not changes:
        flash(page, "Nothing was changed.")
        return page.redirect(_path(definition, current))
    try:
        page.xrm.records(definition.name).update(current["id"], changes, if_version=version)
    except VersionConflict:
        return _conflict(page, definition, reading)
    except (RecordNotFound, UnknownEntity):
        raise
    except XRMError as error:
        return _refused(page, definition, current, reading, error, version)
    flash(page, "Saved.")
    return page.redirect(_path(definition, current))


def _conflict(page: Page, definition: EntityDefinition, reading: FormReading) -> Response:
    """The user's input again, their colleague's values beside it, and the new version."""
    theirs = page.xrm.records(definition.name).get(_id(page))
    fields = _again(page, definition, reading, {}, theirs)
    labels = reference_labels(page.xrm, definition, theirs)
    for shown in fields:
        stored = theirs.get(shown.name)
        if shown.value != field_text(shown.definition, stored):
            shown.theirs = _display(shown.definition, stored, labels)
    return _record_page(
        page,
        definition,
        theirs,
        fields=fields,
        version=int(theirs["version"]),
        summary=[CONFLICT_MESSAGE],
        status=409,
    )


def _display(f: FieldDefinition, value: Any, labels: Mapping[str, str]) -> str:
    if value is None:
        return "(empty)"
    if f.is_reference:
        return labels.get(f.name, str(value))
    text = field_text(f, value)
    if isinstance(text, list):
        return ", ".join(text) or "(empty)"
    return {"on": "yes", "": "no"}.get(text, text) if f.kind is Kind.BOOLEAN else str(text)


# -- delete ----------------------------------------------------------------


def confirm_delete(page: Page) -> Response:
    """What deleting the record would do (a dry run), and the button to do it."""
    definition, record = _record(page)
    return _delete_page(page, definition, record)


def delete_record(page: Page) -> Response:
    """Delete the record (at the version shown); a restrict relationship refuses it."""
    definition, record = _record(page)
    try:
        report = page.xrm.records(definition.name).delete(record["id"], if_version=_version(page))
    except (DeleteRestricted, VersionConflict) as error:
        return _delete_page(page, definition, record, error)
    removed = sum(report.deleted.values())
    flash(page, f"{label_of(definition, record)} deleted ({removed} record(s) in all).")
    return page.redirect(f"/records/{definition.name}")


def _delete_page(
    page: Page, definition: EntityDefinition, record: Record, error: XRMError | None = None
) -> Response:
    report, refused = None, error
    if error is None:
        try:
            report = page.xrm.records(definition.name).delete(record["id"], dry_run=True)
        except DeleteRestricted as restricted:
            refused = restricted
    context = {
        "definition": definition,
        "record": record,
        "title": label_of(definition, record),
        "report": report,
        "refused": refused,
    }
    return page.render("records/record_delete.html", context, status=409 if error else 200)


# -- lookups' search-as-you-type -------------------------------------------


def lookup_options(page: Page) -> Response:
    """The records a lookup's search box offers: ``input`` names the box, ``target``
    the entity searched (or ``target_input`` the select that says it)."""
    params = page.request.query_params
    _definition(page)  # the form's entity must exist
    target = params.get("target") or params.get(params.get("target_input", ""), "")
    text = params.get(params.get("input", "q"), "")
    options: list[tuple[str, str]] = []
    message = ""
    if not target:
        message = "Choose the kind of record first."
    elif not page.xrm.metadata.exists(target):
        message = f"There is no entity called {target!r}."
    else:
        options = search(page.xrm, target, text)
        message = "" if options else f"No {target} matches."
    return page.render("records/_lookup_options.html", {"options": options, "message": message})


# -- shared ----------------------------------------------------------------


def _record_page(
    page: Page,
    definition: EntityDefinition,
    record: Record,
    *,
    fields: list[FormField] | None = None,
    version: int | None = None,
    summary: Sequence[str] = (),
    status: int = 200,
    action_state: ActionState | None = None,
) -> Response:
    xrm, rid = page.xrm, record["id"]
    if fields is None:
        labels = reference_labels(xrm, definition, record)
        locked = _locked(page, definition, "update")
        fields = form_fields(definition, record, labels=labels, locked=locked)
    context = {
        "definition": definition,
        "record": record,
        "title": label_of(definition, record),
        "fields": fields,
        "version": record["version"] if version is None else version,
        "summary": list(summary),
        "flash": take(page),
        "actions": record_page_actions.action_forms(xrm, definition.name, action_state),
        "related": record_page_related.related_lists(xrm, definition, rid),
        "links": record_page_related.link_lists(xrm, definition, rid),
        "timeline": timeline(xrm, definition.name, rid),
        "entity_names": _entity_names(page),
    }
    return page.render("records/record.html", context, status=status)


def _form_page(
    page: Page,
    definition: EntityDefinition,
    fields: list[FormField],
    status: int = 200,
    summary: Sequence[str] = (),
) -> Response:
    context = {
        "definition": definition,
        "fields": fields,
        "summary": list(summary),
        "entity_names": _entity_names(page),
    }
    return page.render("records/record_new.html", context, status=status)


def _refused(
    page: Page,
    definition: EntityDefinition,
    current: Record | None,
    reading: FormReading,
    error: XRMError,
    version: int | None = None,
) -> Response:
    """The form again with the service's problems by field; nothing was saved."""
    names = definition.field_names
    placed, loose = problems_by_field(error.problems, names)
    summary = [error.message, *loose]
    fields = _again(page, definition, reading, placed, current)
    status = status_of(error)
    if current is None:
        return _form_page(page, definition, fields, status, summary)
    return _record_page(
        page, definition, current, fields=fields, version=version, summary=summary, status=status
    )


def _again(
    page: Page,
    definition: EntityDefinition,
    reading: FormReading,
    errors: Mapping[str, str],
    record: Record | None = None,
) -> list[FormField]:
    """The submitted form again (a new one when ``record`` is None), locked fields as stored."""
    locked = _locked(page, definition, "create" if record is None else "update")
    labels = reference_labels(page.xrm, definition, record) if record and locked else {}
    return form_fields(definition, record, reading, errors, labels, locked)


def _locked(
    page: Page, definition: EntityDefinition, operation: Literal["create", "update"]
) -> frozenset[str]:
    """Secured fields field security lets the user read but not write: shown read-only."""
    caller = page.xrm.caller
    if caller is None:
        return frozenset()
    return page.xrm.security.unwritable_fields(caller, definition.name, operation)


def _entity_names(page: Page) -> list[str]:
    """What a polymorphic lookup to any entity may point at."""
    return [d.name for d in page.xrm.metadata.entities()]


def _read(page: Page, fields: Sequence[FieldDefinition]) -> FormReading:
    return read_form(fields, page.value, page.values, lambda e, t: resolve(page.xrm, e, t))


def _definition(page: Page) -> EntityDefinition:
    return page.xrm.metadata.get(str(page.request.path_params["entity"]))


def _id(page: Page) -> uuid.UUID:
    rid = page.request.path_params["id"]
    return rid if isinstance(rid, uuid.UUID) else uuid.UUID(str(rid))


def _record(page: Page) -> tuple[EntityDefinition, Record]:
    definition = _definition(page)
    return definition, page.xrm.records(definition.name).get(_id(page))


def _is_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _version(page: Page) -> int:
    try:
        return int(page.value("version"))
    except ValueError:
        raise InvalidRequest(
            "the form did not say which version of the record it shows; reload the page",
            [Problem("/version", "must be a whole number")],
        ) from None


def _path(definition: EntityDefinition, record: Record) -> str:
    return f"/records/{definition.name}/{record['id']}"
