"""Searching the whole audit log (``xrm.audit.search``): every filter, pages, who may."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from xrm_core import XRM, QueryError
from xrm_core.audit.log import audit_table
from xrm_core.errors import AccessDenied

ACCOUNT = {"x-xrm": {"name": "account"}, "properties": {"name": {"type": "string"}}}
NOTE = {"x-xrm": {"name": "note"}, "properties": {"text": {"type": "string"}}}


def test_search_combines_entity_record_actor_and_time(xrm: XRM) -> None:
    xrm.metadata.define([ACCOUNT, NOTE])
    xrm.security.install()
    ada = xrm.security.create_user("ada", roles=["System Administrator"])
    acme = xrm.records("account").create({"name": "Acme"})
    mine = xrm.as_user(ada).records("account").create({"name": "Ada's"})
    xrm.records("note").create({"text": "hello"})
    audit = xrm.audit

    assert [e.record_id for e in audit.search(entity="account", actor_id=ada)] == [mine["id"]]
    assert [e.operation for e in audit.search(entity="account", record_id=acme["id"])] == ["create"]
    newest = audit.search(limit=1)[0]
    assert (newest.entity, newest.operation) == ("note", "create")
    assert audit.search(since=newest.at, until=newest.at + dt.timedelta(seconds=1)) == [newest]
    assert audit.search(until=newest.at, entity="note") == [
        e for e in audit.search(entity="note") if e.at < newest.at
    ]
    older = audit.search(entity="account", limit=1)
    rest = audit.search(entity="account", cursor=older[-1].cursor)
    assert [e.id for e in older + rest] == [e.id for e in audit.search(entity="account")]


def test_search_refuses_a_backwards_period_and_bad_ids(xrm: XRM) -> None:
    start = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    with pytest.raises(QueryError) as backwards:
        xrm.audit.search(since=start, until=start)
    assert [p.pointer for p in backwards.value.problems] == ["/until"]
    with pytest.raises(QueryError) as bad:
        xrm.audit.search(record_id="not-an-id")
    assert [p.pointer for p in bad.value.problems] == ["/record_id"]


def test_only_administrators_search_the_whole_log(xrm: XRM) -> None:
    xrm.security.install()
    clerk = xrm.security.create_user("clerk", roles=["Basic User"])
    with pytest.raises(AccessDenied):
        xrm.as_user(clerk).audit.search()


def _audit_indexes(xrm: XRM) -> dict[str, list[str]]:
    with xrm.db.transaction(write=False) as conn:
        found = sa.inspect(conn).get_indexes(audit_table.name)
    return {str(i["name"]): [str(c) for c in i["column_names"]] for i in found}


def test_a_search_by_time_has_an_index_and_an_older_database_gets_it_on_upgrade(
    xrm: XRM,
) -> None:
    assert _audit_indexes(xrm)["ix_xrm_audit_at"] == ["at", "id"]  # a new database
    (by_time,) = [i for i in audit_table.indexes if i.name == "ix_xrm_audit_at"]
    with xrm.db.transaction() as conn:  # as a database made before the index was
        by_time.drop(conn)
    assert "ix_xrm_audit_at" not in _audit_indexes(xrm)

    xrm.security.install()  # what `xrm db upgrade` runs

    assert _audit_indexes(xrm)["ix_xrm_audit_at"] == ["at", "id"]
    xrm.security.install()  # again: nothing left to add, nothing refused
    assert _audit_indexes(xrm)["ix_xrm_audit_at"] == ["at", "id"]
