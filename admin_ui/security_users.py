"""Users: the list, creating one (roles, teams, business unit, an optional password),
editing one, and deactivating (or reactivating) one.

Creating goes through ``xrm.security.create_user`` (the user, their roles and
team memberships in one transaction); the password, when given, is checked
first and set just after, through ``xrm.auth``.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.security_forms import (
    INPUT_ERRORS,
    check_password,
    every,
    failed,
    ids,
    names,
    path_id,
    require_manager,
    tree,
)
from admin_ui.web import Page, view
from xrm_core.errors import Problem, RecordValidationError


def routes() -> list[BaseRoute]:
    """The users pages."""
    return [
        Route("/security/users", view(user_list), methods=["GET"]),
        Route("/security/users", view(create_user), methods=["POST"]),
        Route("/security/users/new", view(new_user), methods=["GET"]),
        Route("/security/users/{user_id}", view(user_page), methods=["GET"]),
        Route("/security/users/{user_id}", view(save_user), methods=["POST"]),
        Route("/security/users/{user_id}/active", view(set_active), methods=["POST"]),
    ]


def user_list(page: Page) -> Response:
    """Every user with their business unit, roles and whether they may sign in."""
    require_manager(page)
    users = every(page.xrm.records("user"), order=["username"])
    roles = names(every(page.xrm.records("role")))
    held = page.xrm.records("user").links_of([u["id"] for u in users], "roles")
    rows = [
        {**u, "roles": sorted(roles.get(link["target_id"], "?") for link in held[u["id"]])}
        for u in users
    ]
    units = names(every(page.xrm.records("business_unit")))
    return page.render("security/users.html", {"users": rows, "units": units})


def new_user(page: Page) -> Response:
    """The form of a new user."""
    require_manager(page)
    root = page.xrm.security.root_business_unit()
    return _form(page, {"business_unit": str(root), "roles": [], "teams": []})


def create_user(page: Page) -> Response:
    """Create the user; on bad input, the form again with the errors, nothing created."""
    require_manager(page)
    values = _submitted(page)
    try:
        roles = _role_names(page)
        teams = ids(page, "teams", [t["id"] for t in every(page.xrm.records("team"))])
        check_password(values["password"])
        unit = _unit(values["business_unit"])
        user_id = page.xrm.security.create_user(
            values["username"],
            business_unit=unit,
            roles=roles,
            teams=teams,
            full_name=values["full_name"],
            email=values["email"] or None,
        )
    except INPUT_ERRORS as error:
        return _form(page, values, failed(error), status=422)
    if values["password"]:
        page.xrm.auth.set_password(user_id, values["password"])
    return page.redirect(f"/security/users/{user_id}?saved=1")


def user_page(page: Page) -> Response:
    """One user's form, to change them."""
    require_manager(page)
    user_id = path_id(page, "user_id")
    user = page.xrm.records("user").get(user_id)
    values: dict[str, Any] = {key: "" if v is None else str(v) for key, v in user.items()}
    values["roles"] = [str(link["target_id"]) for link in _links(page, user_id, "roles")]
    values["teams"] = [str(link["source_id"]) for link in _memberships(page, user_id)]
    return _form(page, values, {"user": user, "saved": "saved" in page.request.query_params})


def save_user(page: Page) -> Response:
    """Save a user's details, roles, teams and (when given) new password."""
    require_manager(page)
    user_id = path_id(page, "user_id")
    user = page.xrm.records("user").get(user_id)
    values = {**_submitted(page), "username": str(user["username"])}
    try:
        roles = ids(page, "roles", [r["id"] for r in every(page.xrm.records("role"))])
        teams = ids(page, "teams", [t["id"] for t in every(page.xrm.records("team"))])
        check_password(values["password"])
        changes = {
            "full_name": values["full_name"],
            "email": values["email"] or None,
            "business_unit": _unit(values["business_unit"]),
        }
        page.xrm.records("user").update(user_id, changes)
    except INPUT_ERRORS as error:
        return _form(page, values, {"user": user, **failed(error)}, status=422)
    _sync_roles(page, user_id, roles)
    _sync_teams(page, user_id, teams)
    if values["password"]:
        page.xrm.auth.set_password(user_id, values["password"])
    return page.redirect(f"/security/users/{user_id}?saved=1")


def set_active(page: Page) -> Response:
    """Deactivate a user (they can no longer sign in; their records stay) or reactivate."""
    require_manager(page)
    user_id = path_id(page, "user_id")
    page.xrm.records("user").update(user_id, {"is_active": page.value("active") == "true"})
    return page.redirect(f"/security/users/{user_id}?saved=1")


def _submitted(page: Page) -> dict[str, Any]:
    fields = ("username", "full_name", "email", "business_unit", "password")
    values: dict[str, Any] = {f: page.value(f).strip() for f in fields}
    values["password"] = page.value("password")  # spaces count in a password
    values["roles"], values["teams"] = page.values("roles"), page.values("teams")
    return values


def _role_names(page: Page) -> list[str]:
    roles = {str(r["id"]): str(r["name"]) for r in every(page.xrm.records("role"))}
    return [roles[str(rid)] for rid in ids(page, "roles", roles)]


def _unit(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise RecordValidationError(
            "choose a business unit", [Problem("/business_unit", "choose a business unit")]
        ) from None


def _links(page: Page, user_id: uuid.UUID, relationship: str) -> list[dict[str, Any]]:
    return page.xrm.records("user").links(user_id, relationship)


def _memberships(page: Page, user_id: uuid.UUID) -> list[dict[str, Any]]:
    return page.xrm.records("team").links_of([user_id], "members", by="target")[user_id]


def _sync_roles(page: Page, user_id: uuid.UUID, wanted: list[uuid.UUID]) -> None:
    users = page.xrm.records("user")
    held = {link["target_id"] for link in _links(page, user_id, "roles")}
    for role in set(wanted) - held:
        users.link(user_id, "roles", role)
    for role in held - set(wanted):
        users.unlink(user_id, "roles", role)


def _sync_teams(page: Page, user_id: uuid.UUID, wanted: list[uuid.UUID]) -> None:
    teams = page.xrm.records("team")
    member_of = {link["source_id"] for link in _memberships(page, user_id)}
    for team in set(wanted) - member_of:
        teams.link(team, "members", user_id)
    for team in member_of - set(wanted):
        teams.unlink(team, "members", user_id)


def _form(
    page: Page, values: dict[str, Any], extra: dict[str, Any] | None = None, *, status: int = 200
) -> Response:
    context = {
        "values": values,
        "units": tree(every(page.xrm.records("business_unit"))),
        "roles": every(page.xrm.records("role"), order=["name"]),
        "teams": every(page.xrm.records("team"), order=["name"]),
        "errors": {},
        **(extra or {}),
    }
    return page.render("security/user.html", context, status=status)
