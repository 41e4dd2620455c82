"""``quote.convert_to_order``: an order with the quote's lines, in one transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, Field

from xrm_core import ActionContext, Problem, RecordValidationError
from xrm_sales.pipeline import today

#: What an order line copies from its quote line (the amounts are computed again).
_LINE_FIELDS = ("position", "product", "description", "quantity", "unit_price")
_RATES = ("discount_percent", "tax_percent")
_HEADER_FIELDS = ("opportunity", "account", "contact", "price_list", "currency")


class ConvertInput(BaseModel):
    """The order to make from the quote."""

    name: str | None = Field(
        None, min_length=1, max_length=200, description="Default: the quote's."
    )
    ordered_on: dt.date | None = Field(None, description="Default: today (UTC).")


class ConvertOutput(BaseModel):
    """The order made."""

    order_id: uuid.UUID
    lines: int
    total: Decimal


def convert_to_order(
    context: ActionContext, record_id: uuid.UUID, data: ConvertInput
) -> ConvertOutput:
    """Make an order from a quote and its lines; the quote becomes ``converted``.

    Raises ``RecordValidationError`` for a quote converted or rejected already,
    or one without lines. Runs as the caller, who needs to create orders.
    """
    quote = context.record()
    if quote["status"] in ("converted", "rejected"):
        raise RecordValidationError(
            f"the quote is {quote['status']} already",
            [Problem("/status", f"is {quote['status']}; only an open quote converts")],
            {"order": str(quote["order"]) if quote["order"] else None},
        )
    lines = context.records("quote_line").query(
        filter={"quote": str(record_id)}, order=["position", "created_at"], limit=1000
    )
    if not lines:
        raise RecordValidationError(
            "the quote has no lines to order", [Problem("/lines", "at least one line")]
        )
    order = context.records("order").create(
        {
            "name": data.name or quote["name"],
            "quote": record_id,
            "ordered_on": data.ordered_on or today(),
            **{key: quote[key] for key in _HEADER_FIELDS},
        }
    )
    context.records("order_line").create_many(
        [{"order": order["id"], **{k: line[k] for k in (*_LINE_FIELDS, *_RATES)}} for line in lines]
    )
    context.records().update(record_id, {"status": "converted", "order": order["id"]})
    total: Decimal = context.records("order").get(order["id"], fields=["total"])["total"]
    return ConvertOutput(order_id=order["id"], lines=len(lines), total=total)
