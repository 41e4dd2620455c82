"""The dashboard's sales charts: the pipeline by stage and the forecast by month."""

from __future__ import annotations

import re
from decimal import Decimal

from playwright.sync_api import Page, expect

from admin_ui.charts import forecast_charts, pipeline_charts
from tests.admin_ui.conftest import Admin, Server


def test_the_dashboard_shows_the_pipeline_and_the_forecast_as_charts(
    admin: Page, admin_server: Server
) -> None:
    xrm = admin_server.xrm()
    try:
        deals = xrm.as_system("check").records("opportunity")
        stages = deals.aggregate(group_by=["stage"], measures={"count": "count"})
    finally:
        xrm.close()
    admin.goto("/admin/")
    pipeline = admin.get_by_role("img", name="Pipeline by stage (EUR)")
    forecast = admin.get_by_role("img", name="Forecast by month (EUR)")
    expect(pipeline).to_be_visible()
    expect(forecast).to_be_visible()
    expect(pipeline.locator("rect")).to_have_count(len(stages))
    numbers = admin.locator("#chart-pipeline-eur table tbody tr")
    for row in stages:
        stage = numbers.filter(has=admin.locator("th", has_text=re.compile(f"^{row['stage']}$")))
        expect(stage.locator("td").first).to_have_text(str(row["count"]))
    months = admin.locator("#chart-forecast-eur table tbody tr th")
    expect(months.first).to_have_text(re.compile(r"^\d{4}-\d{2}$"))


def test_the_numbers_are_summed_per_stage_in_pipeline_order_and_weighted_per_month() -> None:
    by_stage = [
        {"stage": "won", "currency": "EUR", "count": 1, "amount": Decimal("500.00")},
        {"stage": "proposal", "currency": "EUR", "count": 2, "amount": Decimal("1000.00")},
        {"stage": "proposal", "currency": "USD", "count": 1, "amount": Decimal("70.00")},
    ]
    eur, usd = pipeline_charts(by_stage, ["prospecting", "proposal", "won", "lost"])
    assert eur.title == "Pipeline by stage (EUR)" and usd.title == "Pipeline by stage (USD)"
    assert eur.rows == (("proposal", "2", "1,000.00"), ("won", "1", "500.00"))
    assert [b.width for b in eur.bars] == [200.0, 100.0]  # the largest fills the room
    by_month = [
        {
            "expected_close:month": "2025-03",
            "currency": "EUR",
            "probability": 50,
            "amount": Decimal("1000"),
        },
        {
            "expected_close:month": "2025-03",
            "currency": "EUR",
            "probability": 100,
            "amount": Decimal("200"),
        },
        {
            "expected_close:month": "2025-01",
            "currency": "EUR",
            "probability": None,
            "amount": Decimal("9"),
        },
    ]
    (forecast,) = forecast_charts(by_month)
    assert forecast.rows == (("2025-01", "0.00"), ("2025-03", "700.00"))


def test_without_sales_the_dashboard_has_no_charts(inprocess: Admin) -> None:
    inprocess.sign_in()
    page = inprocess.client.get("/admin/")
    assert page.status_code == 200 and 'id="sales-charts"' not in page.text
    # The counts, read in one read-only transaction, are the users admin and clerk.
    assert '<a href="/admin/records/user">user</a></td><td class="num">2</td>' in page.text
