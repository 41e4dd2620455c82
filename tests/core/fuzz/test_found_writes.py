"""Writes the fuzzers found crashing, each now refused with a clear error and nothing changed."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest

from xrm_core import BulkError, QueryError, RecordNotFound, RecordValidationError

if TYPE_CHECKING:
    from tests.core.fuzz.conftest import World

#: More digits than Python turns into text: repr() of it fails (CVE-2020-10735).
UNPRINTABLE = 10**5000


def pointers(error: Any) -> list[str]:
    return [p.pointer for p in error.problems]


def test_a_version_no_record_can_have_is_refused_by_update(world: World) -> None:
    thing = world.things.get(world.ids["thing"][0])
    for version in (2**31, 2**63, 0, -1):
        with pytest.raises(RecordValidationError) as caught:
            world.things.update(thing["id"], {"title": "Changed"}, if_version=version)
        assert pointers(caught.value) == ["/if_version"]
    assert world.things.get(thing["id"]) == thing


def test_a_version_no_record_can_have_is_refused_by_delete(world: World) -> None:
    with pytest.raises(RecordValidationError) as caught:
        world.things.delete(world.ids["thing"][0], if_version=2**31)
    assert pointers(caught.value) == ["/if_version"]
    assert world.things.count() == 2


def test_a_bulk_update_row_with_a_version_beyond_32_bits_is_refused(world: World) -> None:
    rows = [{"id": world.ids["thing"][0], "version": 2**40, "title": "Changed"}]
    with pytest.raises(BulkError) as caught:
        world.things.update_many(rows)
    assert pointers(caught.value) == ["/0/version"]


def test_bulk_rows_that_are_not_a_list_are_refused(world: World) -> None:
    before = world.snapshot()
    things = world.things
    not_lists: list[Any] = [None, 5, Decimal("NaN"), "abc", {"title": "A"}]
    for rows in not_lists:
        for call in (
            things.create_many,
            things.update_many,
            partial(things.upsert_many, key="code"),
        ):
            with pytest.raises(RecordValidationError, match="list of records") as caught:
                call(rows)
            assert pointers(caught.value) == [""]
    assert world.snapshot() == before


def test_an_upsert_key_that_is_not_a_name_or_list_of_names_is_refused(world: World) -> None:
    for key in (Decimal("NaN"), 5, None, [1, "code"], {"code": 1}, b"code"):
        with pytest.raises(QueryError) as caught:
            world.things.upsert_many([{"title": "A", "code": "x"}], key=key)  # type: ignore[arg-type]
        assert pointers(caught.value) == ["/key"]


def test_a_key_that_looks_like_a_pydantic_tag_is_pointed_at(world: World) -> None:
    with pytest.raises(RecordValidationError) as caught:
        world.things.create({"title": "A", "a[b]": 1})
    assert [str(p) for p in caught.value.problems] == ["/a[b]: is not a field of this entity"]


def test_a_bad_value_inside_a_json_field_is_pointed_at_without_pydantic_tags(
    world: World,
) -> None:
    with pytest.raises(RecordValidationError) as caught:
        world.things.create({"title": "A", "extra": {"list": [1, {"dict": object()}]}})
    assert pointers(caught.value) == ["/extra/list/1/dict"]


def test_json_fields_refuse_numbers_json_cannot_express(world: World) -> None:
    before = world.snapshot()
    for number in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(RecordValidationError, match="NaN or Infinity") as caught:
            world.things.create({"title": "A", "extra": {"k": [number]}})
        assert pointers(caught.value) == ["/extra"]
    assert world.snapshot() == before


def test_json_fields_refuse_numbers_beyond_the_range_json_readers_take(world: World) -> None:
    # SQLite stored 2**1024 as infinity; Python cannot write UNPRINTABLE as text at all.
    for number in (2**1024, -(2**1024), UNPRINTABLE):
        with pytest.raises(RecordValidationError, match=r"beyond ±1\.8e308") as caught:
            world.things.create({"title": "A", "extra": [number]})
        assert pointers(caught.value) == ["/extra"]
    world.things.create({"title": "Within range", "extra": 2**1000})


def test_errors_quoting_an_unprintable_number_still_read_clearly(world: World) -> None:
    thing = world.ids["thing"][0]
    with pytest.raises(RecordNotFound, match="too large to show"):
        world.things.get(UNPRINTABLE)  # type: ignore[arg-type]
    with pytest.raises(RecordValidationError, match="too large to show"):
        world.things.update(thing, {}, if_version=UNPRINTABLE)
    with pytest.raises(QueryError, match="too large to show"):
        world.things.link(thing, UNPRINTABLE, world.ids["tag"][0])  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="too large to show"):
        world.things.upsert_many([], key=UNPRINTABLE)  # type: ignore[arg-type]
    with pytest.raises(RecordValidationError) as caught:
        world.things.create({"title": "A", UNPRINTABLE: 1})  # type: ignore[dict-item]
    assert pointers(caught.value) == ["/<unprintable int object>"]


def test_error_messages_cut_long_input(world: World) -> None:
    with pytest.raises(RecordNotFound) as caught:
        world.things.get("x" * 10_000)
    assert len(caught.value.message) < 120


def test_an_upsert_repeating_one_failing_key_reports_every_row(world: World) -> None:
    # Each row retried the create of its key's failed first row by recursion:
    # 1,100 such rows exhausted Python's stack (and took quadratic time).
    rows = [{"code": "same", "title": None}] * 1100
    result = world.things.upsert_many(rows, key="code", mode="per_row")
    assert [r.index for r in result.failed] == list(range(1100))
    assert {tuple(pointers(r.error)) for r in result.failed} == {("/title",)}
    assert world.things.count(filter={"code": "same"}) == 0


def test_an_upsert_key_whose_first_row_fails_is_created_by_the_next(world: World) -> None:
    rows: list[dict[str, Any]] = [
        {"code": "k", "title": None},
        {"code": "k", "title": "Second"},
        {"code": "k", "title": "Third"},
    ]
    result = world.things.upsert_many(rows, key="code", mode="per_row")
    assert [(r.index, r.ok, r.created) for r in result.rows] == [
        (0, False, False),
        (1, True, True),
        (2, True, False),
    ]
    assert [r["title"] for r in world.things.query(filter={"code": "k"})] == ["Third"]
