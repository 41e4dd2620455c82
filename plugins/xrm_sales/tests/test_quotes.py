"""Quotes and orders: prices from the price list, computed totals, conversion to an order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from xrm_core import XRM, RecordValidationError


def catalogue(xrm: XRM) -> dict[str, Any]:
    """Two products priced in one list, and a draft quote using that list."""
    widget = xrm.records("product").create({"name": "Widget", "code": "W-1"})
    gadget = xrm.records("product").create({"name": "Gadget", "code": "G-1"})
    prices = xrm.records("price_list").create({"name": "Standard", "currency": "EUR"})
    entries = xrm.records("price_list_entry")
    entries.create({"price_list": prices["id"], "product": widget["id"], "unit_price": "19.99"})
    entries.create({"price_list": prices["id"], "product": gadget["id"], "unit_price": "250"})
    quote = xrm.records("quote").create({"name": "Q-1", "price_list": prices["id"]})
    return {"widget": widget["id"], "gadget": gadget["id"], "quote": quote["id"]}


def test_a_line_takes_its_price_from_the_price_list_and_computes_its_amounts(xrm: XRM) -> None:
    c = catalogue(xrm)

    line = xrm.records("quote_line").create(
        {
            "quote": c["quote"],
            "product": c["widget"],
            "quantity": 3,
            "discount_percent": 10,
            "tax_percent": 20,
        }
    )

    # 3 x 19.99 = 59.97; discount 5.997 → 6.00; net 53.97; tax 10.794 → 10.79.
    amounts = {k: str(line[k]) for k in ("unit_price", "discount_amount", "net_amount")}
    assert amounts == {"unit_price": "19.99", "discount_amount": "6.00", "net_amount": "53.97"}
    assert (str(line["tax_amount"]), str(line["total"])) == ("10.79", "64.76")


def test_the_quote_sums_its_lines_as_they_change(xrm: XRM) -> None:
    c = catalogue(xrm)
    lines = xrm.records("quote_line")
    widgets = lines.create({"quote": c["quote"], "product": c["widget"], "quantity": 10})
    lines.create(
        {"quote": c["quote"], "product": c["gadget"], "unit_price": "200", "tax_percent": 10}
    )

    quote = xrm.records("quote").get(c["quote"])
    # widgets 199.90; gadget at a negotiated 200.00 + 20.00 tax.
    assert [str(quote[k]) for k in ("subtotal", "discount_total", "tax_total", "total")] == [
        "399.90",
        "0.00",
        "20.00",
        "419.90",
    ]

    lines.update(widgets["id"], {"discount_percent": 50})
    assert str(xrm.records("quote").get(c["quote"])["total"]) == "319.95"
    lines.delete(widgets["id"])
    assert str(xrm.records("quote").get(c["quote"])["total"]) == "220.00"


def test_typed_amounts_are_replaced_by_computed_ones(xrm: XRM) -> None:
    c = catalogue(xrm)

    line = xrm.records("quote_line").create(
        {"quote": c["quote"], "product": c["gadget"], "total": "1.00", "net_amount": "1.00"}
    )

    assert (line["net_amount"], line["total"]) == (Decimal("250.00"), Decimal("250.00"))


def test_a_product_without_a_price_needs_one_given(xrm: XRM) -> None:
    c = catalogue(xrm)
    unpriced = xrm.records("product").create({"name": "Gizmo", "code": "Z-1"})

    with pytest.raises(RecordValidationError) as refused:
        xrm.records("quote_line").create({"quote": c["quote"], "product": unpriced["id"]})

    assert refused.value.problems[0].pointer == "/unit_price"
    assert xrm.records("quote_line").count() == 0


def test_converting_a_quote_makes_an_order_with_its_lines(xrm: XRM) -> None:
    c = catalogue(xrm)
    lines = xrm.records("quote_line")
    lines.create({"quote": c["quote"], "product": c["widget"], "quantity": 2, "position": 1})
    lines.create({"quote": c["quote"], "product": c["gadget"], "tax_percent": 20, "position": 2})

    out = xrm.actions.run("quote.convert_to_order", c["quote"], {"ordered_on": "2025-02-01"})

    order = xrm.records("order").get(out.order_id)
    assert (out.lines, out.total, order["total"]) == (2, Decimal("339.98"), Decimal("339.98"))
    assert (order["quote"], str(order["ordered_on"])) == (c["quote"], "2025-02-01")
    copied = xrm.records("order_line").query(filter={"order": str(order["id"])}, order=["position"])
    assert [(r["product"], str(r["total"])) for r in copied] == [
        (c["widget"], "39.98"),
        (c["gadget"], "300.00"),
    ]
    quote = xrm.records("quote").get(c["quote"])
    assert (quote["status"], quote["order"]) == ("converted", order["id"])


def test_a_quote_converts_once(xrm: XRM) -> None:
    c = catalogue(xrm)
    xrm.records("quote_line").create({"quote": c["quote"], "product": c["widget"]})
    xrm.actions.run("quote.convert_to_order", c["quote"])

    with pytest.raises(RecordValidationError) as refused:
        xrm.actions.run("quote.convert_to_order", c["quote"])

    assert refused.value.problems[0].pointer == "/status"
    assert xrm.records("order").count() == 1


def test_an_empty_quote_does_not_convert(xrm: XRM) -> None:
    c = catalogue(xrm)

    with pytest.raises(RecordValidationError, match="no lines"):
        xrm.actions.run("quote.convert_to_order", c["quote"])

    assert xrm.records("order").count() == 0
