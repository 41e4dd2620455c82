"""Record lists in the browser: filtering with htmx, sorting, pages, saved views, and a
user who sees only what their role grants."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.admin_ui.conftest import Server, htmx_ready, sign_in, unique
from xrm_core import XRM


@pytest.fixture
def system(admin_server: Server) -> Iterator[XRM]:
    """The live server's database in the system context (to make test data)."""
    opened = admin_server.xrm()
    try:
        yield opened.as_system("records list tests")
    finally:
        opened.close()


def names(page: Page) -> list[str]:
    """The first column of the records table, in order."""
    return page.locator("#records tbody tr td:first-child").all_inner_texts()


def add_filter(page: Page, label: str) -> None:
    """Add a filter row on the field labelled ``label`` (htmx swaps the list in place)."""
    htmx_ready(page)
    page.get_by_label("Filter by").select_option(label=label)
    page.get_by_role("button", name="Add filter").click()
    htmx_ready(page)  # the new row's list is wired: its Apply goes through htmx too


def apply_filters(page: Page) -> None:
    """Press Apply and wait until htmx has swapped in and wired the new list."""
    page.get_by_role("button", name="Apply", exact=True).last.click()
    htmx_ready(page)


def filter_by_name(page: Page, text: str) -> None:
    """Add a filter row on the name and apply it."""
    add_filter(page, "Name")
    page.locator("#v1").fill(text)
    apply_filters(page)


def test_filtering_accounts_shows_only_matching_rows(admin: Page, system: XRM) -> None:
    prefix = unique("Filt")
    system.records("account").create_many(
        [
            {"name": f"{prefix} Alpha", "industry": "retail"},
            {"name": f"{prefix} Beta", "industry": "energy"},
            {"name": f"{prefix} Gamma", "industry": "retail"},
        ]
    )
    admin.goto("/admin/records")
    admin.get_by_role("link", name="Accounts").click()
    expect(admin).to_have_url(re.compile(r"/admin/records/account$"))
    htmx_ready(admin)
    admin.evaluate("window.stillHere = true")  # gone if the page reloads
    filter_by_name(admin, prefix)
    expect(admin.locator("#records tbody tr")).to_have_count(3)
    expect(admin).to_have_url(re.compile(r"f1=name&op1=contains&v1=Filt_"))
    add_filter(admin, "Industry")
    admin.locator("#v2").select_option("retail")
    apply_filters(admin)
    expect(admin.locator("#records tbody tr")).to_have_count(2)
    assert names(admin) == [f"{prefix} Alpha", f"{prefix} Gamma"]
    assert admin.evaluate("window.stillHere") is True  # htmx swapped the list in place
    admin.reload()  # the URL holds the filters: the same list after a reload
    expect(admin.locator("#records tbody tr")).to_have_count(2)
    htmx_ready(admin)
    admin.get_by_role("button", name="Remove filter 2 on Industry").click()
    expect(admin.locator("#records tbody tr")).to_have_count(3)


def test_a_bad_filter_value_is_said_next_to_its_row(admin: Page) -> None:
    admin.goto("/admin/records/opportunity")
    add_filter(admin, "Amount")
    expect(admin.locator("#to1")).to_be_visible()  # an amount is "between" at first
    admin.locator("#op1").select_option("eq")  # one value instead of a range: htmx redraws
    expect(admin.locator("#to1")).to_have_count(0)
    htmx_ready(admin)
    admin.locator("#v1").fill("a lot")
    apply_filters(admin)
    expect(admin.locator("#e1")).to_contain_text("is not a valid money value")
    expect(admin.locator("#v1")).to_have_attribute("aria-invalid", "true")
    expect(admin.get_by_role("alert")).to_contain_text("Amount")


def test_clicking_a_column_header_sorts_both_ways(admin: Page, system: XRM) -> None:
    prefix = unique("Sort")
    system.records("account").create_many(
        [{"name": f"{prefix} {letter}"} for letter in ("B", "C", "A")]
    )
    admin.goto(f"/admin/records/account?f1=name&op1=contains&v1={prefix}")
    header = admin.get_by_role("columnheader", name="Name")
    expect(header).to_have_attribute("aria-sort", "ascending")  # by name until told otherwise
    assert names(admin) == [f"{prefix} A", f"{prefix} B", f"{prefix} C"]
    admin.evaluate("window.stillHere = true")  # gone if the page reloads
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert names(admin) == [f"{prefix} C", f"{prefix} B", f"{prefix} A"]
    htmx_ready(admin)
    admin.get_by_role("columnheader", name="Industry").get_by_role("link").click()
    expect(admin).to_have_url(re.compile(r"sort=industry"))
    expect(admin.get_by_role("columnheader", name="Industry")).to_have_attribute(
        "aria-sort", "ascending"
    )
    assert admin.evaluate("window.stillHere") is True  # both sorts were swapped in place


def test_next_and_previous_pages(admin: Page, system: XRM) -> None:
    prefix = unique("Page")
    system.records("account").create_many([{"name": f"{prefix} {n:02}"} for n in range(12)])
    admin.goto(f"/admin/records/account?f1=name&op1=contains&v1={prefix}&limit=10")
    expect(admin.locator("#list-count")).to_have_text("12 accounts")
    expect(admin.locator("#records tbody tr")).to_have_count(10)
    admin.get_by_role("link", name="Next page").click()
    expect(admin.locator("#records tbody tr")).to_have_count(2)
    assert names(admin) == [f"{prefix} 10", f"{prefix} 11"]
    expect(admin.get_by_role("link", name="Next page")).to_have_count(0)
    htmx_ready(admin)
    admin.get_by_role("link", name="Previous page").click()
    expect(admin.locator("#records tbody tr")).to_have_count(10)
    assert names(admin)[0] == f"{prefix} 00"


def test_a_saved_view_reopens_with_its_filter(admin: Page, system: XRM) -> None:
    prefix = unique("View")
    system.records("account").create_many([{"name": f"{prefix} One"}, {"name": "Elsewhere"}])
    admin.goto("/admin/records/account")
    filter_by_name(admin, prefix)
    expect(admin.locator("#records tbody tr")).to_have_count(1)
    view_name = f"Mine {prefix}"
    admin.get_by_label("Save this list as a view named").fill(view_name)
    admin.get_by_role("button", name="Save view").click()
    expect(admin.get_by_role("navigation", name="Saved views")).to_contain_text(view_name)
    htmx_ready(admin)
    admin.get_by_role("link", name="Clear").click()
    expect(admin.locator("#v1")).to_have_count(0)
    admin.get_by_role("link", name=view_name).click()
    expect(admin.locator("#v1")).to_have_value(prefix)
    expect(admin.locator("#records tbody tr")).to_have_count(1)
    assert names(admin) == [f"{prefix} One"]


def test_a_restricted_user_sees_only_what_their_role_grants(page: Page, system: XRM) -> None:
    name = unique("restricted")
    role = f"{name} role"
    system.security.create_role(role, [("account", "read", "own")])
    user = system.security.create_user(name, roles=[role])
    system.auth.set_password(user, "restricted-password-1")
    prefix = unique("Owned")
    system.records("account").create_many(
        [
            {"name": f"{prefix} theirs", "owner_id": user, "owner_type": "user"},
            {"name": f"{prefix} not theirs"},
        ]
    )
    sign_in(page, name, "restricted-password-1")
    page.goto("/admin/records")
    expect(page.get_by_role("link", name="Accounts")).to_be_visible()
    expect(page.get_by_role("link", name="Opportunities")).to_have_count(0)
    page.get_by_role("link", name="Accounts").click()
    expect(page.locator("#records tbody tr")).to_have_count(1)
    assert names(page) == [f"{prefix} theirs"]
    expect(page.get_by_role("link", name="New account")).to_have_count(0)
    response = page.goto("/admin/records/opportunity")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text(
        "Your roles do not let you read opportunities."
    )
