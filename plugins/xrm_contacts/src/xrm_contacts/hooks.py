"""The contacts plugin's hooks: accounts, contacts, activities, their actions and demo data."""

from __future__ import annotations

import functools
import json
import uuid
from importlib import metadata, resources
from typing import Any

from xrm_core import XRM, Action, Subscriber, TimelineEntry, hookimpl

from xrm_contacts import actions, demo
from xrm_contacts.duplicates import refuse_duplicates
from xrm_contacts.timeline import entries


@hookimpl
def xrm_manifest() -> dict[str, Any]:
    """The name and version; description and dependencies come from pyproject.toml.

    The version is read from the package too, but said here so that the
    module works handed to ``make_plugin_manager(plugins=[...])`` (as tests do).
    """
    return {"name": "contacts", "version": metadata.version("xrm-contacts")}


@hookimpl
def xrm_entity_schemas() -> list[dict[str, Any]]:
    """account, contact and activity: one JSON Schema file each, shipped in ``schemas/``."""
    folder = resources.files("xrm_contacts").joinpath("schemas")
    names = ["account", "contact", "activity"]  # in the order their lookups need
    return [json.loads(folder.joinpath(f"{n}.json").read_text(encoding="utf-8")) for n in names]


@hookimpl
def xrm_actions() -> list[Action]:
    """timeline, find_duplicates and merge (see docs/contacts.md)."""
    return actions.actions()


@hookimpl
def xrm_timeline_entries(
    xrm: XRM, entity: str, record_id: uuid.UUID, limit: int
) -> list[TimelineEntry]:
    """The activities regarding the record, read as the caller (see docs/contacts.md)."""
    return entries(xrm, entity, record_id, limit)


@hookimpl
def xrm_startup(xrm: XRM) -> None:
    """Check new accounts and contacts for duplicates, as the user who creates them.

    Subscribed here rather than in ``xrm_subscribers`` because the check reads
    records, which needs this XRM.
    """
    handler = functools.partial(refuse_duplicates, xrm)
    for entity in ("account", "contact"):
        xrm.events.subscribe(
            Subscriber(
                f"contacts_duplicates_{entity}",
                "validate",
                f"{entity}.created",
                handler,
                owner="contacts",
            )
        )


@hookimpl
def xrm_demo_data(xrm: XRM, size: int) -> None:
    """``size`` accounts with four contacts each and their activities, once."""
    demo.load(xrm, size)
