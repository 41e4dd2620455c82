"""Bad queries are QueryErrors that point into the query, never SQL errors or crashes."""

from __future__ import annotations

from typing import Any

import pytest

from xrm_core import And, Condition, Not, Or, QueryError, RecordService, XRMError


def pointers(exc: pytest.ExceptionInfo[QueryError]) -> list[str]:
    return [p.pointer for p in exc.value.problems]


def assert_refused(contacts: RecordService, filter_: Any, pointer: str) -> QueryError:
    with pytest.raises(QueryError) as exc:
        contacts.query(filter=filter_)
    assert pointers(exc) == [pointer]
    assert exc.value.code == "invalid_query"
    assert "SELECT" not in str(exc.value).upper()
    return exc.value


@pytest.mark.parametrize(
    ("filter_", "pointer"),
    [
        ({"vip": {"lt": True}}, "/filter/vip/lt"),
        ({"vip": {"ge": False}}, "/filter/vip/ge"),
        ({"score": {"starts_with": "1"}}, "/filter/score/starts_with"),
        ({"score": {"contains": "1"}}, "/filter/score/contains"),
        ({"born": {"contains": "19"}}, "/filter/born/contains"),
        ({"account": {"starts_with": "0"}}, "/filter/account/starts_with"),
        ({"extra": {"eq": {"k": 1}}}, "/filter/extra/eq"),
        ({"extra": {"lt": 1}}, "/filter/extra/lt"),
        ({"extra": {"k": 1}}, "/filter/extra/k"),  # an object is read as operators
        ({"topics": "a"}, "/filter/topics"),
        ({"topics": {"in": ["a"]}}, "/filter/topics/in"),
        ({"topics": {"lt": "a"}}, "/filter/topics/lt"),
        ({"id": {"contains": "01"}}, "/filter/id/contains"),
        ({"created_at": {"starts_with": "2024"}}, "/filter/created_at/starts_with"),
    ],
)
def test_operator_that_does_not_apply_to_the_kind(
    contacts: RecordService, filter_: Any, pointer: str
) -> None:
    assert_refused(contacts, filter_, pointer)


@pytest.mark.parametrize(
    ("filter_", "pointer"),
    [
        ({"score": "abc"}, "/filter/score"),
        ({"score": {"lt": "abc"}}, "/filter/score/lt"),
        ({"score": 1.5}, "/filter/score"),
        ({"score": True}, "/filter/score"),
        ({"score": {"in": [1, "x"]}}, "/filter/score/in/1"),
        ({"score": {"eq": [1]}}, "/filter/score/eq"),
        ({"ratio": "lots"}, "/filter/ratio"),
        ({"ratio": "NaN"}, "/filter/ratio"),
        ({"salary": {"ge": "12abc"}}, "/filter/salary/ge"),
        ({"score": 10**20}, "/filter/score"),  # beyond a 64-bit column
        ({"stage": "maybe"}, "/filter/stage"),
        ({"stage": {"not_in": ["won", "maybe"]}}, "/filter/stage/not_in/1"),
        ({"topics": {"contains": "z"}}, "/filter/topics/contains"),
        ({"born": "yesterday"}, "/filter/born"),
        ({"born": {"gt": "2024-02-30"}}, "/filter/born/gt"),
        ({"seen": {"lt": "soon"}}, "/filter/seen/lt"),
        ({"vip": "perhaps"}, "/filter/vip"),
        ({"account": "not-a-uuid"}, "/filter/account"),
        ({"id": {"in": ["0"]}}, "/filter/id/in/0"),
        ({"name": {"contains": ""}}, "/filter/name/contains"),
        ({"name": {"starts_with": 5}}, "/filter/name/starts_with"),
        ({"name": {"lt": None}}, "/filter/name/lt"),
        ({"name": {"in": ["a", None]}}, "/filter/name/in/1"),
        ({"name": {"in": "Ada"}}, "/filter/name/in"),
        ({"name": {"not_in": 5}}, "/filter/name/not_in"),
        ({"name": {"is_null": "yes"}}, "/filter/name/is_null"),
        ({"name": {}}, "/filter/name"),
    ],
)
def test_bad_value(contacts: RecordService, filter_: Any, pointer: str) -> None:
    assert_refused(contacts, filter_, pointer)


@pytest.mark.parametrize(
    ("filter_", "pointer"),
    [
        ({"nope": 1}, "/filter/nope"),
        ({"nope": {"eq": 1}}, "/filter/nope"),
        ({"name": "x", "nope": None}, "/filter/nope"),
        ({"or": [{"name": "x"}, {"nope": 1}]}, "/filter/or/1/nope"),
        ({"and": [{"not": {"nope": 1}}]}, "/filter/and/0/not/nope"),
        ({"account.nope": 1}, "/filter/account.nope"),
        ({"account.parent.nope": 1}, "/filter/account.parent.nope"),
        ({"name.first": "x"}, "/filter/name.first"),
        ({"account.": 1}, "/filter/account."),
        ({"a/b~c": 1}, "/filter/a~1b~0c"),
        ({"": 1}, "/filter/"),
    ],
)
def test_unknown_field(contacts: RecordService, filter_: Any, pointer: str) -> None:
    assert_refused(contacts, filter_, pointer)


def test_unknown_field_message_names_field_and_entity(contacts: RecordService) -> None:
    error = assert_refused(contacts, {"account.nope": 1}, "/filter/account.nope")
    assert "'nope'" in error.problems[0].message
    assert "'account'" in error.problems[0].message


@pytest.mark.parametrize(
    ("filter_", "pointer"),
    [
        ({"score": {"like": "1%"}}, "/filter/score/like"),
        ({"score": {"ge": 1, "between": [1, 2]}}, "/filter/score/between"),
        ({"or": [{"score": {"EQ": 1}}]}, "/filter/or/0/score/EQ"),
        ({"score": {"in_": [1]}}, "/filter/score/in_"),
    ],
)
def test_unknown_operator(contacts: RecordService, filter_: Any, pointer: str) -> None:
    error = assert_refused(contacts, filter_, pointer)
    assert "starts_with" in error.problems[0].message  # lists the operators there are


@pytest.mark.parametrize(
    ("filter_", "pointer"),
    [
        ([{"name": "Ada"}], "/filter"),
        ("name = 'Ada'", "/filter"),
        (5, "/filter"),
        ({"and": {"name": "Ada"}}, "/filter/and"),
        ({"or": "name"}, "/filter/or"),
        ({"and": [{"name": "Ada"}, 3]}, "/filter/and/1"),
        ({"or": [[{"name": "Ada"}]]}, "/filter/or/0"),
        ({"not": [{"name": "Ada"}]}, "/filter/not"),
        ({"not": None}, "/filter/not"),
    ],
)
def test_malformed_filter(contacts: RecordService, filter_: Any, pointer: str) -> None:
    assert_refused(contacts, filter_, pointer)


@pytest.mark.parametrize(
    ("filter_", "pointer"),
    [
        (Condition("score", "starts_with", "1"), "/filter/score/starts_with"),
        (Condition("score", "like", "1"), "/filter/score/like"),
        (Condition("score", "in", 5), "/filter/score/in"),
        (Condition("nope", "eq", 1), "/filter/nope"),
        (
            And((Condition("name", "eq", "x"), Condition("score", "lt", "x"))),
            "/filter/and/1/score/lt",
        ),
        (Or((Not(Condition("vip", "gt", True)),)), "/filter/or/0/not/vip/gt"),
        # JSON parts inside a Python tree, and a wrong one: beyond what the types allow.
        (And(({"nope": 1},)), "/filter/and/0/nope"),  # type: ignore[arg-type]
        (Not("name"), "/filter/not"),  # type: ignore[arg-type]
    ],
)
def test_python_filters_are_checked_like_json(
    contacts: RecordService, filter_: Any, pointer: str
) -> None:
    assert_refused(contacts, filter_, pointer)


def test_count_and_aggregate_check_the_filter_too(contacts: RecordService) -> None:
    with pytest.raises(QueryError) as exc:
        contacts.count(filter={"score": {"starts_with": "1"}})
    assert pointers(exc) == ["/filter/score/starts_with"]
    with pytest.raises(QueryError) as exc:
        contacts.aggregate(group_by=["stage"], filter={"nope": 1})
    assert pointers(exc) == ["/filter/nope"]


def test_error_serializes_with_code_and_pointer(contacts: RecordService) -> None:
    error = assert_refused(contacts, {"score": {"lt": "abc"}}, "/filter/score/lt")
    data = error.to_dict()
    assert data["code"] == "invalid_query"
    assert data["problems"][0]["pointer"] == "/filter/score/lt"
    assert isinstance(error, XRMError)


INJECTIONS = [
    "name; drop table contact",
    "name) or 1=1 --",
    'name" --',
    "contact.name",
    "name'",
]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_sql_in_identifiers_is_an_unknown_field(
    contacts: RecordService, people: dict[str, dict[str, Any]], evil: str
) -> None:
    with pytest.raises(QueryError):
        contacts.query(filter={evil: "x"})
    with pytest.raises(QueryError):
        contacts.query(order=[evil])
    with pytest.raises(QueryError):
        contacts.query(order=[f"-{evil}"])
    with pytest.raises(QueryError):
        contacts.query(fields=[evil])
    with pytest.raises(QueryError):
        contacts.aggregate(group_by=[evil])
    with pytest.raises(QueryError):
        contacts.aggregate(measures={"m": f"max:{evil}"})
    assert contacts.count() == len(people)


def test_sql_in_values_is_only_a_value(
    contacts: RecordService, people: dict[str, dict[str, Any]]
) -> None:
    evil = people["eve"]["name"]
    assert [r["id"] for r in contacts.query(filter={"name": evil})] == [people["eve"]["id"]]
    assert contacts.count(filter={"name": "x' OR '1'='1"}) == 0
    assert contacts.count(filter={"name": {"in": ["'); DELETE FROM contact; --"]}}) == 0
    assert contacts.count(filter={"name": {"contains": "' OR 1=1 --"}}) == 0
    assert contacts.count() == len(people)


def test_measure_names_are_labels_not_sql(
    contacts: RecordService, people: dict[str, dict[str, Any]]
) -> None:
    rows = contacts.aggregate(measures={'n"; drop table contact; --': "count"})
    assert rows == [{'n"; drop table contact; --': len(people)}]
    assert contacts.count() == len(people)
