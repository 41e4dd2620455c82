"""Property tests: the database agrees with a brute-force Python oracle of the query language.

Random records (every kind, with empty values) and random filter trees are
evaluated both by the database and by :func:`holds`, which spells out the
documented semantics: a comparison with an empty value is false, except that
``ne`` / ``not_in`` include empty values; ``not`` is the exact complement;
``contains`` / ``starts_with`` ignore ASCII case and match ``%`` / ``_``
literally. Sorting puts NULL first (smallest), ties go by id.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm_core import XRM, RecordService

SAMPLE = {
    "x-xrm": {"name": "sample"},
    "properties": {
        "batch": {"type": "integer"},
        "s": {"type": "string"},
        "n": {"type": "integer"},
        "d": {"type": "number"},
        "b": {"type": "boolean"},
        "c": {"enum": ["x", "y", "z"]},
        "t": {"type": "string", "format": "date"},
        "w": {"type": "string", "format": "date-time"},
        "m": {"type": "array", "items": {"enum": ["x", "y", "z"]}},
    },
    "required": ["batch"],
}
CHOICES = ["x", "y", "z"]
UTC = dt.UTC
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))

# Small domains, so that random filters hit records often and sorts meet ties.
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "s": st.text(alphabet="aAbB_%\\ ", max_size=3),
    "n": st.integers(-2, 2),
    "d": st.sampled_from([Decimal("-1.5"), Decimal("0"), Decimal("0.25"), Decimal("2")]),
    "b": st.booleans(),
    "c": st.sampled_from(CHOICES),
    "t": st.dates(dt.date(2024, 2, 27), dt.date(2024, 3, 2)),
    "w": st.sampled_from(
        [
            dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
            dt.datetime(2024, 1, 1, 0, 0, 0, 500, tzinfo=UTC),
            dt.datetime(2024, 1, 1, 23, 30, tzinfo=UTC),
            dt.datetime(2025, 6, 30, 12, 0, tzinfo=UTC),
        ]
    ),
    "m": st.lists(st.sampled_from(CHOICES), unique=True, max_size=3),
}
ORDERED = ["s", "n", "d", "c", "t", "w"]
EQUATABLE = [*ORDERED, "b"]
SORTABLE = [*EQUATABLE]
TEXT = ["s", "c"]

record_strategy = st.fixed_dictionaries(
    {name: st.none() | values for name, values in VALUES.items()}
)
records_strategy = st.lists(record_strategy, max_size=12)


def wire(name: str, value: Any, as_text: bool) -> Any:
    """The value as a JSON client would send it (text) or as Python code would."""
    if not as_text:
        return value
    if name == "w":
        return value.astimezone(PLUS_TWO).isoformat()
    if name in ("d", "t"):
        return str(value) if name == "d" else value.isoformat()
    return value


@st.composite
def leaves(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """A condition in JSON form and its meaning for the oracle: (field, op, value)."""
    name = draw(st.sampled_from(list(VALUES)))
    ops = ["is_null"]
    if name in EQUATABLE:
        ops += ["eq", "ne", "in", "not_in"]
    if name in ORDERED:
        ops += ["lt", "le", "gt", "ge"]
    if name in TEXT or name == "m":
        ops += ["contains"]
    if name in TEXT:
        ops += ["starts_with"]
    op = draw(st.sampled_from(ops))
    as_text = draw(st.booleans())
    if op == "is_null":
        value: Any = draw(st.booleans())
        sent: Any = value
    elif op in ("in", "not_in"):
        value = draw(st.lists(VALUES[name], max_size=3))
        sent = [wire(name, v, as_text) for v in value]
    elif op in ("contains", "starts_with"):
        if name == "m":
            value = draw(st.sampled_from(CHOICES))
        else:
            value = draw(st.text(alphabet="aAbBxX_%\\ ", min_size=1, max_size=2))
        sent = value
    else:
        value = draw(VALUES[name])
        sent = wire(name, value, as_text)
    return {name: {op: sent}}, (name, op, value)


def trees() -> st.SearchStrategy[tuple[Any, Any]]:
    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        many = st.lists(children, max_size=3)
        return st.one_of(
            many.map(lambda xs: ({"and": [x[0] for x in xs]}, ("and", [x[1] for x in xs]))),
            many.map(lambda xs: ({"or": [x[0] for x in xs]}, ("or", [x[1] for x in xs]))),
            children.map(lambda x: ({"not": x[0]}, ("not", x[1]))),
        )

    return st.recursive(leaves(), extend, max_leaves=6)


def holds(record: dict[str, Any], meaning: tuple[Any, ...]) -> bool:
    """The documented semantics, in plain Python."""
    head = meaning[0]
    if head == "and":
        return all(holds(record, m) for m in meaning[1])
    if head == "or":
        return any(holds(record, m) for m in meaning[1])
    if head == "not":
        return not holds(record, meaning[1])
    name, op, value = meaning
    have = record[name]
    if op == "is_null":
        return (have is None) is value
    if have is None:
        return op in ("ne", "not_in")
    if op == "contains" and name == "m":
        return value in have
    if op == "contains":
        return value.lower() in have.lower()
    if op == "starts_with":
        return bool(have.lower().startswith(value.lower()))
    if op == "in":
        return have in value
    if op == "not_in":
        return have not in value
    compare = {
        "eq": have == value,
        "ne": have != value,
        "lt": have < value,
        "le": have <= value,
        "gt": have > value,
        "ge": have >= value,
    }
    return bool(compare[op])


@pytest.fixture
def sample(xrm: XRM) -> Iterator[tuple[RecordService, Iterator[int]]]:
    """The sample entity, defined once per test; each example stores its records in a new batch."""
    xrm.metadata.define(SAMPLE)
    yield xrm.records("sample"), itertools.count()


def store(
    sample: tuple[RecordService, Iterator[int]], rows: list[dict[str, Any]]
) -> tuple[int, list[dict[str, Any]]]:
    service, batches = sample
    batch = next(batches)
    result = service.create_many([{**row, "batch": batch} for row in rows])
    stored = [r.record for r in result.rows if r.record is not None]
    assert len(stored) == len(rows)
    return batch, [{**row, "id": rec["id"]} for row, rec in zip(rows, stored, strict=True)]


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(rows=records_strategy, tree=trees())
def test_filters_match_the_oracle(
    sample: tuple[RecordService, Iterator[int]],
    rows: list[dict[str, Any]],
    tree: tuple[Any, Any],
) -> None:
    service = sample[0]
    batch, stored = store(sample, rows)
    filter_, meaning = tree
    scoped = {"and": [{"batch": batch}, filter_]}
    expected = {r["id"] for r in stored if holds(r, meaning)}
    assert {r["id"] for r in service.query(filter=scoped, limit=1000)} == expected
    assert service.count(filter=scoped) == len(expected)
    complement = {
        r["id"] for r in service.query(filter={"batch": batch, "not": filter_}, limit=1000)
    }
    assert complement == {r["id"] for r in stored} - expected


def sort_key(name: str) -> Any:
    def key(record: dict[str, Any]) -> tuple[Any, ...]:
        value = record[name]
        return (False,) if value is None else (True, value)

    return key


def oracle_order(records: list[dict[str, Any]], order: list[str]) -> list[Any]:
    rows = sorted(records, key=lambda r: r["id"])
    for spec in reversed(order):
        # Python's sort is stable, also with reverse=True, so earlier keys win.
        rows.sort(key=sort_key(spec.lstrip("-")), reverse=spec.startswith("-"))
    return [r["id"] for r in rows]


orders = st.lists(st.sampled_from(SORTABLE), min_size=1, max_size=3, unique=True).flatmap(
    lambda names: st.tuples(*(st.sampled_from([n, f"-{n}"]) for n in names)).map(list)
)


@PROPERTY_SETTINGS
@given(rows=records_strategy, order=orders, limit=st.integers(1, 5))
def test_paging_matches_the_oracle_order(
    sample: tuple[RecordService, Iterator[int]],
    rows: list[dict[str, Any]],
    order: list[str],
    limit: int,
) -> None:
    service = sample[0]
    batch, stored = store(sample, rows)
    seen: list[Any] = []
    cursor = None
    for _ in range(len(rows) + 1):
        page = service.query(filter={"batch": batch}, order=order, limit=limit, cursor=cursor)
        seen.extend(r["id"] for r in page)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert len(page) == limit
    assert cursor is None
    assert seen == oracle_order(stored, order)


@PROPERTY_SETTINGS
@given(
    texts=st.lists(st.none() | st.text(alphabet="aB_%\\", max_size=4), max_size=8),
    op=st.sampled_from(["contains", "starts_with"]),
    needle=st.text(alphabet="Ab_%\\", min_size=1, max_size=3),
    negate=st.booleans(),
)
def test_text_matching_is_literal_and_ignores_case(
    sample: tuple[RecordService, Iterator[int]],
    texts: list[str | None],
    op: str,
    needle: str,
    negate: bool,
) -> None:
    service = sample[0]
    rows: list[dict[str, Any]] = [{name: None for name in VALUES} | {"s": t} for t in texts]
    batch, stored = store(sample, rows)
    meaning: tuple[Any, ...] = ("s", op, needle)
    filter_: dict[str, Any] = {"s": {op: needle}}
    if negate:
        meaning, filter_ = ("not", meaning), {"not": filter_}
    expected = {r["id"] for r in stored if holds(r, meaning)}
    found = service.query(filter={"and": [{"batch": batch}, filter_]}, limit=1000)
    assert {r["id"] for r in found} == expected
