"""The sales plugin's hooks: what xRM calls to install, start and demo it.

Every hook is an ordinary function marked ``@hookimpl``; the work is in the
modules beside this one (``leads``, ``pipeline``, ``pricing``, ``orders``,
``contracts``, ``roles``, ``demo``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from importlib import resources
from typing import Any

from xrm_contacts import timeline_action

from xrm_core import XRM, Action, RoleSpec, Subscriber, hookimpl
from xrm_sales import __version__, contracts, demo, leads, orders, pipeline, pricing, roles


@hookimpl
def xrm_manifest() -> dict[str, Any]:
    """Who sales is; the same as its package says (a test checks they agree)."""
    return {
        "name": "sales",
        "version": __version__,
        "description": "Sales force automation: leads, opportunities, products and price "
        "lists, quotes, orders, contracts, pipeline and forecast.",
        "core": ">=0.1,<1",
        "dependencies": {"contacts": ">=1.1,<2"},
    }


@hookimpl
def xrm_entity_schemas() -> list[dict[str, Any]]:
    """The entities: one JSON Schema file each, shipped in ``schemas/``."""
    folder = resources.files("xrm_sales").joinpath("schemas")
    files = sorted(folder.iterdir(), key=lambda f: f.name)
    return [json.loads(f.read_text(encoding="utf-8")) for f in files if f.name.endswith(".json")]


@hookimpl
def xrm_roles() -> list[RoleSpec]:
    """Salesperson and Sales Manager."""
    return roles.ROLES


@hookimpl
def xrm_subscribers() -> list[Subscriber]:
    """The handlers that need nothing but the event (the others join at start-up)."""
    return [
        Subscriber(
            "sales_stage_probability",
            "validate",
            "opportunity.*",
            pipeline.stage_defaults,
            entity="opportunity",
        )
    ]


@hookimpl
def xrm_startup(xrm: XRM) -> None:
    """Subscribe the handlers that read and write other records, bound to ``xrm``.

    A handler receives only its event; these need an XRM (in the system context)
    to read price lists and rules and to write totals and assignments, inside
    the transaction of the change they react to. They are owned by ``sales`` like
    the declared ones, so ``xrm.bypassing_handlers`` skips them too.
    """
    # The server starts plugins on an XRM without a caller (each request brings
    # its own): the handlers act in the system context, explicitly.
    for subscriber in bound_subscribers(xrm.as_system("sales")):
        xrm.events.replace(subscriber)


def bound_subscribers(xrm: XRM) -> list[Subscriber]:
    """The handlers of :func:`xrm_startup`, bound to ``xrm``."""

    def bound(handler: Callable[[XRM, Any], None]) -> Callable[[Any], None]:
        return partial(handler, xrm)

    return [
        Subscriber(
            "sales_opportunity_outcome",
            "after",
            "opportunity.updated",
            bound(pipeline.announce_outcome),
            entity="opportunity",
            fields={"stage"},
            owner="sales",
        ),
        Subscriber(
            "sales_lead_assignment",
            "after",
            "lead.created",
            bound(leads.assign_new_lead),
            entity="lead",
            owner="sales",
        ),
        *(
            Subscriber(
                f"sales_line_prices_{line}",
                "validate",
                f"{line}.*",
                bound(pricing.price_lines),
                entity=line,
                owner="sales",
            )
            for line in pricing.LINES
        ),
        *(
            Subscriber(
                f"sales_document_totals_{line}",
                "after",
                f"{line}.*",
                bound(pricing.total_documents),
                entity=line,
                owner="sales",
            )
            for line in pricing.LINES
        ),
    ]


@hookimpl
def xrm_actions() -> list[Action]:
    """lead.qualify, quote.convert_to_order, the pipeline, the forecast, renewals, and the
    timeline of leads and opportunities."""
    return [
        Action(
            "lead",
            "qualify",
            leads.QualifyInput,
            leads.QualifyOutput,
            leads.qualify,
            privilege="update",
            description="Turn a lead into an account, a contact and an opportunity "
            "(matching existing ones), in one transaction.",
        ),
        Action(
            "quote",
            "convert_to_order",
            orders.ConvertInput,
            orders.ConvertOutput,
            orders.convert_to_order,
            privilege="update",
            description="Make an order with the quote's lines; the quote becomes converted.",
        ),
        Action(
            "opportunity",
            "pipeline",
            pipeline.PipelineInput,
            pipeline.PipelineOutput,
            pipeline.pipeline,
            privilege="read",
            on="collection",
            description="Amount and weighted amount (amount x probability) by stage.",
        ),
        Action(
            "opportunity",
            "forecast",
            pipeline.ForecastInput,
            pipeline.ForecastOutput,
            pipeline.forecast,
            privilege="read",
            on="collection",
            description="Amount, weighted amount and won amount by owner and month of "
            "expected close.",
        ),
        Action(
            "contract",
            "check_renewals",
            contracts.RenewalsInput,
            contracts.RenewalsOutput,
            contracts.check_renewals,
            privilege="update",
            on="collection",
            description="Raise sales.contract.renewal_due once for each active contract "
            "whose renewal date is near (run daily, from cron).",
        ),
        # Activities regard any record: leads and deals have a timeline like accounts.
        timeline_action("lead"),
        timeline_action("opportunity"),
    ]


@hookimpl
def xrm_demo_data(xrm: XRM, size: int) -> None:
    """Leads, opportunities across stages, quotes, orders, contracts and activities."""
    names = {s.name for stage in ("validate", "after") for s in xrm.events.of_stage(stage)}
    if "sales_line_prices_quote_line" not in names:
        # Not started on this XRM: the demo's quotes need their prices and totals.
        for subscriber in xrm_subscribers():
            xrm.events.replace(replace(subscriber, owner="sales"))
        xrm_startup(xrm)
    demo.load(xrm, size)
