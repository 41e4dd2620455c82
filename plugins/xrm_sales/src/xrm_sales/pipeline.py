"""Opportunities: stage and probability, won and lost events, the pipeline and the forecast."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from xrm_core import XRM, ActionContext, Event, Proposal
from xrm_sales.pricing import cents

#: Each stage's probability (percent), in pipeline order.
STAGES: Mapping[str, int] = {
    "prospecting": 10,
    "qualification": 20,
    "proposal": 50,
    "negotiation": 80,
    "won": 100,
    "lost": 0,
}
OPEN_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
CLOSED_STAGES = ("won", "lost")

Clock = Callable[[], dt.date]


def today() -> dt.date:
    """Today in UTC (the date a deal closes on unless one is given)."""
    return dt.datetime.now(dt.UTC).date()


def stage_defaults(proposal: Proposal, clock: Clock = today) -> None:
    """``validate`` stage of an opportunity: probability from the stage; closing date.

    A new opportunity, or one whose stage changes, takes the stage's probability
    unless one is given; one that becomes won or lost closes today unless
    ``closed_on`` is given.
    """
    data = proposal.data
    if proposal.operation == "create":
        stage = data.get("stage", "prospecting")
    elif "stage" in data:
        stage = data["stage"]
    else:
        return
    if not isinstance(stage, str) or stage not in STAGES:
        return  # the record service refuses it, naming the choices
    if data.get("probability") is None:
        data["probability"] = STAGES[stage]
    if stage in CLOSED_STAGES and "closed_on" not in data:
        data["closed_on"] = clock()


def announce_outcome(system: XRM, event: Event) -> None:
    """``after`` stage of an opportunity's update: a deal just won or lost raises
    ``sales.opportunity.won`` or ``sales.opportunity.lost``, as the user who changed it."""
    before, after = event.before or {}, event.after or {}
    stage = after.get("stage")
    if stage not in CLOSED_STAGES or before.get("stage") == stage:
        return
    actor = system.as_user(event.actor_id) if event.actor_id else system
    actor.raise_event(
        f"sales.opportunity.{stage}",
        data={
            "name": after.get("name"),
            "amount": _text(after.get("amount")),
            "currency": after.get("currency"),
            "account": _text(after.get("account")),
            "owner_id": _text(after.get("owner_id")),
            "previous_stage": before.get("stage"),
            "lost_reason": after.get("lost_reason"),
        },
        entity="opportunity",
        record_id=event.record_id,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# -- pipeline and forecast ------------------------------------------------


class PipelineInput(BaseModel):
    """What part of the pipeline to measure."""

    include_closed: bool = Field(False, description="Count won and lost deals too.")
    owner_id: uuid.UUID | None = Field(None, description="Only this user's deals.")


class PipelineStage(BaseModel):
    """One stage of the pipeline in one currency."""

    stage: str
    currency: str | None
    count: int
    amount: Decimal
    weighted_amount: Decimal


class PipelineOutput(BaseModel):
    """The pipeline, stage by stage in pipeline order (deals the caller may read)."""

    stages: list[PipelineStage]


def pipeline(context: ActionContext, record_id: None, data: PipelineInput) -> PipelineOutput:
    """``opportunity.pipeline``: amount and weighted amount (amount x probability) by stage."""
    stages = STAGES if data.include_closed else OPEN_STAGES
    where: dict[str, Any] = {"stage": {"in": list(stages)}}
    if data.owner_id is not None:
        where["owner_id"] = str(data.owner_id)
    rows = context.records("opportunity").aggregate(
        group_by=["stage", "currency", "probability"],
        measures={"count": "count", "amount": "sum:amount"},
        filter=where,
    )
    merged = _merge(rows, ("stage", "currency"))
    order = list(STAGES)
    found = sorted(merged.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1] or ""))
    return PipelineOutput(stages=[PipelineStage(stage=k[0], currency=k[1], **v) for k, v in found])


class ForecastInput(BaseModel):
    """Which months to forecast (by expected close date; both ends included)."""

    from_month: str | None = Field(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2025-01"])
    to_month: str | None = Field(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2025-12"])


class ForecastRow(BaseModel):
    """One owner's deals expected to close in one month, in one currency."""

    owner_id: uuid.UUID | None
    month: str
    currency: str | None
    count: int
    amount: Decimal
    weighted_amount: Decimal
    won_amount: Decimal


class ForecastOutput(BaseModel):
    """The forecast by owner and month (deals the caller may read, lost ones left out)."""

    rows: list[ForecastRow]


def forecast(context: ActionContext, record_id: None, data: ForecastInput) -> ForecastOutput:
    """``opportunity.forecast``: by owner and month of expected close, open and won deals."""
    where: dict[str, Any] = {"stage": {"ne": "lost"}, "expected_close": {"is_null": False}}
    if data.from_month:
        where["expected_close"]["ge"] = f"{data.from_month}-01"
    if data.to_month:
        where["expected_close"]["lt"] = _next_month(data.to_month)
    rows = context.records("opportunity").aggregate(
        group_by=["owner_id", "expected_close:month", "currency", "stage", "probability"],
        measures={"count": "count", "amount": "sum:amount"},
        filter=where,
    )
    merged = _merge(rows, ("owner_id", "expected_close:month", "currency"))
    found = sorted(merged.items(), key=lambda kv: (kv[0][1], str(kv[0][0]), kv[0][2] or ""))
    return ForecastOutput(
        rows=[ForecastRow(owner_id=k[0], month=k[1], currency=k[2], **v) for k, v in found]
    )


def _merge(rows: Iterable[Mapping[str, Any]], keys: tuple[str, ...]) -> dict[Any, dict[str, Any]]:
    """Sum aggregate rows over ``keys``, weighting each by its probability."""
    merged: dict[Any, dict[str, Any]] = {}
    zero = Decimal("0.00")
    for row in rows:
        key = tuple(row[k] for k in keys)
        into = merged.setdefault(
            key, {"count": 0, "amount": zero, "weighted_amount": zero, "won_amount": zero}
        )
        amount = row["amount"] or zero
        into["count"] += row["count"]
        into["amount"] += amount
        into["weighted_amount"] += cents(amount * (row["probability"] or 0) / 100)
        if row.get("stage") == "won":
            into["won_amount"] += amount
    return merged


def _next_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12}-{number % 12 + 1:02d}-01"
