"""Exporting any query, and the round trip: export, import into a fresh database, same records."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from tests.transfer.conftest import ACCOUNT, CONTACT, fields_of, read_jsonl
from xrm_core import XRM, AccessDenied, QueryError


def _people(crm: XRM) -> None:
    accounts = crm.records("account")
    acme = accounts.create({"name": "Acme", "number": "A-1", "credit_limit": "9000"})
    bolt = accounts.create({"name": "Bolt", "number": "B-2"})
    crm.records("contact").create_many(
        [
            {
                "name": 'Ada, "the first"\nprogrammer',
                "email": "ada@example.org",
                "age": 36,
                "vip": True,
                "born": dt.date(1815, 12, 10),
                "seen_at": dt.datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=dt.UTC),
                "salary": "1200.5",
                "stage": "customer",
                "channels": ["mail", "sms"],
                "extra": {"tier": 2, "tags": ["a;b", None], "note": "naïve"},
                "account": acme["id"],
                "regarding": {"entity": "account", "id": bolt["id"]},
            },
            {"name": "Bob", "vip": False, "extra": "just text", "channels": []},
            {"name": "Cy", "extra": 0, "age": 0},
        ]
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_then_import_into_a_fresh_database_gives_the_same_records(
    crm: XRM, tmp_path: Path, fmt: str
) -> None:
    _people(crm)
    fresh = XRM.from_url(f"sqlite:///{tmp_path}/fresh.db", export_dir=tmp_path).as_system("t")
    try:
        fresh.metadata.define([ACCOUNT, CONTACT])
        for entity in ("account", "contact"):
            path = tmp_path / f"{entity}.{fmt}"
            result = crm.exports.run(entity, path)
            assert result.rows == crm.records(entity).count()
            job = fresh.imports.run(entity, path)
            assert (job.created, job.rejected) == (result.rows, 0)
            assert fields_of(fresh, entity) == fields_of(crm, entity)
    finally:
        fresh.close()


def test_export_streams_any_filter_order_and_fields_page_by_page(crm: XRM, tmp_path: Path) -> None:
    crm.records("contact").create_many([{"name": f"p{n:03}", "age": n % 7} for n in range(250)])
    path = tmp_path / "out.csv"
    pages: list[int] = []

    result = crm.exports.run(
        "contact",
        path,
        filter={"age": {"ge": 5}},
        order=["-age", "name"],
        fields=["name", "age"],
        page_size=20,
        on_progress=pages.append,
    )

    lines = path.read_text().splitlines()
    assert lines[0] == "name,age"
    expected = sorted(
        ((f"p{n:03}", n % 7) for n in range(250) if n % 7 >= 5), key=lambda r: (-r[1], r[0])
    )
    assert lines[1:] == [f"{name},{age}" for name, age in expected]
    assert result.rows == len(expected) and pages[-1] == len(expected)
    assert len(pages) == -(-len(expected) // 20)


def test_a_lookup_exports_by_a_unique_field_of_its_target(crm: XRM, tmp_path: Path) -> None:
    _people(crm)
    path = tmp_path / "out.jsonl"

    crm.exports.run("contact", path, fields=["name", "account.number"], order=["name"])

    assert [r["account.number"] for r in read_jsonl(path)] == ["A-1", None, None]
    with pytest.raises(QueryError, match="not valid"):
        crm.exports.run("contact", path, fields=["account.name"])


def test_a_bad_query_leaves_no_file(crm: XRM, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(QueryError):
        crm.exports.run("contact", out / "contacts.csv", filter={"colour": "red"})
    assert list(out.iterdir()) == []


def test_export_to_a_text_stream(crm: XRM) -> None:
    crm.records("account").create({"name": "Acme", "number": "A-1"})
    out = io.StringIO()

    crm.exports.run("account", out, format="csv", fields=["number", "name"])

    assert out.getvalue() == "number,name\nA-1,Acme\n"


def test_export_leaves_out_secured_fields_the_caller_may_not_read(crm: XRM, tmp_path: Path) -> None:
    _people(crm)
    crm.security.create_role("reader", [("account", "read", "organization")])
    reader = crm.as_user(crm.security.create_user("rita", roles=["reader"]))
    path = tmp_path / "accounts.csv"

    result = reader.exports.run("account", path, order=["name"])

    assert result.omitted == ("credit_limit",)
    assert path.read_text().splitlines()[0] == "id,name,number"
    assert [line.split(",")[1] for line in path.read_text().splitlines()[1:]] == ["Acme", "Bolt"]
    with pytest.raises(AccessDenied):
        reader.exports.run("account", path, fields=["name", "credit_limit"])


def test_a_field_list_holding_other_than_names_is_a_clear_error(crm: XRM, tmp_path: Path) -> None:
    target = tmp_path / "people.csv"
    with pytest.raises(QueryError) as refused:
        crm.exports.run("contact", target, fields=["name", 3])  # type: ignore[list-item]
    assert [p.pointer for p in refused.value.problems] == ["/fields/1"]
    assert not target.exists()
