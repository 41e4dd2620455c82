"""The database layer: engine settings, nested units of work, concurrent writers."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from xrm_core import XRM, BrokenReference
from xrm_core.storage.database import Database

NOTE = {"x-xrm": {"name": "note"}, "properties": {"text": {"type": "string"}}}


def test_sqlite_runs_in_wal_mode_with_foreign_keys_enforced(sqlite_url: str) -> None:
    db = Database.from_url(sqlite_url)
    try:
        with db.transaction(write=False) as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()


def test_postgresql_sessions_use_utc(xrm: XRM) -> None:
    if xrm.db.dialect != "postgresql":
        assert xrm.db.dialect == "sqlite"  # SQLite has no session time zone
        return
    with xrm.db.transaction(write=False) as conn:
        assert conn.exec_driver_sql("SHOW TIME ZONE").scalar() == "UTC"


def test_an_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        Database.from_url("mysql://nobody@localhost/nothing")


def test_calls_inside_a_unit_of_work_share_its_fate(xrm: XRM) -> None:
    xrm.metadata.define(NOTE)
    notes = xrm.records("note")
    with pytest.raises(BrokenReference), xrm.transaction():
        notes.create({"text": "first"})
        notes.create_many([{"text": "second"}, {"text": "third"}])
        raise BrokenReference("stop here")

    assert notes.count() == 0
    with xrm.transaction():
        notes.create({"text": "kept"})
    assert [r["text"] for r in notes.query()] == ["kept"]


def test_a_failed_call_inside_a_unit_of_work_leaves_the_rest_usable(xrm: XRM) -> None:
    xrm.metadata.define(
        {
            "x-xrm": {"name": "note"},
            "properties": {"text": {"type": "string", "x-xrm": {"unique": True}}},
        }
    )
    notes = xrm.records("note")
    with xrm.transaction():
        notes.create({"text": "a"})
        with pytest.raises(Exception, match="already has this text"):
            notes.create({"text": "a"})
        notes.create({"text": "b"})
    assert sorted(r["text"] for r in notes.query()) == ["a", "b"]


def test_a_schema_change_cannot_join_a_record_transaction(xrm: XRM) -> None:
    xrm.metadata.define(NOTE)
    with pytest.raises(RuntimeError, match="cannot join"), xrm.transaction():
        xrm.metadata.define(
            {**NOTE, "properties": {"text": {"type": "string"}, "n": {"type": "integer"}}}
        )
    assert not xrm.metadata.get("note").has_field("n")


def test_concurrent_writers_all_succeed(xrm: XRM) -> None:
    xrm.metadata.define(NOTE)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(worker: int) -> None:
        try:
            notes = xrm.records("note")
            start.wait()
            for i in range(50):
                notes.create({"text": f"{worker}-{i}"})
                notes.update(
                    notes.query(filter={"text": f"{worker}-{i}"}).records[0]["id"],
                    {"text": f"{worker}-{i}!"},
                    if_version=1,
                )
        except BaseException as exc:  # reported below, with the worker's failure
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert xrm.records("note").count(filter={"text": {"contains": "!"}}) == 200


def test_a_writer_kept_out_by_another_gets_sqlalchemys_error(sqlite_url: str) -> None:
    # The worker and the API catch sqlalchemy's OperationalError ("the database
    # is not answering"); a BEGIN sent straight to the driver must raise it too.
    holder = Database.from_url(sqlite_url)
    waiter = Database.from_url(sqlite_url)

    @sa.event.listens_for(waiter.engine, "connect")
    def give_up_at_once(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    try:
        with holder.transaction() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            with pytest.raises(sa.exc.OperationalError, match="locked"), waiter.transaction():
                pass
        with waiter.transaction() as conn:  # and it works once the lock is gone
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        holder.dispose()
        waiter.dispose()
