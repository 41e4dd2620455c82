"""Sorting on several fields: NULL is the smallest value, ties go by id."""

from __future__ import annotations

from typing import Any

import pytest

from xrm_core import QueryError, RecordService

Records = dict[str, dict[str, Any]]


def keys_in_order(contacts: RecordService, people: Records, **query: Any) -> list[str]:
    names = {r["id"]: key for key, r in people.items()}
    return [names[r["id"]] for r in contacts.query(limit=1000, **query)]


def by_id(people: Records, *keys: str) -> list[str]:
    """``keys`` in id order: how ties are broken."""
    return sorted(keys, key=lambda k: people[k]["id"])


def test_default_order_is_by_id(contacts: RecordService, people: Records) -> None:
    assert keys_in_order(contacts, people) == by_id(people, *people)


def test_nulls_sort_first_ascending_and_ties_go_by_id(
    contacts: RecordService, people: Records
) -> None:
    order = keys_in_order(contacts, people, order=["score"])
    assert order == ["cy", "dee", "ada", *by_id(people, "bob", "eve")]


def test_nulls_sort_last_descending_and_ties_still_go_by_id(
    contacts: RecordService, people: Records
) -> None:
    order = keys_in_order(contacts, people, order=["-score"])
    assert order == [*by_id(people, "bob", "eve"), "ada", "dee", "cy"]


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (["stage", "-score"], ["cy", "dee", "ada", "bob|eve"]),
        (["-stage", "name"], ["bob", "eve", "ada", "dee", "cy"]),
        (["vip", "-name"], ["cy", "dee", "bob", "eve", "ada"]),
        (["-vip", "born"], ["ada|eve", "bob", "dee", "cy"]),
        (["born", "-seen"], ["cy", "bob", "eve", "ada", "dee"]),
        (["seen"], ["cy", "dee", "ada", "bob", "eve"]),
        (["-ratio"], ["eve", "bob", "ada", "dee", "cy"]),
        (["salary", "name"], ["eve", "cy", "dee", "ada", "bob"]),  # byte order: "E" < "c"
        (["name"], ["ada", "bob", "dee", "eve", "cy"]),
        (["-notes", "name"], ["bob", "dee", "ada", "eve", "cy"]),
        (["-created_at"], ["eve", "dee", "cy", "bob", "ada"]),
        (["-id"], None),
    ],
)
def test_sort_on_several_fields(
    contacts: RecordService, people: Records, order: list[str], expected: list[str] | None
) -> None:
    got = keys_in_order(contacts, people, order=order)
    if expected is None:
        expected = list(reversed(by_id(people, *people)))
    wanted: list[str] = []
    for item in expected:
        wanted.extend(by_id(people, *item.split("|")))
    assert got == wanted


@pytest.mark.parametrize(
    ("order", "pointer"),
    [
        (["topics"], "/order/0"),
        (["name", "extra"], "/order/1"),
        (["nope"], "/order/0"),
        ([""], "/order/0"),
        (["-"], "/order/0"),
        (["name", 3], "/order/1"),
    ],
)
def test_bad_sort_keys(contacts: RecordService, order: list[Any], pointer: str) -> None:
    with pytest.raises(QueryError) as exc:
        contacts.query(order=order)
    assert [p.pointer for p in exc.value.problems] == [pointer]
