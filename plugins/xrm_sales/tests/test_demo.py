"""Demo data: deterministic, owned by the demo users, across every stage."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import xrm_contacts.hooks
import xrm_sales
from packaging.specifiers import SpecifierSet
from xrm_contacts import timeline
from xrm_sales import demo, hooks

from xrm_core import XRM
from xrm_core.plugins import manifest_from_distribution

from .conftest import installed


def _fill(xrm: XRM) -> dict[str, int]:
    xrm_contacts.hooks.xrm_demo_data(xrm, 20)
    return demo.load(xrm, 20)


def test_the_demo_fills_every_entity_owned_by_the_demo_users(xrm: XRM) -> None:
    added = _fill(xrm)

    assert added["lead"] == 20 and added["opportunity"] == 10
    assert added["order"] == added["contract"] > 0 and added["activity"] > 0
    stages = {r["stage"] for r in xrm.records("opportunity").aggregate(group_by=["stage"])}
    assert {"won", "lost"} <= stages and len(stages) >= 4
    owners = {r["owner_id"] for r in xrm.records("opportunity").aggregate(group_by=["owner_id"])}
    users = xrm.records("user").query(filter={"username": {"in": list(demo.DEMO_USERS)}})
    assert owners == {u["id"] for u in users}
    for order in xrm.records("order").query(limit=100):
        assert order["total"] is not None and order["total"] > 0
    assert demo.load(xrm, 20) == {}  # again: nothing added


def test_the_demo_logs_activities_on_deals_and_leads_shown_on_their_timelines(xrm: XRM) -> None:
    _fill(xrm)

    about = xrm.records("activity").aggregate(group_by=["regarding.entity"])
    counts = {r["regarding.entity"]: r["count"] for r in about}
    assert counts["opportunity"] == 10
    working = xrm.records("lead").count(filter={"status": "working"})
    assert counts["lead"] == working > 0
    deal = xrm.records("opportunity").query(order=["name"], limit=1).records[0]
    logged = [i for i in timeline(xrm, "opportunity", deal["id"]) if i.source == "activity"]
    assert len(logged) == 1 and logged[0].summary.endswith(f"about {deal['name']}")


def test_the_demo_is_the_same_every_time(xrm: XRM, tmp_path: Path) -> None:
    other = installed(f"sqlite:///{tmp_path}/other.db", tmp_path)
    try:
        _fill(xrm)
        _fill(other)

        def sample(db: XRM) -> list[tuple[object, ...]]:
            leads = db.records("lead").query(order=["email"], limit=1000)
            totals = db.records("order").aggregate(measures={"sum": "sum:total"})
            return [(r["email"], r["score"], r["status"]) for r in leads] + [totals[0]["sum"]]

        assert sample(xrm) == sample(other)
    finally:
        other.close()


def test_the_manifest_agrees_with_the_package() -> None:
    manifest = hooks.xrm_manifest()

    assert manifest["version"] == xrm_sales.__version__ == metadata.version("xrm-sales")
    package = manifest_from_distribution("xrm-sales")
    assert set(package["dependencies"]) == set(manifest["dependencies"]) == {"contacts"}
    assert SpecifierSet(package["dependencies"]["contacts"]) == SpecifierSet(">=1.1,<2")
    assert SpecifierSet(package["core"]) == SpecifierSet(manifest["core"])
