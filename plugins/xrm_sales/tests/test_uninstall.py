"""Uninstalling sales, then contacts, with activities regarding deals (SQLite and PostgreSQL)."""

from __future__ import annotations

from xrm_core import XRM


def test_uninstalling_sales_clears_activities_regarding_deals_and_keeps_the_activities(
    xrm: XRM,
) -> None:
    acme = xrm.records("account").create({"name": "Acme"})
    deal = xrm.records("opportunity").create({"name": "Big deal", "account": acme["id"]})
    activities = xrm.records("activity")
    on_deal = activities.create(
        {"subject": "Demo", "regarding": {"entity": "opportunity", "id": deal["id"]}}
    )
    on_account = activities.create(
        {"subject": "Visit", "regarding": {"entity": "account", "id": acme["id"]}}
    )

    plan = xrm.plugins.plan_uninstall("sales", data="drop")
    xrm.plugins.uninstall("sales", data="drop", confirm=True)

    assert (
        "drop entity 'opportunity' and its 1 record(s); clear activity.regarding on 1 "
        "record(s) pointing at them"
    ) in str(plan)
    assert not xrm.metadata.exists("opportunity")
    cleared = activities.get(on_deal["id"])
    assert (cleared["subject"], cleared["regarding"]) == ("Demo", None)
    assert activities.get(on_account["id"]) == on_account

    xrm.plugins.uninstall("contacts", data="drop", confirm=True)

    assert not any(xrm.metadata.exists(e) for e in ("account", "contact", "activity"))
