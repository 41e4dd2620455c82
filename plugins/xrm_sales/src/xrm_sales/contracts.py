"""Contracts: ``contract.check_renewals`` raises ``sales.contract.renewal_due`` once per renewal."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from xrm_core import ActionContext
from xrm_sales.pipeline import today


class RenewalsInput(BaseModel):
    """How far ahead to look."""

    days: int = Field(30, ge=0, le=366, description="Renewal dates up to this many days ahead.")
    on: dt.date | None = Field(None, description="The day to count from; default today (UTC).")


class RenewalsOutput(BaseModel):
    """The contracts whose renewal was announced by this run."""

    due: list[uuid.UUID]


def check_renewals(context: ActionContext, record_id: None, data: RenewalsInput) -> RenewalsOutput:
    """``contract.check_renewals``: announce active contracts whose renewal is near.

    An active contract whose ``renewal_date`` is at most ``days`` days after
    ``on`` (overdue ones included) and whose renewal was not announced yet gets
    ``sales.contract.renewal_due``, and its ``renewal_notified_for`` remembers the
    renewal date, so running it again (daily, from cron) announces each renewal
    once; a new renewal date is announced again. Sees the contracts the caller
    may read (the system context: all).
    """
    start = data.on or today()
    until = start + dt.timedelta(days=data.days)
    contracts = context.records("contract")
    due: list[uuid.UUID] = []
    cursor = None
    while True:
        page = contracts.query(
            filter={"status": "active", "renewal_date": {"le": until}},
            order=["renewal_date"],
            limit=500,
            cursor=cursor,
        )
        for contract in page:
            if contract["renewal_notified_for"] == contract["renewal_date"]:
                continue
            context.xrm.raise_event(
                "sales.contract.renewal_due",
                data={
                    "name": contract["name"],
                    "account": str(contract["account"]) if contract["account"] else None,
                    "renewal_date": contract["renewal_date"].isoformat(),
                    "days_left": (contract["renewal_date"] - start).days,
                    "owner_id": str(contract["owner_id"]) if contract["owner_id"] else None,
                },
                entity="contract",
                record_id=contract["id"],
            )
            contracts.update(contract["id"], {"renewal_notified_for": contract["renewal_date"]})
            due.append(contract["id"])
        cursor = page.next_cursor
        if cursor is None:
            return RenewalsOutput(due=due)
