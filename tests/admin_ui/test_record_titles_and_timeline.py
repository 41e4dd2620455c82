"""In-process (SQLite and PostgreSQL): records named by ``x-xrm.title_field``, the
timeline from ``xrm.timeline`` with plugins' entries, and filters offering only
the fields the user may read."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from tests.admin_ui.conftest import Admin
from xrm_core import XRM, TimelineEntry, hookimpl
from xrm_core.plugins import make_plugin_manager, start
from xrm_core.security.principal import PRIVILEGES

#: ``name`` is what the admin UI would guess; the definition says ``plate``.
VEHICLE = {
    "x-xrm": {"name": "vehicle", "title_field": ["plate", "country"]},
    "properties": {
        "name": {"type": "string"},
        "plate": {"type": "string"},
        "country": {"type": "string"},
        "value": {"x-xrm": {"kind": "money", "secured": True}},
    },
}
FOUND_ON = dt.datetime(2001, 2, 3, 4, 5, tzinfo=dt.UTC)


class Inspections:
    """A plugin adding one inspection, linked to another vehicle, to each vehicle's timeline."""

    def __init__(self, inspector: uuid.UUID) -> None:
        self.inspector = inspector

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "inspections", "version": "1.0.0"}

    @hookimpl
    def xrm_timeline_entries(
        self, xrm: XRM, entity: str, record_id: uuid.UUID, limit: int
    ) -> list[TimelineEntry]:
        if entity != "vehicle":
            return []
        return [
            TimelineEntry(
                FOUND_ON,
                "inspection",
                "check",
                "Brakes checked",
                text="passed",
                entity="vehicle",
                record_id=record_id,
                actor_id=self.inspector,
            )
        ]


def _signed_in(inprocess: Admin) -> XRM:
    inprocess.xrm.metadata.define(VEHICLE)
    inprocess.sign_in()
    return inprocess.xrm


def test_records_are_named_by_their_declared_title_fields(inprocess: Admin) -> None:
    xrm = _signed_in(inprocess)
    car = xrm.records("vehicle").create({"name": "The old one", "plate": "AB-12", "country": "F"})

    page = inprocess.client.get(f"/admin/records/vehicle/{car['id']}").text
    params = {"input": "q", "target": "vehicle", "q": "ab-1"}
    found = inprocess.client.get("/admin/records/vehicle/lookup", params=params).text
    listed = inprocess.client.get("/admin/records/vehicle").text

    assert "<h1>AB-12 F</h1>" in page
    assert re.findall(r'role="option"[^>]*data-label="([^"]*)"', found) == ["AB-12 F"]
    header = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', listed, re.S)
    assert "Plate" in header[0]  # the title comes first


def test_the_timeline_shows_plugins_entries_among_the_changes(inprocess: Admin) -> None:
    xrm = _signed_in(inprocess)
    inspector = xrm.security.create_user("inspector", roles=["Basic User"])
    pm = make_plugin_manager(load_entrypoints=False, plugins=[Inspections(inspector)])
    start(xrm, pm)  # the app shares this database's started plugins
    car = xrm.records("vehicle").create({"plate": "CD-34"})
    xrm.records("vehicle").update(car["id"], {"plate": "CD-35"})

    page = inprocess.client.get(f"/admin/records/vehicle/{car['id']}").text
    timeline = page[page.index('id="timeline"') :]

    assert timeline.index("changed plate") < timeline.index("created")
    assert timeline.index("created") < timeline.index("Brakes checked")  # 2001: oldest
    item = re.search(r'<li class="timeline-inspection">(.*?)</li>', timeline, re.S)
    assert item is not None
    assert f'<a href="/admin/records/vehicle/{car["id"]}">Brakes checked</a>' in item.group(1)
    assert "passed" in item.group(1)
    assert "by the system" in timeline  # the changes were made in the system context


def test_filters_offer_only_the_fields_the_user_may_read(inprocess: Admin) -> None:
    xrm = inprocess.xrm
    xrm.metadata.define(VEHICLE)
    xrm.security.create_role("Fleet", [("vehicle", p, "organization") for p in PRIVILEGES])
    user = xrm.security.create_user("fleet", roles=["Fleet"])
    xrm.auth.set_password(user, "fleet-password-1")
    client = inprocess.client
    login = {"username": "fleet", "password": "fleet-password-1"}
    assert client.post("/admin/login", data={**login, "csrf_token": inprocess.csrf()}).is_redirect

    def choices(path: str) -> list[str]:
        form = client.get(path).text
        select = form[form.index('<select id="new_field"') :]
        return re.findall(r'<option value="([^"]+)"', select[: select.index("</select>")])

    assert "value" not in choices("/admin/records/vehicle")
    assert "plate" in choices("/admin/records/vehicle")
    # Asked for anyway, no filter row is added (an administrator's is).
    add = {"add": "1", "new_field": "value"}
    added = client.get("/admin/records/vehicle", params=add)
    assert added.status_code == 303 and "f1=value" not in added.headers["location"]
    client.cookies.clear()
    inprocess.sign_in("admin")
    assert "value" in choices("/admin/records/vehicle")
    added = client.get("/admin/records/vehicle", params=add)
    assert "f1=value" in added.headers["location"]
