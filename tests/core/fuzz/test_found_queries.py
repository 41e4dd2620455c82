"""Queries the fuzzers found crashing, each now answered or refused with a clear error."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest

from xrm_core import Condition, Not, QueryError

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.core.fuzz.conftest import World

UNPRINTABLE = 10**5000


def pointers(error: Any) -> list[str]:
    return [p.pointer for p in error.problems]


def nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = {"not": leaf}
    return leaf


def test_a_version_beyond_32_bits_in_a_filter_matches_nothing(world: World) -> None:
    for value in (2**31, -(2**31) - 1, 2**40):
        assert world.things.count(filter={"version": value}) == 0
        assert world.things.count(filter={"version": {"in": [value, 1]}}) == 2
        assert world.things.count(filter={"version": {"lt": abs(value)}}) == 2


def test_sorting_on_a_polymorphic_lookup_is_refused(world: World) -> None:
    # It sorted by the entity name alone, and the cursor of such a page crashed.
    with pytest.raises(QueryError) as caught:
        world.things.query(order=["regarding"], limit=1)
    assert pointers(caught.value) == ["/order/0"]
    assert len(world.things.query(order=["regarding.entity", "-regarding.id"], limit=1)) == 1


def test_grouping_by_a_polymorphic_lookup_is_refused(world: World) -> None:
    with pytest.raises(QueryError) as caught:
        world.things.aggregate(group_by=["regarding"])
    assert pointers(caught.value) == ["/group_by/0"]


def test_min_and_max_of_a_lookup_are_refused(world: World) -> None:
    # PostgreSQL has no min(uuid): the query failed inside the database.
    for spec in ("min:account", "max:id", "min:regarding.id", "max:parent"):
        with pytest.raises(QueryError) as caught:
            world.things.aggregate(measures={"m": spec})
        assert pointers(caught.value) == ["/measures/m"]


def test_a_sum_beyond_64_bits_is_exact_or_refused_clearly(world: World) -> None:
    world.things.create_many([{"title": "Big", "quantity": 2**63 - 1}] * 2)
    measures = {"total": "sum:quantity"}
    if world.xrm.db.dialect == "postgresql":
        # The two new records and the seeded one, of quantity 3.
        assert world.things.aggregate(measures=measures) == [{"total": 2 * (2**63 - 1) + 3}]
        return
    with pytest.raises(QueryError, match="too large") as caught:
        world.things.aggregate(measures=measures)
    assert pointers(caught.value) == ["/measures"]


def test_a_filter_nested_too_deep_is_refused_at_the_level_too_many(world: World) -> None:
    with pytest.raises(QueryError) as caught:
        world.things.count(filter=nested(33, {"title": "x"}))
    assert pointers(caught.value) == ["/filter" + "/not" * 33]
    assert world.things.count(filter=nested(32, {"title": "First"})) == 1


def test_a_python_filter_nested_too_deep_is_refused(world: World) -> None:
    for depth in (33, 5000):
        tree: Any = Condition("title", "eq", "x")
        for _ in range(depth):
            tree = Not(tree)
        with pytest.raises(QueryError, match="32 levels"):
            world.things.query(filter=tree)


def test_a_deep_json_filter_is_refused_before_python_runs_out_of_stack(world: World) -> None:
    with pytest.raises(QueryError, match="32 levels"):
        world.things.query(filter=nested(100_000, {"title": "x"}))


def test_a_filter_of_too_many_conditions_or_values_is_refused(world: World) -> None:
    conditions = {"or": [{"title": str(i)} for i in range(257)]}
    with pytest.raises(QueryError) as caught:
        world.things.count(filter=conditions)
    assert pointers(caught.value) == ["/filter/or/256/title"]
    with pytest.raises(QueryError, match="10000 values"):
        world.things.query(filter={"title": {"in": [str(i) for i in range(10_001)]}})
    assert world.things.count(filter={"title": {"in": [str(i) for i in range(10_000)]}}) == 0


def test_too_many_sort_keys_groups_or_measures_are_refused(world: World) -> None:
    # Beyond what the databases take: SQLite's ORDER BY and both result-column limits.
    calls: dict[str, Callable[[], object]] = {
        "/order": lambda: world.things.query(order=["title"] * 33),
        "/group_by": lambda: world.things.aggregate(group_by=["title"] * 33),
        "/measures": lambda: world.things.aggregate(measures={f"m{i}": "count" for i in range(65)}),
    }
    for at, call in calls.items():
        with pytest.raises(QueryError) as caught:
            call()
        assert pointers(caught.value) == [at]


def test_a_cursor_of_deeply_nested_json_is_refused(world: World) -> None:
    cursor = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode()
    with pytest.raises(QueryError) as caught:
        world.things.query(cursor=cursor)
    assert pointers(caught.value) == ["/cursor"]


def test_a_filter_holding_an_unprintable_number_is_refused(world: World) -> None:
    filters = [
        {"quantity": UNPRINTABLE},
        {"title": {"in": [UNPRINTABLE]}},
        {UNPRINTABLE: 1},
        {"title": {UNPRINTABLE: 1}},
        Condition(UNPRINTABLE, "eq", 1),  # type: ignore[arg-type]
    ]
    for filter_ in filters:
        with pytest.raises(QueryError):
            world.things.query(filter=filter_)


def test_a_selection_holding_an_unprintable_number_is_refused(world: World) -> None:
    with pytest.raises(QueryError, match="too large to show"):
        world.things.query(fields=[UNPRINTABLE])  # type: ignore[list-item]
    with pytest.raises(QueryError, match="too large to show"):
        world.things.query(expand=[UNPRINTABLE])  # type: ignore[list-item]


def test_a_filter_value_nested_too_deep_to_show_is_refused(world: World) -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(QueryError, match="nested too deep to show") as caught:
        world.things.query(filter={"title": {"in": value}})
    assert pointers(caught.value) == ["/filter/title/in/0"]
