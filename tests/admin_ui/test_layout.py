"""Every main screen: labelled inputs, keyboard use, and a layout that fits 1280 px and a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.admin_ui.conftest import PASSWORD, Server, sign_in

#: The main screens, as an administrator opens them from the navigation.
SCREENS = [
    "/admin/",
    "/admin/entities",
    "/admin/records",
    "/admin/records/account",
    "/admin/security",
    "/admin/plugins",
    "/admin/audit",
    "/admin/webhooks",
]

# Inputs a person fills in must have a name a screen reader reads out: a <label for>, a
# wrapping <label>, aria-label or aria-labelledby. Hidden inputs and buttons are not filled in.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.type !== 'submit' && e.type !== 'button')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("path", SCREENS)
def test_every_input_on_a_main_screen_has_a_label(admin: Page, path: str) -> None:
    response = admin.goto(path)
    assert response is not None and response.status == 200, path
    assert admin.evaluate(UNLABELLED) == []


@pytest.mark.parametrize("path", SCREENS)
def test_a_main_screen_fits_a_phone_without_sideways_scrolling(
    browser: Browser, admin_server: Server, path: str
) -> None:
    phone = browser.new_context(base_url=admin_server.url, viewport={"width": 390, "height": 844})
    try:
        page = phone.new_page()
        sign_in(page, "admin")
        page.goto(path)
        # Wide tables scroll inside their own box (.table-wrap); the page itself does not.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        expect(page.get_by_role("navigation", name="Sections")).to_be_visible()
    finally:
        phone.close()


def test_signing_in_and_moving_around_works_with_the_keyboard_alone(page: Page) -> None:
    page.goto("/admin/login")
    expect(page.get_by_label("Username")).to_be_focused()  # ready to type
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD["admin"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.keyboard.press("Tab")  # the skip link comes first on every page
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(3):  # past it: the brand, then the sections
        page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Entities")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/entities$"))
