"""The lead-to-order flow end to end through REST, GraphQL and the command line.

No endpoint is sales' own: the entities and actions are served because they are
metadata and declared actions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from xrm_core import XRM
from xrm_core.api.app import create_app
from xrm_core.cli import main
from xrm_core.settings import Settings

from .conftest import plugin_manager


@dataclass(frozen=True)
class Served:
    """The app, the database in the system context, a salesperson's token, the catalogue."""

    client: TestClient
    xrm: XRM
    token: str
    price_list: str
    product: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _catalogue(system: XRM) -> tuple[str, str]:
    prices = system.records("price_list").create({"name": "Standard", "currency": "EUR"})
    laptop = system.records("product").create({"name": "Laptop", "code": "LT-14"})
    system.records("price_list_entry").create(
        {"price_list": prices["id"], "product": laptop["id"], "unit_price": "1200"}
    )
    return str(prices["id"]), str(laptop["id"])


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[Served]:
    """Sales installed, a salesperson 'sam' with a token, the app serving it."""
    xrm = XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=plugin_manager())
    system = xrm.as_system("tests")
    system.plugins.install("sales")
    sam = system.security.create_user("sam", roles=["Salesperson"])
    token = system.auth.create_token(sam, name="tests").token
    price_list, product = _catalogue(system)
    app = create_app(xrm, settings=Settings(database_url=db_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Served(client, system, token, price_list, product)


def test_lead_to_order_over_rest(served: Served) -> None:
    def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = served.client.request(
            method, f"/api/v1/{path}", json=body, headers=served.headers()
        )
        assert response.status_code == status, response.text
        return response.json()

    lead = call(
        "POST",
        "lead",
        {"last_name": "Hopper", "company": "Navy Labs", "estimated_amount": "2400"},
        201,
    )
    qualified = call("POST", f"lead/{lead['id']}/actions/qualify", {})
    deal = qualified["opportunity_id"]
    assert call("PATCH", f"opportunity/{deal}", {"stage": "proposal"})["probability"] == 50
    quote = call(
        "POST",
        "quote",
        {"name": "Laptops", "opportunity": deal, "price_list": served.price_list},
        201,
    )
    line = {"quote": quote["id"], "product": served.product, "quantity": 2, "tax_percent": 20}
    assert call("POST", "quote_line", line, 201)["total"] == "2880.00"
    order = call("POST", f"quote/{quote['id']}/actions/convert_to_order", {})
    call("PATCH", f"opportunity/{deal}", {"stage": "won"})

    assert call("GET", f"order/{order['order_id']}")["total"] == "2880.00"
    stages = call("POST", "opportunity/$actions/pipeline", {"include_closed": True})["stages"]
    assert [(s["stage"], s["amount"]) for s in stages] == [("won", "2400.00")]
    paths = served.client.get("/api/openapi.json", headers=served.headers()).json()["paths"]
    assert "/api/v1/lead/{id}/actions/qualify" in paths
    assert "/api/v1/quote/{id}/actions/convert_to_order" in paths


def test_lead_to_order_over_graphql(served: Served) -> None:
    def run(query: str, **variables: Any) -> Any:
        body = {"query": query, "variables": variables}
        answer = served.client.post("/graphql", json=body, headers=served.headers()).json()
        assert "errors" not in answer, answer
        return answer["data"]

    lead = run(
        "mutation($d: Lead_Create!) { createLead(data: $d) { id status } }",
        d={"last_name": "Lamarr", "company": "Frequency Hopping Ltd"},
    )["createLead"]
    out = run("mutation($id: ID!) { leadQualify(id: $id, input: {}) }", id=lead["id"])
    deal = out["leadQualify"]["opportunity_id"]
    quote = run(
        "mutation($d: Quote_Create!) { createQuote(data: $d) { id } }",
        d={"name": "Radios", "opportunity": deal, "price_list": served.price_list},
    )["createQuote"]
    run(
        "mutation($d: QuoteLine_Create!) { createQuoteLine(data: $d) { total } }",
        d={"quote": quote["id"], "product": served.product, "quantity": 3},
    )
    made = run("mutation($id: ID!) { quoteConvertToOrder(id: $id) }", id=quote["id"])

    order_id = made["quoteConvertToOrder"]["order_id"]
    found = run("query($id: ID!) { order(id: $id) { id total quote { name } } }", id=order_id)[
        "order"
    ]
    assert found == {"id": order_id, "total": "3600.00", "quote": {"name": "Radios"}}
    lead = run("query($id: ID!) { lead(id: $id) { status } }", id=lead["id"])["lead"]
    assert lead == {"status": "qualified"}


def test_lead_to_order_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/xrm.db"
    monkeypatch.setenv("XRM_DATABASE_URL", url)
    monkeypatch.setenv("XRM_LOAD_PLUGINS", "contacts,sales")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def xrm(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    xrm("db", "upgrade")
    assert "done." in xrm("plugins", "install", "sales")
    system = XRM.from_url(url).as_system("catalogue")
    price_list, product = _catalogue(system)
    system.close()
    (tmp_path / "leads.csv").write_text(
        "last_name,company,email\nTuring,Bletchley,alan@b.example\n"
    )
    xrm("import", "lead", "leads.csv")
    (lead,) = _jsonl(xrm("export", "lead", "-", "--format", "jsonl"))
    qualified = json.loads(xrm("action", "run", "lead.qualify", lead["id"]))
    quote = {"name": "Bombes", "opportunity": qualified["opportunity_id"], "price_list": price_list}
    (tmp_path / "quote.jsonl").write_text(json.dumps(quote) + "\n")
    xrm("import", "quote", "quote.jsonl")
    (quote,) = _jsonl(xrm("export", "quote", "-", "--format", "jsonl"))
    line = {"quote": quote["id"], "product": product, "quantity": 5, "discount_percent": 10}
    (tmp_path / "lines.jsonl").write_text(json.dumps(line) + "\n")
    # `xrm import` starts no plugins (yet): the line is stored unpriced, and the
    # action, which starts them, prices the order's copy from the price list.
    xrm("import", "quote_line", "lines.jsonl")
    order = json.loads(xrm("action", "run", "quote.convert_to_order", quote["id"]))

    # 5 x 1200.00 less 10%.
    assert order["total"] == "5400.00"
    (stored,) = _jsonl(xrm("export", "order", "-", "--format", "jsonl"))
    assert (stored["id"], stored["total"], stored["quote"]) == (
        order["order_id"],
        "5400.00",
        quote["id"],
    )


def _jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
