"""A query's SQL is built once per shape and reused: the reuse must never change results."""

from __future__ import annotations

import pytest

from xrm_core import XRM, QueryError

TASK = {
    "x-xrm": {"name": "task"},
    "properties": {
        "title": {"type": "string"},
        "points": {"type": "integer"},
        "done": {"type": "boolean"},
    },
}


def titles(xrm: XRM, **query: object) -> list[str]:
    return [r["title"] for r in xrm.records("task").query(**query)]  # type: ignore[arg-type]


def test_the_same_shape_with_other_values_gives_each_its_own_results(xrm: XRM) -> None:
    xrm.metadata.define(TASK)
    xrm.records("task").create_many(
        [{"title": f"t{i}", "points": i, "done": i % 2 == 0} for i in range(6)]
    )

    for low in range(6):
        expected = [f"t{i}" for i in range(low, 6)]
        assert titles(xrm, filter={"points": {"ge": low}}, order=["points"]) == expected
    assert titles(xrm, filter={"done": True}, order=["points"]) == ["t0", "t2", "t4"]
    assert titles(xrm, filter={"done": False}, order=["points"]) == ["t1", "t3", "t5"]
    assert titles(xrm, filter={"points": {"in": [1, 2]}}, order=["points"]) == ["t1", "t2"]
    assert titles(xrm, filter={"points": {"in": [5]}}, order=["points"]) == ["t5"]
    assert titles(xrm, filter={"points": {"in": []}}, order=["points"]) == []


def test_cursors_of_one_shape_page_through_their_own_results(xrm: XRM) -> None:
    xrm.metadata.define(TASK)
    xrm.records("task").create_many([{"title": f"t{i}", "points": i % 3} for i in range(7)])
    tasks = xrm.records("task")

    seen = []
    page = tasks.query(order=["-points", "title"], limit=3)
    while True:
        seen += [r["title"] for r in page]
        if page.next_cursor is None:
            break
        page = tasks.query(order=["-points", "title"], limit=3, cursor=page.next_cursor)

    assert seen == ["t2", "t5", "t1", "t4", "t0", "t3", "t6"]


def test_queries_follow_a_definition_change(xrm: XRM) -> None:
    xrm.metadata.define(TASK)
    xrm.records("task").create({"title": "old", "points": 1})
    assert titles(xrm, filter={"points": 1}) == ["old"]

    renamed = {**TASK, "properties": {"title": {"type": "string"}, "score": {"type": "integer"}}}
    xrm.metadata.define(renamed, renames={"task": {"points": "score"}}, confirm=True)

    assert titles(xrm, filter={"score": 1}) == ["old"]
    with pytest.raises(QueryError) as error:
        titles(xrm, filter={"points": 1})
    assert error.value.problems[0].pointer == "/filter/points"
