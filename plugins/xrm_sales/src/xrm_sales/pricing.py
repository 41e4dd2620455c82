"""Quote and order lines: unit prices from the price list, line totals, document totals.

A line (``quote_line`` or ``order_line``) holds a quantity, a unit price, a
discount and a tax, both in percent. Its amounts are computed, never typed:

- ``discount_amount`` = quantity x unit price x discount / 100
- ``net_amount`` = quantity x unit price - discount amount
- ``tax_amount`` = net amount x tax / 100
- ``total`` = net amount + tax amount

each rounded to the cent, half up. A document (``quote``, ``order``) sums its
lines: ``subtotal`` (quantity x unit price), ``discount_total``, ``tax_total``
and ``total``. A line without a unit price takes the price of its product in
the document's price list.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from xrm_core import XRM, Event, Problem, Proposal, RecordNotFound, RecordValidationError

#: Line entity → the lookup to its document (also the document's entity).
LINES: Mapping[str, str] = {"quote_line": "quote", "order_line": "order"}

_CENT = Decimal("0.01")
_PRICED = ("quantity", "unit_price", "discount_percent", "tax_percent")
_COMPUTED = ("discount_amount", "net_amount", "tax_amount", "total")


def cents(value: Decimal) -> Decimal:
    """``value`` rounded to the cent, half up."""
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def line_amounts(
    quantity: Decimal, unit_price: Decimal, discount_percent: Decimal, tax_percent: Decimal
) -> dict[str, Decimal]:
    """The computed amounts of one line (see the module's docstring)."""
    gross = quantity * unit_price
    discount = cents(gross * discount_percent / 100)
    net = cents(gross) - discount
    tax = cents(net * tax_percent / 100)
    return {"discount_amount": discount, "net_amount": net, "tax_amount": tax, "total": net + tax}


def price_lines(system: XRM, proposal: Proposal) -> None:
    """``validate`` stage of a line: default its unit price, compute its amounts.

    An update is computed from the stored line with the proposed changes. Values
    the record service will refuse anyway (a quantity that is no number) are
    left for it to report.
    """
    data = proposal.data
    stored: Mapping[str, Any] = {}
    if proposal.operation == "update":
        if not any(k in data for k in (*_PRICED, "product")):
            for key in _COMPUTED:  # computed: never typed
                data.pop(key, None)
            return
        assert proposal.record_id is not None  # an update always names its record
        stored = system.records(proposal.entity).get(proposal.record_id)
    line = {**stored, **data}
    parent = LINES[proposal.entity]
    repriced = "product" in data and "unit_price" not in data and proposal.operation == "update"
    if line.get("unit_price") is None or repriced:
        data["unit_price"] = _list_price(system, parent, line)
        line["unit_price"] = data["unit_price"]
    defaults = ("1", None, "0", "0")
    numbers = [_number(line.get(k), d) for k, d in zip(_PRICED, defaults, strict=True)]
    if any(n is None for n in numbers):
        return
    quantity, unit_price, discount, tax = (n for n in numbers if n is not None)
    data.update(line_amounts(quantity, unit_price, discount, tax))


def _number(value: Any, default: str | None) -> Decimal | None:
    if value is None:
        return None if default is None else Decimal(default)
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _list_price(system: XRM, parent: str, line: Mapping[str, Any]) -> Decimal:
    """The unit price of the line's product in its document's price list."""
    product, document_id = line.get("product"), line.get(parent)
    if product is None:
        raise RecordValidationError(
            "a line without a product needs a unit price",
            [Problem("/unit_price", "is required when the line has no product")],
        )
    price_list = None
    if document_id is not None:
        try:
            price_list = system.records(parent).get(document_id, fields=["price_list"])
        except (RecordNotFound, ValueError):
            price_list = None  # the record service reports the broken reference
    list_id = price_list.get("price_list") if price_list else None
    entries = []
    if list_id is not None:
        entries = (
            system.records("price_list_entry")
            .query(filter={"price_list": str(list_id), "product": str(product)}, limit=1)
            .records
        )
    if not entries:
        raise RecordValidationError(
            f"the {parent}'s price list has no price for this product: give a unit price",
            [Problem("/unit_price", "no price list entry for the product")],
            {"product": str(product), "price_list": str(list_id) if list_id else None},
        )
    price: Decimal = entries[0]["unit_price"]
    return price


def total_documents(system: XRM, event: Event) -> None:
    """``after`` stage of a line's change: sum its document's lines again."""
    assert event.entity is not None
    parent = LINES[event.entity]
    documents = {image.get(parent) for image in (event.before, event.after) if image}
    for document_id in documents:
        if document_id is not None:
            sum_lines(system, event.entity, uuid.UUID(str(document_id)))


def sum_lines(system: XRM, line_entity: str, document_id: uuid.UUID) -> None:
    """Write the sums of a document's lines onto it (a document being deleted is left)."""
    parent = LINES[line_entity]
    (sums,) = system.records(line_entity).aggregate(
        group_by=[],
        measures={
            "net": "sum:net_amount",
            "discount": "sum:discount_amount",
            "tax": "sum:tax_amount",
            "total": "sum:total",
        },
        filter={parent: str(document_id)},
    )
    zero = Decimal("0.00")
    net, discount = sums["net"] or zero, sums["discount"] or zero
    totals = {
        "subtotal": net + discount,
        "discount_total": discount,
        "tax_total": sums["tax"] or zero,
        "total": sums["total"] or zero,
    }
    documents = system.records(parent)
    if documents.count(filter={"id": str(document_id)}) == 0:
        return  # deleted with its lines: nothing to total
    documents.update(document_id, totals)
