"""Delete behaviour per relationship: restrict, cascade, set null, links; dry runs.

In the CRM (see conftest): account.parent and contact.account cascade,
activity.regarding (polymorphic) cascades, invoice.account restricts,
invoice.contact and invoice.billed_to (polymorphic) set null, contact.manager
sets null, note.about (polymorphic) restricts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import DeleteRestricted, RecordNotFound, RecordService

Make = Callable[..., dict[str, Any]]


def exists(service: RecordService, record: dict[str, Any]) -> bool:
    try:
        service.get(record["id"])
    except RecordNotFound:
        return False
    return True


# -- restrict ---------------------------------------------------------------


def test_restrict_refuses_the_delete_and_names_what_blocks_it(
    accounts: RecordService, invoices: RecordService, new_account: Make
) -> None:
    acme = new_account()
    invoices.create({"number": "I-1", "account": acme["id"]})
    invoices.create({"number": "I-2", "account": acme["id"]})

    with pytest.raises(DeleteRestricted) as caught:
        accounts.delete(acme["id"])

    assert caught.value.code == "delete_restricted"
    assert caught.value.details == {"entity": "invoice", "field": "account", "count": 2}
    assert [p.pointer for p in caught.value.problems] == ["/invoice/account"]
    assert exists(accounts, acme)
    assert invoices.count() == 2


def test_restrict_found_deep_in_a_cascade_deletes_nothing(
    accounts: RecordService,
    contacts: RecordService,
    invoices: RecordService,
    new_account: Make,
    new_contact: Make,
) -> None:
    parent = new_account()
    child = new_account(parent=parent["id"])
    ada = new_contact(account=child["id"])
    invoices.create({"number": "I-1", "account": child["id"]})

    with pytest.raises(DeleteRestricted) as caught:
        accounts.delete(parent["id"])

    assert caught.value.details["entity"] == "invoice"
    assert all(exists(s, r) for s, r in [(accounts, parent), (accounts, child), (contacts, ada)])


def test_a_dry_run_reports_a_restriction_too(
    accounts: RecordService, invoices: RecordService, new_account: Make
) -> None:
    acme = new_account()
    invoices.create({"account": acme["id"]})

    with pytest.raises(DeleteRestricted):
        accounts.delete(acme["id"], dry_run=True)


def test_restrict_on_a_polymorphic_lookup_refuses_the_delete(
    contacts: RecordService, notes: RecordService, new_contact: Make
) -> None:
    ada = new_contact()
    notes.create({"text": "likes tea", "about": {"entity": "contact", "id": ada["id"]}})

    with pytest.raises(DeleteRestricted) as caught:
        contacts.delete(ada["id"])

    assert caught.value.details == {"entity": "note", "field": "about", "count": 1}
    assert exists(contacts, ada)


def test_a_polymorphic_restriction_applies_only_to_its_entity(
    accounts: RecordService, notes: RecordService, new_account: Make, new_contact: Make
) -> None:
    acme, ada = new_account(), new_contact()
    notes.create({"about": {"entity": "contact", "id": ada["id"]}})

    assert accounts.delete(acme["id"]).deleted == {"account": 1}


def test_once_the_blocking_records_are_gone_the_delete_goes_through(
    accounts: RecordService, invoices: RecordService, new_account: Make
) -> None:
    acme = new_account()
    invoice = invoices.create({"account": acme["id"]})
    invoices.delete(invoice["id"])

    assert accounts.delete(acme["id"]).deleted == {"account": 1}


# -- cascade ----------------------------------------------------------------


def test_cascade_deletes_the_children(
    accounts: RecordService, contacts: RecordService, new_account: Make, new_contact: Make
) -> None:
    acme, other = new_account(), new_account()
    ada, grace = new_contact(account=acme["id"]), new_contact(account=acme["id"])
    alan = new_contact(account=other["id"])

    report = accounts.delete(acme["id"])

    assert report.deleted == {"contact": 2, "account": 1}
    assert not exists(contacts, ada)
    assert not exists(contacts, grace)
    assert exists(contacts, alan)


def test_cascade_is_recursive(
    accounts: RecordService,
    contacts: RecordService,
    activities: RecordService,
    new_account: Make,
    new_contact: Make,
) -> None:
    root = new_account()
    child = new_account(parent=root["id"])
    grandchild = new_account(parent=child["id"])
    ada = new_contact(account=grandchild["id"])
    activities.create({"subject": "Call", "regarding": {"entity": "contact", "id": ada["id"]}})

    report = accounts.delete(root["id"])

    assert report.deleted == {"account": 3, "contact": 1, "activity": 1}
    assert accounts.count() == contacts.count() == activities.count() == 0


def test_cascade_through_a_cycle_deletes_every_record_once(
    accounts: RecordService, new_account: Make
) -> None:
    first = new_account()
    second = new_account(parent=first["id"])
    third = new_account(parent=second["id"])
    accounts.update(first["id"], {"parent": third["id"]})
    bystander = new_account()

    report = accounts.delete(second["id"])

    assert report.deleted == {"account": 3}
    assert [r["id"] for r in accounts.query()] == [bystander["id"]]


def test_a_record_that_is_its_own_parent_can_be_deleted(
    accounts: RecordService, new_account: Make
) -> None:
    acme = new_account()
    accounts.update(acme["id"], {"parent": acme["id"]})

    assert accounts.delete(acme["id"]).deleted == {"account": 1}


def test_cascade_on_a_polymorphic_lookup_deletes_only_its_entity_s_records(
    accounts: RecordService,
    activities: RecordService,
    new_account: Make,
    new_contact: Make,
) -> None:
    acme, ada = new_account(), new_contact()
    activities.create({"subject": "a", "regarding": {"entity": "account", "id": acme["id"]}})
    kept = activities.create({"subject": "c", "regarding": {"entity": "contact", "id": ada["id"]}})

    report = accounts.delete(acme["id"])

    assert report.deleted == {"activity": 1, "account": 1}
    assert [r["id"] for r in activities.query()] == [kept["id"]]


# -- set null ---------------------------------------------------------------


def test_set_null_keeps_the_children_with_the_lookup_cleared(
    contacts: RecordService, invoices: RecordService, new_contact: Make
) -> None:
    ada = new_contact()
    invoice = invoices.create({"number": "I-1", "contact": ada["id"]})

    report = contacts.delete(ada["id"])

    kept = invoices.get(invoice["id"])
    assert report.deleted == {"contact": 1}
    assert report.cleared == {"invoice.contact": 1}
    assert kept["contact"] is None
    assert kept["number"] == "I-1"
    assert kept["version"] == invoice["version"] + 1
    assert kept["updated_at"] > invoice["updated_at"]


def test_set_null_on_a_self_reference(contacts: RecordService, new_contact: Make) -> None:
    boss = new_contact()
    ada = new_contact(manager=boss["id"])

    report = contacts.delete(boss["id"])

    assert report.cleared == {"contact.manager": 1}
    assert contacts.get(ada["id"])["manager"] is None


def test_set_null_on_a_polymorphic_lookup_clears_both_parts(
    accounts: RecordService, invoices: RecordService, new_account: Make, new_contact: Make
) -> None:
    acme, ada = new_account(), new_contact()
    billed = invoices.create({"billed_to": {"entity": "account", "id": acme["id"]}})
    other = invoices.create({"billed_to": {"entity": "contact", "id": ada["id"]}})

    report = accounts.delete(acme["id"])

    assert report.cleared == {"invoice.billed_to": 1}
    assert invoices.get(billed["id"])["billed_to"] is None
    assert invoices.get(billed["id"])["version"] == 2
    assert invoices.get(other["id"]) == other


def test_one_delete_applies_each_relationship_s_own_behaviour(
    accounts: RecordService,
    contacts: RecordService,
    invoices: RecordService,
    new_account: Make,
    new_contact: Make,
) -> None:
    acme = new_account()
    ada = new_contact(account=acme["id"])
    invoice = invoices.create({"contact": ada["id"]})

    report = accounts.delete(acme["id"])

    assert report.deleted == {"contact": 1, "account": 1}
    assert report.cleared == {"invoice.contact": 1}
    assert invoices.get(invoice["id"])["contact"] is None


# -- many-to-many -------------------------------------------------------------


def test_deleting_a_record_removes_its_links(
    contacts: RecordService, tags: RecordService, new_contact: Make, new_tag: Make
) -> None:
    ada, hot, cold = new_contact(), new_tag(), new_tag()
    contacts.link(ada["id"], "tags", hot["id"])
    contacts.link(ada["id"], "tags", cold["id"])

    report = contacts.delete(ada["id"])

    assert report.unlinked == {"contact__tags": 2}
    assert tags.count() == 2


def test_deleting_a_link_target_removes_the_links_to_it(
    contacts: RecordService, tags: RecordService, new_contact: Make, new_tag: Make
) -> None:
    ada, hot, cold = new_contact(), new_tag(), new_tag()
    contacts.link(ada["id"], "tags", hot["id"])
    contacts.link(ada["id"], "tags", cold["id"])

    report = tags.delete(hot["id"])

    assert report.unlinked == {"contact__tags": 1}
    assert [link["target_id"] for link in contacts.links(ada["id"], "tags")] == [cold["id"]]


# -- dry run ----------------------------------------------------------------


def build_family(
    accounts: RecordService,
    invoices: RecordService,
    activities: RecordService,
    contacts: RecordService,
    new_account: Make,
    new_contact: Make,
    new_tag: Make,
) -> dict[str, Any]:
    root = new_account()
    child = new_account(parent=root["id"])
    ada = new_contact(account=child["id"])
    new_contact(account=root["id"])
    activities.create({"subject": "Call", "regarding": {"entity": "account", "id": root["id"]}})
    invoices.create({"contact": ada["id"]})
    contacts.link(ada["id"], "tags", new_tag()["id"])
    accounts.link(root["id"], "labels", new_tag()["id"])
    return root


def test_a_dry_run_counts_exactly_what_the_delete_does_and_changes_nothing(
    crm: Any,
    accounts: RecordService,
    invoices: RecordService,
    activities: RecordService,
    contacts: RecordService,
    new_account: Make,
    new_contact: Make,
    new_tag: Make,
) -> None:
    root = build_family(accounts, invoices, activities, contacts, new_account, new_contact, new_tag)
    services = [accounts, contacts, activities, invoices]
    before = [sorted(r["id"] for r in s.query()) for s in services]
    invoices_before = invoices.query().records

    dry = accounts.delete(root["id"], dry_run=True)

    assert dry.dry_run is True
    assert [sorted(r["id"] for r in s.query()) for s in services] == before
    assert invoices.query().records == invoices_before
    real = accounts.delete(root["id"])
    assert real.dry_run is False
    assert (dry.deleted, dry.cleared, dry.unlinked) == (real.deleted, real.cleared, real.unlinked)
    assert real.deleted == {"account": 2, "contact": 2, "activity": 1}
    assert real.cleared == {"invoice.contact": 1}
    assert real.unlinked == {"contact__tags": 1, "account__labels": 1}


def test_a_dry_run_inside_a_unit_of_work_leaves_it_usable(
    crm: Any, accounts: RecordService, new_account: Make
) -> None:
    acme = new_account()

    with crm.transaction():
        accounts.delete(acme["id"], dry_run=True)
        accounts.update(acme["id"], {"name": "Still here"})

    assert accounts.get(acme["id"])["name"] == "Still here"


def test_a_cascade_over_many_children_deletes_them_all(
    accounts: RecordService, contacts: RecordService, new_account: Make
) -> None:
    acme = new_account()
    contacts.create_many([{"name": f"C{i}", "account": acme["id"]} for i in range(1234)])

    dry = accounts.delete(acme["id"], dry_run=True)
    report = accounts.delete(acme["id"])

    assert dry.deleted == report.deleted == {"contact": 1234, "account": 1}
    assert contacts.count() == 0
