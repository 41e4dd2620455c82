"""The audit log page: filters (entity, record, user, time) and pages."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from playwright.sync_api import Page, expect

from tests.admin_ui.conftest import Admin, Server, htmx_ready, unique

ACCOUNT = {"x-xrm": {"name": "account"}, "properties": {"name": {"type": "string"}}}


def test_the_audit_log_filtered_by_entity_shows_a_change_made_here(
    admin: Page, admin_server: Server
) -> None:
    name = unique("Audited")
    xrm = admin_server.xrm()
    try:
        accounts = xrm.as_system("audit page test").records("account")
        made = accounts.create({"name": name})
        accounts.update(made["id"], {"name": name + " Ltd"})
    finally:
        xrm.close()
    admin.get_by_role("link", name="Audit").click()
    expect(admin).to_have_url(re.compile(r"/admin/audit$"))
    htmx_ready(admin)
    admin.evaluate("window.stillHere = true")  # gone if the page reloads
    admin.get_by_label("Entity").select_option("account")
    admin.get_by_role("button", name="Show entries").click()
    # The unfiltered log already showed these entries: wait for the filtered one.
    expect(admin).to_have_url(re.compile(r"/admin/audit\?entity=account"))
    htmx_ready(admin)
    assert admin.evaluate("window.stillHere") is True  # htmx swapped the entries in place
    entries = admin.locator("#audit-entries tbody tr")
    expect(entries.filter(has_text=f"{name} → {name} Ltd")).to_have_count(1)
    expect(entries.filter(has_text=f"— → {name}").locator("td").nth(4)).to_have_text("create")
    expect(
        admin.locator("#audit-entries td:nth-child(3)").filter(has_not_text="account")
    ).to_have_count(0)


def test_filters_by_record_user_and_time_narrow_the_log(inprocess: Admin) -> None:
    inprocess.xrm.metadata.define(ACCOUNT)
    accounts = inprocess.xrm.records("account")
    accounts.create({"name": "First"})
    second = accounts.create({"name": "Second"})
    inprocess.sign_in()
    record = inprocess.client.get(f"/admin/audit?entity=account&record_id={second['id']}").text
    assert "Second" in record and "First" not in record
    by_admin = inprocess.client.get("/admin/audit?user=admin").text  # the system made both
    assert 'id="audit-empty"' in by_admin
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert 'id="audit-empty"' in inprocess.client.get(f"/admin/audit?since={later}").text
    assert "First" in inprocess.client.get(f"/admin/audit?until={later}").text


def test_older_entries_come_a_page_at_a_time(inprocess: Admin) -> None:
    inprocess.xrm.metadata.define(ACCOUNT)
    inprocess.xrm.records("account").create_many([{"name": f"A{n:02d}"} for n in range(55)])
    inprocess.sign_in()
    first = inprocess.client.get("/admin/audit?entity=account").text
    assert first.count("<tr>") == 51  # the header and a page of 50
    older = re.search(r'href="([^"]+)" id="older-entries"', first)
    assert older is not None
    second = inprocess.client.get(older.group(1).replace("&amp;", "&")).text
    assert second.count("<tr>") == 1 + 5 + 1  # the header, the rest and the definition
    assert 'id="older-entries"' not in second


def test_a_bad_time_range_or_record_id_is_said_next_to_the_field(inprocess: Admin) -> None:
    inprocess.sign_in()
    backwards = inprocess.client.get("/admin/audit?since=2026-02-01T00:00&until=2026-01-01T00:00")
    assert backwards.status_code == 422
    until = re.search(r'<input id="until"[^>]*>', backwards.text)
    assert until is not None
    assert 'aria-invalid="true" aria-describedby="until-error"' in until.group(0)
    assert 'id="until-error">Must be later than From.' in backwards.text
    assert 'role="alert"' in backwards.text and 'id="audit-entries"' not in backwards.text
    garbled = inprocess.client.get(f"/admin/audit?since=yesterday&record_id=12&user={uuid.uuid4()}")
    assert garbled.status_code == 422
    for field in ("since", "record_id", "user"):
        assert f'id="{field}-error"' in garbled.text


def test_a_basic_user_may_neither_search_the_whole_log_nor_see_webhooks(inprocess: Admin) -> None:
    inprocess.sign_in("clerk")
    refused = inprocess.client.get("/admin/audit")
    assert refused.status_code == 403 and "only administrators" in refused.text
    hooks = inprocess.client.get("/admin/webhooks")
    assert hooks.status_code == 403 and "managing webhooks needs an administrator" in hooks.text
