"""``xrm import`` and ``xrm export``: summaries, exit codes, one-line errors, --as-user."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from xrm_core import XRM
from xrm_core.cli import main

Write = Callable[[str, str | bytes], Path]


def xrm_command(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--db", db_url])


def test_ten_thousand_rows_import_and_export_back(crm: XRM, db_url: str, write: Write) -> None:
    path = write(
        "people.csv",
        "name,email,age\n" + "".join(f"p{n:05},p{n}@example.org,{n % 90}\n" for n in range(10_000)),
    )

    result = xrm_command(db_url, "import", "contact", str(path), "--batch", "2000")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"imported {path} into contact: 10000 created, 0 updated, 0 rejected (import "
    )
    assert crm.records("contact").count() == 10_000
    out = path.with_name("out.csv")
    result = xrm_command(
        db_url, "export", "contact", str(out), "--fields", "name,email,age", "--order", "name"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"exported 10000 contact records to {out}\n"
    assert out.read_text() == path.read_text()


def test_rejected_rows_exit_1_and_name_the_report(crm: XRM, db_url: str, write: Write) -> None:
    path = write("people.jsonl", '{"name": "Ada"}\n{"name": "Bob", "age": "old"}\n')

    result = xrm_command(db_url, "import", "contact", str(path))

    assert result.exit_code == 1
    report = path.with_name("people.rejected.jsonl")
    assert f"1 created, 0 updated, 1 rejected; report: {report}" in result.stdout
    assert '"line":2' in report.read_text()


def test_all_or_nothing_with_a_bad_row_writes_nothing(crm: XRM, db_url: str, write: Write) -> None:
    path = write("people.csv", "name,age\nAda,1\nBob,old\n")

    result = xrm_command(db_url, "import", "contact", str(path), "--all-or-nothing")

    assert result.exit_code == 1
    report = path.with_name("people.rejected.csv")
    # Above it, the progress bar (on a terminal it redraws; here its label is printed once).
    assert (
        result.stderr.splitlines()[-1] == f"nothing written: 1 rows are not valid; report: {report}"
    )
    assert crm.records("contact").count() == 0


def test_upsert_by_key_from_the_command_line(crm: XRM, db_url: str, write: Write) -> None:
    crm.records("account").create({"name": "Acme", "number": "A-1"})
    path = write("accounts.csv", "number,name\nA-1,Acme Ltd\nB-2,Bolt\n")

    result = xrm_command(db_url, "import", "account", str(path), "--key", "number")

    assert result.exit_code == 0, result.output
    assert "1 created, 1 updated, 0 rejected" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["import", "nobody", "{csv}"], "error [unknown_entity]: no entity called 'nobody'"),
        (["import", "contact", "{missing}"], "error [invalid_file]: cannot read {missing}: "),
        (
            ["import", "contact", "{bad}"],
            "error [invalid_file]: the header does not match the fields of 'contact': "
            "/header/1: 'colour' is not a field of 'contact'",
        ),
        (["import", "contact", "{csv}", "--key", "nope"], "error [invalid_query]: 'nope' is not"),
        (["export", "contact", "{out}", "--filter", "{"], "--filter is not readable JSON"),
        (["export", "contact", "{out}", "--filter", '{"colour": 1}'], "error [invalid_query]"),
        (["import", "contact", "{csv}", "--as-user", "nobody"], "Error: no user called 'nobody'"),
    ],
    ids=["entity", "missing", "header", "key", "filter_json", "filter", "user"],
)
def test_a_bad_input_is_one_line_and_exit_1(
    crm: XRM, db_url: str, write: Write, args: list[str], expected: str
) -> None:
    names = {
        "csv": str(write("people.csv", "name\nAda\n")),
        "bad": str(write("bad.csv", "name,colour\nAda,red\n")),
        "missing": str(write("people.csv", "").with_name("missing.csv")),
        "out": str(write("people.csv", "").with_name("out.csv")),
    }

    def filled(text: str) -> str:
        for name, value in names.items():
            text = text.replace("{" + name + "}", value)
        return text

    result = xrm_command(db_url, *map(filled, args))

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(filled(expected))
    assert crm.records("contact").count() == 0


def test_as_user_imports_and_exports_with_their_permissions(
    crm: XRM, db_url: str, write: Write
) -> None:
    crm.security.create_role("reader", [("account", "read", "organization")])
    crm.security.create_user("rita", roles=["reader"])
    crm.records("account").create({"name": "Acme", "credit_limit": "9000"})
    path = write("accounts.csv", "name\nBolt\n")

    result = xrm_command(db_url, "import", "account", str(path), "--as-user", "rita")
    assert result.exit_code == 1
    assert result.stderr.startswith("error [access_denied]: you do not have the create privilege")

    result = xrm_command(db_url, "export", "account", "-", "--as-user", "rita")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "id,name,number"
    assert "left out secured fields: credit_limit" in result.stderr
