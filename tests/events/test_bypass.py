"""Bypassing plugins' handlers: a privilege, skipped stages, kept deliveries, an audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import XRM, Event, Subscriber
from xrm_core.errors import AccessDenied, RecordNotFound, RecordValidationError
from xrm_core.events.worker import Worker
from xrm_core.security.caller import BYPASS_MARK
from xrm_core.security.service import ADMINISTRATOR, BASIC_USER

ACCOUNT = {
    "x-xrm": {"name": "account"},
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}
CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {
        "name": {"type": "string"},
        "account": {"x-xrm": {"kind": "lookup", "target": "account", "on_delete": "cascade"}},
    },
    "required": ["name"],
}


@pytest.fixture
def crm(xrm: XRM) -> XRM:
    xrm.security.install()
    xrm.metadata.define([ACCOUNT, CONTACT])
    return xrm


def seen_by(crm: XRM, owner: str, *stages: str) -> list[str]:
    """Subscribe, as ``owner``, one handler per stage that notes what it saw."""
    seen: list[str] = []

    def note(stage: str) -> Callable[[Any], None]:
        def handler(e: Any) -> None:  # a Proposal at validate, an Event after
            what = e.operation if stage == "validate" else e.name.split(".")[1]
            seen.append(f"{stage} {e.entity}.{what}")

        return handler

    for stage in stages:
        crm.events.subscribe(
            Subscriber(f"{owner}_{stage}", stage, "*", note(stage), owner=owner)  # type: ignore[arg-type]
        )
    return seen


def refuse_everything(crm: XRM, owner: str = "sales") -> None:
    """A plugin's validate handler that refuses every contact: an import must get past it."""

    def refuse(_proposal: object) -> None:
        raise RecordValidationError("sales refuses this contact")

    crm.events.subscribe(
        Subscriber("sales_gate", "validate", "contact.*", refuse, order=10, owner=owner)
    )


def user_with(crm: XRM, name: str, *, bypass: bool, grants: str = "organization") -> uuid.UUID:
    """A user whose own role creates, updates and deletes contacts, with or without the flag."""
    cells = [("contact", p, grants) for p in ("create", "read", "update", "delete")]
    crm.security.create_role(name, cells, bypass_handlers=bypass)
    return crm.security.create_user(name.lower(), roles=[BASIC_USER, name])


def contacts(crm: XRM) -> list[str]:
    return sorted(r["name"] for r in crm.records("contact").query(limit=100).records)


# -- what is skipped ---------------------------------------------------------


def test_bypassing_skips_plugins_and_custom_synchronous_handlers_but_not_the_cores(
    crm: XRM,
) -> None:
    plugin = seen_by(crm, "sales", "validate", "before", "after")
    custom = seen_by(crm, "custom", "validate", "before", "after")
    core = seen_by(crm, "core", "validate", "before", "after")
    refuse_everything(crm)
    importer = crm.bypassing_handlers("import of 2024 contacts")

    acme = importer.records("account").create({"name": "Acme"})
    ada = importer.records("contact").create({"name": "Ada", "account": acme["id"]})
    importer.records("contact").update(ada["id"], {"name": "Ada King"})
    importer.records("account").delete(acme["id"])  # cascades to Ada, still bypassing

    assert plugin == [] and custom == []
    assert core[:9] == [
        "validate account.create",
        "before account.created",
        "after account.created",
        "validate contact.create",
        "before contact.created",
        "after contact.created",
        "validate contact.update",
        "before contact.updated",
        "after contact.updated",
    ]
    assert sorted(core[9:]) == [
        "after account.deleted",
        "after contact.deleted",
        "before account.deleted",
        "before contact.deleted",
    ]
    # The same XRM without the bypass runs every handler again, and sales refuses.
    with pytest.raises(RecordValidationError, match="sales refuses"):
        crm.records("contact").create({"name": "Bob"})
    assert plugin == ["validate contact.create"] and custom == ["validate contact.create"]
    assert contacts(crm) == []


def test_bulk_writes_and_domain_events_bypass_too(crm: XRM) -> None:
    plugin = seen_by(crm, "sales", "before", "after")
    refuse_everything(crm)
    importer = crm.bypassing_handlers("bulk load")

    result = importer.records("contact").create_many([{"name": f"C{i}"} for i in range(5)])
    importer.raise_event("sales.import.finished", data={"rows": 5})

    assert len(result.succeeded) == 5 and len(contacts(crm)) == 5
    assert plugin == []


# -- who may bypass ----------------------------------------------------------


def test_a_user_without_the_privilege_is_refused_and_nothing_is_written(crm: XRM) -> None:
    clerk = user_with(crm, "Clerk", bypass=False)
    as_clerk = crm.as_user(clerk)

    with pytest.raises(AccessDenied, match="bypass_handlers") as refused:
        as_clerk.bypassing_handlers("quick fix")

    assert refused.value.code == "access_denied"
    assert refused.value.details == {"privilege": "bypass_handlers"}
    as_clerk.records("contact").create({"name": "Handled"})  # the clerk may still write
    assert contacts(crm) == ["Handled"]
    assert crm.audit.bypassed() == []


def test_a_role_with_the_flag_allows_it_and_permissions_still_apply(crm: XRM) -> None:
    loader = user_with(crm, "Loader", bypass=True, grants="own")
    plugin = seen_by(crm, "sales", "validate", "before", "after")
    importer = crm.as_user(loader).bypassing_handlers("migration from the old CRM")

    made = importer.records("contact").create({"name": "Imported"})
    assert made["owner_id"] == loader and plugin == []

    theirs = crm.records("contact").create({"name": "Someone else's"})
    # Bypassing handlers is not bypassing permissions: the loader cannot see it.
    with pytest.raises(RecordNotFound):
        importer.records("contact").update(theirs["id"], {"name": "Changed"})
    assert contacts(crm) == ["Imported", "Someone else's"]


def test_administrators_and_the_system_context_may_bypass(crm: XRM) -> None:
    admin = crm.security.create_user("root", roles=[ADMINISTRATOR])
    plugin = seen_by(crm, "sales", "after")

    crm.as_user(admin).bypassing_handlers("repair").records("contact").create({"name": "A"})
    crm.bypassing_handlers("repair").records("contact").create({"name": "S"})

    assert plugin == [] and contacts(crm) == ["A", "S"]


def test_a_revoked_flag_stops_a_bypassing_view_before_it_writes(crm: XRM) -> None:
    loader = user_with(crm, "Loader", bypass=True)
    importer = crm.as_user(loader).bypassing_handlers("long import")
    importer.records("contact").create({"name": "First"})

    crm.records("role").update(crm.security.role_id("Loader"), {"bypass_handlers": False})

    with pytest.raises(AccessDenied, match="bypass_handlers"):
        importer.records("contact").create({"name": "Second"})
    assert contacts(crm) == ["First"]


@pytest.mark.parametrize("reason", ["", "   "])
def test_bypassing_needs_a_reason(crm: XRM, reason: str) -> None:
    with pytest.raises(AccessDenied, match="needs a reason") as refused:
        crm.bypassing_handlers(reason)
    assert [p.pointer for p in refused.value.problems] == ["/reason"]


# -- the audit trail and committed deliveries --------------------------------


def test_every_audited_change_made_while_bypassing_says_so(crm: XRM) -> None:
    loader = user_with(crm, "Loader", bypass=True)
    crm.records("contact").create({"name": "Handled normally"})
    as_loader = crm.as_user(loader).bypassing_handlers("import of 2024 contacts")
    made = as_loader.records("contact").create({"name": "Imported"})
    as_loader.records("contact").update(made["id"], {"name": "Imported, fixed"})
    crm.bypassing_handlers("data repair").records("contact").delete(made["id"])

    found = crm.audit.bypassed()

    assert [(e.operation, e.actor_id, e.reason) for e in found] == [
        ("delete", None, "bypassed handlers: data repair (system: tests)"),
        ("update", loader, "bypassed handlers: import of 2024 contacts"),
        ("create", loader, "bypassed handlers: import of 2024 contacts"),
    ]
    assert all(e.bypassed_handlers for e in found)
    history = crm.audit.for_record("contact", made["id"])
    assert [e.bypassed_handlers for e in history] == [True, True, True]
    normal = crm.records("contact").query(limit=1).records[0]
    assert not crm.audit.for_record("contact", normal["id"])[0].bypassed_handlers
    # Only administrators list them.
    with pytest.raises(AccessDenied):
        crm.as_user(loader).audit.bypassed()


def test_the_bypass_mark_cannot_be_faked_by_a_system_reason(crm: XRM) -> None:
    with pytest.raises(ValueError, match="may not start"):
        crm.as_system(f"{BYPASS_MARK}nothing")


def test_committed_subscribers_still_get_bypassed_changes_marked(crm: XRM) -> None:
    delivered: list[Event] = []
    crm.events.subscribe(
        Subscriber("erp_sync", "committed", "contact.*", delivered.append, owner="sales")
    )
    crm.bypassing_handlers("import").records("contact").create({"name": "Imported"})
    crm.records("contact").create({"name": "Typed in"})

    assert Worker(crm.db, crm.events, name="test-worker").run_once() == 2

    assert [(e.after["name"], e.reason) for e in delivered if e.after] == [
        ("Imported", "bypassed handlers: import (system: tests)"),
        ("Typed in", "tests"),
    ]


# -- databases made before the flag existed ----------------------------------


def test_install_adds_the_flag_to_a_database_made_before_it(crm: XRM) -> None:
    older = crm.metadata.get("role").schema
    without = {
        **older,
        "properties": {k: v for k, v in older["properties"].items() if k != "bypass_handlers"},
    }
    crm.metadata_service.define(without, confirm=True)  # the role entity of an older core
    clerk = user_with(crm, "Clerk", bypass=False)
    crm.records("role").update(crm.security.role_id("Clerk"), {"description": "old"})
    with pytest.raises(AccessDenied, match="bypass_handlers"):
        crm.as_user(clerk).bypassing_handlers("too early")

    crm.security.install()  # what ``xrm db upgrade`` runs

    assert crm.metadata.get("role").has_field("bypass_handlers")
    assert crm.records("role").get(crm.security.role_id("Clerk"))["description"] == "old"
    crm.records("role").update(crm.security.role_id("Clerk"), {"bypass_handlers": True})
    crm.as_user(clerk).bypassing_handlers("now").records("contact").create({"name": "Now"})
    assert contacts(crm) == ["Now"]
