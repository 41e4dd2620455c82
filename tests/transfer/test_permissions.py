"""Imports are made as the caller: privileges, field security and visibility of imports apply."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.transfer.conftest import jsonl, read_jsonl
from xrm_core import XRM, AccessDenied
from xrm_core.errors import ImportStateError

Write = Callable[[str, str | bytes], Path]


def _user(crm: XRM, name: str, *cells: tuple[str, str, str]) -> XRM:
    crm.security.create_role(name, list(cells))
    return crm.as_user(crm.security.create_user(name, roles=[name]))


def test_a_user_without_the_create_privilege_is_refused(crm: XRM, write: Write) -> None:
    reader = _user(crm, "reader", ("contact", "read", "organization"))
    path = write("people.csv", "name\nAda\n")

    with pytest.raises(AccessDenied, match="create privilege"):
        reader.imports.run("contact", path)

    assert crm.records("contact").count() == 0
    assert crm.imports.find() == []


def test_rows_are_written_as_the_importing_user(crm: XRM, write: Write) -> None:
    clerk = _user(crm, "clerk", ("contact", "create", "own"), ("contact", "read", "own"))
    path = write("people.csv", "name\nAda\n")

    job = clerk.imports.run("contact", path)

    (ada,) = crm.records("contact").query().records
    assert ada["created_by"] == clerk.caller.user_id == job.started_by  # type: ignore[union-attr]
    assert ada["owner_id"] == clerk.caller.user_id  # type: ignore[union-attr]


def test_a_secured_column_the_user_may_not_write_refuses_the_file(crm: XRM, write: Write) -> None:
    clerk = _user(crm, "clerk", ("account", "create", "organization"))
    path = write("accounts.csv", "name,credit_limit\nAcme,9000\n")

    with pytest.raises(AccessDenied) as caught:
        clerk.imports.run("account", path)

    assert [str(p) for p in caught.value.problems] == [
        "/credit_limit: secured: no permission to create"
    ]
    assert crm.records("account").count() == 0


def test_a_secured_key_in_a_json_line_rejects_that_row(crm: XRM, write: Write) -> None:
    clerk = _user(crm, "clerk", ("account", "create", "organization"))
    path = write("accounts.jsonl", jsonl([{"name": "Acme"}, {"name": "Bolt", "credit_limit": 1}]))

    job = clerk.imports.run("account", path, report=path.with_name("r.jsonl"))

    assert (job.created, job.rejected) == (1, 1)
    (bolt,) = read_jsonl(path.with_name("r.jsonl"))
    assert bolt["problems"] == [
        {"pointer": "/credit_limit", "message": "secured: no permission to create"}
    ]


def test_the_system_context_writes_secured_fields(crm: XRM, write: Write) -> None:
    path = write("accounts.csv", "name,credit_limit\nAcme,9000\n")
    assert crm.imports.run("account", path).created == 1


def test_a_lookup_key_names_only_records_the_user_may_read(crm: XRM, write: Write) -> None:
    crm.records("account").create({"name": "Hidden", "number": "H-1"})
    clerk = _user(crm, "clerk", ("contact", "create", "own"), ("account", "read", "own"))
    path = write("people.csv", "name,account.number\nAda,H-1\n")

    job = clerk.imports.run("contact", path)

    assert (job.created, job.rejected) == (0, 1)
    (rejection,) = clerk.imports.rejections(job.id)
    assert [p.message for p in rejection.problems] == ["no account with number 'H-1'"]


def test_an_import_is_seen_by_who_started_it_and_administrators(crm: XRM, write: Write) -> None:
    clerk = _user(crm, "clerk", ("contact", "create", "own"))
    other = _user(crm, "other", ("contact", "create", "own"))
    job = clerk.imports.run("contact", write("people.csv", "name\nAda\n"))

    assert clerk.imports.get(job.id).id == crm.imports.get(job.id).id == job.id
    with pytest.raises(ImportStateError, match="no import"):
        other.imports.get(job.id)
    assert other.imports.find() == []
