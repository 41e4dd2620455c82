"""query, count and aggregate with arbitrary filters, sorts, limits, cursors and selections."""

from __future__ import annotations

import base64
import json
import os
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm_core import And, Condition, Not, Or, Page, XRMError

if TYPE_CHECKING:
    from tests.core.fuzz.conftest import World

FUZZ = settings(
    max_examples=int(os.environ.get("XRM_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
PATHS = [
    *("title", "code", "body", "quantity", "ratio", "price", "in_stock", "released"),
    *("checked_at", "email", "status", "colours", "extra", "account", "parent", "regarding"),
    *("account.name", "account.code", "parent.title", "parent.account.region", "parent.price"),
    *("regarding.entity", "regarding.id", "regarding.name", "id", "version", "created_at"),
    *("owner_type", "title.x", "account.", ".title", "nope", "account.nope", "extra.k", "a..b"),
]
OPERATORS = [
    *("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "starts_with", "is_null"),
    *("like", "EQ", "$eq", "", "and", "not"),
]
PERIODS = [":day", ":month", ":year", ":week", ":", ":Month"]
MEASURES = [
    *("count", "count:title", "sum:price", "avg:quantity", "min:released", "max:checked_at"),
    *("sum:title", "max:colours", "min:account.name", "avg:regarding", "max:in_stock", "sum:"),
    *(":price", "median:price", "avg:version", "sum:parent.ratio", "max:extra", "count:nope"),
]


def operands(world: World, path: str, op: Any = "eq") -> st.SearchStrategy[Any]:
    """A value for ``path op``: of the field's shape when the path ends in a field of ``thing``."""
    name = path.rpartition(".")[2]
    one = world.values(name) if name in world.fields else world.anything
    if op in ("in", "not_in"):
        return world.mostly(st.lists(one, max_size=3), one)
    if op == "is_null":
        return world.mostly(st.booleans(), one)
    return world.mostly(one, st.lists(one, max_size=3) | st.booleans())


@st.composite
def conditions(draw: st.DrawFn, world: World) -> Any:
    path = draw(world.names(PATHS))
    if not isinstance(path, str):
        return {"x": draw(world.anything)} if draw(st.booleans()) else Condition(path, "eq", 1)
    how = draw(st.sampled_from(["bare", "ops", "python"]))
    if how == "bare":
        return {path: draw(operands(world, path))}
    ops = draw(st.lists(world.names(OPERATORS), min_size=1, max_size=2))
    if how == "python":
        return Condition(path, ops[0], draw(operands(world, path, ops[0])))
    return {path: {op: draw(operands(world, path, op)) for op in ops if isinstance(op, str)}}


def filters(world: World) -> st.SearchStrategy[Any]:
    def combine(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        some = st.lists(inner, max_size=3)
        valid = st.one_of(
            some.map(lambda xs: {"and": xs}),
            some.map(lambda xs: {"or": xs}),
            inner.map(lambda x: {"not": x}),
            st.tuples(inner, inner).map(
                lambda p: {**p[0], **p[1]} if all(isinstance(x, dict) for x in p) else p[0]
            ),
            some.map(lambda xs: And(tuple(xs))),
            some.map(lambda xs: Or(tuple(xs))),
            inner.map(Not),
        )
        wrong = st.one_of(
            inner.map(lambda x: {"and": x}),
            world.anything.map(lambda x: {"or": x}),
            world.anything.map(Not),
            world.anything.map(lambda x: And(x)),
        )
        return world.mostly(valid, wrong)

    trees = st.recursive(conditions(world), combine, max_leaves=4)
    return world.mostly(st.none() | trees | trees, world.anything)


def orders(world: World) -> st.SearchStrategy[Any]:
    keys = world.names([*PATHS, *(f"-{p}" for p in PATHS), "-", "--title", "+title"])
    return world.mostly(st.none() | st.lists(keys, max_size=3), world.anything)


def limits(world: World) -> st.SearchStrategy[Any]:
    return world.mostly(
        st.sampled_from([1, 2, 50, 1000]),
        st.integers(-3, 3) | st.integers(995, 1005) | world.huge_ints | world.anything,
    )


def selections(world: World) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    fields = st.lists(world.names([*world.fields, *world.system]), max_size=3)
    expand = st.lists(
        world.names(["account", "parent", "regarding", "parent.account", "title"]), max_size=2
    )
    return world.mostly(fields, world.anything), world.mostly(expand, world.anything)


def tamper(world: World, cursor: str) -> st.SearchStrategy[str]:
    """Cursors a client might send back after changing a real one."""
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))

    def encode(value: Any) -> str:
        raw = json.dumps(value, default=str).encode("utf-8", "surrogatepass")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    values = st.lists(world.json, min_size=len(payload["v"]), max_size=len(payload["v"]))
    return st.one_of(
        st.just(cursor),
        st.integers(0, len(cursor) - 1).map(lambda i: cursor[:i] + "A" + cursor[i + 1 :]),
        st.just(cursor[:-3]),
        st.just(cursor + "=="),
        values.map(lambda v: encode({**payload, "v": v})),
        world.json.map(lambda v: encode({**payload, "v": v})),
        world.json.map(lambda o: encode({**payload, "o": o})),
        world.json.map(encode),
        st.binary(max_size=12).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    )


def cursors(world: World, data: st.DataObject, order: Any) -> Any:
    choice = data.draw(st.sampled_from(["none", "real", "real", "junk"]), label="cursor kind")
    if choice == "real":
        try:
            real = world.things.query(order=order, limit=1).next_cursor
        except XRMError:
            real = None
        if real is not None:
            return data.draw(tamper(world, real), label="cursor")
    if choice == "none":
        return None
    return data.draw(world.text | world.anything, label="cursor")


@FUZZ
@given(data=st.data())
def test_query_takes_any_filter_order_limit_cursor_and_selection(
    world: World, data: st.DataObject
) -> None:
    filter_ = data.draw(filters(world), label="filter")
    order = data.draw(orders(world), label="order")
    limit = data.draw(limits(world), label="limit")
    cursor = cursors(world, data, order)
    fields_, expand_ = selections(world)
    fields = data.draw(st.none() | st.none() | fields_, label="fields")
    expand = data.draw(st.none() | st.none() | expand_, label="expand")
    count = data.draw(st.booleans(), label="count")

    def run() -> Page:
        return world.things.query(
            filter=filter_,
            order=order,
            limit=limit,
            cursor=cursor,
            fields=fields,
            expand=expand,
            count=count,
        )

    page = world.attempt(run, reads_only=True)
    if isinstance(page, XRMError):
        return
    if fields is None and expand is None:
        for record in page:
            assert world.things.get(record["id"]) == record
    if count:
        assert page.total == world.things.count(filter=filter_)
    if page.next_cursor is not None:
        # A cursor the service issued always leads to the next page.
        following = world.things.query(
            filter=filter_, order=order, limit=limit, cursor=page.next_cursor
        )
        seen = {r["id"] for r in page}
        assert not seen & {r["id"] for r in following}


@FUZZ
@given(data=st.data())
def test_count_takes_any_filter(world: World, data: st.DataObject) -> None:
    filter_ = data.draw(filters(world), label="filter")
    total = world.attempt(lambda: world.things.count(filter=filter_), reads_only=True)
    if not isinstance(total, XRMError):
        assert 0 <= total <= world.things.count()


@FUZZ
@given(data=st.data())
def test_aggregate_takes_any_groups_measures_and_filter(world: World, data: st.DataObject) -> None:
    groups = world.names([*PATHS, *(p + period for p in PATHS[:12] for period in PERIODS)])
    group_by = data.draw(
        world.mostly(st.lists(groups, max_size=2), world.anything), label="group_by"
    )
    spec = world.mostly(
        st.sampled_from(MEASURES)
        | st.fixed_dictionaries(
            {"function": world.names(["count", "sum", "max"]), "field": world.names(PATHS)}
        ),
        world.anything,
    )
    names = world.mostly(st.sampled_from(["n", "total", "a/b", "~0", "count"]), world.text)
    measures = data.draw(
        world.mostly(st.none() | st.dictionaries(names, spec, max_size=3), world.anything),
        label="measures",
    )
    filter_ = data.draw(filters(world), label="filter")
    rows = world.attempt(
        lambda: world.things.aggregate(group_by=group_by, measures=measures, filter=filter_),
        reads_only=True,
    )
    if not isinstance(rows, XRMError):
        assert all(isinstance(row, dict) for row in rows)
