"""Roles: a salesperson works their own records, a sales manager their unit's subtree."""

from __future__ import annotations

import uuid

import pytest

from xrm_core import XRM, AccessDenied, RecordNotFound

from .conftest import Org


def _owned(xrm: XRM, entity: str, owner: uuid.UUID, data: dict[str, object]) -> uuid.UUID:
    record = xrm.records(entity).create({**data, "owner_id": owner, "owner_type": "user"})
    return uuid.UUID(str(record["id"]))


def test_salespeople_see_their_own_deals_and_their_units_accounts(xrm: XRM, org: Org) -> None:
    for who, name in ((org.bob, "Bob"), (org.erin, "Erin"), (org.carol, "Carol")):
        _owned(xrm, "opportunity", who, {"name": f"{name}'s deal"})
        _owned(xrm, "account", who, {"name": f"{name}'s account"})

    bob = xrm.as_user(org.bob)
    assert [d["name"] for d in bob.records("opportunity").query()] == ["Bob's deal"]
    # Bob's unit is North: Erin's account sits in North East, Carol's in South.
    assert [a["name"] for a in bob.records("account").query()] == ["Bob's account"]
    carol = xrm.as_user(org.carol)
    assert [a["name"] for a in carol.records("account").query()] == ["Carol's account"]


def test_a_sales_manager_sees_the_subtree_of_their_unit(xrm: XRM, org: Org) -> None:
    for who, name in ((org.bob, "Bob"), (org.erin, "Erin"), (org.carol, "Carol")):
        _owned(xrm, "opportunity", who, {"name": f"{name}'s deal"})

    maria = xrm.as_user(org.maria)

    names = {d["name"] for d in maria.records("opportunity").query()}
    assert names == {"Bob's deal", "Erin's deal"}


def test_a_salesperson_cannot_touch_another_salespersons_deal(xrm: XRM, org: Org) -> None:
    deal = _owned(xrm, "opportunity", org.carol, {"name": "Carol's deal"})

    with pytest.raises(RecordNotFound):
        xrm.as_user(org.bob).records("opportunity").update(deal, {"stage": "lost"})

    assert xrm.records("opportunity").get(deal)["stage"] == "prospecting"


def test_salespeople_read_the_catalogue_and_managers_maintain_it(xrm: XRM, org: Org) -> None:
    xrm.records("product").create({"name": "Widget", "code": "W-1"})

    assert xrm.as_user(org.bob).records("product").count() == 1
    with pytest.raises(AccessDenied):
        xrm.as_user(org.bob).records("product").create({"name": "Gizmo", "code": "Z-1"})
    xrm.as_user(org.maria).records("product").create({"name": "Gizmo", "code": "Z-1"})
    assert xrm.records("product").count() == 2
