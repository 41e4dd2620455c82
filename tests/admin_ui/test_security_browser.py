"""The security section in Chromium: a role's matrix edited in place decides what its
user sees; explain says why; a deactivated user cannot sign in."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.admin_ui.conftest import Server, sign_in, unique


def system_accounts(server: Server) -> tuple[int, str]:
    """How many accounts there are, and the id of one (read in the system context)."""
    xrm = server.xrm()
    try:
        accounts = xrm.as_system("check").records("account")
        return accounts.count(), str(accounts.query(limit=1).records[0]["id"])
    finally:
        xrm.close()


def create_role(admin: Page, name: str) -> None:
    admin.goto("/admin/security/roles")
    admin.get_by_label("Name").fill(name)
    admin.get_by_role("button", name="Create role").click()
    expect(admin.get_by_role("heading", name=f"Role {name}")).to_be_visible()


def create_user(admin: Page, username: str, password: str, role: str) -> None:
    admin.goto("/admin/security/users/new")
    admin.get_by_label("Username").fill(username)
    admin.get_by_label("Password (optional)").fill(password)
    admin.get_by_label(role, exact=True).check()
    admin.get_by_role("button", name="Create user").click()
    expect(admin.get_by_role("status")).to_have_text("Saved.")


def accounts_shown(page: Page) -> str:
    """The dashboard's count of the accounts the signed-in user can see."""
    page.goto("/admin/")
    row = page.locator("#entity-counts tr", has=page.get_by_role("link", name="account"))
    return row.locator("td.num").inner_text()


def test_a_restricted_user_sees_accounts_only_once_the_matrix_grants_them(
    admin: Page, browser: Browser, admin_server: Server
) -> None:
    role, username, password = unique("Viewer"), unique("viewer"), "viewer-password-1"
    create_role(admin, role)
    role_url = admin.url
    create_user(admin, username, password, role)
    total, account = system_accounts(admin_server)

    other = browser.new_context(base_url=admin_server.url)
    try:
        viewer = other.new_page()
        sign_in(viewer, username, password)
        assert accounts_shown(viewer) == "0"  # the role grants nothing yet

        admin.goto(role_url)
        cell = admin.locator("#cell-account-read")
        cell.get_by_label("account: read").select_option("organization")
        expect(cell.get_by_role("status")).to_have_text("saved")  # the cell was swapped
        admin.reload()
        expect(admin.get_by_label("account: read", exact=True)).to_have_value("organization")

        assert accounts_shown(viewer) == str(total)
    finally:
        other.close()

    admin.goto(f"/admin/security/explain?entity=account&id={account}")
    row = admin.locator("#readers tr", has=admin.get_by_role("link", name=username))
    expect(row).to_contain_text("granted")
    expect(row).to_contain_text(f"role '{role}' grants read at organization scope")


def test_a_deactivated_user_can_no_longer_sign_in(admin: Page) -> None:
    username, password = unique("leaver"), "leaver-password-1"
    create_user(admin, username, password, "Basic User")
    admin.get_by_role("button", name="Deactivate user").click()
    expect(admin.get_by_text("This user is deactivated")).to_be_visible()
    admin.goto("/admin/security/users")
    row = admin.locator("#users tr", has=admin.get_by_role("link", name=username))
    expect(row).to_contain_text("deactivated")
    admin.get_by_role("button", name="Sign out").click()
    sign_in(admin, username, password)
    expect(admin.get_by_role("alert")).to_have_text("Invalid username or password.")
    expect(admin).to_have_url(re.compile(r"/admin/login"))
