"""Fixtures for the HTTP API: the real app on both databases, users with API tokens.

Requests go through httpx (Starlette's TestClient) into the ASGI app — the
same code ``xrm serve`` runs under uvicorn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm_core import XRM
from xrm_core.api.app import create_app
from xrm_core.settings import Settings


@dataclass(frozen=True)
class Api:
    """The app under test, its database (in the system context) and two users' tokens."""

    client: TestClient
    xrm: XRM
    admin_token: str
    clerk_token: str

    def headers(self, token: str | None = None) -> dict[str, str]:
        """Headers authenticating as ``token`` (the administrator by default)."""
        return {"Authorization": f"Bearer {token or self.admin_token}"}


def make_api(db_url: str, tmp_path: Path, **settings: object) -> Iterator[Api]:
    """Open the database, install security, make an administrator and a clerk, serve."""
    xrm = XRM.from_url(db_url, export_dir=tmp_path / "exports")
    system = xrm.as_system("tests")
    system.security.install()
    admin = system.security.create_user("admin", roles=["System Administrator"])
    clerk = system.security.create_user("clerk", roles=["Basic User"])
    tokens = [system.auth.create_token(u, name="tests").token for u in (admin, clerk)]
    app = create_app(xrm, settings=Settings(database_url=db_url, **settings))  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, system, *tokens)


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """The API on an empty database (SQLite and PostgreSQL)."""
    yield from make_api(db_url, tmp_path)


#: Accounts and deals (with a many-to-many ``partners`` link), as the record tests use them.
ENTITIES: list[dict[str, Any]] = [
    {
        "x-xrm": {
            "name": "account",
            "alternate_keys": [{"name": "by_number", "fields": ["number"]}],
        },
        "properties": {
            "name": {"type": "string"},
            "number": {"type": "string"},
            "credit_limit": {"x-xrm": {"kind": "money", "secured": True}},
        },
        "required": ["name"],
    },
    {
        "x-xrm": {
            "name": "deal",
            "relationships": [
                {
                    "name": "partners",
                    "target": "account",
                    "attributes": {"weight": {"type": "integer"}},
                }
            ],
        },
        "properties": {
            "title": {"type": "string", "maxLength": 50},
            "amount": {"x-xrm": {"kind": "money"}},
            "stage": {"enum": ["new", "won", "lost"]},
            "account": {"x-xrm": {"kind": "lookup", "target": "account", "on_delete": "restrict"}},
        },
        "required": ["title"],
    },
]


@pytest.fixture
def crm(api: Api) -> Api:
    """The API with accounts and deals defined, and one account with three deals."""
    api.xrm.metadata.define(ENTITIES)
    acme = api.xrm.records("account").create({"name": "Acme", "number": "A-1"})
    api.xrm.records("deal").create_many(
        [
            {"title": "Shelves", "amount": 1200, "stage": "won", "account": acme["id"]},
            {"title": "Tills", "amount": 800, "stage": "won", "account": acme["id"]},
            {"title": "Signs", "amount": 3000, "stage": "new", "account": acme["id"]},
        ]
    )
    return api
