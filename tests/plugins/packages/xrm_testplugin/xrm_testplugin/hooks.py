"""The hooks of the test plugin: its manifest, an entity, a role and a subscriber."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from xrm_core import Proposal, RoleSpec, Subscriber, hookimpl


@hookimpl
def xrm_manifest() -> dict[str, Any]:
    return {"name": "testplugin"}  # everything else comes from the package metadata


@hookimpl
def xrm_entity_schemas() -> list[dict[str, Any]]:
    schema = resources.files("xrm_testplugin").joinpath("schemas", "ticket.json")
    return [json.loads(schema.read_text(encoding="utf-8"))]


@hookimpl
def xrm_roles() -> list[RoleSpec]:
    return [RoleSpec("Ticket agent", "Works on tickets.", [("ticket", "update", "own")])]


def tidy_title(proposal: Proposal) -> None:
    """Strip blanks around a ticket's title."""
    if isinstance(proposal.data.get("title"), str):
        proposal.data["title"] = proposal.data["title"].strip()


@hookimpl
def xrm_subscribers() -> list[Subscriber]:
    return [Subscriber("tidy_titles", "validate", "ticket.*", tidy_title)]
