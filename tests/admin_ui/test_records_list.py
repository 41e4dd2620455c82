"""Record lists in-process (SQLite and PostgreSQL): each filter type's query parameters,
bad input said next to its row, sorting, cursor pages, saved views and refusals."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

import httpx2 as httpx
import pytest

from tests.admin_ui.conftest import Admin
from xrm_core import XRM
from xrm_core.errors import AccessDenied
from xrm_core.plugins import core

MAKER = {"x-xrm": {"name": "maker"}, "properties": {"name": {"type": "string"}}}
GADGET = {
    "x-xrm": {"name": "gadget"},
    "properties": {
        "name": {"type": "string"},
        "qty": {"type": "integer"},
        "price": {"x-xrm": {"kind": "money"}},
        "active": {"type": "boolean"},
        "released": {"type": "string", "format": "date"},
        "seen_at": {"type": "string", "format": "date-time"},
        "colour": {"enum": ["red", "green", "blue"]},
        "tags": {"type": "array", "items": {"enum": ["new", "sale"]}, "uniqueItems": True},
        "maker": {"x-xrm": {"kind": "lookup", "target": "maker"}},
    },
}
UTC = dt.UTC


@pytest.fixture
def gadgets(inprocess: Admin) -> Admin:
    """Signed in as ``admin``, with three gadgets of two makers."""
    xrm = inprocess.xrm
    xrm.metadata.define([MAKER, GADGET])
    acme = xrm.records("maker").create({"name": "Acme Tools"})["id"]
    bolt = xrm.records("maker").create({"name": "Bolt Works"})["id"]
    xrm.records("gadget").create_many(
        [
            {
                "name": "Anvil",
                "qty": 3,
                "price": "120.50",
                "active": True,
                "released": "2024-01-10",
                "seen_at": dt.datetime(2024, 3, 1, 23, 30, tzinfo=UTC),
                "colour": "red",
                "tags": ["new"],
                "maker": acme,
            },
            {
                "name": "Bucket",
                "qty": 10,
                "price": 15,
                "active": False,
                "released": "2024-02-20",
                "seen_at": dt.datetime(2024, 3, 2, 8, 0, tzinfo=UTC),
                "colour": "blue",
                "tags": ["new", "sale"],
                "maker": bolt,
            },
            {"name": "Crate", "qty": 7, "colour": "green"},
        ]
    )
    inprocess.sign_in()
    return inprocess


def listed(response: httpx.Response) -> list[str]:
    """The first column (the records' names) of a list, in order."""
    assert response.status_code == 200, response.text
    found = re.findall(
        r'<tr data-id="[^"]+">\s*<td[^>]*><a href="[^"]+">([^<]*)</a>', response.text
    )
    return [html.unescape(name) for name in found]


def get(admin: Admin, query: str, **headers: str) -> httpx.Response:
    return admin.client.get(f"/admin/records/gadget?{query}", headers=headers)


#: Query strings of the filter form and the gadgets each lists (one setup for all).
FILTERS = [
    ("f1=name&op1=contains&v1=uck", ["Bucket"]),
    ("f1=name&op1=eq&v1=Anvil", ["Anvil"]),
    ("f1=name&op1=starts_with&v1=c", ["Crate"]),
    ("f1=qty&op1=between&v1=5&to1=10", ["Bucket", "Crate"]),
    ("f1=qty&op1=eq&v1=3", ["Anvil"]),
    ("f1=price&op1=between&v1=100", ["Anvil"]),
    ("f1=price&op1=empty", ["Crate"]),
    ("f1=released&op1=between&v1=2024-02-01&to1=2024-12-31", ["Bucket"]),
    ("f1=released&op1=on&v1=2024-01-10", ["Anvil"]),
    ("f1=seen_at&op1=on&v1=2024-03-01", ["Anvil"]),  # the whole day, UTC
    ("f1=seen_at&op1=between&v1=2024-03-02&to1=2024-03-02", ["Bucket"]),
    ("f1=active&op1=eq&v1=false", ["Bucket"]),
    ("f1=colour&op1=eq&v1=green", ["Crate"]),
    ("f1=colour&op1=ne&v1=green", ["Anvil", "Bucket"]),
    ("f1=tags&op1=has&v1=sale", ["Bucket"]),
    ("f1=maker&op1=is&v1=bolt", ["Bucket"]),  # by the maker's name
    ("f1=maker&op1=filled", ["Anvil", "Bucket"]),
    ("f1=colour&op1=ne&v1=red&f2=qty&op2=between&v2=8", ["Bucket"]),  # rows are ANDed
    ("f1=name&op1=contains&v1=", ["Anvil", "Bucket", "Crate"]),  # a blank row is no filter
    ('q={"qty": {"gt": 5}}&f1=colour&op1=eq&v1=blue', ["Bucket"]),
]


def test_each_kind_of_filter_row_lists_what_it_says(gadgets: Admin) -> None:
    got = {query: listed(get(gadgets, query)) for query, _ in FILTERS}
    assert got == dict(FILTERS)
    # A lookup is found by id too; its column shows the name of what it points at.
    [acme] = gadgets.xrm.records("maker").query(filter={"name": "Acme Tools"}).records
    response = get(gadgets, f"f1=maker&op1=is&v1={acme['id']}&col=name&col=maker")
    assert listed(response) == ["Anvil"]
    assert ">Acme Tools</a>" in response.text  # the lookup shows the maker's name


def test_a_lookup_to_any_entity_is_filtered_by_the_entity_it_points_at(gadgets: Admin) -> None:
    note = {"x-xrm": {"kind": "polymorphic_lookup", "targets": "*"}}  # any entity (0031)
    gadgets.xrm.metadata.define(
        {"x-xrm": {"name": "memo"}, "properties": {"name": {"type": "string"}, "about": note}}
    )
    [maker] = gadgets.xrm.records("maker").query(limit=1).records
    [gadget] = gadgets.xrm.records("gadget").query(limit=1).records
    gadgets.xrm.records("memo").create_many(
        [
            {"name": "On a maker", "about": {"entity": "maker", "id": maker["id"]}},
            {"name": "On a gadget", "about": {"entity": "gadget", "id": gadget["id"]}},
        ]
    )
    response = gadgets.client.get("/admin/records/memo?f1=about&op1=entity&v1=maker")
    assert listed(response) == ["On a maker"]
    # The value is chosen among the entities that exist, the chosen one selected.
    select = re.search(r'<select id="v1".*?</select>', response.text, re.S)
    assert select is not None
    offered = re.findall(r'<option value="([^"]*)"', select.group(0))
    assert offered == ["", *(d.name for d in gadgets.xrm.metadata.entities())]
    assert '<option value="maker" selected>' in select.group(0)


def test_bad_values_are_said_next_to_each_row_and_list_nothing(gadgets: Admin) -> None:
    response = get(
        gadgets, "f1=qty&op1=eq&v1=lots&f2=name&op2=contains&v2=a&f3=price&op3=between&v3=x"
    )
    assert response.status_code == 422
    row1 = re.search(r'<input id="v1"[^>]*>', response.text)
    assert (
        row1 and 'aria-invalid="true"' in row1.group(0) and 'aria-describedby="e1"' in row1.group(0)
    )
    assert re.search(r'id="e1">[^<]*lots[^<]*not a valid integer', response.text)
    assert 'id="e2"' not in response.text  # the good row says nothing
    assert re.search(r'id="e3">[^<]*not a valid money', response.text)
    assert 'role="alert"' in response.text and 'id="records"' not in response.text


def test_what_the_form_itself_can_tell_is_said_too(gadgets: Admin) -> None:
    unknown = get(gadgets, "f1=weight&op1=eq&v1=3")
    assert unknown.status_code == 422 and "has no field &#39;weight&#39;" in unknown.text
    wrong_op = get(gadgets, "f1=active&op1=contains&v1=x")
    assert wrong_op.status_code == 422 and "choose an operator for Active" in wrong_op.text
    bad_json = get(gadgets, "q={nope")
    assert bad_json.status_code == 422 and 'id="q-error">not valid JSON' in bad_json.text
    bad_query = get(gadgets, 'q={"qty": {"starts_with": "1"}}')
    assert bad_query.status_code == 422
    assert "does not apply to a integer field" in bad_query.text
    bad_sort = get(gadgets, "sort=nothing")
    assert bad_sort.status_code == 422 and "Cannot sort this way" in bad_sort.text
    assert gadgets.client.get("/admin/records/nothing_here").status_code == 404


def test_a_column_sorts_both_ways_and_lookups_by_name(gadgets: Admin) -> None:
    assert listed(get(gadgets, "sort=-qty")) == ["Bucket", "Crate", "Anvil"]
    ascending = get(gadgets, "sort=qty")
    assert listed(ascending) == ["Anvil", "Crate", "Bucket"]
    header = re.search(
        r'<th scope="col" aria-sort="ascending"[^>]*>\s*<a href="([^"]+)"', ascending.text
    )
    assert header and "sort=-qty" in header.group(1)  # clicking again sorts descending
    # Sorting by a lookup sorts by the name of the record it points at (empty first).
    assert listed(get(gadgets, "sort=-maker.name")) == ["Bucket", "Anvil", "Crate"]


def test_pages_go_forward_and_back_with_the_services_cursors(gadgets: Admin) -> None:
    gadgets.xrm.records("gadget").create_many([{"name": f"Part {n:02}"} for n in range(12)])
    first = get(gadgets, "f1=name&op1=starts_with&v1=part&limit=10")
    assert listed(first) == [f"Part {n:02}" for n in range(10)]
    assert "12 gadgets" in first.text and 'rel="prev"' not in first.text
    following = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert following
    second = gadgets.client.get(following.group(1).replace("&amp;", "&"))
    assert listed(second) == ["Part 10", "Part 11"] and 'rel="next"' not in second.text
    back = re.search(r'rel="prev" href="([^"]+)"', second.text)
    assert back
    assert listed(gadgets.client.get(back.group(1).replace("&amp;", "&"))) == listed(first)
    # A cursor of another sort order is not a 500: the list says to start again.
    cursor = re.search(r"after=([^&]+)", following.group(1))
    assert cursor
    stale = get(gadgets, f"sort=-name&after={cursor.group(1)}")
    assert stale.status_code == 422 and "This page link is out of date" in stale.text


def test_htmx_gets_the_list_alone_and_a_plain_get_the_same(gadgets: Admin) -> None:
    query = "f1=colour&op1=eq&v1=blue"
    fragment = get(gadgets, query, **{"HX-Request": "true"})
    assert fragment.text.lstrip().startswith("<") and "<html" not in fragment.text
    assert fragment.headers["HX-Push-Url"] == f"/admin/records/gadget?{query}"
    assert listed(fragment) == listed(get(gadgets, query)) == ["Bucket"]
    # Add filter and Remove: a plain GET is sent to the list they leave.
    added = get(gadgets, "f1=qty&op1=eq&v1=3&new_field=colour&add=1")
    assert added.status_code == 303
    assert added.headers["location"].endswith("f1=qty&op1=eq&v1=3&f2=colour&op2=eq&v2=")
    removed = get(gadgets, "f1=qty&op1=eq&v1=3&f2=colour&op2=eq&v2=red&remove=1")
    assert removed.headers["location"].endswith("?f1=colour&op1=eq&v1=red")
    by_htmx = get(gadgets, "new_field=tags&add=1", **{"HX-Request": "true"})
    assert 'id="op1"' in by_htmx.text and by_htmx.headers["HX-Push-Url"].endswith(
        "f1=tags&op1=has&v1="
    )


def save_view(admin: Admin, name: str, state: str) -> httpx.Response:
    data = {"entity": "gadget", "name": name, "state": state, "csrf_token": admin.csrf("/admin/")}
    return admin.client.post("/admin/saved-views", data=data)


def test_a_saved_view_reopens_as_the_same_list(gadgets: Admin) -> None:
    state = (
        "f1=seen_at&op1=between&v1=2024-03-01&to1=2024-03-02"
        "&f2=maker&op2=is&v2=acme&sort=-qty&col=name&col=qty"
    )
    saved = save_view(gadgets, "Acme in March", state)
    assert saved.status_code == 303
    opened = gadgets.client.get(saved.headers["location"])
    assert opened.status_code == 303
    location = opened.headers["location"]
    assert location.startswith(f"/admin/records/gadget?{state}&view=")
    page = gadgets.client.get(location)
    assert listed(page) == ["Anvil"] and ">Acme in March</a>" in page.text
    [view] = gadgets.xrm.records("saved_view").query(filter={"name": "Acme in March"}).records
    assert view["filter"] == {
        "and": [
            {"seen_at": {"ge": "2024-03-01T00:00:00+00:00", "lt": "2024-03-03T00:00:00+00:00"}},
            {"maker.name": {"contains": "acme"}},
        ]
    }
    assert (view["order"], view["columns"], view["entity"]) == (["-qty"], ["name", "qty"], "gadget")
    # Saving under the same name replaces the view; its filter goes into the query language.
    save_view(gadgets, "Acme in March", 'q={"qty": {"gt": 5}}')
    again = gadgets.client.get(
        gadgets.client.get(f"/admin/saved-views/{view['id']}").headers["location"]
    )
    assert listed(again) == ["Bucket", "Crate"]
    assert gadgets.xrm.records("saved_view").count(filter={"name": "Acme in March"}) == 1
    # Views are each user's own.
    save_view(gadgets, "Admin's", "f1=qty&op1=eq&v1=3")
    gadgets.client.cookies.clear()
    gadgets.sign_in("clerk")
    assert "Admin&#39;s" not in gadgets.client.get("/admin/records/gadget").text
    [view] = gadgets.xrm.records("saved_view").query(filter={"name": "Admin's"}).records
    assert gadgets.client.get(f"/admin/saved-views/{view['id']}").status_code == 404
    token = gadgets.csrf("/admin/")
    refused = gadgets.client.post(
        f"/admin/saved-views/{view['id']}/delete", data={"csrf_token": token}
    )
    assert refused.status_code == 404
    assert gadgets.xrm.records("saved_view").count() == 2


def _user(xrm: XRM, name: str, privileges: list[tuple[str, str, str]]) -> uuid.UUID:
    xrm.security.create_role(f"{name} role", privileges)
    user = xrm.security.create_user(name, roles=[f"{name} role"])
    xrm.auth.set_password(user, "a-long-password-1")
    return user


def _sign_in_as(admin: Admin, name: str) -> None:
    admin.client.cookies.clear()
    data = {"username": name, "password": "a-long-password-1", "csrf_token": admin.csrf()}
    assert admin.client.post("/admin/login", data=data).status_code == 303


def test_a_user_without_read_is_refused_and_sees_only_what_roles_grant(gadgets: Admin) -> None:
    xrm = gadgets.xrm
    reader = _user(xrm, "reader", [("gadget", "read", "own")])
    xrm.records("gadget").create({"name": "Reader's own", "owner_id": reader, "owner_type": "user"})
    _sign_in_as(gadgets, "reader")
    entities = gadgets.client.get("/admin/records").text
    assert 'href="/admin/records/gadget"' in entities
    assert 'href="/admin/records/maker"' not in entities
    refused = gadgets.client.get("/admin/records/maker")
    assert refused.status_code == 403 and "Your roles do not let you read makers." in refused.text
    mine = gadgets.client.get("/admin/records/gadget")
    assert listed(mine) == ["Reader's own"]
    assert "New gadget" not in mine.text and "Save view" not in mine.text  # no create, no views
    with pytest.raises(AccessDenied):
        xrm.as_user(reader).records("maker").require_read()


def test_a_database_made_before_saved_views_gets_them_on_upgrade(
    xrm: XRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "UI_ENTITIES", ())  # the core as it was before views
    xrm.security.install()
    assert not xrm.metadata.exists("saved_view")
    monkeypatch.undo()
    xrm.security.install()  # what `xrm db upgrade` and `xrm serve` do
    assert xrm.plugins.owner_of("entity", "saved_view") == "core"
    assert xrm.records("saved_view").create({"name": "v", "entity": "account"})["version"] == 1
