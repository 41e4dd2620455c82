"""Teams (their members and roles) and the business unit tree (add a child, rename, move).

Teams and units are records of the core entities ``team`` and ``business_unit``:
the pages change them through the record service, which keeps the tree a tree
(one root, no unit below itself) and refuses to delete a unit still in use.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.security_forms import (
    INPUT_ERRORS,
    every,
    failed,
    link_routes,
    link_sections,
    names,
    path_id,
    require_manager,
    tree,
)
from admin_ui.web import Page, view

#: The relationships of a team that its page edits: members (users) and roles.
_TEAM_LINKS = {"members": ("Members", "user", "username"), "roles": ("Roles", "role", "name")}


def routes() -> list[BaseRoute]:
    """The teams and business units pages."""
    return [
        Route("/security/teams", view(team_list), methods=["GET"]),
        Route("/security/teams", view(create_team), methods=["POST"]),
        Route("/security/teams/{team_id}", view(team_page), methods=["GET"]),
        *link_routes("/security/teams", "team_id", "team", _TEAM_LINKS, team_page),
        Route("/security/units", view(unit_tree), methods=["GET"]),
        Route("/security/units", view(create_unit), methods=["POST"]),
        Route("/security/units/{unit_id}", view(save_unit), methods=["POST"]),
    ]


# -- teams ----------------------------------------------------------------


def team_list(page: Page, extra: dict[str, object] | None = None, status: int = 200) -> Response:
    """Every team with its business unit, and the form of a new one."""
    require_manager(page)
    context = {
        "teams": every(page.xrm.records("team"), order=["name"]),
        "units": tree(every(page.xrm.records("business_unit"))),
        "unit_names": names(every(page.xrm.records("business_unit"))),
        "values": {"business_unit": str(page.xrm.security.root_business_unit())},
        "errors": {},
        **(extra or {}),
    }
    return page.render("security/teams.html", context, status=status)


def create_team(page: Page) -> Response:
    """Create a team in a business unit."""
    require_manager(page)
    values = {"name": page.value("name").strip(), "business_unit": page.value("business_unit")}
    try:
        team = page.xrm.records("team").create(values)
    except INPUT_ERRORS as error:
        return team_list(page, {"values": values, **failed(error)}, 422)
    return page.redirect(f"/security/teams/{team['id']}")


def team_page(page: Page, extra: dict[str, object] | None = None, status: int = 200) -> Response:
    """A team's members and roles, with forms to add and remove them."""
    require_manager(page)
    team_id = path_id(page, "team_id")
    team = page.xrm.records("team").get(team_id)
    lists = link_sections(page, "team", team_id, _TEAM_LINKS)
    context = {"team": team, "lists": lists, "errors": {}, **(extra or {})}
    return page.render("security/team.html", context, status=status)


# -- business units -------------------------------------------------------


def unit_tree(page: Page, extra: dict[str, object] | None = None, status: int = 200) -> Response:
    """The business units as a tree; each with forms to add a child, rename and move it."""
    require_manager(page)
    units = tree(every(page.xrm.records("business_unit")))
    context = {"units": units, "errors": {}, **(extra or {})}
    return page.render("security/units.html", context, status=status)


def create_unit(page: Page) -> Response:
    """Add a business unit below ``parent``."""
    require_manager(page)
    values = {"name": page.value("name").strip(), "parent": page.value("parent") or None}
    try:
        page.xrm.records("business_unit").create(values)
    except INPUT_ERRORS as error:
        return unit_tree(page, {"failed_unit": values["parent"], **failed(error)}, 422)
    return page.redirect("/security/units")


def save_unit(page: Page) -> Response:
    """Rename a business unit, or move it below another (never below itself)."""
    require_manager(page)
    unit_id = path_id(page, "unit_id")
    changes: dict[str, object] = {"name": page.value("name").strip()}
    if page.value("parent"):
        changes["parent"] = page.value("parent")
    try:
        page.xrm.records("business_unit").update(unit_id, changes)
    except INPUT_ERRORS as error:
        return unit_tree(page, {"failed_unit": str(unit_id), **failed(error)}, 422)
    return page.redirect("/security/units")
