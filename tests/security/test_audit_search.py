"""Searching the whole audit log (``xrm.audit.search``): every filter, pages, who may."""

from __future__ import annotations

import datetime as dt

import pytest

from xrm_core import XRM, QueryError
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
