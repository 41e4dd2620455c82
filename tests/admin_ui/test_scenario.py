"""The administrator's story of issue 7, end to end in Chromium against a live ``xrm serve``.

An administrator who has never read the code defines a "Parking violation" with a plate, a
fine, a status and a lookup to the contact who got it; sees its real table appear; enters
and finds a record; gives a role access to it (and its user sees it only then); watches who
changed what; and reads what removing a plugin would do before doing anything.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.admin_ui.conftest import Server, htmx_ready, sign_in, unique
from tests.admin_ui.test_designer_browser import add_field
from tests.admin_ui.test_security_browser import create_role, create_user


def define_parking_violation(admin: Page, name: str) -> None:
    admin.get_by_role("link", name="Entities").click()
    admin.get_by_role("link", name="New entity").click()
    admin.get_by_label("Name").fill(name)
    admin.get_by_label("Label", exact=True).fill("Parking violation")
    admin.get_by_role("button", name="Continue: add fields").click()
    add_field(admin, "plate", "Text (one line)").get_by_label("Required").check()
    add_field(admin, "fine", "Money")
    status = add_field(admin, "status", "Choice list")
    status.get_by_label("Choices (one per line)").fill("open\npaid\ncancelled")
    offender = add_field(admin, "offender", "Lookup")
    offender.get_by_label("Points at entity").select_option("contact")
    admin.get_by_role("button", name="Review changes").click()
    expect(admin.locator("#plan-safety")).to_have_text("safe")
    admin.get_by_role("button", name="Apply changes").click()
    expect(admin.get_by_role("status")).to_contain_text("The changes were applied")


def enter_violation(admin: Page, name: str, plate: str, contact: str) -> None:
    admin.goto(f"/admin/records/{name}")
    admin.get_by_role("link", name="New").click()
    htmx_ready(admin)
    admin.get_by_label("Plate").fill(plate)
    admin.get_by_label("Fine").fill("35.00")
    admin.get_by_label("Status").select_option("open")
    search = admin.get_by_role("combobox", name="Offender")
    # Each pause in typing may send a search; wait for the one for all of it, and its swap.
    with admin.expect_response(lambda r: "/lookup?" in r.url and f"__search={contact}" in r.url):
        search.press_sequentially(contact, delay=20)
    options = admin.get_by_role("listbox", name="Matching records").get_by_role("option")
    expect(options).to_have_count(1)
    expect(options).to_contain_text(contact)
    htmx_ready(admin)
    search.press("ArrowDown")
    search.press("Enter")
    admin.get_by_role("button", name="Create").click()
    expect(admin.get_by_role("status")).to_contain_text("created")


def find_by_plate(page: Page, name: str, plate: str) -> None:
    page.goto(f"/admin/records/{name}")
    htmx_ready(page)
    page.get_by_label("Filter by").select_option(label="Plate")
    page.get_by_role("button", name="Add filter").click()
    htmx_ready(page)
    page.locator("#v1").fill(plate)
    page.get_by_role("button", name="Apply", exact=True).last.click()
    expect(page).to_have_url(re.compile(r"v1=" + plate))


def test_an_administrator_defines_a_parking_violation_and_runs_it(
    admin: Page, browser: Browser, admin_server: Server
) -> None:
    name, plate = unique("parking_violation"), unique("PLATE").upper()
    define_parking_violation(admin, name)
    opened = admin_server.xrm()
    try:
        system = opened.as_system("scenario")
        assert system.records(name).count() == 0  # the real table is there, empty
        contact = system.records("contact").create(
            {"first_name": "Pat", "last_name": unique("Driver")}
        )
    finally:
        opened.close()

    enter_violation(admin, name, plate, contact["last_name"])
    find_by_plate(admin, name, plate)
    rows = admin.locator("#records tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(contact["last_name"])

    # A warden's role may read violations: their user sees them only once the matrix says so.
    role, warden, password = unique("Warden"), unique("warden"), "warden-password-1"
    create_role(admin, role)
    role_page = admin.url
    create_user(admin, warden, password, role)
    other = browser.new_context(base_url=admin_server.url)
    try:
        page = other.new_page()
        sign_in(page, warden, password)
        assert page.goto(f"/admin/records/{name}").status == 403  # type: ignore[union-attr]
        admin.goto(role_page)
        cell = admin.locator(f"#cell-{name}-read")
        cell.get_by_label(f"{name}: read").select_option("organization")
        expect(cell.get_by_role("status")).to_have_text("saved")
        find_by_plate(page, name, plate)
        expect(page.locator("#records tbody tr")).to_have_count(1)
    finally:
        other.close()

    # Who changed what: the fine is raised, and the audit log says by whom.
    admin.goto(f"/admin/records/{name}")
    admin.get_by_role("link", name=plate).click()
    admin.get_by_label("Fine").fill("70.00")
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_role("status")).to_have_text("Saved.")
    admin.get_by_role("link", name="Audit").click()
    htmx_ready(admin)
    admin.get_by_label("Entity").select_option(name)
    admin.get_by_role("button", name="Show entries").click()
    entries = admin.locator("#audit-entries tbody tr")
    # Newest first: the raise, the record's creation, the entity's definition; all by admin.
    expect(entries).to_have_count(3)
    expect(entries.nth(0)).to_contain_text("fine: 35.00 → 70.00")
    expect(entries.nth(1)).to_contain_text(f"plate: — → {plate}")
    expect(entries.nth(2)).to_contain_text("define")
    expect(entries.locator("td:nth-child(2)")).to_have_text(["admin"] * 3)

    # Removing a plugin: the plan comes first, and nothing happens without confirming.
    admin.goto("/admin/plugins")
    admin.get_by_role("link", name="Uninstall sales…").click()
    htmx_ready(admin)
    admin.get_by_label("Keep", exact=True).check()
    expect(admin.locator("#plan-steps")).to_contain_text("sales")
