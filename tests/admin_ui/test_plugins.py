"""The plugins page: installed and available plugins; install and uninstall, plan first.

In the browser against the shared server (contacts and sales installed), and
in-process on SQLite and PostgreSQL with a small plugin of our own that is
available but not installed: a live server shared by every test cannot have
plugins installed and removed under the others' feet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from starlette.testclient import TestClient

from tests.admin_ui.conftest import PASSWORD, Admin, Server, htmx_ready
from xrm_core import XRM, hookimpl
from xrm_core.api.app import create_app
from xrm_core.plugins import RoleSpec, make_plugin_manager
from xrm_core.settings import Settings


def installed_versions(server: Server) -> dict[str, str]:
    xrm = server.xrm()
    try:
        return {n: p.version for n, p in xrm.as_system("check").plugins.installed().items()}
    finally:
        xrm.close()


def test_the_plugin_page_lists_contacts_and_sales_installed_with_versions(
    admin: Page, admin_server: Server
) -> None:
    versions = installed_versions(admin_server)
    admin.get_by_role("link", name="Plugins").click()
    for name in ("contacts", "sales"):
        row = admin.locator(f"#plugin-{name}")
        expect(row.locator(".installed-version")).to_have_text(versions[name])
        expect(row.locator(".state")).to_have_text("enabled")
    expect(admin.locator("#plugin-sales")).to_contain_text("contacts")  # its dependency


def test_uninstalling_sales_shows_the_data_choice_then_the_plan_and_does_nothing_unconfirmed(
    admin: Page, admin_server: Server
) -> None:
    admin.goto("/admin/plugins")
    admin.get_by_role("link", name="Uninstall sales…").click()
    expect(
        admin.get_by_role("group", name="What should happen to the data of sales?")
    ).to_be_visible()
    expect(admin.locator("#plan-pending")).to_be_visible()  # no plan before a choice
    htmx_ready(admin)  # the link opened a new page: a choice made before htmx wires it is lost
    admin.get_by_label("Drop", exact=True).check()  # htmx fetches the plan for the choice
    steps = admin.locator("#plan-steps")
    expect(steps).to_contain_text("drop entity 'opportunity'")
    expect(steps.locator(".badge.destructive").first).to_be_visible()
    confirm = admin.get_by_label("This plan drops data. Type sales to confirm")
    expect(confirm).to_be_visible()
    admin.get_by_role("button", name="Uninstall sales").click()
    expect(admin.locator("#confirm-error")).to_have_text(
        "Type sales to confirm that data is dropped."
    )
    expect(admin.get_by_label("This plan drops data. Type sales to confirm")).to_have_attribute(
        "aria-invalid", "true"
    )
    assert "sales" in installed_versions(admin_server)


# -- in-process, with a plugin of our own ---------------------------------------


class Parking:
    """A small plugin: one entity, one role."""

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "parking", "version": "1.2.0", "description": "Parking tickets"}

    @hookimpl
    def xrm_entity_schemas(self) -> list[dict[str, Any]]:
        return [
            {
                "x-xrm": {"name": "parking_ticket"},
                "properties": {"plate": {"type": "string", "maxLength": 12}},
            }
        ]

    @hookimpl
    def xrm_roles(self) -> list[RoleSpec]:
        return [RoleSpec("Parking Warden", "", [("parking_ticket", "create", "own")])]


@pytest.fixture
def parking(db_url: str, tmp_path: Path) -> Iterator[Admin]:
    """The admin UI in-process, the ``parking`` plugin available but not installed."""
    pm = make_plugin_manager(load_entrypoints=False, plugins=[Parking()])
    xrm = XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=pm)
    system = xrm.as_system("tests")
    system.security.install()
    admin = system.security.create_user("admin", roles=["System Administrator"])
    system.auth.set_password(admin, PASSWORD["admin"])
    settings = Settings(database_url=db_url, secret_key="tests")  # type: ignore[arg-type]
    client = TestClient(create_app(xrm, settings=settings), follow_redirects=False)
    with client:
        ui = Admin(client, system)
        ui.sign_in()
        yield ui


def plan_form(ui: Admin, path: str) -> dict[str, str]:
    """The hidden fields of the plan's form at ``path``: CSRF token, digest, data choice."""
    html = ui.client.get(path).text
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def test_install_shows_the_plan_then_installs_on_confirmation(parking: Admin) -> None:
    listed = parking.client.get("/admin/plugins").text
    assert re.search(r'id="plugin-parking".*?not installed', listed, re.S)
    page = parking.client.get("/admin/plugins/parking/install")
    assert "create entity &#39;parking_ticket&#39;" in page.text
    assert "create role &#39;Parking Warden&#39;" in page.text
    assert "parking" not in parking.xrm.plugins.installed()  # showing the plan changed nothing

    done = parking.client.post(
        "/admin/plugins/parking/install", data=plan_form(parking, "/admin/plugins/parking/install")
    )
    assert done.status_code == 303
    assert parking.xrm.plugins.installed()["parking"].version == "1.2.0"
    assert "Installed parking 1.2.0." in parking.client.get("/admin/plugins").text


def test_an_uninstall_that_drops_data_needs_the_name_typed(parking: Admin) -> None:
    parking.xrm.plugins.install("parking")
    parking.xrm.records("parking_ticket").create({"plate": "AB-123"})
    path = "/admin/plugins/parking/uninstall?data=drop"
    page = parking.client.get(path).text
    assert "drop entity &#39;parking_ticket&#39; and its 1 record(s)" in page
    form = plan_form(parking, path)
    assert form["data"] == "drop"

    refused = parking.client.post(
        "/admin/plugins/parking/uninstall", data={**form, "confirm_name": "nope"}
    )
    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="confirm-error"' in refused.text
    assert parking.xrm.records("parking_ticket").count() == 1  # nothing changed

    done = parking.client.post(
        "/admin/plugins/parking/uninstall", data={**form, "confirm_name": "parking"}
    )
    assert done.status_code == 303
    assert "parking" not in parking.xrm.plugins.installed()
    assert not parking.xrm.metadata.exists("parking_ticket")
    notice = parking.client.get("/admin/plugins").text
    assert "Uninstalled parking 1.2.0." in notice and ".jsonl" in notice  # where the data went


def test_an_uninstall_keeping_the_data_needs_no_typing(parking: Admin) -> None:
    parking.xrm.plugins.install("parking")
    form = plan_form(parking, "/admin/plugins/parking/uninstall?data=keep")
    assert parking.client.post("/admin/plugins/parking/uninstall", data=form).status_code == 303
    assert parking.xrm.metadata.exists("parking_ticket")
    assert parking.xrm.plugins.owner_of("entity", "parking_ticket") == "custom"


def test_a_plan_that_changed_since_it_was_shown_is_shown_again_not_applied(parking: Admin) -> None:
    parking.xrm.plugins.install("parking")
    form = plan_form(parking, "/admin/plugins/parking/uninstall?data=drop")
    parking.xrm.records("parking_ticket").create({"plate": "CD-456"})  # meanwhile

    again = parking.client.post(
        "/admin/plugins/parking/uninstall", data={**form, "confirm_name": "parking"}
    )
    assert again.status_code == 409
    assert "The plan changed since you read it" in again.text
    assert "and its 1 record(s)" in again.text
    assert "parking" in parking.xrm.plugins.installed()


def test_no_data_choice_and_impossible_operations_are_said_and_change_nothing(
    parking: Admin,
) -> None:
    token = parking.csrf("/admin/plugins")
    bad = parking.client.post(
        "/admin/plugins/parking/uninstall", data={"csrf_token": token, "data": "burn"}
    )
    assert bad.status_code == 422 and "Choose keep, export or drop." in bad.text
    missing = parking.client.get("/admin/plugins/parking/uninstall?data=keep")
    assert missing.status_code == 409 and "is not installed" in missing.text
    unknown = parking.client.get("/admin/plugins/nothing/install")
    assert unknown.status_code == 404 and 'role="alert"' in unknown.text
    assert sorted(parking.xrm.plugins.installed()) == ["core"]


def test_a_plugins_role_keeps_its_name_and_is_not_deleted(parking: Admin) -> None:
    parking.xrm.plugins.install("parking")
    warden = parking.xrm.security.role_id("Parking Warden")
    page = parking.client.get(f"/admin/security/roles/{warden}").text
    assert "The plugin parking declared it and finds it by its name." in page
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    data = {"csrf_token": parking.csrf("/admin/plugins"), "version": version.group(1)}
    refused = parking.client.post(f"/admin/security/roles/{warden}/delete", data=data)
    assert refused.status_code == 409 and "The role was not deleted" in refused.text
    assert parking.xrm.security.role_id("Parking Warden") == warden


def test_a_clerk_sees_the_plugins_but_no_actions_and_switching_one_is_refused(
    inprocess: Admin,
) -> None:
    inprocess.sign_in("clerk")
    listed = inprocess.client.get("/admin/plugins")
    assert listed.status_code == 200 and '<th scope="col">Actions</th>' not in listed.text
    token = inprocess.csrf("/admin/plugins")
    refused = inprocess.client.post("/admin/plugins/sales/disable", data={"csrf_token": token})
    assert refused.status_code == 403 and "needs an administrator" in refused.text
    assert '<th scope="col">Actions</th>' not in refused.text  # still no buttons to try
