"""Fixtures for GraphQL: the real app on both databases, a CRM-like model, a real client.

Queries go through ``gql`` (a standard GraphQL client from PyPI) over httpx
into the ASGI app, or, for the simple checks, through Starlette's TestClient.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXAsyncTransport
from starlette.applications import Starlette
from starlette.testclient import TestClient

from xrm_core import XRM
from xrm_core.api.app import create_app
from xrm_core.graphql.endpoint import GraphQLEndpoint
from xrm_core.settings import Settings

MODEL: list[dict[str, Any]] = [
    {
        "x-xrm": {"name": "account"},
        "properties": {
            "name": {"type": "string"},
            "industry": {"enum": ["retail", "food", "tech"]},
            "parent": {"x-xrm": {"kind": "lookup", "target": "account"}},
            "credit_limit": {"x-xrm": {"kind": "money", "secured": True}},
        },
        "required": ["name"],
    },
    {
        "x-xrm": {
            "name": "contact",
            "relationships": [
                {"name": "tags", "target": "tag", "attributes": {"weight": {"type": "integer"}}}
            ],
        },
        "properties": {
            "name": {"type": "string", "maxLength": 50},
            "email": {"type": "string", "format": "email"},
            "salary": {"x-xrm": {"kind": "money"}},
            "born": {"type": "string", "format": "date"},
            "account": {"x-xrm": {"kind": "lookup", "target": "account", "on_delete": "cascade"}},
        },
        "required": ["name"],
    },
    {"x-xrm": {"name": "tag"}, "properties": {"label": {"type": "string"}}},
]


@dataclass(frozen=True)
class Api:
    """The app, its database in the system context, and an administrator's and a clerk's tokens."""

    app: Starlette
    client: TestClient
    xrm: XRM
    admin_token: str
    clerk_token: str

    def post(self, query: str, variables: dict[str, Any] | None = None, token: str = "") -> Any:
        """POST a GraphQL request with the TestClient; the decoded response."""
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        body = {"query": query, "variables": variables or {}}
        response = self.client.post("/graphql", json=body, headers=headers)
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    def execute(
        self, query: str, variables: dict[str, Any] | None = None, token: str = ""
    ) -> dict[str, Any]:
        """Run ``query`` through the gql client (which first fetches the schema by
        introspection and validates the query against it); its ``data``."""

        async def run() -> dict[str, Any]:
            async with self.gql_client(token) as session:
                return await session.execute(GraphQLRequest(query, variable_values=variables))

        return asyncio.run(run())

    def gql_client(self, token: str = "") -> Client:
        """A gql client speaking HTTP to the ASGI app."""
        transport = HTTPXAsyncTransport(
            url="http://xrm.test/graphql",
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
            transport=httpx.ASGITransport(app=self.app),
        )
        return Client(transport=transport, fetch_schema_from_transport=True)

    @property
    def endpoint(self) -> GraphQLEndpoint:
        """The app's GraphQL endpoint (for its schema cache)."""
        for route in self.app.routes:
            if getattr(route, "path", None) == "/graphql":
                endpoint: GraphQLEndpoint = route.endpoint.__self__  # type: ignore[attr-defined]
                return endpoint
        raise LookupError("no /graphql route")


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app with the model defined, on SQLite and PostgreSQL."""
    xrm = XRM.from_url(db_url, export_dir=tmp_path / "exports")
    system = xrm.as_system("tests")
    system.security.install()
    admin = system.security.create_user("admin", roles=["System Administrator"])
    clerk = system.security.create_user("clerk", roles=["Basic User"])
    tokens = [system.auth.create_token(u, name="tests").token for u in (admin, clerk)]
    system.metadata.define(MODEL)
    app = create_app(xrm, settings=Settings(database_url=db_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(app, client, system, *tokens)
