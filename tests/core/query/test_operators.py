"""Every operator on every kind it applies to, with JSON values and with Python values."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from xrm_core import RecordService

Find = Callable[[Any], set[str]]
EVERYONE = {"ada", "bob", "cy", "dee", "eve"}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"name": "Ada"}, {"ada"}),
        ({"name": {"eq": "Ada"}}, {"ada"}),
        ({"name": {"ne": "Ada"}}, EVERYONE - {"ada"}),
        ({"name": {"ge": "B", "lt": "E"}}, {"bob", "dee"}),
        ({"name": {"gt": "DEE"}}, {"cy", "eve"}),
        ({"name": {"le": "Ada"}}, {"ada"}),
        ({"name": {"in": ["Ada", "DEE", "nobody"]}}, {"ada", "dee"}),
        ({"name": {"not_in": ["Ada", "DEE"]}}, {"bob", "cy", "eve"}),
        ({"name": {"contains": "a"}}, {"ada", "eve"}),
        ({"name": {"contains": "SMITH"}}, {"bob"}),
        ({"name": {"starts_with": "b"}}, {"bob"}),
        ({"name": {"starts_with": "CY"}}, {"cy"}),
        ({"name": {"is_null": True}}, set()),
        ({"name": {"is_null": False}}, EVERYONE),
        ({"notes": {"contains": "COTTON"}}, {"ada"}),
        ({"notes": {"starts_with": "prefers"}}, {"bob"}),
        ({"notes": {"ne": "prefers email"}}, {"ada", "cy", "dee", "eve"}),
        ({"notes": None}, {"cy", "eve"}),
        ({"email": {"contains": "example.COM"}}, {"bob"}),
        ({"email": {"starts_with": "ada@"}}, {"ada"}),
        ({"email": {"not_in": ["ada@example.org"]}}, {"bob", "cy", "dee", "eve"}),
    ],
)
def test_text_operators(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("_", {"bob"}),  # a LIKE wildcard for one character, here only an underscore
        ("%", {"ada"}),  # a LIKE wildcard for anything, here only a percent sign
        ("100%", {"ada"}),
        ("0% c", {"ada"}),
        ("b_s", {"bob"}),
        ("\\", {"dee"}),
        ("k\\s", {"dee"}),
        ("'", {"eve"}),
        ("drop table", {"eve"}),
    ],
)
def test_contains_matches_wildcards_and_quotes_literally(
    find: Find, needle: str, expected: set[str]
) -> None:
    got = find({"or": [{"name": {"contains": needle}}, {"notes": {"contains": needle}}]})
    assert got == expected


def test_starts_with_treats_an_underscore_literally(find: Find) -> None:
    assert find({"name": {"starts_with": "bob_"}}) == {"bob"}
    assert find({"name": {"starts_with": "bo_"}}) == set()


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"score": 20}, {"bob", "eve"}),
        ({"score": "20"}, {"bob", "eve"}),
        ({"score": {"ne": 20}}, {"ada", "cy", "dee"}),
        ({"score": {"lt": 10}}, {"dee"}),
        ({"score": {"le": 10}}, {"ada", "dee"}),
        ({"score": {"gt": 10}}, {"bob", "eve"}),
        ({"score": {"ge": -5}}, {"ada", "bob", "dee", "eve"}),
        ({"score": {"in": [10, "-5"]}}, {"ada", "dee"}),
        ({"score": {"not_in": [10]}}, {"bob", "cy", "dee", "eve"}),
        ({"score": {"in": []}}, set()),
        ({"score": {"not_in": []}}, EVERYONE),
        ({"score": {"is_null": True}}, {"cy"}),
        ({"score": {"gt": 10**15}}, set()),
    ],
)
def test_integer_operators(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"ratio": "0.5"}, {"ada"}),
        ({"ratio": 0.5}, {"ada"}),
        ({"ratio": Decimal("0.50")}, {"ada"}),
        ({"ratio": {"gt": "1"}}, {"bob", "eve"}),
        ({"ratio": {"lt": Decimal("1.25")}}, {"ada", "dee"}),
        ({"ratio": {"le": "1.25"}}, {"ada", "bob", "dee"}),
        ({"ratio": {"in": ["0", 2.75]}}, {"dee", "eve"}),
        ({"ratio": {"ne": 0}}, {"ada", "bob", "cy", "eve"}),
        ({"salary": {"ge": "100"}}, {"ada", "bob"}),
        ({"salary": 0}, {"dee"}),
        ({"salary": {"lt": Decimal("100.01")}}, {"ada", "dee"}),
        ({"salary": {"ne": "100.00"}}, {"bob", "cy", "dee", "eve"}),
        ({"salary": {"not_in": ["2500.5"]}}, {"ada", "cy", "dee", "eve"}),
        ({"salary": None}, {"cy", "eve"}),
    ],
)
def test_decimal_and_money_operators(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"born": "1990-01-02"}, {"ada", "eve"}),
        ({"born": dt.date(1990, 1, 2)}, {"ada", "eve"}),
        ({"born": {"ne": "1990-01-02"}}, {"bob", "cy", "dee"}),
        ({"born": {"lt": "1990-01-01"}}, {"bob"}),
        ({"born": {"le": dt.date(1990, 1, 2)}}, {"ada", "bob", "eve"}),
        ({"born": {"gt": "1990-01-02"}}, {"dee"}),
        ({"born": {"ge": dt.date(2000, 1, 1)}}, {"dee"}),
        ({"born": {"in": ["1985-06-15", dt.date(2000, 2, 29)]}}, {"bob", "dee"}),
        ({"born": {"not_in": ["1985-06-15"]}}, {"ada", "cy", "dee", "eve"}),
        ({"born": {"is_null": True}}, {"cy"}),
    ],
)
def test_date_operators(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


PLUS_TWO = dt.timezone(dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"seen": "2024-03-04T05:06:07Z"}, {"ada"}),
        ({"seen": "2024-03-04T05:06:07"}, {"ada"}),  # no zone: UTC
        ({"seen": dt.datetime(2024, 3, 4, 7, 6, 7, tzinfo=PLUS_TWO)}, {"ada"}),
        ({"seen": {"ne": "2024-03-04T07:06:07+02:00"}}, {"bob", "cy", "dee", "eve"}),
        ({"seen": {"lt": "2024-01-01T00:00:00Z"}}, {"dee"}),
        ({"seen": {"le": dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=dt.UTC)}}, {"dee"}),
        ({"seen": {"gt": "2024-03-21T00:00:00+01:00"}}, {"bob", "eve"}),
        ({"seen": {"ge": dt.datetime(2024, 3, 20, 23, 30, tzinfo=dt.UTC)}}, {"bob", "eve"}),
        ({"seen": {"in": ["2025-01-01T00:00:00Z", "2023-12-31T23:59:59Z"]}}, {"dee", "eve"}),
        ({"seen": {"not_in": ["2025-01-01T00:00:00Z"]}}, {"ada", "bob", "cy", "dee"}),
        ({"seen": None}, {"cy"}),
    ],
)
def test_datetime_operators(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"vip": True}, {"ada", "eve"}),
        ({"vip": "true"}, {"ada", "eve"}),
        ({"vip": False}, {"bob", "dee"}),
        ({"vip": {"ne": True}}, {"bob", "cy", "dee"}),
        ({"vip": {"in": [False]}}, {"bob", "dee"}),
        ({"vip": {"not_in": [False]}}, {"ada", "cy", "eve"}),
        ({"vip": None}, {"cy"}),
    ],
)
def test_boolean_operators(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"stage": "won"}, {"bob", "eve"}),
        ({"stage": {"ne": "new"}}, {"bob", "cy", "dee", "eve"}),
        ({"stage": {"in": ["new", "lost"]}}, {"ada", "dee"}),
        ({"stage": {"not_in": ["won"]}}, {"ada", "cy", "dee"}),
        ({"stage": {"starts_with": "W"}}, {"bob", "eve"}),
        ({"stage": {"contains": "o"}}, {"bob", "dee", "eve"}),
        ({"stage": {"lt": "new"}}, {"dee"}),
        ({"stage": None}, {"cy"}),
    ],
)
def test_choice_operators(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"topics": {"contains": "a"}}, {"ada", "eve"}),
        ({"topics": {"contains": "c"}}, {"bob", "eve"}),
        ({"topics": {"contains": "b"}}, {"ada"}),
        ({"not": {"topics": {"contains": "a"}}}, {"bob", "cy", "dee"}),
        ({"topics": {"is_null": True}}, {"cy"}),  # an empty list is a value
        ({"topics": {"is_null": False}}, {"ada", "bob", "dee", "eve"}),
    ],
)
def test_multi_choice_operators(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


def test_json_fields_answer_is_null(find: Find) -> None:
    assert find({"extra": {"is_null": False}}) == {"ada"}
    assert find({"extra": None}) == EVERYONE - {"ada"}


def test_lookup_ids_as_strings_and_uuids(find: Find, firms: dict[str, dict[str, Any]]) -> None:
    acme, globex = firms["acme"]["id"], firms["globex"]["id"]
    assert find({"account": str(acme)}) == {"ada"}
    assert find({"account": acme}) == {"ada"}
    assert find({"account": {"in": [str(acme), globex]}}) == {"ada", "bob"}
    assert find({"account": {"ne": acme}}) == {"bob", "cy", "dee", "eve"}
    assert find({"account": {"not_in": [acme, globex]}}) == {"cy", "dee", "eve"}
    assert find({"account": None}) == {"cy"}
    assert find({"account": uuid.uuid4()}) == set()


def test_id_column(find: Find, people: dict[str, dict[str, Any]]) -> None:
    ada, bob = people["ada"]["id"], people["bob"]["id"]
    assert find({"id": str(ada)}) == {"ada"}
    assert find({"id": {"in": [ada, str(bob)]}}) == {"ada", "bob"}
    assert find({"id": {"not_in": [ada]}}) == EVERYONE - {"ada"}
    assert find({"id": {"ne": bob}}) == EVERYONE - {"bob"}
    assert find({"id": {"is_null": True}}) == set()


def test_timestamp_and_version_columns(find: Find, people: dict[str, dict[str, Any]]) -> None:
    first, last = people["ada"]["created_at"], people["eve"]["created_at"]
    assert find({"created_at": {"le": first}}) == {"ada"}
    assert find({"created_at": {"ge": last.isoformat()}}) == {"eve"}
    assert find({"created_at": {"lt": "2100-01-01T00:00:00Z"}}) == EVERYONE
    assert find({"updated_at": {"gt": "2000-01-01"}}) == EVERYONE
    assert find({"version": 1}) == EVERYONE
    assert find({"owner_id": None, "created_by": {"is_null": True}}) == EVERYONE


def test_version_follows_updates(
    fresh_contacts: RecordService, fresh_people: dict[str, dict[str, Any]]
) -> None:
    bob = fresh_people["bob"]["id"]
    fresh_contacts.update(bob, {"score": 21})
    assert [r["id"] for r in fresh_contacts.query(filter={"version": {"gt": 1}})] == [bob]
    assert [r["id"] for r in fresh_contacts.query(filter={"score": 21})] == [bob]


def test_a_filter_value_may_break_a_field_rule(
    contacts: RecordService, people: dict[str, dict[str, Any]]
) -> None:
    # Rules such as maxLength constrain what is stored, not what may be asked for.
    assert contacts.count(filter={"name": {"ne": "x" * 100}}) == len(people)
    assert contacts.count(filter={"name": {"in": ["x" * 100, "cy"]}}) == 1
