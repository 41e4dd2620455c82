"""Field selection and expanding lookups in query results."""

from __future__ import annotations

from typing import Any

import pytest

from xrm_core import QueryError, RecordService

Records = dict[str, dict[str, Any]]


def one(contacts: RecordService, key: str, people: Records, **query: Any) -> dict[str, Any]:
    page = contacts.query(filter={"id": people[key]["id"]}, **query)
    assert len(page) == 1
    return page.records[0]


def test_selected_fields_and_the_id(contacts: RecordService, people: Records) -> None:
    for record in contacts.query(fields=["name", "score"]):
        assert set(record) == {"id", "name", "score"}
    assert one(contacts, "ada", people, fields=["score"]) == {
        "id": people["ada"]["id"],
        "score": 10,
    }


def test_selecting_only_the_id(contacts: RecordService, people: Records) -> None:
    assert [set(r) for r in contacts.query(fields=["id"])] == [{"id"}] * len(people)


def test_system_columns_can_be_selected(contacts: RecordService, people: Records) -> None:
    record = one(contacts, "bob", people, fields=["version", "created_at"])
    assert set(record) == {"id", "version", "created_at"}
    assert record["version"] == 1


def test_without_fields_every_field_comes_back(contacts: RecordService, people: Records) -> None:
    record = one(contacts, "ada", people)
    assert {"name", "topics", "extra", "account", "created_at", "version"} <= set(record)
    assert record["topics"] == ["a", "b"]


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        (["name", "nope"], "/fields/1"),
        (["account.name"], "/fields/0"),
        ([""], "/fields/0"),
    ],
)
def test_unknown_selected_field_is_refused(
    contacts: RecordService, fields: list[str], pointer: str
) -> None:
    with pytest.raises(QueryError) as exc:
        contacts.query(fields=fields)
    assert [p.pointer for p in exc.value.problems] == [pointer]


def test_expand_a_lookup(contacts: RecordService, people: Records, firms: Records) -> None:
    records = {r["id"]: r for r in contacts.query(expand=["account"])}
    ada = records[people["ada"]["id"]]
    assert ada["account"]["id"] == firms["acme"]["id"]
    assert ada["account"]["name"] == "Acme"
    assert ada["account"]["industry"] == "retail"
    assert records[people["bob"]["id"]]["account"]["name"] == "Globex"


def test_expand_of_an_empty_lookup_gives_none(contacts: RecordService, people: Records) -> None:
    assert one(contacts, "cy", people, expand=["account"])["account"] is None
    eve = one(contacts, "eve", people, expand=["account.parent"])
    assert eve["account"]["parent"]["name"] == "Acme"
    ada = one(contacts, "ada", people, expand=["account.parent"])
    assert ada["account"]["parent"] is None


def test_expand_two_levels(contacts: RecordService, people: Records, firms: Records) -> None:
    eve = one(contacts, "eve", people, expand=["account.parent"])
    assert eve["account"]["name"] == "Acme Europe"
    assert eve["account"]["parent"]["id"] == firms["acme"]["id"]
    assert eve["account"]["parent"]["industry"] == "retail"


def test_expand_with_selected_fields(contacts: RecordService, people: Records) -> None:
    ada = one(contacts, "ada", people, fields=["name", "account"], expand=["account"])
    assert set(ada) == {"id", "name", "account"}
    assert ada["account"]["name"] == "Acme"


def test_expand_on_every_page(contacts: RecordService, people: Records) -> None:
    page = contacts.query(order=["name"], limit=2, expand=["account"])
    rest = contacts.query(order=["name"], limit=10, cursor=page.next_cursor, expand=["account"])
    names = [r["account"]["name"] if r["account"] else None for r in [*page, *rest]]
    assert names == ["Acme", "Globex", "Initech", "Acme Europe", None]


@pytest.fixture(scope="module")
def memos(notes: RecordService, people: Records, firms: Records) -> Records:
    def about(entity: str, record: dict[str, Any]) -> dict[str, Any]:
        return {"entity": entity, "id": str(record["id"])}

    return {
        "on_firm": notes.create({"title": "call", "regarding": about("account", firms["globex"])}),
        "on_person": notes.create({"title": "mail", "regarding": about("contact", people["dee"])}),
        "loose": notes.create({"title": "todo"}),
    }


def test_expand_a_polymorphic_lookup(notes: RecordService, memos: Records) -> None:
    found = {r["id"]: r for r in notes.query(expand=["regarding"])}
    on_firm = found[memos["on_firm"]["id"]]["regarding"]
    assert (on_firm["name"], on_firm["industry"]) == ("Globex", "tech")
    on_person = found[memos["on_person"]["id"]]["regarding"]
    assert (on_person["name"], on_person["score"]) == ("DEE", -5)
    assert found[memos["loose"]["id"]]["regarding"] is None


def test_without_expand_a_polymorphic_lookup_is_entity_and_id(
    notes: RecordService, memos: Records, firms: Records
) -> None:
    record = notes.get(memos["on_firm"]["id"])
    assert record["regarding"] == {"entity": "account", "id": firms["globex"]["id"]}
    assert notes.get(memos["loose"]["id"])["regarding"] is None


@pytest.mark.parametrize(
    ("expand", "pointer"),
    [
        (["name"], "/expand/0"),
        (["account", "nope"], "/expand/1"),
        (["account.name"], "/expand/0"),
    ],
)
def test_expand_of_something_not_a_lookup_is_refused(
    contacts: RecordService, people: Records, expand: list[str], pointer: str
) -> None:
    with pytest.raises(QueryError) as exc:
        contacts.query(expand=expand)
    assert [p.pointer for p in exc.value.problems] == [pointer]
