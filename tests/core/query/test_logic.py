"""and / or / not, several keys meaning AND, bare values, null; the Python form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import And, Condition, Not, Or, where

Find = Callable[[Any], set[str]]
EVERYONE = {"ada", "bob", "cy", "dee", "eve"}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"stage": "won", "score": {"ge": 20}}, {"bob", "eve"}),
        ({"stage": "won", "vip": True}, {"eve"}),
        ({"score": {"ge": 0, "lt": 20}}, {"ada"}),
        ({"or": [{"stage": "new"}, {"score": {"lt": 0}}]}, {"ada", "dee"}),
        (
            {"and": [{"vip": True}, {"or": [{"score": 10}, {"born": {"lt": "1980-01-01"}}]}]},
            {"ada"},
        ),
        ({"or": [{"and": [{"stage": "won"}, {"vip": False}]}, {"name": "cy"}]}, {"bob", "cy"}),
        ({"not": {"score": {"gt": 0}}}, {"cy", "dee"}),
        ({"not": {"or": [{"stage": "won"}, {"vip": True}]}}, {"cy", "dee"}),
        ({"not": {"and": [{"stage": "won"}, {"vip": True}]}}, {"ada", "bob", "cy", "dee"}),
        ({"not": {"not": {"score": 20}}}, {"bob", "eve"}),
        ({"stage": "won", "not": {"vip": True}}, {"bob"}),
        ({"and": []}, EVERYONE),
        ({"or": []}, set()),
        ({"not": {"or": []}}, EVERYONE),
        ({}, EVERYONE),
    ],
)
def test_nesting(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"score": None}, {"cy"}),
        ({"score": {"eq": None}}, {"cy"}),
        ({"score": {"ne": None}}, EVERYONE - {"cy"}),
        ({"score": {"is_null": False}}, EVERYONE - {"cy"}),
        ({"not": {"score": None}}, EVERYONE - {"cy"}),
    ],
)
def test_null_means_is_null(find: Find, filter_: Any, expected: set[str]) -> None:
    assert find(filter_) == expected


def test_ne_and_not_in_include_records_without_a_value(find: Find) -> None:
    assert "cy" in find({"score": {"ne": 10}})
    assert "cy" in find({"stage": {"not_in": ["won"]}})
    assert "cy" in find({"account.industry": {"ne": "retail"}})


def test_comparisons_never_match_records_without_a_value(find: Find) -> None:
    for op in ("eq", "lt", "le", "gt", "ge"):
        assert "cy" not in find({"score": {op: 10}})
    assert "cy" not in find({"score": {"in": [10, 20, -5]}})
    assert "cy" not in find({"name": {"contains": "zzz"}, "notes": {"contains": "x"}})


NOT_CASES = [
    {"score": {"gt": 5}},
    {"score": {"ne": 20}},
    {"score": {"in": [10, 20]}},
    {"score": {"not_in": [10]}},
    {"notes": {"contains": "e"}},
    {"notes": {"starts_with": "P"}},
    {"salary": {"le": "100"}},
    {"seen": {"ge": "2024-03-01T00:00:00Z"}},
    {"vip": True},
    {"topics": {"contains": "a"}},
    {"extra": None},
    {"account.industry": "retail"},
    {"account.parent.name": {"ne": "Acme"}},
    {"or": [{"score": {"lt": 15}}, {"stage": "won"}]},
    {"and": [{"score": {"gt": 0}}, {"not": {"vip": False}}]},
]


@pytest.mark.parametrize("inner", NOT_CASES)
def test_not_is_the_exact_complement(find: Find, inner: Any) -> None:
    matched = find(inner)
    assert find({"not": inner}) == EVERYONE - matched
    assert find({"not": {"not": inner}}) == matched


def test_python_conditions(find: Find) -> None:
    assert find(Condition("score", "ge", 20)) == {"bob", "eve"}
    assert find(Condition("born", "eq", dt.date(1990, 1, 2))) == {"ada", "eve"}
    assert find(Condition("score", "eq", None)) == {"cy"}
    assert find(Condition("stage", "in", ("new", "lost"))) == {"ada", "dee"}
    assert find(Condition("stage", "in", ["new", "lost"])) == {"ada", "dee"}
    assert find(Condition("stage", "not_in", {"won"})) == {"ada", "cy", "dee"}


def test_python_trees(find: Find) -> None:
    won = Condition("stage", "eq", "won")
    assert find(And((won, Condition("vip", "eq", True)))) == {"eve"}
    assert find(Or((won, Condition("score", "lt", 0)))) == {"bob", "dee", "eve"}
    assert find(Not(won)) == {"ada", "cy", "dee"}
    assert find(And(())) == EVERYONE
    assert find(Or(())) == set()
    assert find(Not(Or((won, Condition("name", "eq", "cy"))))) == {"ada", "dee"}


def test_where_helper(find: Find) -> None:
    assert find(where("score", ge=0, lt=20)) == {"ada"}
    assert find(where("stage", in_=["new", "lost"])) == {"ada", "dee"}
    assert find(where("stage", not_in=["won"])) == {"ada", "cy", "dee"}
    assert find(where("account.industry", eq="retail")) == {"ada"}
    assert find(where("score", is_null=True)) == {"cy"}
    assert where("score", ge=1) == Condition("score", "ge", 1)


def test_python_and_json_mix(find: Find) -> None:
    assert find({"or": [where("score", lt=0), {"stage": "new"}]}) == {"ada", "dee"}
    # The types ask for a tuple of tree nodes; JSON parts and lists work too.
    mixed = And(({"stage": "won"}, Not(where("vip", eq=True))))  # type: ignore[arg-type]
    assert find(mixed) == {"bob"}
    listed = And([Condition("vip", "eq", True), Condition("score", "eq", 20)])  # type: ignore[arg-type]
    assert find(listed) == {"eve"}
