"""The record page in the browser: lookups by search-as-you-type, inline errors, conflicts,
related lists and action buttons (against the live server with contacts and sales)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.admin_ui.conftest import Server, htmx_ready, sign_in, unique
from tests.admin_ui.test_layout import UNLABELLED
from xrm_core import XRM


@pytest.fixture
def system(admin_server: Server) -> Iterator[XRM]:
    """The server's database in this process, in the system context."""
    opened = admin_server.xrm()
    try:
        yield opened.as_system("record page tests")
    finally:
        opened.close()


def _only(xrm: XRM, entity: str, **where: Any) -> dict[str, Any]:
    [found] = xrm.records(entity).query(filter=where).records
    return found


def test_a_contact_is_created_with_its_account_chosen_by_search_as_you_type(
    admin: Page, system: XRM
) -> None:
    account = unique("Lookout")
    system.records("account").create({"name": account})
    last = unique("Searcher")
    admin.goto("/admin/records/contact/new")
    admin.get_by_label("Last name").fill(last)
    search = admin.get_by_role("combobox", name="Account")
    typed = account[:-2]
    # Each pause in typing may send a search; wait for the one for all of it, and its swap.
    with admin.expect_response(lambda r: "/lookup?" in r.url and f"__search={typed}" in r.url):
        search.press_sequentially(typed, delay=20)
    htmx_ready(admin)
    offered = admin.get_by_role("listbox", name="Matching records").get_by_role("option")
    expect(offered).to_have_count(1)
    option = offered.filter(has_text=account)
    expect(option).to_be_visible()
    search.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    search.press("Enter")  # chooses; does not submit the form
    expect(search).to_have_value(account)
    expect(offered).to_have_count(0)
    admin.get_by_role("button", name="Create").click()
    expect(admin.get_by_role("status")).to_have_text("Contact created.")
    expect(admin.get_by_role("combobox", name="Account")).to_have_value(account)
    contact = _only(system, "contact", last_name=last)
    assert contact["account"] == _only(system, "account", name=account)["id"]


def test_a_validation_error_is_shown_inline_and_nothing_is_saved(admin: Page, system: XRM) -> None:
    company = unique("Invalid Co")
    admin.goto("/admin/records/lead/new")
    admin.get_by_label("Company").fill(company)
    admin.get_by_label("Score").fill("150")
    admin.get_by_role("button", name="Create").click()
    expect(admin.get_by_role("alert")).to_contain_text("Nothing was saved")
    last_name = admin.get_by_label("Last name")
    expect(last_name).to_have_attribute("aria-invalid", "true")
    expect(admin.locator("#f-last_name-error")).to_have_text("is required")
    expect(admin.locator("#f-score-error")).to_contain_text("less than or equal to 100")
    expect(admin.get_by_label("Company")).to_have_value(company)  # the input is kept
    assert system.records("lead").count(filter={"company": company}) == 0


def test_a_save_after_someone_else_saved_shows_the_conflict_and_keeps_the_input(
    admin: Page, system: XRM
) -> None:
    name = unique("Conflicted")
    account = system.records("account").create({"name": name, "city": "Lyon"})
    admin.goto(f"/admin/records/account/{account['id']}")
    admin.get_by_label("City").fill("Paris")
    system.records("account").update(account["id"], {"city": "Nantes"})  # someone else saves
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_role("alert")).to_contain_text(
        "Someone else saved this record since you opened it"
    )
    expect(admin.get_by_label("City")).to_have_value("Paris")
    expect(admin.locator("#f-city-theirs")).to_have_text("Saved by someone else: Nantes")
    assert system.records("account").get(account["id"])["city"] == "Nantes"
    admin.get_by_role("button", name="Save").click()  # saving again keeps the person's value
    expect(admin.get_by_role("status")).to_have_text("Saved.")
    assert system.records("account").get(account["id"])["city"] == "Paris"


def test_a_leads_timeline_and_its_qualify_button_which_fills_a_related_list(
    admin: Page, system: XRM
) -> None:
    company, last = unique("Qualified Co"), unique("Prospect")
    lead = system.records("lead").create(
        {"last_name": last, "company": company, "email": f"{last.lower()}@example.org"}
    )
    call = unique("First call")
    regarding = {"entity": "lead", "id": lead["id"]}
    system.records("activity").create({"subject": call, "kind": "call", "regarding": regarding})
    admin.goto(f"/admin/records/lead/{lead['id']}")
    expect(admin.locator("#timeline .timeline-activity")).to_contain_text(call)
    admin.locator("#record-actions summary", has_text="Qualify").click()
    admin.get_by_role("button", name="Run qualify").click()
    expect(admin.get_by_role("status")).to_contain_text("Qualify: done.")
    expect(admin.get_by_label("Status")).to_have_value("qualified")
    admin.get_by_role("link", name=re.compile(r"^[0-9a-f-]{36}$")).first.click()  # the account
    expect(admin.get_by_role("heading", name=company, exact=True)).to_be_visible()
    related = admin.locator(
        "section.related", has=admin.get_by_role("heading", name="Contacts (Account)")
    )
    expect(related.get_by_role("link", name=last)).to_be_visible()
    expect(admin.locator("#timeline")).to_contain_text("created")


def test_a_record_page_is_labelled_and_fits_a_phone(
    browser: Browser, admin_server: Server, system: XRM
) -> None:
    # A contact's page has every part: lookups, actions with inputs, related lists, links.
    contact = system.records("contact").query(limit=1).records[0]
    phone = browser.new_context(base_url=admin_server.url, viewport={"width": 390, "height": 844})
    try:
        page = phone.new_page()
        sign_in(page, "admin")
        page.goto(f"/admin/records/contact/{contact['id']}")
        expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
        assert page.evaluate(UNLABELLED) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        phone.close()
