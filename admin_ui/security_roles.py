"""Roles and their permission matrix: entity x privilege x scope, editable in place.

The role page also renames a role, changes its description and deletes it
(writes to its record, behind the guards of :mod:`admin_ui.security_role_guards`).

Each cell of the matrix is a select of scopes. With htmx, changing one posts
that cell alone (``/cells/{entity}/{privilege}``), which saves it through
``xrm.security.set_privileges`` and answers with the cell re-rendered; without
JavaScript the whole matrix is one form whose Save button sets every cell at
once, all or nothing. A bad scope is shown in its cell and nothing changes.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.record_page_flash import flash, take
from admin_ui.security_forms import INPUT_ERRORS, every, failed, path_id, require_manager
from admin_ui.security_role_guards import guards
from admin_ui.web import Page, view
from xrm_core.errors import (
    InvalidRequest,
    Problem,
    RecordValidationError,
    VersionConflict,
    XRMError,
)
from xrm_core.metadata.definition import Ownership
from xrm_core.security.principal import PRIVILEGES, Scope

#: Every scope, narrowest first, and the two an organization-owned entity takes.
SCOPES = tuple(s.label for s in Scope)
ORGANIZATION_SCOPES = ("none", "organization")


def routes() -> list[BaseRoute]:
    """The roles pages."""
    return [
        Route("/security/roles", view(role_list), methods=["GET"]),
        Route("/security/roles", view(create_role), methods=["POST"]),
        Route("/security/roles/{role_id}", view(role_page), methods=["GET"]),
        Route("/security/roles/{role_id}", view(save_matrix), methods=["POST"]),
        Route(
            "/security/roles/{role_id}/cells/{entity}/{privilege}",
            view(save_cell),
            methods=["POST"],
        ),
        Route("/security/roles/{role_id}/details", view(save_details), methods=["POST"]),
        Route("/security/roles/{role_id}/delete", view(delete_role), methods=["POST"]),
    ]


def role_list(page: Page, extra: dict[str, Any] | None = None, status: int = 200) -> Response:
    """Every role, and the form of a new one."""
    require_manager(page)
    context = {
        "roles": every(page.xrm.records("role"), order=["name"]),
        "flash": take(page),
        "values": {},
        "errors": {},
        **(extra or {}),
    }
    return page.render("security/roles.html", context, status=status)


def create_role(page: Page) -> Response:
    """Create a role with no privileges; its matrix opens next."""
    require_manager(page)
    values = {"name": page.value("name").strip(), "description": page.value("description")}
    try:
        role_id = page.xrm.security.create_role(values["name"], description=values["description"])
    except INPUT_ERRORS as error:
        return role_list(page, {"values": values, **failed(error)}, 422)
    return page.redirect(f"/security/roles/{role_id}")


def role_page(page: Page) -> Response:
    """A role's matrix."""
    require_manager(page)
    role_id = path_id(page, "role_id")
    return _matrix(page, role_id, {"saved": "saved" in page.request.query_params})


def save_matrix(page: Page) -> Response:
    """Save every cell of the submitted matrix, all or none."""
    require_manager(page)
    role_id = path_id(page, "role_id")
    rows = _rows(page)
    cells = [
        (entity, privilege, page.value(_field(entity, privilege)))
        for entity, _ in rows
        for privilege in PRIVILEGES
        if _field(entity, privilege) in (page.form or {})
    ]
    try:
        page.xrm.security.set_privileges(role_id, cells)
    except INPUT_ERRORS as error:
        submitted = {(e, p): s for e, p, s in cells}
        return _matrix(page, role_id, {"submitted": submitted, **failed(error)}, 422)
    return page.redirect(f"/security/roles/{role_id}?saved=1")


def save_cell(page: Page) -> Response:
    """Save one cell (htmx) and answer with it re-rendered; a plain post goes back to the page."""
    require_manager(page)
    role_id = path_id(page, "role_id")
    entity = str(page.request.path_params["entity"])
    privilege = str(page.request.path_params["privilege"])
    scope = page.value(_field(entity, privilege)) or page.value("scope")
    context: dict[str, Any] = {"saved": True}
    status = 200
    try:
        page.xrm.security.set_privileges(role_id, [(entity, privilege, scope)])
    except INPUT_ERRORS as error:
        context, status = {"saved": False, **failed(error)}, 422
    if not page.htmx:
        if status != 200:
            return _matrix(page, role_id, context, status)
        return page.redirect(f"/security/roles/{role_id}?saved=1")
    ownership = dict(_rows(page)).get(entity, Ownership.USER)
    cell = {
        "role_id": role_id,
        "entity": entity,
        "privilege": privilege,
        "scope": _stored(page, role_id).get((entity, privilege), "none"),
        "options": _options(ownership),
        "error": context.get("errors", {}).get(f"{entity}/{privilege}", context.get("error")),
        "saved": context["saved"],
    }
    return page.render("security/_cell.html", {"cell": cell}, status=status)


def save_details(page: Page) -> Response:
    """Rename the role and change its description, over the version the page showed."""
    require_manager(page)
    role_id = path_id(page, "role_id")
    role = page.xrm.records("role").get(role_id)
    name, description = page.value("name").strip(), page.value("description").strip()
    changes: dict[str, Any] = {"description": description or None}
    if name != role["name"]:
        fixed = guards(page, role).name_fixed
        if fixed:
            error = RecordValidationError(
                "The name was not changed.", [Problem("/name", f"stays: {fixed}")]
            )
            return _details_again(page, role_id, name, description, error)
        changes["name"] = name
    changes = {k: v for k, v in changes.items() if v != role.get(k)}  # no empty write
    try:
        if changes:
            page.xrm.records("role").update(role_id, changes, if_version=_version(page))
    except INPUT_ERRORS as error:
        return _details_again(page, role_id, name, description, error)
    return page.redirect(f"/security/roles/{role_id}?saved=1")


def _details_again(
    page: Page, role_id: uuid.UUID, name: str, description: str, error: XRMError
) -> Response:
    submitted = {"name": name, "description": description}
    status = 409 if isinstance(error, VersionConflict) else 422
    return _matrix(page, role_id, {"details": submitted, **failed(error)}, status)


def delete_role(page: Page) -> Response:
    """Delete the role (and its matrix) when nobody holds it; else say why, deleting nothing."""
    require_manager(page)
    role_id = path_id(page, "role_id")
    role = page.xrm.records("role").get(role_id)
    refusal = guards(page, role).refusal
    if refusal:
        extra = {"error": f"The role was not deleted. {refusal}", "errors": {}}
        return _matrix(page, role_id, extra, 409)
    try:
        page.xrm.records("role").delete(role_id, if_version=_version(page))
    except VersionConflict as error:
        return _matrix(page, role_id, failed(error), 409)
    flash(page, f"Role {role['name']} deleted.")
    return page.redirect("/security/roles")


def _version(page: Page) -> int:
    try:
        return int(page.value("version"))
    except ValueError:
        raise InvalidRequest(
            "the form did not say which version of the role it shows; reload the page",
            [Problem("/version", "must be a whole number")],
        ) from None


def _matrix(page: Page, role_id: uuid.UUID, extra: dict[str, Any], status: int = 200) -> Response:
    role = page.xrm.records("role").get(role_id)
    stored = _stored(page, role_id)
    submitted: dict[tuple[str, str], str] = extra.pop("submitted", {})
    errors: dict[str, str] = extra.get("errors", {})
    rows = [
        (
            entity,
            [
                {
                    "role_id": role_id,
                    "entity": entity,
                    "privilege": privilege,
                    "scope": submitted.get(
                        (entity, privilege), stored.get((entity, privilege), "none")
                    ),
                    "options": _options(ownership),
                    "error": errors.get(f"{entity}/{privilege}"),
                    "saved": False,
                }
                for privilege in PRIVILEGES
            ],
        )
        for entity, ownership in _rows(page)
    ]
    context = {
        "role": role,
        "rows": rows,
        "privileges": PRIVILEGES,
        "errors": {},
        "details": {"name": role["name"], "description": role.get("description") or ""},
        "guards": guards(page, role),
        **extra,
    }
    return page.render("security/role.html", context, status=status)


def _rows(page: Page) -> list[tuple[str, Ownership]]:
    """The matrix's rows: ``*`` (every entity), then each entity by name."""
    entities = sorted(page.xrm.metadata.entities(), key=lambda d: d.name)
    return [("*", Ownership.USER), *((d.name, d.ownership) for d in entities)]


def _stored(page: Page, role_id: uuid.UUID) -> dict[tuple[str, str], str]:
    cells = every(page.xrm.records("role_privilege"), filter={"role": role_id})
    return {(c["entity"], c["privilege"]): str(c["scope"]) for c in cells}


def _options(ownership: Ownership) -> tuple[str, ...]:
    return ORGANIZATION_SCOPES if ownership is Ownership.ORGANIZATION else SCOPES


def _field(entity: str, privilege: str) -> str:
    """The form field of one cell: ``account.read``, ``*.create``."""
    return f"{entity}.{privilege}"
