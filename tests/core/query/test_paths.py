"""Paths through lookups (``account.industry``, ``account.parent.name``) and polymorphic lookups."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from xrm_core import QueryError, RecordService

Find = Callable[[Any], set[str]]
Records = dict[str, dict[str, Any]]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"account.industry": "retail"}, {"ada"}),
        ({"account.industry": {"in": ["retail", "food"]}}, {"ada", "eve"}),
        ({"account.name": {"starts_with": "acme"}}, {"ada", "eve"}),
        ({"account.revenue": {"gt": "500"}}, {"ada", "bob"}),
        ({"account.founded": {"lt": "2000-01-01"}}, {"ada"}),
        ({"account.industry": {"is_null": True}}, {"cy", "dee"}),
        ({"account.industry": {"ne": "retail"}}, {"bob", "cy", "dee", "eve"}),
        ({"not": {"account.industry": "retail"}}, {"bob", "cy", "dee", "eve"}),
        ({"account.parent.name": "Acme"}, {"eve"}),
        ({"account.parent.industry": "retail", "account.industry": "food"}, {"eve"}),
        ({"account.parent": {"is_null": False}}, {"eve"}),
        ({"account.parent.name": None}, {"ada", "bob", "cy", "dee"}),
        ({"account.parent.parent": None}, {"ada", "bob", "cy", "dee", "eve"}),
        (
            {"or": [{"account.industry": "tech"}, {"account.parent.industry": "retail"}]},
            {"bob", "eve"},
        ),
    ],
)
def test_filter_through_lookups(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


def test_records_without_the_lookup_match_no_condition_on_its_fields(find: Find) -> None:
    for filter_ in (
        {"account.name": {"contains": "e"}},
        {"account.name": {"ge": ""}},
        {"account.parent.name": {"starts_with": "A"}},
    ):
        assert "cy" not in find(filter_)


def test_system_columns_of_the_related_record(find: Find, firms: Records) -> None:
    assert find({"account.id": firms["acme"]["id"]}) == {"ada"}
    assert find({"account.parent.id": str(firms["acme"]["id"])}) == {"eve"}
    assert find({"account.version": 1}) == {"ada", "bob", "dee", "eve"}
    assert find({"account.created_at": {"gt": "2000-01-01"}}) == {"ada", "bob", "dee", "eve"}


def test_paths_on_a_self_lookup(fresh_accounts: RecordService, fresh_firms: Records) -> None:
    child = fresh_accounts.create({"name": "Acme Paris", "parent": fresh_firms["acme_eu"]["id"]})
    found = fresh_accounts.query(filter={"parent.parent.name": "Acme"})
    assert [r["id"] for r in found] == [child["id"]]
    assert fresh_accounts.count(filter={"parent.name": {"starts_with": "Acme"}}) == 2


def test_sort_through_a_lookup(contacts: RecordService, people: Records) -> None:
    names = {r["id"]: key for key, r in people.items()}
    ascending = [names[r["id"]] for r in contacts.query(order=["account.name"])]
    assert ascending == ["cy", "ada", "eve", "bob", "dee"]
    descending = [names[r["id"]] for r in contacts.query(order=["-account.name"])]
    assert descending == ["dee", "bob", "eve", "ada", "cy"]


def test_sort_two_levels_deep(contacts: RecordService, people: Records) -> None:
    names = {r["id"]: key for key, r in people.items()}
    rows = contacts.query(order=["-account.parent.name", "name"])
    assert [names[r["id"]] for r in rows] == ["eve", "ada", "bob", "dee", "cy"]


def test_filter_and_sort_share_one_join(contacts: RecordService, people: Records) -> None:
    rows = contacts.query(
        filter={"account.industry": {"in": ["retail", "food", "tech"]}},
        order=["-account.industry"],
        fields=["name"],
    )
    assert [r["name"] for r in rows] == ["Bob_Smith", "Ada", people["eve"]["name"]]


def test_aggregate_grouped_by_a_lookup_path(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(group_by=["account.industry"], measures={"n": "count"})
    assert rows == [
        {"account.industry": None, "n": 2},
        {"account.industry": "food", "n": 1},
        {"account.industry": "retail", "n": 1},
        {"account.industry": "tech", "n": 1},
    ]


def test_aggregate_measures_a_lookup_path(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(
        group_by=["stage"],
        measures={"revenue": "sum:account.revenue", "parents": "count:account.parent.name"},
    )
    assert rows == [
        {"stage": None, "revenue": None, "parents": 0},
        {"stage": "lost", "revenue": None, "parents": 0},
        {"stage": "new", "revenue": Decimal("1000.00"), "parents": 0},
        {"stage": "won", "revenue": Decimal("5250.50"), "parents": 1},
    ]


def test_aggregate_filtered_by_a_path(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(
        group_by=["account.parent.name"],
        measures={"n": "count"},
        filter={"account.name": {"starts_with": "Acme"}},
    )
    assert rows == [{"account.parent.name": None, "n": 1}, {"account.parent.name": "Acme", "n": 1}]


@pytest.mark.parametrize(
    "path",
    ["name.first", "score.value", "account.nope", "account.parent.nope", "account..name"],
)
def test_bad_paths_are_refused_everywhere(contacts: RecordService, path: str) -> None:
    with pytest.raises(QueryError) as exc:
        contacts.query(filter={path: 1})
    assert [p.pointer for p in exc.value.problems] == [f"/filter/{path}"]
    with pytest.raises(QueryError) as exc:
        contacts.query(order=[f"-{path}"])
    assert [p.pointer for p in exc.value.problems] == ["/order/0"]
    with pytest.raises(QueryError) as exc:
        contacts.aggregate(group_by=["stage", path])
    assert [p.pointer for p in exc.value.problems] == ["/group_by/1"]


# -- polymorphic lookups ------------------------------------------------------


@pytest.fixture(scope="module")
def memos(notes: RecordService, firms: Records, people: Records) -> Records:
    def about(entity: str, record: dict[str, Any]) -> dict[str, Any]:
        return {"entity": entity, "id": str(record["id"])}

    return {
        "on_acme": notes.create({"title": "call", "regarding": about("account", firms["acme"])}),
        "on_ada": notes.create({"title": "mail", "regarding": about("contact", people["ada"])}),
        "on_bob": notes.create({"title": "meet", "regarding": about("contact", people["bob"])}),
        "loose": notes.create({"title": "todo"}),
    }


def memo_keys(notes: RecordService, memos: Records, filter_: Any) -> set[str]:
    by_id = {r["id"]: key for key, r in memos.items()}
    return {by_id[r["id"]] for r in notes.query(filter=filter_)}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"regarding.entity": "account"}, {"on_acme"}),
        ({"regarding.entity": {"in": ["contact"]}}, {"on_ada", "on_bob"}),
        ({"regarding.entity": {"ne": "contact"}}, {"on_acme", "loose"}),
        ({"regarding": None}, {"loose"}),
        ({"regarding": {"is_null": False}}, {"on_acme", "on_ada", "on_bob"}),
        ({"regarding.id": None}, {"loose"}),
        ({"not": {"regarding.entity": "contact"}}, {"on_acme", "loose"}),
    ],
)
def test_polymorphic_entity_and_id(
    notes: RecordService, memos: Records, filter_: Any, expected: set[str]
) -> None:
    assert memo_keys(notes, memos, filter_) == expected


def test_polymorphic_id_compares_with_the_target_id(
    notes: RecordService, memos: Records, people: Records, firms: Records
) -> None:
    ada = people["ada"]["id"]
    assert memo_keys(notes, memos, {"regarding.id": str(ada)}) == {"on_ada"}
    assert memo_keys(notes, memos, {"regarding.id": {"in": [ada, firms["acme"]["id"]]}}) == {
        "on_ada",
        "on_acme",
    }
    assert memo_keys(notes, memos, {"regarding.id": {"ne": ada}}) == {"on_acme", "on_bob", "loose"}


def test_polymorphic_sort_and_group(notes: RecordService, memos: Records) -> None:
    titles = [r["title"] for r in notes.query(order=["regarding.entity", "title"])]
    assert titles == ["todo", "call", "mail", "meet"]
    rows = notes.aggregate(group_by=["regarding.entity"], measures={"n": "count"})
    assert rows == [
        {"regarding.entity": None, "n": 1},
        {"regarding.entity": "account", "n": 1},
        {"regarding.entity": "contact", "n": 2},
    ]


@pytest.mark.parametrize(
    ("filter_", "pointer"),
    [
        ({"regarding.name": "Ada"}, "/filter/regarding.name"),
        ({"regarding.entity": "user"}, "/filter/regarding.entity"),
        ({"regarding.id": "nope"}, "/filter/regarding.id"),
        ({"regarding": {"eq": "x"}}, "/filter/regarding/eq"),
        ({"regarding.entity.x": 1}, "/filter/regarding.entity.x"),
    ],
)
def test_polymorphic_mistakes(notes: RecordService, filter_: Any, pointer: str) -> None:
    with pytest.raises(QueryError) as exc:
        notes.query(filter=filter_)
    assert [p.pointer for p in exc.value.problems] == [pointer]
