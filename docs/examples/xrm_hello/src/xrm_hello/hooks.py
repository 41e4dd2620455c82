"""What the hello plugin declares to xRM.

xRM finds this module through the entry point ``hello`` of the group
``xrm.plugins`` (see ``pyproject.toml``) and calls the functions marked
``@hookimpl``. They only declare things; xRM does the work.
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

from xrm_core import XRM, Proposal, RoleSpec, Subscriber, hookimpl


@hookimpl
def xrm_manifest() -> dict[str, Any]:
    """Only the name: version, description and dependencies come from pyproject.toml."""
    return {"name": "hello"}


@hookimpl
def xrm_entity_schemas() -> list[dict[str, Any]]:
    """The entities: one JSON Schema file each, shipped in ``schemas/``."""
    folder = resources.files("xrm_hello").joinpath("schemas")
    files = sorted(folder.iterdir(), key=lambda f: f.name)
    return [json.loads(f.read_text(encoding="utf-8")) for f in files if f.name.endswith(".json")]


@hookimpl
def xrm_roles() -> list[RoleSpec]:
    """The roles an administrator gives people who use the plugin."""
    return [
        RoleSpec(
            "Receptionist",
            "Welcomes visitors and logs their visits; sees every visitor and visit.",
            [
                ("visitor", "create", "organization"),
                ("visitor", "read", "organization"),
                ("visitor", "update", "organization"),
                ("visit", "create", "own"),
                ("visit", "read", "organization"),
                ("visit", "update", "own"),
            ],
        )
    ]


def greet(proposal: Proposal) -> None:
    """Give a new visitor a greeting, unless one was given."""
    name = proposal.data.get("name")
    # Runs before validation: a visitor without a name is refused by the
    # record service itself, with a clear error; nothing to greet here.
    if isinstance(name, str) and not proposal.data.get("greeting"):
        proposal.data["greeting"] = f"Hello, {name.strip()}!"


@hookimpl
def xrm_subscribers() -> list[Subscriber]:
    """Greet each new visitor before the record is validated and written."""
    return [Subscriber("greet_visitors", "validate", "visitor.created", greet)]


_DEMO_VISITORS = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson"]
_DEMO_PURPOSES = ["meeting", "delivery", "interview", "other"]


@hookimpl
def xrm_demo_data(xrm: XRM, size: int) -> None:
    """``size`` visitors, each with one visit, for ``xrm demo``."""
    names = [_DEMO_VISITORS[i % len(_DEMO_VISITORS)] for i in range(size)]
    first_day = dt.date(2024, 3, 4)
    with xrm.transaction():  # all of it or nothing
        made = xrm.records("visitor").create_many([{"name": name} for name in names])
        visits = [
            {
                "visitor": row.record["id"],
                "visited_on": first_day + dt.timedelta(days=row.index % 5),
                "purpose": _DEMO_PURPOSES[row.index % len(_DEMO_PURPOSES)],
            }
            for row in made.rows
            if row.record is not None
        ]
        xrm.records("visit").create_many(visits)
