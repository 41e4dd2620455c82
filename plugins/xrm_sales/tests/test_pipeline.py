"""Opportunities: stage and probability, won and lost events, the pipeline and the forecast."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from xrm_core import XRM, Event, Subscriber
from xrm_core.events.worker import Worker

from .conftest import Org


def test_the_stage_sets_the_probability_unless_one_is_given(xrm: XRM) -> None:
    deals = xrm.records("opportunity")
    deal = deals.create({"name": "Fleet"})
    assert (deal["stage"], deal["probability"], deal["closed_on"]) == ("prospecting", 10, None)

    assert deals.update(deal["id"], {"stage": "proposal"})["probability"] == 50
    assert (
        deals.update(deal["id"], {"stage": "negotiation", "probability": 65})["probability"] == 65
    )
    won = deals.update(deal["id"], {"stage": "won"})
    assert (won["probability"], won["closed_on"]) == (100, dt.datetime.now(dt.UTC).date())


def test_winning_and_losing_raise_domain_events(xrm: XRM, org: Org) -> None:
    seen: list[Event] = []
    xrm.events.subscribe(Subscriber("outcomes", "after", "sales.opportunity.*", seen.append))
    bob = xrm.as_user(org.bob)
    deals = bob.records("opportunity")
    fleet = deals.create({"name": "Fleet", "amount": "5000", "currency": "EUR"})
    boats = deals.create({"name": "Boats", "stage": "negotiation"})

    deals.update(fleet["id"], {"stage": "won"})
    deals.update(boats["id"], {"stage": "lost", "lost_reason": "price"})
    deals.update(fleet["id"], {"amount": "5500"})  # no stage change: no event

    assert [(e.name, e.record_id, e.actor_id) for e in seen] == [
        ("sales.opportunity.won", fleet["id"], org.bob),
        ("sales.opportunity.lost", boats["id"], org.bob),
    ]
    assert seen[0].data["amount"] == "5000.00" and seen[0].data["previous_stage"] == "prospecting"
    assert seen[1].data["lost_reason"] == "price"


def test_committed_subscribers_get_won_deals_through_the_worker(xrm: XRM) -> None:
    won: list[Event] = []
    xrm.events.subscribe(Subscriber("crm_feed", "committed", "sales.opportunity.won", won.append))
    deal = xrm.records("opportunity").create({"name": "Ships", "stage": "proposal"})
    xrm.records("opportunity").update(deal["id"], {"stage": "won"})
    assert won == []

    Worker(xrm.db, xrm.events, name="tests").run_once()

    assert [(e.name, e.record_id, e.data["name"]) for e in won] == [
        ("sales.opportunity.won", deal["id"], "Ships")
    ]


def deals(xrm: XRM, org: Org) -> None:
    """Seven deals of bob and carol across stages, months and currencies."""
    rows: list[tuple[str, uuid.UUID, str, str, str, str, int | None]] = [
        ("A", org.bob, "prospecting", "1000", "EUR", "2025-01-15", None),
        ("B", org.carol, "prospecting", "3000", "EUR", "2025-01-31", None),
        ("C", org.bob, "proposal", "2000", "EUR", "2025-02-10", None),
        ("D", org.carol, "negotiation", "5000", "EUR", "2025-02-28", 90),
        ("E", org.bob, "won", "7000", "EUR", "2025-01-20", None),
        ("F", org.carol, "lost", "4000", "EUR", "2025-01-05", None),
        ("G", org.carol, "proposal", "1000", "USD", "2025-02-01", None),
    ]
    for name, owner, stage, amount, currency, close, probability in rows:
        data: dict[str, Any] = {
            "name": name,
            "owner_id": owner,
            "owner_type": "user",
            "stage": stage,
            "amount": amount,
            "currency": currency,
            "expected_close": close,
        }
        if probability is not None:
            data["probability"] = probability
        xrm.records("opportunity").create(data)


def _table(rows: list[Any], *keys: str) -> set[tuple[Any, ...]]:
    return {tuple(getattr(r, k) for k in keys) for r in rows}


def test_the_pipeline_weights_open_deals_by_stage(xrm: XRM, org: Org) -> None:
    deals(xrm, org)

    stages = xrm.actions.run("opportunity.pipeline").stages

    # prospecting: 1000x10% + 3000x10%; proposal: 2000x50%; negotiation: 5000x90%.
    assert [(s.stage, s.currency, s.count, s.amount, s.weighted_amount) for s in stages] == [
        ("prospecting", "EUR", 2, Decimal("4000.00"), Decimal("400.00")),
        ("proposal", "EUR", 1, Decimal("2000.00"), Decimal("1000.00")),
        ("proposal", "USD", 1, Decimal("1000.00"), Decimal("500.00")),
        ("negotiation", "EUR", 1, Decimal("5000.00"), Decimal("4500.00")),
    ]
    closed = xrm.actions.run("opportunity.pipeline", data={"include_closed": True}).stages
    assert [(s.stage, s.weighted_amount) for s in closed][-2:] == [
        ("won", Decimal("7000.00")),
        ("lost", Decimal("0.00")),
    ]


def test_a_salesperson_sees_the_pipeline_of_their_own_deals(xrm: XRM, org: Org) -> None:
    deals(xrm, org)

    stages = xrm.as_user(org.bob).actions.run("opportunity.pipeline").stages

    assert [(s.stage, s.amount) for s in stages] == [
        ("prospecting", Decimal("1000.00")),
        ("proposal", Decimal("2000.00")),
    ]


def test_the_forecast_is_by_owner_and_month_of_expected_close(xrm: XRM, org: Org) -> None:
    deals(xrm, org)

    rows = xrm.actions.run("opportunity.forecast").rows

    money = Decimal
    keys = ("owner_id", "month", "currency", "count", "amount", "weighted_amount", "won_amount")
    assert _table(rows, *keys) == {
        (org.bob, "2025-01", "EUR", 2, money("8000.00"), money("7100.00"), money("7000.00")),
        (org.bob, "2025-02", "EUR", 1, money("2000.00"), money("1000.00"), money("0.00")),
        (org.carol, "2025-01", "EUR", 1, money("3000.00"), money("300.00"), money("0.00")),
        (org.carol, "2025-02", "EUR", 1, money("5000.00"), money("4500.00"), money("0.00")),
        (org.carol, "2025-02", "USD", 1, money("1000.00"), money("500.00"), money("0.00")),
    }
    assert [r.month for r in rows] == sorted(r.month for r in rows)
    february = xrm.actions.run(
        "opportunity.forecast", data={"from_month": "2025-02", "to_month": "2025-02"}
    ).rows
    assert {(r.owner_id, r.currency) for r in february} == {
        (org.bob, "EUR"),
        (org.carol, "EUR"),
        (org.carol, "USD"),
    }
