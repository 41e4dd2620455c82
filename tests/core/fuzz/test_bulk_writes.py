"""create_many, update_many and upsert_many, in both modes, with arbitrary rows and keys."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm_core import BulkError, BulkResult, RecordService, XRMError

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.core.fuzz.conftest import World

FUZZ = settings(
    max_examples=int(os.environ.get("XRM_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
MODES = st.sampled_from(["atomic", "per_row"])
KEYS = st.sampled_from(
    [
        "by_code",
        "code",
        ["code"],
        "by_account_day",
        ["released", "account"],
        ("account", "released"),
        "title",
        ["code", "code"],
        "regarding",
        [],
        "",
    ]
)


def run_bulk(
    world: World, data: st.DataObject, rows: Any, call: Callable[[Any, Any], BulkResult]
) -> None:
    """The bulk property: a result row per input row, each success stored as returned."""
    mode = data.draw(MODES, label="mode")
    with world.unit_of_work(data.draw(st.booleans(), label="in a unit of work")):
        before = world.things.count()
        result = world.attempt(lambda: call(rows, mode))
        if isinstance(result, XRMError):
            if isinstance(result, BulkError):
                assert result.problems, "a bulk error points at the failing rows"
            return
        assert len(result.rows) == len(list(rows))
        assert [r.index for r in result.rows] == list(range(len(result.rows)))
        if mode == "atomic":
            assert not result.failed
        for row in result.failed:
            assert row.error is not None and row.record is None
            world.check_error(row.error)
        # A record written by several rows reads back as the last one left it.
        assert all(row.record is not None for row in result.succeeded)
        last = {row.record["id"]: row.record for row in result.succeeded if row.record}
        for record in last.values():
            world.reads_back(world.things, record)
        created = len([r for r in result.succeeded if r.created])
        assert world.things.count() == before + created


def rows_of(row: st.SearchStrategy[Any], world: World) -> st.SearchStrategy[Any]:
    return st.lists(row, max_size=5) | st.tuples(row, row) | world.anything


@FUZZ
@given(data=st.data())
def test_create_many_takes_any_rows(world: World, data: st.DataObject) -> None:
    rows = data.draw(rows_of(world.record(), world), label="rows")
    run_bulk(world, data, rows, lambda r, m: world.things.create_many(r, mode=m))


def change_rows(world: World) -> st.SearchStrategy[Any]:
    ids = st.fixed_dictionaries({"id": world.record_ids()}, optional={"version": world.versions()})
    pairs = st.tuples(ids, world.changes())
    return pairs.map(lambda p: {**p[1], **p[0]} if isinstance(p[1], dict) else p[1])


@FUZZ
@given(data=st.data())
def test_update_many_takes_any_rows(world: World, data: st.DataObject) -> None:
    rows = data.draw(rows_of(change_rows(world) | world.changes(), world), label="rows")
    run_bulk(world, data, rows, lambda r, m: world.things.update_many(r, mode=m))


@FUZZ
@given(data=st.data())
def test_upsert_many_takes_any_rows_and_key(world: World, data: st.DataObject) -> None:
    rows = data.draw(rows_of(world.record(), world), label="rows")
    key = data.draw(KEYS | world.anything, label="key")
    things: RecordService = world.things
    run_bulk(world, data, rows, lambda r, m: things.upsert_many(r, key=key, mode=m))
