"""The security pages in-process (SQLite and PostgreSQL): bad input shown inline with
nothing changed, refusal for non-administrators, and each page's writes."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.admin_ui.conftest import Admin
from xrm_core import XRM

TICKET = {
    "x-xrm": {"name": "ticket"},
    "properties": {
        "title": {"type": "string"},
        "cost": {"x-xrm": {"kind": "money", "secured": True}},
    },
}


@pytest.fixture
def signed_in(inprocess: Admin) -> Admin:
    """The in-process admin UI signed in as ``admin``, with a ``ticket`` entity."""
    inprocess.xrm.metadata.define([TICKET])
    inprocess.sign_in()
    return inprocess


def post(admin: Admin, path: str, data: dict[str, Any], **headers: str) -> Any:
    token = admin.csrf("/admin/security/roles")
    return admin.client.post(path, data={**data, "csrf_token": token}, headers=headers)


def cells(xrm: XRM, role: uuid.UUID) -> dict[tuple[str, str], str]:
    found = xrm.records("role_privilege").query(filter={"role": role}, limit=100)
    return {(c["entity"], c["privilege"]): c["scope"] for c in found}


def usernames(xrm: XRM) -> list[str]:
    return [u["username"] for u in xrm.records("user").query(order=["username"])]


def test_a_non_administrator_is_refused_and_changes_nothing(inprocess: Admin) -> None:
    inprocess.sign_in("clerk")
    for path in ("/admin/security", "/admin/security/users", "/admin/security/roles"):
        refused = inprocess.client.get(path)
        assert refused.status_code == 403
        assert "Managing security needs an administrator role" in refused.text
    token = inprocess.csrf("/admin/")
    data = {"username": "sneaky", "business_unit": "", "csrf_token": token}
    assert inprocess.client.post("/admin/security/users", data=data).status_code == 403
    assert "sneaky" not in usernames(inprocess.xrm)


def test_a_duplicate_username_is_said_next_to_the_field(signed_in: Admin) -> None:
    before = usernames(signed_in.xrm)
    root = str(signed_in.xrm.security.root_business_unit())
    response = post(
        signed_in, "/admin/security/users", {"username": "clerk", "business_unit": root}
    )
    assert response.status_code == 422
    assert re.search(r'id="username"[^>]*aria-invalid="true"', response.text)
    assert 'id="username-error">is already used' in response.text
    assert 'role="alert"' in response.text
    assert usernames(signed_in.xrm) == before


def test_a_short_password_creates_no_user(signed_in: Admin) -> None:
    root = str(signed_in.xrm.security.root_business_unit())
    data = {"username": "shorty", "business_unit": root, "password": "short"}
    response = post(signed_in, "/admin/security/users", data)
    assert response.status_code == 422 and 'id="password-error"' in response.text
    assert "shorty" not in usernames(signed_in.xrm)


def test_a_user_is_created_with_role_team_and_password_and_deactivated(
    signed_in: Admin,
) -> None:
    xrm = signed_in.xrm
    root = xrm.security.root_business_unit()
    team = xrm.records("team").create({"name": "Desk", "business_unit": root})["id"]
    role = xrm.security.role_id("Basic User")
    data = {
        "username": "dora",
        "full_name": "Dora Day",
        "business_unit": str(root),
        "roles": str(role),
        "teams": str(team),
        "password": "dora-password-1",
    }
    created = post(signed_in, "/admin/security/users", data)
    assert created.status_code == 303
    [dora] = xrm.records("user").query(filter={"username": "dora"}).records
    assert [r["target_id"] for r in xrm.records("user").links(dora["id"], "roles")] == [role]
    assert [m["target_id"] for m in xrm.records("team").links(team, "members")] == [dora["id"]]
    assert xrm.auth.login("dora", "dora-password-1").user_id == dora["id"]
    path = f"/admin/security/users/{dora['id']}/active"
    assert post(signed_in, path, {"active": "false"}).status_code == 303
    assert xrm.records("user").get(dora["id"])["is_active"] is False


def test_an_unknown_scope_is_said_in_its_cell_and_nothing_changes(signed_in: Admin) -> None:
    xrm = signed_in.xrm
    role = xrm.security.create_role("Matrix test", [("ticket", "read", "own")])
    data = {"ticket.read": "organization", "ticket.update": "galaxy"}
    response = post(signed_in, f"/admin/security/roles/{role}", data)
    assert response.status_code == 422
    assert re.search(r'id="scope-ticket-update"[^>]*\s+aria-invalid="true"', response.text)
    assert re.search(
        r"id=\"error-ticket-update\"[^>]*>unknown scope &#39;galaxy&#39;", response.text
    )
    assert cells(xrm, role) == {("ticket", "read"): "own"}
    alone = post(
        signed_in,
        f"/admin/security/roles/{role}/cells/ticket/update",
        {"ticket.update": "galaxy"},
        **{"HX-Request": "true"},
    )
    assert alone.status_code == 422 and alone.text.lstrip().startswith(
        '<td id="cell-ticket-update"'
    )
    assert cells(xrm, role) == {("ticket", "read"): "own"}


def test_one_cell_posted_by_htmx_is_saved_and_rendered_alone(signed_in: Admin) -> None:
    xrm = signed_in.xrm
    role = xrm.security.create_role("Cell test", [("ticket", "read", "own")])
    path = f"/admin/security/roles/{role}/cells/ticket/read"
    response = post(signed_in, path, {"ticket.read": "organization"}, **{"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.text
    assert re.search(r'<option value="organization" selected>', response.text)
    assert cells(xrm, role) == {("ticket", "read"): "organization"}
    back = post(signed_in, path, {"ticket.read": "none"}, **{"HX-Request": "true"})
    assert back.status_code == 200 and cells(xrm, role) == {}


def test_business_units_are_added_moved_and_never_below_themselves(signed_in: Admin) -> None:
    units = signed_in.xrm.records("business_unit")
    root = signed_in.xrm.security.root_business_unit()
    for name in ("North", "South"):
        post(signed_in, "/admin/security/units", {"name": name, "parent": str(root)})
    by_name = {u["name"]: u["id"] for u in units.query()}
    north, south = by_name["North"], by_name["South"]
    moved = post(
        signed_in, f"/admin/security/units/{south}", {"name": "South", "parent": str(north)}
    )
    assert moved.status_code == 303 and units.get(south)["parent"] == north
    cycle = post(
        signed_in, f"/admin/security/units/{north}", {"name": "North", "parent": str(south)}
    )
    assert cycle.status_code == 422
    assert f'id="parent-{north}-error">would make a cycle' in cycle.text
    assert units.get(north)["parent"] == root
    page = signed_in.client.get("/admin/security/units").text
    assert page.index(">North<") < page.index(">South<")  # South is shown below North


def test_team_members_are_added_and_removed(signed_in: Admin) -> None:
    xrm = signed_in.xrm
    created = post(
        signed_in,
        "/admin/security/teams",
        {"name": "Support", "business_unit": str(xrm.security.root_business_unit())},
    )
    team = created.headers["location"].rsplit("/", 1)[1]
    clerk = xrm.records("user").query(filter={"username": "clerk"}).records[0]["id"]
    post(signed_in, f"/admin/security/teams/{team}/members", {"target": str(clerk)})
    assert [m["target_id"] for m in xrm.records("team").links(team, "members")] == [clerk]
    assert "clerk" in signed_in.client.get(f"/admin/security/teams/{team}").text
    post(signed_in, f"/admin/security/teams/{team}/members/remove", {"target": str(clerk)})
    assert xrm.records("team").links(team, "members") == []
    duplicate = post(
        signed_in,
        "/admin/security/teams",
        {"name": "Support", "business_unit": str(xrm.security.root_business_unit())},
    )
    assert duplicate.status_code == 422 and 'id="name-error"' in duplicate.text


def test_a_field_profile_opens_a_secured_field_to_a_user(signed_in: Admin) -> None:
    xrm = signed_in.xrm
    created = post(signed_in, "/admin/security/field-profiles", {"name": "Costs"})
    profile = created.headers["location"].rsplit("/", 1)[1]
    clerk = xrm.records("user").query(filter={"username": "clerk"}).records[0]["id"]
    xrm.records("ticket").create({"title": "Leak", "cost": 10, "owner_id": clerk})
    assert "cost" not in xrm.as_user(clerk).records("ticket").query().records[0]
    post(signed_in, f"/admin/security/field-profiles/{profile}", {"allow": "ticket.cost.read"})
    post(signed_in, f"/admin/security/field-profiles/{profile}/users", {"target": str(clerk)})
    assert "cost" in xrm.as_user(clerk).records("ticket").query().records[0]
    [permission] = xrm.records("field_permission").query().records
    assert (permission["can_read"], permission["can_update"]) == (True, False)
    post(signed_in, f"/admin/security/field-profiles/{profile}", {})
    assert xrm.records("field_permission").count() == 0


def test_explain_says_who_can_read_a_record_and_why(signed_in: Admin) -> None:
    xrm = signed_in.xrm
    clerk = xrm.records("user").query(filter={"username": "clerk"}).records[0]["id"]
    ticket = xrm.records("ticket").create({"title": "Leak", "owner_id": clerk})["id"]
    page = signed_in.client.get(f"/admin/security/explain?entity=ticket&id={ticket}")
    assert page.status_code == 200
    row = re.search(r">clerk</a></th>(.*?)</tr>", page.text, re.S)
    assert row and "granted" in row.group(1)
    assert "role &#39;Basic User&#39; grants read at own scope: the user owns the record" in (
        row.group(1)
    )
    record_page = signed_in.client.get(f"/admin/records/ticket/{ticket}").text
    assert f'href="/admin/security/explain?entity=ticket&amp;id={ticket}"' in record_page
    missing = signed_in.client.get(f"/admin/security/explain?entity=ticket&id={uuid.uuid4()}")
    assert missing.status_code == 404 and 'role="alert"' in missing.text


def test_editing_a_user_changes_roles_and_refuses_a_bad_email(signed_in: Admin) -> None:
    xrm = signed_in.xrm
    root = str(xrm.security.root_business_unit())
    basic, customizer = (xrm.security.role_id(n) for n in ("Basic User", "System Customizer"))
    user = xrm.security.create_user("edna", roles=["Basic User"])
    path = f"/admin/security/users/{user}"
    bad = post(signed_in, path, {"email": "not an email", "business_unit": root})
    assert bad.status_code == 422 and 'id="email-error"' in bad.text
    assert xrm.records("user").get(user)["email"] is None
    data = {"email": "edna@example.com", "business_unit": root, "roles": str(customizer)}
    assert post(signed_in, path, {**data, "full_name": "Edna"}).status_code == 303
    assert xrm.records("user").get(user)["email"] == "edna@example.com"
    held = [link["target_id"] for link in xrm.records("user").links(user, "roles")]
    assert held == [customizer] and basic not in held


def test_a_malformed_choice_is_refused_not_a_crash(signed_in: Admin) -> None:
    team = signed_in.xrm.records("team").create(
        {"name": "Ops", "business_unit": signed_in.xrm.security.root_business_unit()}
    )["id"]
    response = post(signed_in, f"/admin/security/teams/{team}/members", {"target": "nope"})
    assert response.status_code == 422 and 'role="alert"' in response.text
    assert signed_in.client.get("/admin/security/users/not-an-id").status_code == 404


def role_form(admin: Admin, role: uuid.UUID) -> dict[str, str]:
    """The hidden fields of the role page's details form (its version)."""
    html = admin.client.get(f"/admin/security/roles/{role}").text
    version = re.search(r'name="version" value="(\d+)"', html)
    assert version, "no version on the role page"
    return {"version": version.group(1)}


def test_a_role_is_renamed_and_described_and_a_taken_name_is_refused(signed_in: Admin) -> None:
    xrm = signed_in.xrm
    role = xrm.security.create_role("Clerks", [("ticket", "read", "own")])
    path = f"/admin/security/roles/{role}/details"
    taken = post(signed_in, path, {**role_form(signed_in, role), "name": "Basic User"})
    assert taken.status_code == 422
    assert re.search(r'<input id="name"[^>]*aria-invalid="true"', taken.text)
    assert 'id="name-error"' in taken.text and 'value="Basic User"' in taken.text
    assert xrm.records("role").get(role)["name"] == "Clerks"  # nothing changed
    form = role_form(signed_in, role)
    done = post(signed_in, path, {**form, "name": "Desk clerks", "description": "Front desk"})
    assert done.status_code == 303
    stored = xrm.records("role").get(role)
    assert (stored["name"], stored["description"]) == ("Desk clerks", "Front desk")
    assert cells(xrm, role) == {("ticket", "read"): "own"}  # the matrix stays
    stale = post(signed_in, path, {**form, "name": "Old page"})  # the version before the save
    assert stale.status_code == 409 and xrm.records("role").get(role)["name"] == "Desk clerks"


def test_a_built_in_role_keeps_its_name_and_is_not_deleted(signed_in: Admin) -> None:
    xrm = signed_in.xrm
    basic = xrm.security.role_id("Basic User")
    page = signed_in.client.get(f"/admin/security/roles/{basic}").text
    assert "It is a built-in role" in page and "Delete role Basic User" not in page
    details = f"/admin/security/roles/{basic}/details"
    form = {**role_form(signed_in, basic), "name": "Ordinary User", "description": "Everyone"}
    refused = post(signed_in, details, form)
    assert refused.status_code == 422 and 'id="name-error"' in refused.text
    assert xrm.records("role").get(basic)["name"] == "Basic User"
    form["name"] = "Basic User"  # its description may change
    assert post(signed_in, details, form).status_code == 303
    assert xrm.records("role").get(basic)["description"] == "Everyone"
    deleting = post(signed_in, f"/admin/security/roles/{basic}/delete", role_form(signed_in, basic))
    assert deleting.status_code == 409 and "The role was not deleted" in deleting.text
    assert xrm.records("role").get(basic)["name"] == "Basic User"


def test_a_role_is_deleted_only_once_nobody_holds_it(signed_in: Admin) -> None:
    xrm = signed_in.xrm
    role = xrm.security.create_role("Temps", [("ticket", "read", "own")])
    user = xrm.security.create_user("temp", roles=["Temps"])
    root = xrm.security.root_business_unit()
    team = xrm.records("team").create({"name": "Summer", "business_unit": root})["id"]
    xrm.records("team").link(team, "roles", role)
    path = f"/admin/security/roles/{role}/delete"
    refused = post(signed_in, path, role_form(signed_in, role))
    assert refused.status_code == 409
    assert "It is held by user temp, team Summer: take it from them first." in refused.text
    assert xrm.records("role").get(role)["name"] == "Temps"
    xrm.records("user").unlink(user, "roles", role)
    xrm.records("team").unlink(team, "roles", role)
    page = signed_in.client.get(f"/admin/security/roles/{role}").text
    assert "Nobody holds this role" in page
    done = post(signed_in, path, role_form(signed_in, role))
    assert done.status_code == 303 and done.headers["location"] == "/admin/security/roles"
    assert "Role Temps deleted." in signed_in.client.get("/admin/security/roles").text
    assert xrm.records("role").count(filter={"name": "Temps"}) == 0
    assert cells(xrm, role) == {}  # its matrix went with it
