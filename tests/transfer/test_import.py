"""Importing CSV and JSON Lines: conversion by field kind, both modes, upserts, reports."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.transfer.conftest import jsonl, read_jsonl
from xrm_core import XRM
from xrm_core.errors import ImportRejected, InvalidFile, QueryError, UnknownEntity

Write = Callable[[str, str | bytes], Path]


def test_csv_cells_become_values_by_field_kind(crm: XRM, write: Write) -> None:
    acme = crm.records("account").create({"name": "Acme", "number": "A-1"})
    path = write(
        "people.csv",
        "name,email,age,vip,born,seen_at,salary,stage,channels,extra,account,regarding\n"
        "Ada,ada@example.org,36,true,1815-12-10,2024-05-01T10:00:00+02:00,1200.5,customer,"
        f'mail;sms,"{{""tier"": 2}}",{acme["id"]},account:{acme["id"]}\n'
        "Bob,,,,,,,,,,,\n",
    )

    job = crm.imports.run("contact", path)

    assert (job.status, job.created, job.rejected, job.rows_done) == ("completed", 2, 0, 2)
    ada, bob = crm.records("contact").query(order=["name"]).records
    assert ada["age"] == 36 and ada["vip"] is True
    assert ada["born"] == dt.date(1815, 12, 10)
    assert ada["seen_at"] == dt.datetime(2024, 5, 1, 8, tzinfo=dt.UTC)
    assert ada["salary"] == decimal.Decimal("1200.50")
    assert ada["channels"] == ["mail", "sms"] and ada["extra"] == {"tier": 2}
    assert ada["account"] == acme["id"]
    assert ada["regarding"] == {"entity": "account", "id": acme["id"]}
    # An empty cell is an empty value.
    assert bob["email"] is None and bob["age"] is None and bob["channels"] is None


def test_bad_rows_are_rejected_with_every_reason_and_good_rows_written(
    crm: XRM, write: Write
) -> None:
    path = write(
        "people.csv",
        "name,age,vip,born,extra,channels\n"
        "Ada,36,true,1815-12-10,,\n"
        "Bob,old,maybe,1815-13-01,{oops,fax\n"
        ",5,,,,\n"
        "Cy,7,false,,,mail\n",
    )
    report = path.with_name("rejected.jsonl")

    job = crm.imports.run("contact", path, report=report)

    assert (job.created, job.rejected) == (2, 2)
    names = [r["name"] for r in crm.records("contact").query(order=["name"])]
    assert names == ["Ada", "Cy"]
    bob, nameless = read_jsonl(report)
    assert bob["line"] == 3 and bob["row"]["age"] == "old"
    assert [p["pointer"] for p in bob["problems"]] == [
        "/age",
        "/vip",
        "/born",
        "/extra",
        "/channels/0",
    ]
    assert "valid integer" in bob["problems"][0]["message"]
    assert "not valid JSON" in bob["problems"][3]["message"]
    assert nameless == {
        "line": 4,
        "row": {"name": "", "age": "5", "vip": "", "born": "", "extra": "", "channels": ""},
        "problems": [{"pointer": "/name", "message": "is required"}],
    }


def test_a_csv_report_repeats_the_columns_with_the_line_and_the_problems(
    crm: XRM, write: Write
) -> None:
    path = write("people.csv", 'name,age\nAda,1\n"Bob, Jr.",x\n')

    job = crm.imports.run("contact", path, report=path.with_name("bad.csv"))

    assert job.report is not None
    assert Path(job.report).read_text(encoding="utf-8").splitlines() == [
        "line,name,age,problems",
        '3,"Bob, Jr.",x,"/age: Input should be a valid integer, unable to parse string as an '
        'integer"',
    ]


def test_all_or_nothing_writes_nothing_and_reports_every_bad_row(crm: XRM, write: Write) -> None:
    rows = [{"name": f"p{n}", "age": n} for n in range(25)]
    rows[3]["age"] = -1
    rows[21]["email"] = "nope"
    path = write("people.jsonl", jsonl(rows))

    with pytest.raises(ImportRejected) as caught:
        crm.imports.run(
            "contact", path, mode="all_or_nothing", batch_size=10, report=path.with_name("r.jsonl")
        )

    assert crm.records("contact").count() == 0
    assert [str(p) for p in caught.value.problems] == [
        "/line/4/age: Input should be greater than or equal to 0",
        "/line/22/email: String should match pattern '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'",
    ]
    job = crm.imports.get(caught.value.details["import_id"])
    assert (job.status, job.created, job.rejected) == ("failed", 0, 2)
    assert [r["line"] for r in read_jsonl(path.with_name("r.jsonl"))] == [4, 22]


def test_all_or_nothing_writes_everything_when_every_row_is_good(crm: XRM, write: Write) -> None:
    path = write("people.jsonl", jsonl({"name": f"p{n}"} for n in range(25)))

    job = crm.imports.run("contact", path, mode="all_or_nothing", batch_size=10)

    assert (job.status, job.created, job.rows_done) == ("completed", 25, 25)
    assert crm.records("contact").count() == 25


def test_upsert_by_alternate_key_updates_matches_and_creates_the_rest(
    crm: XRM, write: Write
) -> None:
    accounts = crm.records("account")
    acme = accounts.create({"name": "Acme", "number": "A-1"})
    path = write("accounts.csv", "number,name\nA-1,Acme Ltd\nB-2,Bolt\nB-2,Bolt & Co\n")

    job = crm.imports.run("account", path, key="by_number")

    assert (job.created, job.updated, job.rejected) == (1, 2, 0)
    assert accounts.get(acme["id"])["name"] == "Acme Ltd"
    assert [r["name"] for r in accounts.query(filter={"number": "B-2"})] == ["Bolt & Co"]


def test_a_lookup_can_be_given_by_a_unique_field_of_its_target(crm: XRM, write: Write) -> None:
    acme = crm.records("account").create({"name": "Acme", "number": "A-1"})
    path = write("people.csv", "name,account.number\nAda,A-1\nBob,Z-9\nCy,\n")

    job = crm.imports.run("contact", path, report=path.with_name("r.jsonl"))

    assert (job.created, job.rejected) == (2, 1)
    found = {r["name"]: r["account"] for r in crm.records("contact").query()}
    assert found == {"Ada": acme["id"], "Cy": None}
    (bob,) = read_jsonl(path.with_name("r.jsonl"))
    assert bob["problems"] == [
        {"pointer": "/account.number", "message": "no account with number 'Z-9'"}
    ]


def test_json_lines_rows_keep_their_json_types(crm: XRM, write: Write) -> None:
    path = write(
        "people.jsonl",
        jsonl([{"name": "Ada", "age": 36, "channels": ["mail"], "extra": {"a": [1]}}])
        + "\n"  # a blank line is no row
        + "not json\n"
        + "[1, 2]\n"
        + jsonl([{"name": "Bob", "age": "36", "shoe_size": 44}]),
    )

    job = crm.imports.run("contact", path, report=path.with_name("r.jsonl"))

    assert (job.created, job.rejected) == (1, 3)
    problems = [(r["line"], r["problems"]) for r in read_jsonl(path.with_name("r.jsonl"))]
    assert problems[0][0] == 3 and problems[0][1][0]["message"].startswith("is not JSON")
    assert problems[1] == (4, [{"pointer": "", "message": "must be a JSON object"}])
    assert problems[2] == (
        5,
        [{"pointer": "/shoe_size", "message": "is not a field of this entity"}],
    )


def test_a_stream_imports_like_a_file(crm: XRM) -> None:
    body = io.BytesIO(b"name,age\nAda,36\n")

    job = crm.imports.run("contact", body, format="csv", name="upload.csv")

    assert (job.source, job.created) == ("upload.csv", 1)


def test_rejections_can_be_read_back_and_reported_again(crm: XRM, write: Write) -> None:
    path = write("people.csv", "name,age\nAda,x\nBob,y\n")
    job = crm.imports.run("contact", path)

    assert [r.line for r in crm.imports.rejections(job.id)] == [2, 3]
    text = io.StringIO()
    assert crm.imports.write_report(job.id, text, format="jsonl") == 2
    assert [json.loads(line)["row"]["name"] for line in text.getvalue().splitlines()] == [
        "Ada",
        "Bob",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the CSV file has no header row"),
        ("name,,age\n", "the CSV header is not valid"),
        ("name,name\n", "the CSV header is not valid"),
        ("name,colour\n", "the header does not match the fields of 'contact'"),
        ("name,account.colour\n", "the header does not match the fields of 'contact'"),
        ("name,account,account.number\n", "the header does not match the fields of 'contact'"),
        (b"name\n\xff\xfe\n", "the file is not UTF-8 text"),
        ('name\n"Ada\n', "cannot read line 2"),
    ],
    ids=["empty", "blank", "repeated", "unknown", "unknown_key", "twice", "not_utf8", "quote"],
)
def test_a_bad_file_is_refused_with_one_clear_error(
    crm: XRM, write: Write, content: str | bytes, expected: str
) -> None:
    path = write("bad.csv", content)

    with pytest.raises(InvalidFile) as caught:
        crm.imports.run("contact", path)

    assert caught.value.message.startswith(expected)
    assert crm.records("contact").count() == 0


def test_bad_arguments_are_refused_before_anything_is_recorded(crm: XRM, write: Write) -> None:
    path = write("people.csv", "name\nAda\n")
    with pytest.raises(UnknownEntity):
        crm.imports.run("nobody", path)
    with pytest.raises(InvalidFile, match="cannot read"):
        crm.imports.run("contact", path.with_name("missing.csv"))
    with pytest.raises(InvalidFile, match="cannot tell the format"):
        crm.imports.run("contact", write("people.txt", "name\nAda\n"))
    with pytest.raises(QueryError, match="not an alternate key"):
        crm.imports.run("contact", path, key="by_colour")
    with pytest.raises(QueryError, match="batch size"):
        crm.imports.run("contact", path, batch_size=0)
    assert crm.imports.find() == []
