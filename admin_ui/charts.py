"""The dashboard's sales charts: the pipeline by stage and the forecast by month.

Shown when the ``sales`` plugin is installed and the user may read opportunities.
The numbers come from the record service's aggregates, so they are the deals
the user may read, summed by the database. Each chart is drawn as a plain SVG
bar chart by ``templates/_charts.html`` (no JavaScript), from the geometry
computed here, and its numbers are also given as a table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xrm_core.errors import AccessDenied, UnknownEntity
from xrm_core.xrm import XRM

#: The plugin whose deals the charts show, and its entity.
SALES, OPPORTUNITY = "sales", "opportunity"
#: A forecast over more months shows only the latest ones (a bar a month stays readable).
MAX_MONTHS = 36
#: The SVG's coordinate system: labels on the left, bars, then the value.
WIDTH, LABEL_WIDTH, VALUE_WIDTH, ROW_HEIGHT = 480, 110, 170, 30
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Bar:
    """One bar: its label, the text at its end, and where it is drawn."""

    label: str
    text: str
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart and the table of its numbers."""

    id: str
    title: str
    #: One sentence saying what the chart shows (its SVG's description).
    summary: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    bars: tuple[Bar, ...]
    note: str = ""

    @property
    def height(self) -> int:
        """The SVG's height in its own units."""
        return max(len(self.bars), 1) * ROW_HEIGHT + 10

    @property
    def width(self) -> int:
        """The SVG's width in its own units (it scales to the page)."""
        return WIDTH

    @property
    def bar_x(self) -> int:
        """Where the bars start."""
        return LABEL_WIDTH


def sales_charts(xrm: XRM) -> list[Chart]:
    """The pipeline and forecast charts for ``xrm``'s user; none without sales or access."""
    if SALES not in xrm.plugins.installed():
        return []
    try:
        stages = xrm.metadata.get(OPPORTUNITY).field("stage").choices
        deals = xrm.records(OPPORTUNITY)
        by_stage = deals.aggregate(
            group_by=["stage", "currency"],
            measures={"count": "count", "amount": "sum:amount"},
        )
        by_month = deals.aggregate(
            group_by=["expected_close:month", "currency", "probability"],
            measures={"amount": "sum:amount"},
            filter={"stage": {"ne": "lost"}, "expected_close": {"is_null": False}},
        )
    except (AccessDenied, UnknownEntity, KeyError):
        return []  # not theirs to see, or a sales without the fields the charts read
    pipeline = pipeline_charts(by_stage, stages) or [_empty("pipeline", "Pipeline by stage")]
    forecast = forecast_charts(by_month) or [_empty("forecast", "Forecast by month")]
    return pipeline + forecast


def pipeline_charts(rows: Iterable[Mapping[str, Any]], stages: Sequence[str]) -> list[Chart]:
    """Amount and count of deals per stage (in pipeline order), a chart per currency."""
    charts = []
    for currency, found in _by_currency(rows).items():
        order = {stage: n for n, stage in enumerate(stages)}
        found.sort(key=lambda r: order.get(r["stage"], len(order)))
        labels = [str(r["stage"] or "(no stage)") for r in found]
        amounts = [r["amount"] or ZERO for r in found]
        texts = [f"{_money(a)} · {_deals(r['count'])}" for a, r in zip(amounts, found, strict=True)]
        table = tuple(
            (label, str(r["count"]), _money(a))
            for label, r, a in zip(labels, found, amounts, strict=True)
        )
        charts.append(
            Chart(
                id=_id("pipeline", currency),
                title=f"Pipeline by stage ({currency})",
                summary=f"Amount of the deals in each stage, in {currency}, "
                "with how many deals there are.",
                columns=("Stage", "Deals", f"Amount ({currency})"),
                rows=table,
                bars=_bars(labels, amounts, texts),
            )
        )
    return charts


def forecast_charts(rows: Iterable[Mapping[str, Any]]) -> list[Chart]:
    """Weighted amount (amount times probability) per month of expected close, a chart per currency.

    ``rows`` are grouped by ``expected_close:month``, ``currency`` and ``probability``
    with the ``amount`` summed; lost deals are expected to be left out already.
    """
    charts = []
    for currency, found in _by_currency(rows).items():
        months: dict[str, Decimal] = {}
        for r in found:
            weighted = (r["amount"] or ZERO) * (r["probability"] or 0) / 100
            month = str(r["expected_close:month"])
            months[month] = months.get(month, ZERO) + weighted
        shown = sorted(months)[-MAX_MONTHS:]
        note = "" if len(shown) == len(months) else f"The latest {MAX_MONTHS} months only."
        amounts = [months[m].quantize(ZERO) for m in shown]
        charts.append(
            Chart(
                id=_id("forecast", currency),
                title=f"Forecast by month ({currency})",
                summary=f"Weighted amount (amount times probability) of the deals expected "
                f"to close each month, in {currency}; lost deals left out.",
                columns=("Month", f"Weighted amount ({currency})"),
                rows=tuple((m, _money(a)) for m, a in zip(shown, amounts, strict=True)),
                bars=_bars(shown, amounts, [_money(a) for a in amounts]),
                note=note,
            )
        )
    return charts


def _empty(kind: str, title: str) -> Chart:
    return Chart(f"chart-{kind}", title, "No deals yet.", (), (), ())


def _by_currency(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    # Amounts in different currencies are never added up: a chart each.
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row.get("currency") or "no currency"), []).append(dict(row))
    return dict(sorted(grouped.items()))


def _bars(
    labels: Sequence[str], values: Sequence[Decimal], texts: Sequence[str]
) -> tuple[Bar, ...]:
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    top = max(values, default=ZERO)
    return tuple(
        Bar(
            label=label,
            text=text,
            y=n * ROW_HEIGHT + 5,
            width=round(float(value / top) * room, 1) if top > 0 else 0.0,
        )
        for n, (label, value, text) in enumerate(zip(labels, values, texts, strict=True))
    )


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _deals(count: int) -> str:
    return f"{count} deal" + ("" if count == 1 else "s")


def _id(kind: str, currency: str) -> str:
    return f"chart-{kind}-" + "".join(c for c in currency.lower() if c.isalnum())
