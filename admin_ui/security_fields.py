"""Field security profiles: which secured fields they open (read, create, update),
and to which users and teams.

A profile is a ``field_security_profile`` record; each field it opens is a
``field_permission`` record, linked to users and teams through the profile's
``users`` and ``teams`` relationships. The page lists every secured field the
metadata declares (``"secured": true``), so only real fields can be ticked.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.security_forms import (
    INPUT_ERRORS,
    every,
    failed,
    link_routes,
    link_sections,
    path_id,
    require_manager,
)
from admin_ui.web import Page, view

#: What a permission allows, as the checkbox suffix and the field of ``field_permission``.
_ACCESS = (("read", "can_read"), ("create", "can_create"), ("update", "can_update"))
#: The relationships of a profile: who gets it.
_HOLDERS = {"users": ("Users", "user", "username"), "teams": ("Teams", "team", "name")}


def routes() -> list[BaseRoute]:
    """The field security profile pages."""
    base = "/security/field-profiles"
    return [
        Route(base, view(profile_list), methods=["GET"]),
        Route(base, view(create_profile), methods=["POST"]),
        Route(base + "/{profile_id}", view(profile_page), methods=["GET"]),
        Route(base + "/{profile_id}", view(save_permissions), methods=["POST"]),
        *link_routes(base, "profile_id", "field_security_profile", _HOLDERS, profile_page),
    ]


def profile_list(page: Page, extra: dict[str, Any] | None = None, status: int = 200) -> Response:
    """Every profile, and the form of a new one."""
    require_manager(page)
    context = {
        "profiles": every(page.xrm.records("field_security_profile"), order=["name"]),
        "values": {},
        "errors": {},
        **(extra or {}),
    }
    return page.render("security/profiles.html", context, status=status)


def create_profile(page: Page) -> Response:
    """Create a profile; its page opens next."""
    require_manager(page)
    values = {"name": page.value("name").strip(), "description": page.value("description")}
    try:
        profile = page.xrm.records("field_security_profile").create(values)
    except INPUT_ERRORS as error:
        return profile_list(page, {"values": values, **failed(error)}, 422)
    return page.redirect(f"/security/field-profiles/{profile['id']}")


def profile_page(page: Page, extra: dict[str, Any] | None = None, status: int = 200) -> Response:
    """A profile's field permissions and its users and teams."""
    require_manager(page)
    profile_id = path_id(page, "profile_id")
    profile = page.xrm.records("field_security_profile").get(profile_id)
    granted = _granted(page, profile_id)
    fields = [
        {"entity": entity, "field": field, "allowed": granted.get((entity, field), set())}
        for entity, field in _secured(page)
    ]
    context = {
        "profile": profile,
        "fields": fields,
        "lists": link_sections(page, "field_security_profile", profile_id, _HOLDERS),
        "saved": "saved" in page.request.query_params,
        "errors": {},
        **(extra or {}),
    }
    return page.render("security/profile.html", context, status=status)


def save_permissions(page: Page) -> Response:
    """Set what the profile allows on each secured field (a row per field opened)."""
    require_manager(page)
    profile_id = path_id(page, "profile_id")
    page.xrm.records("field_security_profile").get(profile_id)  # a missing one is a 404
    ticked = set(page.values("allow"))
    stored = {
        (p["entity"], p["field"]): p
        for p in every(page.xrm.records("field_permission"), filter={"profile": profile_id})
    }
    permissions = page.xrm.records("field_permission")
    for entity, field in _secured(page):
        wanted = {column: f"{entity}.{field}.{name}" in ticked for name, column in _ACCESS}
        found = stored.get((entity, field))
        if found is None and any(wanted.values()):
            permissions.create({"profile": profile_id, "entity": entity, "field": field, **wanted})
        elif found is not None and not any(wanted.values()):
            permissions.delete(found["id"])
        elif found is not None and any(found[c] != v for c, v in wanted.items()):
            permissions.update(found["id"], wanted)
    return page.redirect(f"/security/field-profiles/{profile_id}?saved=1")


def _secured(page: Page) -> list[tuple[str, str]]:
    """Every secured field, as (entity, field), by entity then field."""
    return sorted(
        (definition.name, field.name)
        for definition in page.xrm.metadata.entities()
        for field in definition.fields
        if field.secured
    )


def _granted(page: Page, profile_id: uuid.UUID) -> dict[tuple[str, str], set[str]]:
    permissions = every(page.xrm.records("field_permission"), filter={"profile": profile_id})
    return {
        (p["entity"], p["field"]): {name for name, column in _ACCESS if p[column]}
        for p in permissions
    }
