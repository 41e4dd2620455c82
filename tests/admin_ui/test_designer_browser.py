"""The entity designer in Chromium against a live ``xrm serve``."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.admin_ui.conftest import Server, htmx_ready, sign_in, unique
from tests.admin_ui.test_layout import UNLABELLED
from xrm_core import XRM


@pytest.fixture
def server_db(admin_server: Server) -> Iterator[XRM]:
    """The live server's database, opened here in the system context."""
    opened = admin_server.xrm()
    try:
        yield opened.as_system("designer tests")
    finally:
        opened.close()


def add_field(page: Page, name: str, kind: str) -> Locator:
    """Add a field row (htmx), name it and choose its kind; the row's locator."""
    htmx_ready(page)  # after "Continue" the page is new: htmx must have wired it
    rows = page.locator("fieldset.field-row")
    before = rows.count()
    page.get_by_role("button", name="Add field").click()
    expect(rows).to_have_count(before + 1)
    htmx_ready(page)  # the new row's kind list now refreshes the row when changed
    row = rows.last
    expect(row.get_by_label("Field name")).to_be_focused()
    row.get_by_label("Field name").fill(name)
    if kind != "Text (one line)":
        row.get_by_label("Kind").select_option(label=kind)
        # The row comes back with the inputs of its kind, its name kept.
        expect(row.locator("legend")).to_have_text(name)
        htmx_ready(page)
    return row


def test_an_administrator_defines_a_parking_ticket_and_its_table_appears(
    admin: Page, admin_server: Server
) -> None:
    name = unique("parking_ticket")
    admin.get_by_role("link", name="Entities").click()
    admin.get_by_role("link", name="New entity").click()
    admin.get_by_label("Name").fill(name)
    admin.get_by_label("Label", exact=True).fill("Parking ticket")
    admin.get_by_role("button", name="Continue: add fields").click()

    plate = add_field(admin, "plate", "Text (one line)")
    plate.get_by_label("Required").check()
    plate.get_by_label("Maximum length").fill("12")
    add_field(admin, "fine", "Money").get_by_label("Minimum").fill("0")
    status = add_field(admin, "status", "Choice list")
    status.get_by_label("Choices (one per line)").fill("open\npaid\ncancelled")
    offender = add_field(admin, "offender", "Lookup")
    offender.get_by_label("Points at entity").select_option("contact")
    offender.get_by_label("When the record it points at is deleted").select_option("restrict")
    admin.get_by_role("button", name="Review changes").click()

    expect(admin.locator("#plan-safety")).to_have_text("safe")
    expect(admin.locator("#plan")).to_contain_text(f"create entity '{name}'")
    admin.get_by_role("button", name="Apply changes").click()

    expect(admin).to_have_url(re.compile(rf"/admin/entities/{name}$"))
    expect(admin.get_by_role("status")).to_contain_text("The changes were applied")
    expect(admin.locator("#fields tbody tr")).to_have_count(4)
    opened = admin_server.xrm()
    try:
        definition = opened.metadata.get(name)
        assert [(f.name, f.kind.value) for f in definition.fields] == [
            ("plate", "string"),
            ("fine", "money"),
            ("status", "choice"),
            ("offender", "lookup"),
        ]
        assert definition.field("plate").required and definition.field("plate").max_length == 12
        assert definition.field("status").choices == ("open", "paid", "cancelled")
        assert definition.field("offender").target == "contact"
        assert definition.field("offender").on_delete.value == "restrict"
        assert opened.metadata.owner(name) == "custom"
        assert opened.as_system("check").records(name).count() == 0  # the table is there
    finally:
        opened.close()


def test_removing_a_field_with_data_waits_for_the_confirmation(admin: Page, server_db: XRM) -> None:
    name = unique("gadget")
    server_db.metadata.define(
        {
            "x-xrm": {"name": name},
            "properties": {"serial": {"type": "string"}, "note": {"type": "string"}},
        }
    )
    server_db.records(name).create({"serial": "G-1", "note": "keep me?"})
    admin.goto(f"/admin/entities/{name}/edit")
    admin.get_by_role("button", name="Remove field note").click()
    expect(admin.locator("fieldset.field-row legend")).to_have_text(["serial"])
    admin.get_by_role("button", name="Review changes").click()
    expect(admin.locator("#plan-safety")).to_have_text("destructive")
    expect(admin.locator("#plan")).to_contain_text("note")

    admin.get_by_role("button", name="Apply changes").click()
    expect(admin.get_by_role("alert")).to_contain_text("Tick the box")
    server_db.metadata.refresh()
    assert server_db.metadata.get(name).has_field("note")  # nothing happened

    admin.get_by_label("I understand data will be lost").check()
    admin.get_by_role("button", name="Apply changes").click()
    expect(admin.get_by_role("status")).to_contain_text("Dropped values were exported")
    server_db.metadata.refresh()
    assert server_db.metadata.get(name).field_names == ("serial",)


def test_a_meta_schema_error_shows_next_to_the_field(admin: Page, server_db: XRM) -> None:
    name = unique("permit")
    admin.goto(f"/admin/entities/{name}/edit?label=Permit")
    add_field(admin, "number", "Text (one line)")
    bad = add_field(admin, "Valid Until", "Date")
    admin.get_by_role("button", name="Review changes").click()

    name_input = bad.get_by_label("Field name")
    expect(name_input).to_have_attribute("aria-invalid", "true")
    error = admin.locator(f"#{name_input.get_attribute('aria-describedby')}")
    expect(error).to_contain_text("bad name 'Valid Until': use lower snake_case")
    expect(admin.get_by_role("alert")).to_contain_text("Field 'Valid Until', name: bad name")
    expect(bad.get_by_label("Kind")).to_have_value("date")  # the draft is kept
    server_db.metadata.refresh()
    assert not server_db.metadata.exists(name)


def test_a_pattern_set_in_the_designer_rejects_a_record_in_its_form(
    admin: Page, server_db: XRM
) -> None:
    name = unique("permit")
    server_db.metadata.define({"x-xrm": {"name": name}, "properties": {"code": {"type": "string"}}})
    admin.goto(f"/admin/entities/{name}/edit")
    code = admin.locator("fieldset.field-row").filter(has_text="code")
    code.get_by_label("Pattern (regular expression)").fill("^[A-Z]{3}$")
    admin.get_by_role("button", name="Review changes").click()
    expect(admin.locator("#plan")).to_contain_text(f"change field {name}.code: pattern")
    admin.get_by_role("button", name="Apply changes").click()
    expect(admin.get_by_role("status")).to_contain_text("The changes were applied")
    expect(admin.locator("#fields")).to_contain_text("matches ^[A-Z]{3}$")

    admin.goto(f"/admin/records/{name}/new")
    admin.get_by_label("Code").fill("abc")
    admin.get_by_role("button", name="Create").click()
    expect(admin.get_by_label("Code")).to_have_attribute("aria-invalid", "true")
    expect(admin.locator("#f-code-error")).to_contain_text("should match pattern '^[A-Z]{3}$'")
    assert server_db.records(name).count() == 0


@pytest.mark.parametrize("path", ["/admin/entities/contact", "/admin/entities/contact/edit"])
def test_the_designer_fits_a_phone_and_labels_every_input(
    browser: Browser, admin_server: Server, path: str
) -> None:
    phone = browser.new_context(base_url=admin_server.url, viewport={"width": 390, "height": 844})
    try:
        page = phone.new_page()
        sign_in(page, "admin")
        response = page.goto(path)
        assert response is not None and response.status == 200
        assert page.evaluate(UNLABELLED) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        phone.close()
