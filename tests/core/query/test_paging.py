"""Keyset pagination: every record once, in order, whatever the sort; cursors checked."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from xrm_core import QueryError, RecordService

Records = dict[str, dict[str, Any]]
Crowd = list[dict[str, Any]]


@pytest.fixture(scope="module")
def crowd(contacts: RecordService, firms: Records) -> Iterator[Crowd]:
    """Forty contacts with many duplicate and empty sort values (shared: tests only read)."""
    accounts = [None, firms["acme"]["id"], firms["globex"]["id"], firms["acme_eu"]["id"]]
    rows = [
        {
            "name": f"p{i % 7}",
            "score": None if i % 5 == 0 else i % 4,
            "ratio": None if i % 3 == 0 else str(i % 2),
            "vip": None if i % 6 == 0 else i % 2 == 0,
            "born": None if i % 4 == 0 else f"1990-0{1 + i % 3}-01",
            "seen": None if i % 7 == 0 else f"2024-01-0{1 + i % 2}T10:00:00Z",
            "stage": [None, "new", "won", "lost"][i % 4],
            "account": accounts[i % 4],
        }
        for i in range(40)
    ]
    result = contacts.create_many(rows)
    made = [r.record for r in result.rows if r.record is not None]
    yield made
    left = {r["id"]: r for r in contacts.query(limit=1000)}
    assert left == {r["id"]: r for r in made}, "a read-only paging test changed records"


def walk(contacts: RecordService, limit: int, **query: Any) -> list[Any]:
    ids: list[Any] = []
    page = contacts.query(limit=limit, **query)
    ids.extend(r["id"] for r in page)
    while page.next_cursor is not None:
        assert len(page) == limit
        page = contacts.query(limit=limit, cursor=page.next_cursor, **query)
        ids.extend(r["id"] for r in page)
    return ids


ORDERS = [
    [],
    ["-id"],
    ["score"],
    ["-score"],
    ["score", "-ratio"],
    ["-vip", "born"],
    ["vip", "-born", "name"],
    ["-seen", "stage"],
    ["stage", "-score", "-vip"],
    ["account.name", "score"],
    ["-account.parent.name", "-ratio"],
    ["-created_at"],
]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: ",".join(o) or "default")
@pytest.mark.parametrize("limit", [1, 3, 7])
def test_walking_pages_returns_every_record_once_in_order(
    contacts: RecordService, crowd: Crowd, order: list[str], limit: int
) -> None:
    everything = [r["id"] for r in contacts.query(order=order, limit=1000)]
    assert len(everything) == len(crowd)
    assert walk(contacts, limit, order=order) == everything


def test_pages_follow_the_filter(contacts: RecordService, crowd: Crowd) -> None:
    filter_ = {"or": [{"score": {"ge": 2}}, {"vip": None}]}
    everything = [r["id"] for r in contacts.query(filter=filter_, order=["-score"], limit=1000)]
    assert 0 < len(everything) < len(crowd)
    assert walk(contacts, 4, filter=filter_, order=["-score"]) == everything


def test_last_page_has_no_cursor(contacts: RecordService, crowd: Crowd) -> None:
    assert contacts.query(limit=40).next_cursor is None
    assert contacts.query(limit=41).next_cursor is None
    first = contacts.query(limit=39)
    assert first.next_cursor is not None
    last = contacts.query(limit=39, cursor=first.next_cursor)
    assert len(last) == 1
    assert last.next_cursor is None


def test_a_cursor_survives_new_records_before_it(
    fresh_contacts: RecordService, fresh_people: Records
) -> None:
    first = fresh_contacts.query(order=["name"], limit=2)
    assert [r["name"] for r in first] == ["Ada", "Bob_Smith"]
    fresh_contacts.create({"name": "Aaron"})
    rest = fresh_contacts.query(order=["name"], limit=10, cursor=first.next_cursor)
    assert [r["name"] for r in rest] == ["DEE", fresh_people["eve"]["name"], "cy"]


def test_cursor_from_another_sort_order_is_refused(contacts: RecordService, crowd: Crowd) -> None:
    cursor = contacts.query(order=["score"], limit=2).next_cursor
    assert cursor is not None
    for order in (["-score"], ["name"], [], ["score", "name"]):
        with pytest.raises(QueryError) as exc:
            contacts.query(order=order, cursor=cursor)
        assert [p.pointer for p in exc.value.problems] == ["/cursor"]


def _forge(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "!!!!",
        "e30",  # {}
        _forge([1, 2]),
        _forge({"o": "x", "v": [1]}),
        _forge("text"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_garbage_cursor_is_refused(contacts: RecordService, crowd: Crowd, cursor: str) -> None:
    with pytest.raises(QueryError) as exc:
        contacts.query(order=["score"], cursor=cursor)
    assert [p.pointer for p in exc.value.problems] == ["/cursor"]


def test_tampered_cursor_values_are_refused(contacts: RecordService, crowd: Crowd) -> None:
    cursor = contacts.query(order=["score"], limit=2).next_cursor
    assert cursor is not None
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for values in (["abc", payload["v"][1]], [1], [1, "not-a-uuid"], [1, 2, 3], "x"):
        forged = _forge({**payload, "v": values})
        with pytest.raises(QueryError) as exc:
            contacts.query(order=["score"], cursor=forged)
        assert [p.pointer for p in exc.value.problems] == ["/cursor"]


@pytest.mark.parametrize("limit", [0, -1, 1001, 10**9, "10", 2.5, None])
def test_limit_out_of_bounds_is_refused(contacts: RecordService, crowd: Crowd, limit: Any) -> None:
    with pytest.raises(QueryError) as exc:
        contacts.query(limit=limit)
    assert [p.pointer for p in exc.value.problems] == ["/limit"]


def test_limit_bounds_are_inclusive(contacts: RecordService, crowd: Crowd) -> None:
    assert len(contacts.query(limit=1)) == 1
    assert len(contacts.query(limit=1000)) == len(crowd)
