"""Contracts: the renewal event, raised once per renewal by contract.check_renewals."""

from __future__ import annotations

import datetime as dt

from xrm_core import XRM, Event, Subscriber


def test_renewals_near_are_announced_once_each(xrm: XRM) -> None:
    due: list[Event] = []
    xrm.events.subscribe(Subscriber("renewals", "after", "sales.contract.renewal_due", due.append))
    contracts = xrm.records("contract")
    soon = contracts.create(
        {"name": "Soon", "start_date": "2024-03-01", "renewal_date": "2025-02-20"}
    )
    later = contracts.create(
        {"name": "Later", "start_date": "2024-06-01", "renewal_date": "2025-06-01"}
    )
    contracts.create(
        {
            "name": "Ended",
            "start_date": "2023-01-01",
            "renewal_date": "2025-02-10",
            "status": "expired",
        }
    )
    today = {"on": "2025-02-01", "days": 30}

    first = xrm.actions.run("contract.check_renewals", data=today)
    again = xrm.actions.run("contract.check_renewals", data=today)

    assert (first.due, again.due) == ([soon["id"]], [])
    assert [(e.record_id, e.data["days_left"], e.data["renewal_date"]) for e in due] == [
        (soon["id"], 19, "2025-02-20")
    ]
    assert contracts.get(soon["id"])["renewal_notified_for"] == dt.date(2025, 2, 20)

    contracts.update(soon["id"], {"renewal_date": "2026-02-20"})  # renewed for a year
    next_year = xrm.actions.run("contract.check_renewals", data={"on": "2026-02-01"})
    # Later was never announced and is overdue by then: it comes first, by date.
    assert next_year.due == [later["id"], soon["id"]] and len(due) == 3
