"""The entity designer's editor: a draft in the form, its plan reviewed, then applied.

The editor works on a draft of the entity's JSON Schema document (see
:mod:`admin_ui.designer_form`) that lives in the form itself: each button posts
the whole form back and gets the editor again, so nothing is stored until the
administrator has reviewed the plan (``xrm.metadata.plan``) and applied it
(``xrm.metadata.define``, confirmed when destructive). The review page carries
the document and its renames as JSON in hidden fields, with the entity's
version and a digest of the plan: what is applied is what was read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from admin_ui.designer_common import (
    ATTRIBUTE_KIND_LABELS,
    KIND_LABELS,
    ON_DELETE_LABELS,
    exports_note,
    require_customizer,
    set_notice,
)
from admin_ui.designer_doc import doc_from_draft
from admin_ui.designer_errors import place, where
from admin_ui.designer_form import (
    Draft,
    Errors,
    FieldRow,
    KeyRow,
    RelationRow,
    draft_from_doc,
    new_field,
    read_draft,
    token,
)
from admin_ui.web import Page
from xrm_core.errors import ConfirmationRequired, DefinitionError
from xrm_core.metadata.plan import Plan, Safety


def edit_form(page: Page) -> Response:
    """The editor on the definition in force (or on a new entity's empty draft)."""
    require_customizer(page)
    name = page.request.path_params["name"]
    metadata = page.xrm.metadata
    if metadata.exists(name):
        draft = draft_from_doc(metadata.get(name).schema, metadata.get(name).schema, 0, {})
        draft.version = metadata.entity_version(name)
    else:
        query = page.request.query_params
        draft = Draft(
            name, query.get("label", ""), query.get("plural", ""), "", query.get("ownership", "")
        )
        draft.ownership = draft.ownership if draft.ownership == "organization" else "user"
    return _editor(page, draft)


def edit(page: Page) -> Response:
    """One button of the editor or of the review page (``action``)."""
    require_customizer(page)
    name = page.request.path_params["name"]
    action, _, arg = page.value("action").partition(":")
    if action in ("back", "apply"):
        return _from_review(page, name, action)
    draft = read_draft(page.value, page.values, name)
    if action == "review":
        return _review(page, draft)
    if action == "row" and page.htmx:  # the kind changed: that row's inputs again
        row = draft.row(arg)
        if row is not None:
            return page.render("designer/_field_row.html", _editor_context(page, draft, row=row))
    added = _add_field(draft, action, arg)
    if added is not None and page.htmx:
        return page.render("designer/_field_row.html", _editor_context(page, draft, row=added))
    _change_rows(draft, action, arg)
    return _editor(page, draft)


def _add_field(draft: Draft, action: str, arg: str) -> FieldRow | None:
    """The row "Add field" or a relationship's "Add attribute" added, if pressed."""
    if action == "add_field":
        draft.fields.append(new_field())
        return draft.fields[-1]
    relation = draft.relation(arg) if action == "add_attribute" else None
    if relation is None:
        return None
    relation.attributes.append(new_field(relation=relation.token))
    return relation.attributes[-1]


def _change_rows(draft: Draft, action: str, arg: str) -> None:
    if action == "remove":  # a field or a link attribute
        draft.fields = [r for r in draft.fields if r.token != arg]
        for relation in draft.relations:
            relation.attributes = [r for r in relation.attributes if r.token != arg]
    elif action == "add_relation":
        draft.relations.append(RelationRow(token()))
    elif action == "remove_relation":
        draft.relations = [r for r in draft.relations if r.token != arg]
    elif action in ("add_key", "add_index"):
        draft.keys.append(KeyRow(token(), "ak" if action == "add_key" else "ix"))
    elif action == "remove_key":
        draft.keys = [k for k in draft.keys if k.token != arg]


def _review(page: Page, draft: Draft) -> Response:
    """The plan of the draft, or the editor with every problem next to its input."""
    stale = _stale(page, draft)
    if stale is not None:
        return stale
    base = _base(page, draft.name)
    doc, renames, errors = doc_from_draft(draft, base)
    if errors:
        return _editor(page, draft, errors, status=422)
    try:
        plan = page.xrm.metadata.plan(doc, renames=_renames(draft.name, renames))
    except DefinitionError as error:
        return _definition_error(page, draft, doc, error)
    return _review_page(page, draft, doc, renames, plan)


def _from_review(page: Page, name: str, action: str) -> Response:
    """Back to the editor, or apply: the document comes from the review page."""
    doc, renames, draft = _read_review(page, name)
    if action == "back":
        return _editor(page, draft)
    stale = _stale(page, draft)
    if stale is not None:
        return stale
    metadata = page.xrm.metadata
    confirm = page.value("confirm") == "on"
    try:
        plan = metadata.plan(doc, renames=_renames(name, renames))
        if _digest(plan) != page.value("digest"):
            # Records came or went since the plan was read: what is confirmed is what runs.
            changed = "The plan changed since you read it (the records changed): read it again."
            return _review_page(page, draft, doc, renames, plan, general=[changed], status=409)
        plan = metadata.define(doc, renames=_renames(name, renames), confirm=confirm)
    except ConfirmationRequired:
        message = "Tick the box to confirm that data will be lost, or go back."
        return _review_page(page, draft, doc, renames, plan, {"confirm": [message]}, status=422)
    except DefinitionError as error:
        return _definition_error(page, draft, doc, error)
    set_notice(page, _applied_notice(plan))
    return page.redirect(f"/entities/{name}")


def _definition_error(
    page: Page, draft: Draft, doc: Mapping[str, Any], error: DefinitionError
) -> Response:
    """The editor with each of ``error``'s problems next to its input."""
    placed, general = place(error.problems, draft, doc)
    # "the entity definition is not valid" says no more than the summary's heading.
    return _editor(page, draft, placed, general or [error.message], status=422)


def _editor(
    page: Page,
    draft: Draft,
    errors: Errors | None = None,
    general: list[str] | None = None,
    *,
    status: int = 200,
) -> Response:
    errors = errors or {}
    context = _editor_context(
        page, draft, errors=errors, general=general or [], where=where(errors, draft)
    )
    return page.render("designer/edit.html", context, status=status)


def _editor_context(page: Page, draft: Draft, **extra: Any) -> dict[str, Any]:
    metadata = page.xrm.metadata
    return {
        "draft": draft,
        "is_new": not metadata.exists(draft.name),
        "entity_names": [d.name for d in metadata.entities()],
        "kind_labels": KIND_LABELS,
        "attribute_kind_labels": ATTRIBUTE_KIND_LABELS,
        "on_delete_labels": ON_DELETE_LABELS,
        "errors": {},
        "general": [],
        **extra,
    }


def _review_page(
    page: Page,
    draft: Draft,
    doc: Mapping[str, Any],
    renames: Mapping[str, str],
    plan: Plan,
    errors: Errors | None = None,
    *,
    general: list[str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "draft": draft,
        "plan": plan,
        "digest": _digest(plan),
        "general": general or [],
        "destructive": plan.safety is Safety.DESTRUCTIVE,
        "schema_json": json.dumps(doc),
        "renames_json": json.dumps(dict(renames)),
        "errors": errors or {},
    }
    return page.render("designer/review.html", context, status=status)


def _stale(page: Page, draft: Draft) -> Response | None:
    """An error page when the entity changed since the draft was made from it."""
    metadata = page.xrm.metadata
    now = metadata.entity_version(draft.name) if metadata.exists(draft.name) else 0
    if now == draft.version:
        return None
    message = (
        f"Someone changed entity {draft.name!r} since you began editing, so nothing was "
        "changed. Open it again and make your changes over theirs."
    )
    return page.render("error.html", {"message": message}, status=409)


def _base(page: Page, name: str) -> Mapping[str, Any] | None:
    metadata = page.xrm.metadata
    return metadata.get(name).schema if metadata.exists(name) else None


def _renames(name: str, renames: Mapping[str, str]) -> dict[str, dict[str, str]] | None:
    return {name: dict(renames)} if renames else None


def _read_review(page: Page, name: str) -> tuple[dict[str, Any], dict[str, str], Draft]:
    """The document, renames and draft a review page carries.

    Raises :class:`DefinitionError` when they are not what the review page sent.
    """
    unreadable = DefinitionError(
        "The draft sent with the form could not be read, so nothing was changed. "
        "Open the entity again and make your changes."
    )
    try:
        doc, renames = json.loads(page.value("schema")), json.loads(page.value("renames"))
        if not isinstance(doc, dict) or not isinstance(renames, dict):
            raise unreadable
        if not all(isinstance(v, str) for v in renames.values()):
            raise unreadable
        version = page.value("version")
        draft = draft_from_doc(doc, _base(page, name), int(version or 0), renames)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
        # Only an edited page sends these: the review page's JSON always reads back.
        raise unreadable from error
    draft.name = name
    return doc, renames, draft


def _digest(plan: Plan) -> str:
    """A fingerprint of the plan as shown (its steps, with the counts they measured)."""
    shown = json.dumps(plan.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(shown.encode()).hexdigest()


def _applied_notice(plan: Plan) -> str:
    if plan.is_empty:
        return "There was nothing to change."
    return f"The changes were applied ({len(plan.steps)} steps). " + exports_note(plan)
