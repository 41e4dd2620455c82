"""The home page: how many records of each entity the user may read."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.charts import sales_charts
from admin_ui.web import Page, view
from xrm_core.errors import AccessDenied


def routes() -> list[BaseRoute]:
    """The dashboard."""
    return [Route("/", view(dashboard), methods=["GET"])]


def dashboard(page: Page) -> Response:
    """Counts per entity (those the user may read), largest first."""
    # A statement per entity (each carries that entity's permission filter), all in
    # one read-only transaction: one connection and one BEGIN for the page.
    with page.xrm.transaction(write=False):
        counts = []
        for definition in page.xrm.metadata.entities():
            try:
                counts.append((definition.name, page.xrm.records(definition.name).count()))
            except AccessDenied:
                continue
        charts = sales_charts(page.xrm)
    counts.sort(key=lambda c: (-c[1], c[0]))
    return page.render("dashboard.html", {"counts": counts, "charts": charts})
