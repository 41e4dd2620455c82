"""Signing in and out, sessions and CSRF: in the browser and in-process."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.admin_ui.conftest import Admin, Server, sign_in


def test_signed_out_visitors_are_sent_to_sign_in_and_back(page: Page) -> None:
    page.goto("/admin/entities")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/entities$"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("admin-password-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/entities$"))


def test_dashboard_counts_records_and_sign_out_ends_the_session(
    admin: Page, admin_server: Server
) -> None:
    xrm = admin_server.xrm()
    try:
        accounts = xrm.as_system("check").records("account").count()
    finally:
        xrm.close()
    row = admin.locator("#entity-counts tr", has=admin.get_by_role("link", name="account"))
    expect(row.locator("td.num")).to_have_text(str(accounts))
    admin.get_by_role("button", name="Sign out").click()
    expect(admin).to_have_url(re.compile(r"/admin/login"))
    admin.goto("/admin/")
    expect(admin).to_have_url(re.compile(r"/admin/login"))


def test_a_wrong_password_is_said_on_the_form(page: Page) -> None:
    sign_in(page, "admin", "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")
    expect(page.get_by_label("Username")).to_have_value("admin")


def test_a_form_with_a_forged_csrf_token_changes_nothing(admin: Page) -> None:
    admin.locator("form.signout input[name=csrf_token]").evaluate("e => e.value = 'forged'")
    admin.get_by_role("button", name="Sign out").click()
    expect(admin.get_by_role("alert")).to_contain_text("nothing was changed")
    admin.goto("/admin/")  # still signed in: the sign-out did not happen
    expect(admin.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_post_without_the_csrf_token_is_refused(inprocess: Admin) -> None:
    inprocess.sign_in()
    response = inprocess.client.post("/admin/logout", data={})
    assert response.status_code == 403
    assert inprocess.client.get("/admin/").status_code == 200  # still signed in


def test_sign_in_needs_the_csrf_token_too(inprocess: Admin) -> None:
    data = {"username": "admin", "password": "admin-password-1"}
    assert inprocess.client.post("/admin/login", data=data).status_code == 403


def test_the_session_cookie_is_signed_http_only_and_same_site(inprocess: Admin) -> None:
    inprocess.client.get("/admin/login")
    token = inprocess.csrf()
    data = {"username": "admin", "password": "admin-password-1", "csrf_token": token}
    cookie = inprocess.client.post("/admin/login", data=data).headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "path=/admin" in cookie.lower()
    inprocess.client.cookies.set("xrm_admin", "tampered" + inprocess.client.cookies["xrm_admin"])
    assert inprocess.client.get("/admin/").status_code == 303  # not signed in


def test_signing_out_revokes_the_session_token(inprocess: Admin) -> None:
    inprocess.sign_in()
    users = inprocess.xrm.records("user").query(filter={"username": "admin"}).records
    [session] = [t for t in inprocess.xrm.auth.tokens(users[0]["id"]) if t.revoked_at is None]
    inprocess.client.post("/admin/logout", data={"csrf_token": inprocess.csrf("/admin/")})
    [after] = [t for t in inprocess.xrm.auth.tokens(users[0]["id"]) if t.id == session.id]
    assert after.revoked_at is not None


def test_failed_sign_ins_are_throttled(inprocess: Admin) -> None:
    data = {"username": "admin", "password": "wrong-password", "csrf_token": inprocess.csrf()}
    statuses = [inprocess.client.post("/admin/login", data=data).status_code for _ in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429
    data["password"] = "admin-password-1"  # even the right password waits now
    refused = inprocess.client.post("/admin/login", data=data)
    assert refused.status_code == 429 and "Too many failed attempts" in refused.text


def test_next_never_leaves_the_admin_ui(inprocess: Admin) -> None:
    data = {"username": "admin", "password": "admin-password-1", "csrf_token": inprocess.csrf()}
    response = inprocess.client.post("/admin/login", data={**data, "next": "//evil.example/"})
    assert response.headers["location"] == "/admin/"
