"""The record form in-process (SQLite and PostgreSQL): conversions, inline errors, conflicts."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

import pytest
from pydantic import BaseModel

from tests.admin_ui.conftest import Admin
from xrm_core import Action, ActionContext
from xrm_core.security.principal import PRIVILEGES

ENTITIES = [
    {"x-xrm": {"name": "garage"}, "properties": {"name": {"type": "string"}}},
    {
        "x-xrm": {"name": "car", "relationships": [{"name": "visited", "target": "garage"}]},
        "properties": {
            "plate": {"type": "string", "maxLength": 12},
            "seats": {"type": "integer", "minimum": 1},
            "price": {"x-xrm": {"kind": "money"}},
            "registered": {"type": "string", "format": "date"},
            "seen_at": {"type": "string", "format": "date-time"},
            "electric": {"type": "boolean", "default": False},
            "colour": {"enum": ["red", "blue"]},
            "notes": {"x-xrm": {"kind": "text"}},
            "garage": {"x-xrm": {"kind": "lookup", "target": "garage", "on_delete": "restrict"}},
            "about": {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["garage", "car"]}},
        },
        "required": ["plate"],
    },
]


class Wash(BaseModel):
    """The input of car.wash."""

    times: int = 1


class Washed(BaseModel):
    """The output of car.wash."""

    washed: int


def _wash(context: ActionContext, record_id: Any, data: Wash) -> Washed:
    return Washed(washed=data.times)


@pytest.fixture
def app(inprocess: Admin) -> Admin:
    """Signed in as admin, with cars and garages defined."""
    inprocess.xrm.metadata.define(ENTITIES)
    inprocess.sign_in()
    return inprocess


def _form(app: Admin, path: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": app.csrf(path), **fields}


def _error(html: str, field: str) -> str:
    found = re.search(rf'id="f-{field}-error">([^<]*)<', html)
    assert found, f"no error shown for {field}"
    return found.group(1)


def _create(app: Admin, **fields: str) -> Any:
    response = app.client.post(
        "/admin/records/car/new", data=_form(app, "/admin/records/car/new", **fields)
    )
    assert response.status_code == 303, response.text
    return app.xrm.records("car").get(response.headers["location"].rsplit("/", 1)[1])


def test_typed_text_becomes_numbers_dates_and_nulls(app: Admin) -> None:
    car = _create(
        app,
        plate="AB-123",
        seats="5",
        price="19999.5",
        registered="2026-03-31",
        seen_at="2026-03-31T14:30",
        colour="",
        notes="  ",
        electric="on",
    )
    assert car["seats"] == 5
    assert car["price"] == decimal.Decimal("19999.50")
    assert car["registered"] == dt.date(2026, 3, 31)
    assert car["seen_at"] == dt.datetime(2026, 3, 31, 14, 30, tzinfo=dt.UTC)
    assert car["colour"] is None and car["notes"] is None
    assert car["electric"] is True


def test_emptying_an_input_saves_null_and_unchanged_fields_are_not_written(app: Admin) -> None:
    car = app.xrm.records("car").create({"plate": "CD-1", "seats": 4, "colour": "red"})
    path = f"/admin/records/car/{car['id']}"
    shown = app.client.get(path).text
    assert 'name="seats" value="4"' in shown
    data = _form(app, path, version="1", plate="CD-1", seats="", colour="red")
    assert app.client.post(path, data=data).status_code == 303
    after = app.xrm.records("car").get(car["id"])
    assert after["seats"] is None and after["colour"] == "red" and after["version"] == 2
    [change] = [e for e in app.xrm.audit.for_record("car", car["id"]) if e.operation == "update"]
    assert set(change.changes) == {"seats"}


def test_a_bad_number_is_shown_next_to_its_field_and_nothing_is_saved(app: Admin) -> None:
    data = _form(app, "/admin/records/car/new", plate="EF-2", seats="four", price="1,5")
    response = app.client.post("/admin/records/car/new", data=data)
    assert response.status_code == 422
    assert _error(response.text, "seats") == "must be a whole number, such as 42"
    assert _error(response.text, "price") == "must be a number, such as 1234.50"
    assert 'aria-invalid="true"' in response.text and 'role="alert"' in response.text
    assert 'aria-describedby="f-seats-error"' in response.text
    assert 'name="seats" value="four"' in response.text  # the input is kept
    assert app.xrm.records("car").count() == 0


def test_a_bad_date_and_the_services_own_rules_are_shown_inline(app: Admin) -> None:
    data = _form(app, "/admin/records/car/new", plate="", registered="31/03/2026")
    response = app.client.post("/admin/records/car/new", data=data)
    assert response.status_code == 422
    assert _error(response.text, "registered") == "must be a date, such as 2026-03-31"
    data = _form(app, "/admin/records/car/new", plate="", seats="0")
    response = app.client.post("/admin/records/car/new", data=data)
    assert response.status_code == 422
    assert _error(response.text, "plate") == "is required"
    assert "greater than or equal to 1" in _error(response.text, "seats")
    assert app.xrm.records("car").count() == 0


def test_a_lookup_typed_without_the_list_finds_its_one_match(app: Admin) -> None:
    garages = app.xrm.records("garage")
    north = garages.create({"name": "North garage"})
    garages.create({"name": "North garage annex"})
    car = _create(app, plate="GH-3", garage__search="north garage")
    assert car["garage"] == north["id"]  # the exact name wins over a longer match
    data = _form(app, "/admin/records/car/new", plate="GH-4", garage__search="garage")
    response = app.client.post("/admin/records/car/new", data=data)
    assert response.status_code == 422
    assert "choose one from the list" in _error(response.text, "garage")


def test_search_as_you_type_offers_matching_records(app: Admin) -> None:
    app.xrm.records("garage").create({"name": "Harbour garage"})
    params = {"input": "garage__search", "target": "garage", "garage__search": "harb"}
    response = app.client.get("/admin/records/car/lookup", params=params)
    assert response.status_code == 200
    assert re.findall(r'role="option"[^>]*data-label="([^"]*)"', response.text) == [
        "Harbour garage"
    ]
    params["garage__search"] = "nothing like it"
    assert "No garage matches." in app.client.get("/admin/records/car/lookup", params=params).text


def test_a_save_over_someone_elses_is_a_conflict_that_keeps_the_input(app: Admin) -> None:
    car = app.xrm.records("car").create({"plate": "IJ-5", "seats": 2})
    path = f"/admin/records/car/{car['id']}"
    app.xrm.records("car").update(car["id"], {"seats": 7})
    data = _form(app, path, version="1", plate="IJ-5-NEW", seats="2")
    response = app.client.post(path, data=data)
    assert response.status_code == 409
    assert "Someone else saved this record since you opened it" in response.text
    assert 'name="plate" value="IJ-5-NEW"' in response.text
    assert re.search(r'id="f-seats-theirs">Saved by someone else: <strong>7<', response.text)
    assert 'name="version" value="2"' in response.text
    assert app.xrm.records("car").get(car["id"])["plate"] == "IJ-5"
    data["version"] = "2"  # saving again, over their version, keeps the person's input
    assert app.client.post(path, data=data).status_code == 303
    assert app.xrm.records("car").get(car["id"])["plate"] == "IJ-5-NEW"


def test_an_action_runs_from_its_form_and_bad_input_is_said_next_to_it(app: Admin) -> None:
    app.xrm.actions.register(Action("car", "wash", Wash, Washed, _wash))
    car = app.xrm.records("car").create({"plate": "KL-6"})
    path = f"/admin/records/car/{car['id']}"
    assert 'action="' + path + '/actions/car.wash"' in app.client.get(path).text
    bad = _form(app, path, times="often")
    response = app.client.post(path + "/actions/car.wash", data=bad)
    assert response.status_code == 422
    assert re.search(r'id="a-car-wash-times-error">[^<]*valid integer', response.text)
    done = app.client.post(path + "/actions/car.wash", data=_form(app, path, times="3"))
    assert done.status_code == 303
    assert re.search(r"<dt>Washed</dt><dd>3</dd>", app.client.get(path).text)


def test_a_restricted_delete_says_why_and_deletes_nothing(app: Admin) -> None:
    garage = app.xrm.records("garage").create({"name": "South"})
    app.xrm.records("car").create({"plate": "MN-7", "garage": garage["id"]})
    path = f"/admin/records/garage/{garage['id']}"
    page = app.client.get(path).text
    assert "Cars (Garage)" in page and "MN-7" in page  # the related list
    confirm = app.client.get(path + "/delete").text
    assert "It cannot be deleted" in confirm and "Delete</button>" not in confirm
    response = app.client.post(path + "/delete", data=_form(app, path, version="1"))
    assert response.status_code == 409
    assert app.xrm.records("garage").count() == 1


def test_links_are_made_and_removed_from_either_record(app: Admin) -> None:
    garage = app.xrm.records("garage").create({"name": "West garage"})
    car = app.xrm.records("car").create({"plate": "OP-8"})
    path = f"/admin/records/car/{car['id']}"
    link = {"owner": "car", "relationship": "visited", "side": "source"}
    data = _form(app, path, **link, other="", other__search="West garage")
    assert app.client.post(path + "/links", data=data).status_code == 303
    assert [x["target_id"] for x in app.xrm.records("car").links(car["id"], "visited")] == [
        garage["id"]
    ]
    garage_page = app.client.get(f"/admin/records/garage/{garage['id']}").text
    assert "Cars (Visited)" in garage_page and "OP-8" in garage_page  # seen from the target
    there = f"/admin/records/garage/{garage['id']}"
    data = _form(
        app, there, owner="car", relationship="visited", side="target", other=str(car["id"])
    )
    assert app.client.post(there + "/links/remove", data=data).status_code == 303
    assert app.xrm.records("car").links(car["id"], "visited") == []
    forged = _form(app, path, owner="garage", relationship="visited", side="source", other="")
    refused = app.client.post(path + "/links", data=forged)
    assert refused.status_code == 422 and "names no relationship of this record" in refused.text


def test_the_timeline_shows_changes_newest_first(app: Admin) -> None:
    car = app.xrm.records("car").create({"plate": "QR-9"})
    app.xrm.records("car").update(car["id"], {"plate": "QR-10"})
    page = app.client.get(f"/admin/records/car/{car['id']}").text
    timeline = page[page.index('id="timeline"') :]
    assert timeline.index("changed plate") < timeline.index("created")
    assert "plate: QR-9 → QR-10" in timeline


def test_a_polymorphic_lookup_takes_the_kind_of_record_then_the_record(app: Admin) -> None:
    garage = app.xrm.records("garage").create({"name": "East garage"})
    params = {"input": "about__search", "target_input": "about__entity"}
    offered = app.client.get(
        "/admin/records/car/lookup",
        params={**params, "about__entity": "garage", "about__search": "east"},
    ).text
    assert 'data-label="East garage"' in offered
    car = _create(app, plate="ST-1", about__entity="garage", about=str(garage["id"]))
    assert car["about"] == {"entity": "garage", "id": garage["id"]}
    data = _form(app, "/admin/records/car/new", plate="ST-2", about=str(garage["id"]))
    response = app.client.post("/admin/records/car/new", data=data)
    assert _error(response.text, "about") == "choose what kind of record it is"


def test_a_basic_user_works_on_their_own_records_and_not_on_others(inprocess: Admin) -> None:
    inprocess.xrm.metadata.define(ENTITIES)
    theirs = inprocess.xrm.records("car").create({"plate": "UV-1"})  # owned by no clerk
    inprocess.sign_in("clerk")
    car = _create(inprocess, plate="UV-2")
    page = inprocess.client.get(f"/admin/records/car/{car['id']}")
    assert page.status_code == 200 and "created" in page.text
    hidden = inprocess.client.get(f"/admin/records/car/{theirs['id']}")
    assert hidden.status_code == 404 and "no car with id" in hidden.text
    path = f"/admin/records/car/{car['id']}"
    data = _form(inprocess, path, version="1", plate="UV-3")
    assert inprocess.client.post(path, data=data).status_code == 303


INVOICE = {
    "x-xrm": {"name": "invoice"},
    "properties": {
        "name": {"type": "string"},
        "amount": {"x-xrm": {"kind": "money", "secured": True}},
    },
}


def _read_only_user(xrm: Any) -> None:
    """``auditor``: every invoice privilege, but may only read ``invoice.amount``."""
    xrm.security.create_role("Invoices", [("invoice", p, "organization") for p in PRIVILEGES])
    user = xrm.security.create_user("auditor", roles=["Invoices"])
    xrm.auth.set_password(user, "auditor-password-1")
    profile = xrm.records("field_security_profile").create({"name": "Amounts, read only"})
    permission = {"entity": "invoice", "field": "amount", "can_read": True}
    xrm.records("field_permission").create({"profile": profile["id"], **permission})
    xrm.records("field_security_profile").link(profile["id"], "users", user)


def test_a_field_one_may_read_but_not_write_is_shown_read_only(inprocess: Admin) -> None:
    inprocess.xrm.metadata.define(INVOICE)
    _read_only_user(inprocess.xrm)
    invoice = inprocess.xrm.records("invoice").create({"name": "INV-1", "amount": "12.50"})
    client, path = inprocess.client, f"/admin/records/invoice/{invoice['id']}"
    login = {"username": "auditor", "password": "auditor-password-1"}
    assert client.post("/admin/login", data={**login, "csrf_token": inprocess.csrf()}).is_redirect

    shown = client.get(path).text
    amount = re.search(r'<input type="text" id="f-amount"[^>]*>', shown)
    assert amount and "readonly" in amount.group(0) and 'value="12.50"' in amount.group(0)
    assert "name=" not in amount.group(0)  # nothing to send
    assert "field security does not let you change this field" in shown
    assert re.search(r'<input type="text" id="f-name" name="name"', shown)  # the rest is editable
    # Sent anyway, the amount is not written; the other fields are.
    data = _form(inprocess, path, version="1", name="INV-1b", amount="99")
    assert client.post(path, data=data).status_code == 303
    stored = inprocess.xrm.records("invoice").get(invoice["id"])
    assert (stored["name"], stored["amount"]) == ("INV-1b", decimal.Decimal("12.50"))
    # Nor may they set it on a new invoice: read-only there too, and left out when sent.
    assert "does not let you set this field" in client.get("/admin/records/invoice/new").text
    data = _form(inprocess, "/admin/records/invoice/new", name="INV-2", amount="5")
    assert client.post("/admin/records/invoice/new", data=data).status_code == 303
    made = inprocess.xrm.records("invoice").query(filter={"name": "INV-2"}).records[0]
    assert made["amount"] is None

    client.cookies.clear()
    inprocess.sign_in("admin")  # an administrator may write every field
    assert re.search(r'<input type="number" id="f-amount" name="amount"', client.get(path).text)


def test_the_lookups_script_and_styles_are_static_files_not_inline(app: Admin) -> None:
    # One cached file for every page, and pages a strict Content-Security-Policy allows.
    form = app.client.get("/admin/records/car/new").text
    assert '<script src="/admin/static/admin.js" defer></script>' in form
    assert "<script>" not in form and "<style>" not in form
    script = app.client.get("/admin/static/admin.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "[data-lookup]" in script.text
    assert ".lookup-options" in app.client.get("/admin/static/admin.css").text
