"""The entity designer: list, create, edit and drop entities, the plan shown first.

This module has the list, the entity page, naming a new entity and dropping
one; :mod:`admin_ui.designer_editor` has the editor and the review of its plan.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui import designer_editor as editor
from admin_ui.designer_common import (
    KIND_LABELS,
    ON_DELETE_LABELS,
    exports_note,
    fresh,
    may_customize,
    require_customizer,
    set_notice,
    take_notice,
)
from admin_ui.designer_doc import doc_from_draft
from admin_ui.designer_errors import place
from admin_ui.designer_form import Draft, Errors
from admin_ui.web import Page
from xrm_core.errors import DefinitionError, Problem
from xrm_core.metadata.plan import Plan


def routes() -> list[BaseRoute]:
    """The designer's pages, under /admin/entities."""
    return [
        Route("/entities", fresh(entity_list), methods=["GET"]),
        Route("/entities/new", fresh(new_form), methods=["GET"]),
        Route("/entities/new", fresh(create), methods=["POST"]),
        Route("/entities/{name}", fresh(entity_page), methods=["GET"]),
        Route("/entities/{name}/edit", fresh(editor.edit_form), methods=["GET"]),
        Route("/entities/{name}/edit", fresh(editor.edit), methods=["POST"]),
        Route("/entities/{name}/drop", fresh(drop_form), methods=["GET"]),
        Route("/entities/{name}/drop", fresh(drop), methods=["POST"]),
    ]


def entity_list(page: Page) -> Response:
    """Every entity with its owner, label and field count."""
    metadata = page.xrm.metadata
    rows = [(d, metadata.owner(d.name)) for d in metadata.entities()]
    context = {"rows": rows, "notice": take_notice(page), "may_customize": may_customize(page)}
    return page.render("designer/list.html", context)


def entity_page(page: Page) -> Response:
    """One entity: its fields, relationships, keys and indexes."""
    name = page.request.path_params["name"]
    metadata = page.xrm.metadata
    definition = metadata.get(name)
    context = {
        "entity": definition,
        "owner": metadata.owner(name),
        "version": metadata.entity_version(name),
        "notice": take_notice(page),
        "may_customize": may_customize(page),
        "kind_labels": KIND_LABELS,
        "on_delete_labels": ON_DELETE_LABELS,
    }
    return page.render("designer/entity.html", context)


# -- creating ---------------------------------------------------------------


def new_form(page: Page) -> Response:
    """The form naming a new entity."""
    require_customizer(page)
    return page.render("designer/new.html", {"values": {}, "errors": {}})


def create(page: Page) -> Response:
    """Check the new entity's name and labels, then open the editor on it."""
    require_customizer(page)
    values = {k: page.value(k).strip() for k in ("name", "label", "plural", "ownership")}
    values["ownership"] = values["ownership"] or "user"
    errors: Errors = {}
    if not values["name"]:
        errors["e-name"] = ["give the entity a name"]
    elif page.xrm.metadata.exists(values["name"]):
        errors["e-name"] = [f"an entity called {values['name']!r} already exists"]
    else:
        draft = Draft(values["name"], values["label"], values["plural"], "", values["ownership"])
        doc, _, _ = doc_from_draft(draft, None)
        try:
            page.xrm.metadata.plan(doc)
        except DefinitionError as error:
            errors, general = place(error.problems, draft, doc)
            if general:
                errors.setdefault("e-name", []).extend(general)
    if errors:
        return page.render("designer/new.html", {"values": values, "errors": errors}, status=422)
    query = urlencode({k: v for k, v in values.items() if k != "name"})
    return page.redirect(f"/entities/{values['name']}/edit?{query}")


# -- dropping ---------------------------------------------------------------


def drop_form(page: Page) -> Response:
    """What dropping the entity would do, and the confirmation."""
    require_customizer(page)
    name = page.request.path_params["name"]
    return _drop_page(page, name)


def drop(page: Page) -> Response:
    """Drop the entity and its records once confirmed."""
    require_customizer(page)
    name = page.request.path_params["name"]
    if page.value("confirm") != "on":
        message = "Tick the box to confirm that the records will be deleted."
        return _drop_page(page, name, {"confirm": [message]}, status=422)
    plan = page.xrm.metadata.drop(name, confirm=True)
    set_notice(page, f"Entity {name!r} was dropped. " + exports_note(plan))
    return page.redirect("/entities")


def _drop_page(page: Page, name: str, errors: Errors | None = None, status: int = 200) -> Response:
    metadata = page.xrm.metadata
    definition = metadata.get(name)
    plan: Plan | None = None
    blockers: tuple[Problem, ...] = ()
    try:
        plan = metadata.plan_drop(name)
    except DefinitionError as error:
        blockers = error.problems
    context = {
        "entity": definition,
        "owner": metadata.owner(name),
        "plan": plan,
        "blockers": blockers,
        "errors": errors or {},
    }
    return page.render("designer/drop.html", context, status=status)
