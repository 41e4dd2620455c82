"""The audit log: who changed what and when, read back per record and per user; restore.

On SQLite and PostgreSQL. The CRM here: ``account`` (``notes`` not audited),
``contact`` (``account`` cascades, ``manager`` and the polymorphic ``regarding``
set null, ``salary`` secured) and ``tag`` (not audited at all).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from xrm_core import XRM, QueryError, RecordNotFound, RecordValidationError
from xrm_core.audit import AuditEntry, AuditLog, AuditView, audit_table
from xrm_core.errors import AccessDenied
from xrm_core.security.caller import Caller

ACCOUNT = {
    "x-xrm": {"name": "account"},
    "properties": {
        "name": {"type": "string"},
        "revenue": {"x-xrm": {"kind": "money"}},
        "founded": {"type": "string", "format": "date"},
        "industry": {"enum": ["retail", "tech"]},
        "notes": {"type": "string", "x-xrm": {"audit": False}},
        "labels": {"type": "array", "items": {"enum": ["key", "new"]}},
        "extra": {"type": "object"},
    },
    "required": ["name"],
}
CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {
        "name": {"type": "string"},
        "account": {"x-xrm": {"kind": "lookup", "target": "account", "on_delete": "cascade"}},
        "manager": {"x-xrm": {"kind": "lookup", "target": "contact"}},
        "regarding": {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["account", "contact"]}},
        "last_call": {"type": "string", "format": "date-time"},
        "salary": {"x-xrm": {"kind": "money", "secured": True}},
    },
    "required": ["name"],
}
TAG = {"x-xrm": {"name": "tag", "audit": False}, "properties": {"label": {"type": "string"}}}


@pytest.fixture
def log(xrm: XRM) -> AuditLog:
    """The XRM's own log, read without permission checks."""
    return xrm.audit_log


@pytest.fixture
def sales(xrm: XRM, log: AuditLog) -> XRM:
    xrm.metadata.define([ACCOUNT, CONTACT, TAG])
    return xrm


def audit_rows(xrm: XRM) -> int:
    with xrm.db.transaction(write=False) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_table)).scalar_one())


def ops(entries: list[AuditEntry]) -> list[str]:
    return [e.operation for e in entries]


# -- what is written ---------------------------------------------------------


def test_a_create_logs_every_value_given_with_the_actor_and_a_correlation_id(
    sales: XRM, log: AuditLog
) -> None:
    acme = sales.records("account").create(
        {"name": "Acme", "revenue": "1200.5", "founded": "1999-04-01", "industry": "tech"}
    )

    (entry,) = log.for_record("account", acme["id"])

    assert entry.operation == "create"
    assert (entry.entity, entry.record_id) == ("account", acme["id"])
    assert (entry.actor_type, entry.actor_id, entry.reason) == ("system", None, "tests")
    assert entry.correlation_id
    assert entry.changes == {
        "name": {"old": None, "new": "Acme"},
        "revenue": {"old": None, "new": decimal.Decimal("1200.50")},
        "founded": {"old": None, "new": dt.date(1999, 4, 1)},
        "industry": {"old": None, "new": "tech"},
    }
    assert entry.at.tzinfo is not None
    assert abs(entry.at - acme["created_at"]) < dt.timedelta(minutes=1)


def test_an_update_logs_only_the_fields_that_changed_old_and_new(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    acme = accounts.create({"name": "Acme", "revenue": "10", "industry": "tech"})

    accounts.update(acme["id"], {"name": "Acme Ltd", "revenue": "10.00", "industry": None})

    latest = log.for_record("account", acme["id"])[0]
    assert latest.operation == "update"
    assert latest.changes == {
        "name": {"old": "Acme", "new": "Acme Ltd"},
        "industry": {"old": "tech", "new": None},
    }


def test_an_update_that_changes_nothing_audited_leaves_no_entry(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    acme = accounts.create({"name": "Acme"})

    accounts.update(acme["id"], {"name": "Acme"})
    accounts.update(acme["id"], {"notes": "not audited"})

    assert ops(log.for_record("account", acme["id"])) == ["create"]


def test_lookup_values_come_back_as_ids_and_references(sales: XRM, log: AuditLog) -> None:
    acme = sales.records("account").create({"name": "Acme"})
    contacts = sales.records("contact")
    boss = contacts.create({"name": "Boss"})
    when = dt.datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    ada = contacts.create(
        {
            "name": "Ada",
            "account": acme["id"],
            "manager": boss["id"],
            "regarding": {"entity": "account", "id": acme["id"]},
            "last_call": when.isoformat(),
        }
    )

    changes = log.for_record("contact", ada["id"])[0].changes

    assert changes["account"]["new"] == acme["id"]
    assert changes["manager"]["new"] == boss["id"]
    assert changes["regarding"]["new"] == {"entity": "account", "id": acme["id"]}
    assert changes["last_call"]["new"] == when


def test_lists_and_json_values_are_kept_as_they_are(sales: XRM, log: AuditLog) -> None:
    extra = {"size": [1, 2.5, None], "ünïcode": "✓", "nested": {"ok": True}}
    acme = sales.records("account").create({"name": "Acme", "labels": ["new"], "extra": extra})

    changes = log.for_record("account", acme["id"])[0].changes

    assert changes["labels"]["new"] == ["new"]
    assert changes["extra"]["new"] == extra


def test_a_bulk_create_logs_one_entry_per_record_in_one_unit_of_work(
    sales: XRM, log: AuditLog
) -> None:
    result = sales.records("account").create_many([{"name": f"A{i}"} for i in range(5)])

    entries = [log.for_record("account", r.record["id"]) for r in result.succeeded if r.record]

    assert [ops(e) for e in entries] == [["create"]] * 5
    assert len({e[0].correlation_id for e in entries}) == 1
    assert [e.changes["name"]["new"] for e in log.by_correlation(entries[0][0].correlation_id)] == [
        f"A{i}" for i in range(5)
    ]


def test_one_transaction_shares_one_correlation_id(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    with sales.transaction():
        a = accounts.create({"name": "A"})
        accounts.update(a["id"], {"name": "A2"})
        b = accounts.create({"name": "B"})
    c = accounts.create({"name": "C"})

    together = log.for_record("account", a["id"]) + log.for_record("account", b["id"])
    alone = log.for_record("account", c["id"])[0]

    assert len({e.correlation_id for e in together}) == 1
    assert alone.correlation_id != together[0].correlation_id
    story = log.by_correlation(together[0].correlation_id)
    assert [(e.record_id, e.operation) for e in story] == [
        (a["id"], "create"),
        (a["id"], "update"),
        (b["id"], "create"),
    ]


def test_a_rolled_back_write_leaves_no_entry(sales: XRM, log: AuditLog) -> None:
    before = audit_rows(sales)
    with pytest.raises(RuntimeError), sales.transaction():
        sales.records("account").create({"name": "Gone"})
        raise RuntimeError("changed my mind")

    assert audit_rows(sales) == before


# -- switching it off --------------------------------------------------------


def test_an_entity_not_audited_leaves_no_entries(sales: XRM, log: AuditLog) -> None:
    tags = sales.records("tag")
    before = audit_rows(sales)

    vip = tags.create({"label": "vip"})
    tags.update(vip["id"], {"label": "VIP"})
    tags.delete(vip["id"])

    assert audit_rows(sales) == before
    assert log.for_record("tag", vip["id"]) == []


def test_a_field_not_audited_is_left_out_of_every_entry(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    acme = accounts.create({"name": "Acme", "notes": "secret plans"})
    accounts.update(acme["id"], {"name": "Acme 2", "notes": "more plans"})
    accounts.delete(acme["id"])

    entries = log.for_record("account", acme["id"])

    assert ops(entries) == ["delete", "update", "create"]
    assert all("notes" not in e.changes for e in entries)


def test_switching_audit_off_for_an_entity_takes_effect_at_once(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    acme = accounts.create({"name": "Acme"})

    sales.metadata.define({**ACCOUNT, "x-xrm": {"name": "account", "audit": False}})
    accounts.update(acme["id"], {"name": "Acme 2"})

    assert ops(log.for_record("account", acme["id"])) == ["create"]


# -- reading -----------------------------------------------------------------


def test_a_records_history_pages_newest_first(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    acme = accounts.create({"name": "v0"})
    for n in range(1, 6):
        accounts.update(acme["id"], {"name": f"v{n}"})

    pages: list[list[AuditEntry]] = []
    cursor = None
    while True:
        page = log.for_record("account", acme["id"], limit=2, cursor=cursor)
        if not page:
            break
        pages.append(page)
        cursor = page[-1].cursor

    assert [len(p) for p in pages] == [2, 2, 2]
    names = [e.changes["name"]["new"] for p in pages for e in p]
    assert names == ["v5", "v4", "v3", "v2", "v1", "v0"]


def test_a_users_actions_are_listed_newest_first_within_a_time_window(
    sales: XRM, log: AuditLog
) -> None:
    sales.security.install()
    ada = sales.security.create_user("ada", roles=["Basic User"])
    as_ada = sales.as_user(ada).records("account")
    first = as_ada.create({"name": "First"})
    second = as_ada.create({"name": "Second"})
    as_ada.update(first["id"], {"name": "First again"})
    sales.records("account").create({"name": "Not by Ada"})

    everything = log.by_user(ada)
    assert [(e.record_id, e.operation) for e in everything] == [
        (first["id"], "update"),
        (second["id"], "create"),
        (first["id"], "create"),
    ]
    assert {(e.actor_type, e.actor_id, e.reason) for e in everything} == {("user", ada, None)}

    middle = everything[1].at
    assert [e.id for e in log.by_user(ada, since=middle)] == [e.id for e in everything[:2]]
    assert [e.id for e in log.by_user(ada, until=middle)] == [everything[2].id]
    assert [e.id for e in log.by_user(ada, limit=1, cursor=everything[0].cursor)] == [
        everything[1].id
    ]


@pytest.mark.parametrize(
    ("options", "pointer"),
    [
        ({"limit": 0}, "/limit"),
        ({"limit": 1001}, "/limit"),
        ({"cursor": "not a cursor"}, "/cursor"),
        ({"cursor": "WyJ4Il0="}, "/cursor"),  # base64 of ["x"]
    ],
)
def test_a_bad_page_request_is_refused_clearly(
    sales: XRM, log: AuditLog, options: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(QueryError) as raised:
        log.for_record("account", uuid.uuid4(), **options)

    assert [p.pointer for p in raised.value.problems] == [pointer]


# -- delete ------------------------------------------------------------------


def test_a_delete_logs_the_whole_record_and_its_cascade(sales: XRM, log: AuditLog) -> None:
    acme = sales.records("account").create({"name": "Acme", "revenue": "5"})
    contacts = sales.records("contact")
    ada = contacts.create({"name": "Ada", "account": acme["id"]})
    bob = contacts.create({"name": "Bob", "manager": ada["id"]})
    carol = contacts.create({"name": "Carol", "regarding": {"entity": "account", "id": acme["id"]}})

    report = sales.records("account").delete(acme["id"])

    assert report.deleted == {"account": 1, "contact": 1}
    gone = log.for_record("account", acme["id"])[0]
    assert gone.operation == "delete"
    assert gone.changes["name"] == {"old": "Acme", "new": None}
    assert gone.changes["revenue"] == {"old": decimal.Decimal("5.00"), "new": None}
    assert gone.changes["id"] == {"old": acme["id"], "new": None}
    assert gone.changes["created_at"] == {"old": acme["created_at"], "new": None}
    child = log.for_record("contact", ada["id"])[0]
    assert child.operation == "delete"
    assert child.changes["account"] == {"old": acme["id"], "new": None}
    # What set null cleared is an update of that field.
    cleared = log.for_record("contact", bob["id"])[0]
    assert (cleared.operation, cleared.changes) == (
        "update",
        {"manager": {"old": ada["id"], "new": None}},
    )
    regarding = log.for_record("contact", carol["id"])[0]
    assert regarding.changes == {
        "regarding": {"old": {"entity": "account", "id": acme["id"]}, "new": None}
    }
    assert len({gone.correlation_id, child.correlation_id, cleared.correlation_id}) == 1


def test_a_dry_run_delete_leaves_no_entries(sales: XRM, log: AuditLog) -> None:
    acme = sales.records("account").create({"name": "Acme"})
    sales.records("contact").create({"name": "Ada", "account": acme["id"]})
    before = audit_rows(sales)

    report = sales.records("account").delete(acme["id"], dry_run=True)

    assert report.deleted == {"account": 1, "contact": 1}
    assert audit_rows(sales) == before


# -- restore -----------------------------------------------------------------


def test_a_deleted_record_comes_back_as_it_was(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    acme = accounts.create({"name": "Acme", "revenue": "12.5", "founded": "2001-02-03"})
    accounts.update(acme["id"], {"industry": "retail"})
    accounts.delete(acme["id"])

    report = accounts.restore(acme["id"])

    back = accounts.get(acme["id"])
    assert report.record == back
    assert report.cleared_lookups == []
    assert back["id"] == acme["id"]
    assert back["created_at"] == acme["created_at"]
    assert (back["name"], back["revenue"], back["founded"], back["industry"]) == (
        "Acme",
        decimal.Decimal("12.50"),
        dt.date(2001, 2, 3),
        "retail",
    )
    assert back["version"] == 1
    assert back["updated_at"] > acme["updated_at"]
    assert ops(log.for_record("account", acme["id"])) == ["restore", "delete", "update", "create"]


def test_a_restore_clears_lookups_whose_record_is_gone_and_says_which(
    sales: XRM, log: AuditLog
) -> None:
    acme = sales.records("account").create({"name": "Acme"})
    contacts = sales.records("contact")
    boss = contacts.create({"name": "Boss"})
    ada = contacts.create(
        {
            "name": "Ada",
            "account": acme["id"],
            "manager": boss["id"],
            "regarding": {"entity": "contact", "id": boss["id"]},
        }
    )
    contacts.delete(ada["id"])
    contacts.delete(boss["id"])

    report = contacts.restore(ada["id"])

    assert report.cleared_lookups == ["manager", "regarding"]
    back = contacts.get(ada["id"])
    assert (back["account"], back["manager"], back["regarding"]) == (acme["id"], None, None)


def test_a_cascade_is_undone_parent_first(sales: XRM, log: AuditLog) -> None:
    accounts, contacts = sales.records("account"), sales.records("contact")
    acme = accounts.create({"name": "Acme"})
    ada = contacts.create({"name": "Ada", "account": acme["id"]})
    accounts.delete(acme["id"])

    accounts.restore(acme["id"])
    report = contacts.restore(ada["id"])

    assert report.cleared_lookups == []
    assert contacts.get(ada["id"])["account"] == acme["id"]


def test_a_record_that_exists_is_not_restored(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    acme = accounts.create({"name": "Acme"})
    accounts.delete(acme["id"])
    accounts.restore(acme["id"])

    with pytest.raises(RecordNotFound) as raised:
        accounts.restore(acme["id"])

    assert "exists" in raised.value.message
    assert ops(log.for_record("account", acme["id"])) == ["restore", "delete", "create"]


def test_a_record_never_deleted_cannot_be_restored(sales: XRM, log: AuditLog) -> None:
    with pytest.raises(RecordNotFound):
        sales.records("account").restore(uuid.uuid4())
    with pytest.raises(RecordNotFound):
        sales.records("account").restore("not an id")


def test_a_restore_follows_the_definition_as_it_is_now(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    acme = accounts.create({"name": "Acme", "industry": "tech"})
    accounts.delete(acme["id"])
    properties = {k: v for k, v in ACCOUNT["properties"].items() if k != "industry"}
    properties["tier"] = {"type": "integer", "default": 3}
    sales.metadata.define({**ACCOUNT, "properties": properties}, confirm=True)

    back = accounts.restore(acme["id"]).record

    assert "industry" not in back
    assert (back["name"], back["tier"]) == ("Acme", 3)


def test_a_restore_names_required_fields_added_since(sales: XRM, log: AuditLog) -> None:
    accounts = sales.records("account")
    acme = accounts.create({"name": "Acme"})
    accounts.delete(acme["id"])
    properties = {**ACCOUNT["properties"], "code": {"type": "string"}}
    sales.metadata.define({**ACCOUNT, "properties": properties, "required": ["name", "code"]})

    with pytest.raises(RecordValidationError) as raised:
        accounts.restore(acme["id"])

    assert [str(p) for p in raised.value.problems] == ["/code: is required"]
    with pytest.raises(RecordNotFound):
        accounts.get(acme["id"])


# -- metadata ----------------------------------------------------------------


def test_definitions_defined_changed_and_dropped_are_logged(sales: XRM, log: AuditLog) -> None:
    gadget: dict[str, Any] = {"x-xrm": {"name": "gadget"}, "properties": {"a": {"type": "string"}}}
    sales.metadata.define(gadget)
    gadget["properties"]["b"] = {"type": "integer"}
    sales.metadata.define(gadget)
    sales.metadata.drop("gadget", confirm=True)

    entries = log.for_definition("gadget")

    assert [(e.entity, e.record_id, e.operation) for e in entries] == [
        ("gadget", None, "drop"),
        ("gadget", None, "define"),
        ("gadget", None, "define"),
    ]
    dropped, changed, created = (e.changes["definition"] for e in entries)
    assert created["old"] is None and set(created["new"]["properties"]) == {"a"}
    assert set(changed["old"]["properties"]) == {"a"}
    assert set(changed["new"]["properties"]) == {"a", "b"}
    assert set(dropped["old"]["properties"]) == {"a", "b"} and dropped["new"] is None
    assert {(e.actor_type, e.reason) for e in entries} == {("system", "tests")}
    assert log.for_record("gadget", uuid.uuid4()) == []


# -- ownership and sharing, read as a user -------------------------------------


@dataclass
class Staff:
    xrm: XRM
    log: AuditLog
    admin: uuid.UUID
    ada: uuid.UUID
    bob: uuid.UUID

    def view(self, user: uuid.UUID) -> AuditView:
        return AuditView(self.log, self.xrm.security, Caller.user(user))


@pytest.fixture
def staff(sales: XRM, log: AuditLog) -> Staff:
    sales.security.install()
    return Staff(
        sales,
        log,
        admin=sales.security.create_user("admin", roles=["System Administrator"]),
        ada=sales.security.create_user("ada", roles=["Basic User"]),
        bob=sales.security.create_user("bob", roles=["Basic User"]),
    )


def test_assign_share_and_unshare_are_logged(staff: Staff) -> None:
    accounts = staff.xrm.records("account", as_user=staff.ada)
    acme = accounts.create({"name": "Acme"})

    accounts.share(acme["id"], staff.bob, privileges=["read"])
    accounts.unshare(acme["id"], staff.bob)
    staff.xrm.records("account", as_user=staff.admin).assign(acme["id"], staff.bob)

    assign, unshare, share, create = staff.log.for_record("account", acme["id"])
    assert ops([assign, unshare, share, create]) == ["assign", "unshare", "share", "create"]
    assert create.changes["owner_id"] == {"old": None, "new": staff.ada}
    assert assign.changes["owner_id"] == {"old": staff.ada, "new": staff.bob}
    shared = {"principal_type": "user", "principal_id": staff.bob, "privileges": ["read"]}
    assert share.changes == {"share": {"old": None, "new": shared}}
    assert unshare.changes == {"share": {"old": shared, "new": None}}


def test_a_user_reads_the_history_of_records_they_can_read_only(staff: Staff) -> None:
    mine = staff.xrm.records("account", as_user=staff.ada).create({"name": "Ada's"})
    theirs = staff.xrm.records("account", as_user=staff.bob).create({"name": "Bob's"})

    assert ops(staff.view(staff.ada).for_record("account", mine["id"])) == ["create"]
    with pytest.raises(AccessDenied):
        staff.view(staff.ada).for_record("account", theirs["id"])
    assert ops(staff.view(staff.admin).for_record("account", theirs["id"])) == ["create"]


def test_a_deleted_records_history_is_for_administrators(staff: Staff) -> None:
    accounts = staff.xrm.records("account", as_user=staff.ada)
    mine = accounts.create({"name": "Ada's"})
    accounts.delete(mine["id"])

    with pytest.raises(AccessDenied):
        staff.view(staff.ada).for_record("account", mine["id"])
    assert ops(staff.view(staff.admin).for_record("account", mine["id"])) == ["delete", "create"]


def test_a_user_reads_their_own_actions_and_an_administrator_anyones(staff: Staff) -> None:
    staff.xrm.records("account", as_user=staff.ada).create({"name": "Ada's"})

    assert ops(staff.view(staff.ada).by_user(staff.ada)) == ["create"]
    assert ops(staff.view(staff.admin).by_user(staff.ada)) == ["create"]
    with pytest.raises(AccessDenied):
        staff.view(staff.bob).by_user(staff.ada)
    with pytest.raises(AccessDenied):
        staff.view(staff.ada).by_correlation("anything")


def test_secured_fields_are_left_out_for_those_who_may_not_read_them(staff: Staff) -> None:
    contacts = staff.xrm.records("contact")
    ada_contact = contacts.create({"name": "Ada", "salary": "100"})
    contacts.assign(ada_contact["id"], staff.ada)

    as_ada = staff.view(staff.ada).for_record("contact", ada_contact["id"])
    as_admin = staff.view(staff.admin).for_record("contact", ada_contact["id"])

    assert "salary" not in as_ada[-1].changes and "name" in as_ada[-1].changes
    assert as_admin[-1].changes["salary"] == {"old": None, "new": decimal.Decimal("100.00")}


def test_a_restore_is_by_the_restoring_user_and_keeps_the_owner(staff: Staff) -> None:
    accounts = staff.xrm.records("account", as_user=staff.ada)
    mine = accounts.create({"name": "Ada's"})
    accounts.delete(mine["id"])

    back = staff.xrm.records("account", as_user=staff.admin).restore(mine["id"]).record

    assert (back["owner_id"], back["created_by"], back["updated_by"]) == (
        staff.ada,
        staff.ada,
        staff.admin,
    )
    restored = staff.log.for_record("account", mine["id"])[0]
    assert (restored.operation, restored.actor_id) == ("restore", staff.admin)


def test_a_record_whose_owner_is_gone_comes_back_to_whoever_restores_it(staff: Staff) -> None:
    accounts = staff.xrm.records("account", as_user=staff.bob)
    his = accounts.create({"name": "Bob's"})
    accounts.delete(his["id"])
    staff.xrm.records("user").delete(staff.bob)

    report = staff.xrm.records("account", as_user=staff.admin).restore(his["id"])

    assert report.cleared_lookups == ["owner_id"]
    assert report.record["owner_id"] == staff.admin


def test_administrators_follow_a_unit_of_work(staff: Staff) -> None:
    accounts = staff.xrm.records("account", as_user=staff.ada)
    with staff.xrm.transaction():
        first = accounts.create({"name": "One"})
        accounts.create({"name": "Two"})
    (created,) = staff.view(staff.ada).for_record("account", first["id"])

    story = staff.view(staff.admin).by_correlation(created.correlation_id)

    assert [e.changes["name"]["new"] for e in story] == ["One", "Two"]
    assert [e.operation for e in staff.view(staff.ada).for_definition("account")] == ["define"]
