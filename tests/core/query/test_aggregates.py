"""count, ``query(count=True).total`` and aggregates grouped by fields and by day / month / year."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from xrm_core import QueryError, RecordService

Records = dict[str, dict[str, Any]]


@pytest.mark.parametrize(
    "filter_",
    [
        None,
        {},
        {"score": {"gt": 0}},
        {"stage": "won"},
        {"not": {"vip": True}},
        {"account.industry": {"in": ["retail", "food"]}},
        {"or": []},
    ],
)
def test_count_and_total_agree_with_the_filter(
    contacts: RecordService, people: Records, filter_: Any
) -> None:
    matching = contacts.query(filter=filter_, limit=1000)
    assert contacts.count(filter=filter_) == len(matching)
    assert contacts.query(filter=filter_, limit=1, count=True).total == len(matching)


def test_total_ignores_the_page(contacts: RecordService, people: Records) -> None:
    first = contacts.query(order=["name"], limit=2, count=True)
    second = contacts.query(order=["name"], limit=2, count=True, cursor=first.next_cursor)
    assert first.total == second.total == len(people)


def test_total_only_when_asked(contacts: RecordService, people: Records) -> None:
    assert contacts.query().total is None


def test_count_of_nothing(fresh_contacts: RecordService) -> None:
    assert fresh_contacts.count() == 0
    assert fresh_contacts.aggregate(measures={"n": "count", "top": "max:score"}) == [
        {"n": 0, "top": None}
    ]


def test_measures_of_no_matching_record(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(measures={"n": "count", "s": "sum:score"}, filter={"or": []})
    assert rows == [{"n": 0, "s": None}]
    assert contacts.aggregate(group_by=["stage"], filter={"score": {"gt": 100}}) == []


def test_measures_over_all_records(contacts: RecordService, people: Records) -> None:
    (row,) = contacts.aggregate(
        measures={
            "n": "count",
            "scored": "count:score",
            "total": "sum:score",
            "mean": "avg:score",
            "low": "min:score",
            "high": "max:score",
            "pay": "sum:salary",
            "mean_ratio": "avg:ratio",
            "top_ratio": "max:ratio",
            "first_born": "min:born",
            "last_seen": "max:seen",
            "first_name": "min:name",
        }
    )
    assert row == {
        "n": 5,
        "scored": 4,
        "total": 45,
        "mean": pytest.approx(11.25),
        "low": -5,
        "high": 20,
        "pay": Decimal("2600.50"),
        "mean_ratio": pytest.approx(1.125),
        "top_ratio": Decimal("2.75"),
        "first_born": dt.date(1985, 6, 15),
        "last_seen": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        "first_name": "Ada",
    }
    assert isinstance(row["total"], int)


def test_measure_written_as_an_object(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(measures={"top": {"function": "max", "field": "score"}})
    assert rows == [{"top": 20}]


def test_without_measures_it_counts(contacts: RecordService, people: Records) -> None:
    assert contacts.aggregate(group_by=["vip"]) == [
        {"vip": None, "count": 1},
        {"vip": False, "count": 2},
        {"vip": True, "count": 2},
    ]


def test_group_by_a_field_with_nulls_first(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(
        group_by=["stage"], measures={"n": "count", "total": "sum:score", "high": "max:seen"}
    )
    assert rows == [
        {"stage": None, "n": 1, "total": None, "high": None},
        {
            "stage": "lost",
            "n": 1,
            "total": -5,
            "high": dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        },
        {
            "stage": "new",
            "n": 1,
            "total": 10,
            "high": dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dt.UTC),
        },
        {"stage": "won", "n": 2, "total": 40, "high": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)},
    ]


def test_group_by_two_fields(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(group_by=["stage", "vip"], measures={"n": "count"})
    assert rows == [
        {"stage": None, "vip": None, "n": 1},
        {"stage": "lost", "vip": False, "n": 1},
        {"stage": "new", "vip": True, "n": 1},
        {"stage": "won", "vip": False, "n": 1},
        {"stage": "won", "vip": True, "n": 1},
    ]


def test_group_with_a_filter(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(
        group_by=["stage"], measures={"n": "count"}, filter={"score": {"ge": 10}}
    )
    assert rows == [{"stage": "new", "n": 1}, {"stage": "won", "n": 2}]


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("seen:day", [None, "2023-12-31", "2024-03-04", "2024-03-20", "2025-01-01"]),
        ("seen:month", [None, "2023-12", "2024-03", "2025-01"]),
        ("seen:year", [None, "2023", "2024", "2025"]),
        ("born:day", [None, "1985-06-15", "1990-01-02", "2000-02-29"]),
        ("born:month", [None, "1985-06", "1990-01", "2000-02"]),
        ("born:year", [None, "1985", "1990", "2000"]),
    ],
)
def test_date_buckets(
    contacts: RecordService, people: Records, group: str, expected: list[str | None]
) -> None:
    rows = contacts.aggregate(group_by=[group], measures={"n": "count"})
    assert [r[group] for r in rows] == expected
    assert sum(r["n"] for r in rows) == len(people)


def test_month_bucket_counts(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(group_by=["seen:month"], measures={"n": "count", "s": "sum:score"})
    assert rows == [
        {"seen:month": None, "n": 1, "s": None},
        {"seen:month": "2023-12", "n": 1, "s": -5},
        {"seen:month": "2024-03", "n": 2, "s": 30},
        {"seen:month": "2025-01", "n": 1, "s": 20},
    ]


def test_datetime_buckets_are_in_utc(fresh_contacts: RecordService) -> None:
    # 23:30 on 31 March at UTC-2 is 1 April in UTC.
    fresh_contacts.create({"name": "late", "seen": "2024-03-31T23:30:00-02:00"})
    rows = fresh_contacts.aggregate(group_by=["seen:month", "seen:day"])
    assert rows == [{"seen:month": "2024-04", "seen:day": "2024-04-01", "count": 1}]


def test_buckets_of_system_timestamps(contacts: RecordService, people: Records) -> None:
    year = str(people["ada"]["created_at"].year)
    assert contacts.aggregate(group_by=["created_at:year"]) == [
        {"created_at:year": year, "count": len(people)}
    ]


def test_buckets_with_a_filter_and_a_lookup_group(contacts: RecordService, people: Records) -> None:
    rows = contacts.aggregate(
        group_by=["born:year", "account.industry"],
        measures={"n": "count"},
        filter={"born": {"is_null": False}},
    )
    assert rows == [
        {"born:year": "1985", "account.industry": "tech", "n": 1},
        {"born:year": "1990", "account.industry": "food", "n": 1},
        {"born:year": "1990", "account.industry": "retail", "n": 1},
        {"born:year": "2000", "account.industry": None, "n": 1},
    ]


@pytest.mark.parametrize(
    ("measures", "pointer"),
    [
        ({"m": "median:score"}, "/measures/m"),
        ({"m": "sum"}, "/measures/m"),
        ({"m": "sum:"}, "/measures/m"),
        ({"m": "sum:name"}, "/measures/m"),
        ({"m": "avg:born"}, "/measures/m"),
        ({"m": "sum:nope"}, "/measures/m"),
        ({"m": "max:vip"}, "/measures/m"),
        ({"m": "min:topics"}, "/measures/m"),
        ({"m": "max:extra"}, "/measures/m"),
        ({"m": {"function": "sum", "field": 5}}, "/measures/m"),
        ({"m": {"function": "sum"}}, "/measures/m"),
        ({"m": {"field": "score"}}, "/measures/m"),
        ({"m": 5}, "/measures/m"),
        ({"n": "count", "a/b": "avg:name"}, "/measures/a~1b"),
    ],
)
def test_bad_measures(contacts: RecordService, measures: Any, pointer: str) -> None:
    with pytest.raises(QueryError) as exc:
        contacts.aggregate(measures=measures)
    assert [p.pointer for p in exc.value.problems] == [pointer]


@pytest.mark.parametrize(
    ("group_by", "pointer"),
    [
        (["nope"], "/group_by/0"),
        (["stage", "name:month"], "/group_by/1"),
        (["seen:week"], "/group_by/0"),
        (["score:year"], "/group_by/0"),
        (["topics"], "/group_by/0"),
        (["extra"], "/group_by/0"),
        ([5], "/group_by/0"),
        ([":month"], "/group_by/0"),
    ],
)
def test_bad_groups(contacts: RecordService, group_by: list[Any], pointer: str) -> None:
    with pytest.raises(QueryError) as exc:
        contacts.aggregate(group_by=group_by)
    assert [p.pointer for p in exc.value.problems] == [pointer]
