"""Leads: qualifying into account, contact and opportunity; assignment rules."""

from __future__ import annotations

import pytest

from xrm_core import XRM, RecordValidationError, Subscriber

from .conftest import Org


def test_qualifying_a_lead_creates_account_contact_and_opportunity(xrm: XRM) -> None:
    lead = xrm.records("lead").create(
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Analytical Engines",
            "email": "ada@engines.example",
            "estimated_amount": "12000",
            "currency": "GBP",
        }
    )

    out = xrm.actions.run("lead.qualify", lead["id"], {"expected_close": "2025-03-31"})

    assert out.account_created and out.contact_created
    account = xrm.records("account").get(out.account_id)
    contact = xrm.records("contact").get(out.contact_id)
    opportunity = xrm.records("opportunity").get(out.opportunity_id)
    assert account["name"] == "Analytical Engines"
    assert (contact["last_name"], contact["email"], contact["account"]) == (
        "Lovelace",
        "ada@engines.example",
        account["id"],
    )
    assert opportunity["account"] == account["id"] and opportunity["lead"] == lead["id"]
    assert (str(opportunity["amount"]), opportunity["currency"]) == ("12000.00", "GBP")
    assert (opportunity["stage"], opportunity["probability"]) == ("prospecting", 10)
    qualified = xrm.records("lead").get(lead["id"])
    assert qualified["status"] == "qualified" and qualified["opportunity"] == opportunity["id"]


def test_qualifying_matches_the_account_by_name_and_the_contact_by_email(xrm: XRM) -> None:
    account = xrm.records("account").create({"name": "Globex"})
    contact = xrm.records("contact").create(
        {"last_name": "Simpson", "email": "homer@globex.example", "account": account["id"]}
    )
    lead = xrm.records("lead").create(
        {"last_name": "Simpson", "company": "Globex", "email": "homer@globex.example"}
    )

    out = xrm.actions.run("lead.qualify", lead["id"], {"create_opportunity": False})

    assert (out.account_id, out.account_created) == (account["id"], False)
    assert (out.contact_id, out.contact_created) == (contact["id"], False)
    assert out.opportunity_id is None
    assert xrm.records("account").count() == 1 and xrm.records("contact").count() == 1


def test_a_qualified_lead_does_not_qualify_again(xrm: XRM) -> None:
    lead = xrm.records("lead").create({"last_name": "Once", "company": "Once Ltd"})
    xrm.actions.run("lead.qualify", lead["id"])

    with pytest.raises(RecordValidationError) as refused:
        xrm.actions.run("lead.qualify", lead["id"])

    assert refused.value.problems[0].pointer == "/status"
    assert xrm.records("opportunity").count() == 1


def test_qualifying_is_all_or_nothing(xrm: XRM) -> None:
    lead = xrm.records("lead").create({"last_name": "Fail", "company": "Fragile Inc"})

    def refuse(event: object) -> None:
        raise RecordValidationError("the opportunity desk is closed")

    xrm.events.subscribe(Subscriber("closed_desk", "after", "opportunity.created", refuse))
    with pytest.raises(RecordValidationError, match="desk is closed"):
        xrm.actions.run("lead.qualify", lead["id"])

    assert xrm.records("account").count() == 0
    assert xrm.records("contact").count() == 0
    assert xrm.records("lead").get(lead["id"])["status"] == "new"


def test_round_robin_gives_new_leads_to_a_teams_members_in_turn(xrm: XRM, org: Org) -> None:
    team = xrm.records("team").create({"name": "North sales", "business_unit": org.north})
    for member in (org.erin, org.bob):
        xrm.records("team").link(team["id"], "members", member)
    xrm.records("assignment_rule").create(
        {"name": "North", "territory": "north", "method": "round_robin", "team": team["id"]}
    )

    leads = [
        xrm.records("lead").create({"last_name": f"Lead {n}", "territory": "north"})
        for n in range(5)
    ]

    owners = [xrm.records("lead").get(lead["id"])["owner_id"] for lead in leads]
    # Members in username order: bob, erin.
    assert owners == [org.bob, org.erin, org.bob, org.erin, org.bob]


def test_rules_route_by_territory_and_priority(xrm: XRM, org: Org) -> None:
    rules = xrm.records("assignment_rule")
    rules.create({"name": "Anything else", "method": "user", "user": org.bob, "priority": 900})
    rules.create({"name": "South", "territory": "south", "method": "user", "user": org.carol})

    south = xrm.records("lead").create({"last_name": "S", "territory": "south"})
    west = xrm.records("lead").create({"last_name": "W", "territory": "west"})

    assert xrm.records("lead").get(south["id"])["owner_id"] == org.carol
    assert xrm.records("lead").get(west["id"])["owner_id"] == org.bob


def test_a_lead_given_an_owner_keeps_it(xrm: XRM, org: Org) -> None:
    xrm.records("assignment_rule").create({"name": "All", "method": "user", "user": org.bob})

    lead = xrm.records("lead").create(
        {"last_name": "Mine", "owner_id": org.carol, "owner_type": "user"}
    )

    assert xrm.records("lead").get(lead["id"])["owner_id"] == org.carol


def test_a_salesperson_qualifies_their_own_lead(xrm: XRM, org: Org) -> None:
    bob = xrm.as_user(org.bob)
    lead = bob.records("lead").create({"last_name": "Own", "company": "Bob's Client"})

    out = bob.actions.run("lead.qualify", lead["id"])

    assert bob.records("opportunity").get(out.opportunity_id)["owner_id"] == org.bob
    assert bob.records("account").get(out.account_id)["owner_id"] == org.bob
