"""The webhooks pages: create (the secret shown once), edit, delete, the delivery log, replay."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.admin_ui.conftest import Admin, Server, unique

CONTACT = {"x-xrm": {"name": "contact"}, "properties": {"name": {"type": "string"}}}


def test_a_new_webhook_shows_its_secret_once_and_an_empty_delivery_log(
    admin: Page, admin_server: Server
) -> None:
    name = unique("hook")
    admin.get_by_role("link", name="Webhooks").click()
    admin.get_by_label("Name").fill(name)
    admin.get_by_label("URL").fill("https://receiver.example/xrm")
    admin.get_by_label("Event patterns").fill("contact.*, *.created")
    admin.get_by_label("Only records of").select_option("contact")
    admin.get_by_role("button", name="Create webhook").click()
    secret = admin.get_by_label("Secret", exact=True)
    expect(secret).to_have_value(re.compile(r"^whsec_"))
    shown = secret.input_value()
    admin.get_by_role("link", name=f"Go to webhook {name}").click()
    expect(admin.get_by_role("heading", name=f"Webhook {name}")).to_be_visible()
    expect(admin.get_by_label("Event patterns")).to_have_value("contact.*, *.created")
    expect(admin.locator("#no-deliveries")).to_have_text("No deliveries yet.")
    expect(admin.locator("#no-attempts")).to_have_text("No delivery attempts yet.")
    assert shown not in admin.content()  # never shown again
    admin.goto("/admin/webhooks")
    expect(admin.get_by_role("row", name=name)).to_contain_text("https://receiver.example/xrm")


def test_a_bad_url_or_pattern_is_said_next_to_the_field_and_nothing_is_created(
    inprocess: Admin,
) -> None:
    inprocess.sign_in()
    form = {"csrf_token": inprocess.csrf("/admin/webhooks"), "name": "crm_sync", "active": "yes"}
    bad = inprocess.client.post(
        "/admin/webhooks", data={**form, "url": "ftp://example.org", "events": "Contact.*"}
    )
    assert bad.status_code == 422
    assert 'id="url-error">use an http:// or https:// URL with a host' in bad.text
    assert 'id="events-error">bad event pattern' in bad.text
    assert 'value="ftp://example.org"' in bad.text  # what was typed stays
    assert inprocess.xrm.webhooks.list() == []


def test_editing_saves_and_a_stale_form_is_refused(inprocess: Admin) -> None:
    inprocess.xrm.metadata.define(CONTACT)
    inprocess.xrm.webhooks.create("crm_sync", "https://a.example/", ["contact.*"])
    inprocess.sign_in()
    form = {
        "csrf_token": inprocess.csrf("/admin/webhooks/crm_sync"),
        "url": "https://b.example/",
        "events": "contact.created contact.updated",
        "entity": "contact",
        "version": "1",
    }
    saved = inprocess.client.post("/admin/webhooks/crm_sync", data=form)
    assert saved.status_code == 303
    hook = inprocess.xrm.webhooks.get("crm_sync")
    assert (hook.url, hook.events, hook.entity, hook.active) == (
        "https://b.example/",
        ("contact.created", "contact.updated"),
        "contact",
        False,  # the box was not ticked
    )
    stale = inprocess.client.post(
        "/admin/webhooks/crm_sync", data={**form, "url": "https://c.example/"}
    )
    assert stale.status_code == 409 and "nothing was saved" in stale.text
    assert inprocess.xrm.webhooks.get("crm_sync").url == "https://b.example/"


def test_deliveries_show_in_the_log_and_chosen_ones_can_be_replayed(inprocess: Admin) -> None:
    inprocess.xrm.metadata.define(CONTACT)
    inprocess.xrm.webhooks.create("crm_sync", "https://a.example/", ["contact.*"])
    inprocess.xrm.records("contact").create({"name": "Ada"})
    inprocess.sign_in()
    page = inprocess.client.get("/admin/webhooks/crm_sync").text
    assert "contact.created" in page and "<td>pending</td>" in page
    token = inprocess.csrf("/admin/webhooks/crm_sync")
    nothing = inprocess.client.post(
        "/admin/webhooks/crm_sync/replay", data={"csrf_token": token, "which": "chosen"}
    )
    assert nothing.status_code == 422 and "Tick the deliveries" in nothing.text
    dead = inprocess.client.post(
        "/admin/webhooks/crm_sync/replay", data={"csrf_token": token, "which": "dead"}
    )
    assert dead.status_code == 303
    notice = inprocess.client.get("/admin/webhooks/crm_sync").text
    assert "0 deliveries put back" in notice  # the one delivery is pending, not dead


def test_deleting_needs_the_box_ticked(inprocess: Admin) -> None:
    inprocess.xrm.webhooks.create("crm_sync", "https://a.example/", ["*"])
    inprocess.sign_in()
    token = inprocess.csrf("/admin/webhooks/crm_sync")
    refused = inprocess.client.post("/admin/webhooks/crm_sync/delete", data={"csrf_token": token})
    assert refused.status_code == 422 and 'id="confirm-error"' in refused.text
    assert [h.name for h in inprocess.xrm.webhooks.list()] == ["crm_sync"]
    data = {"csrf_token": token, "confirm": "yes"}
    assert inprocess.client.post("/admin/webhooks/crm_sync/delete", data=data).status_code == 303
    assert inprocess.xrm.webhooks.list() == []


def test_rotating_shows_the_new_secret_once(inprocess: Admin) -> None:
    old = inprocess.xrm.webhooks.create("crm_sync", "https://a.example/", ["*"]).secret
    inprocess.sign_in()
    token = inprocess.csrf("/admin/webhooks/crm_sync")
    page = inprocess.client.post("/admin/webhooks/crm_sync/rotate", data={"csrf_token": token})
    new = re.search(r'id="secret" value="(whsec_[^"]+)"', page.text)
    assert page.status_code == 200 and new is not None and new.group(1) != old
    assert new.group(1) not in inprocess.client.get("/admin/webhooks/crm_sync").text
