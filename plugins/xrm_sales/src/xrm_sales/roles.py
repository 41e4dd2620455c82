"""The roles sales ships: Salesperson and Sales Manager."""

from __future__ import annotations

from xrm_core import RolePrivilege, RoleSpec

#: The user-owned records of the sales process.
DEALS = (
    "lead",
    "opportunity",
    "quote",
    "quote_line",
    "order",
    "order_line",
    "contract",
)
#: Organization-owned reference data: products and prices, assignment rules.
CATALOGUE = ("product", "price_list", "price_list_entry")
CUSTOMERS = ("account", "contact", "activity")
_ALL = ("create", "read", "update", "delete", "assign", "share")


def _cells(
    entities: tuple[str, ...], privileges: tuple[str, ...], scope: str
) -> list[RolePrivilege]:
    return [RolePrivilege(e, p, scope) for e in entities for p in privileges]


SALESPERSON = RoleSpec(
    "Salesperson",
    "Works their own leads, deals, quotes, orders and contracts; reads the accounts and "
    "contacts of their business unit and adds their own; reads the price lists.",
    [
        *_cells(DEALS, _ALL, "own"),
        *_cells(CUSTOMERS, ("create", "update"), "own"),
        *_cells(CUSTOMERS, ("read",), "business_unit"),
        *_cells(CATALOGUE, ("read",), "organization"),
    ],
)

SALES_MANAGER = RoleSpec(
    "Sales Manager",
    "Everything of Salesperson across their business unit and the units below it; "
    "maintains products, price lists and lead assignment rules.",
    [
        *_cells((*DEALS, *CUSTOMERS), _ALL, "subtree"),
        *_cells(
            (*CATALOGUE, "assignment_rule"), ("create", "read", "update", "delete"), "organization"
        ),
    ],
)

ROLES = [SALESPERSON, SALES_MANAGER]
