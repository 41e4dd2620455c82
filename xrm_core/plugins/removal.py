"""Uninstalling: what becomes of a plugin's entities, added fields and roles, and its data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from xrm_core.metadata.plan import Safety
from xrm_core.plugins import ledger
from xrm_core.plugins.plans import DataChoice, PluginStep
from xrm_core.security.caller import Caller

if TYPE_CHECKING:
    from xrm_core.xrm import XRM


def inside_own_entity(part: ledger.Part, parts: Sequence[ledger.Part]) -> bool:
    """A field of the plugin's own entity goes with the entity; one step says it."""
    entity = part.name.partition(".")[0]
    return part.kind in ("field", "relationship") and any(
        p.kind == "entity" and p.name == entity for p in parts
    )


def data_step(name: str, part: ledger.Part, data: DataChoice, xrm: XRM) -> PluginStep:
    what = f"{part.kind} {part.name!r}"
    entity, _, fld = part.name.partition(".")
    where = {
        "entity": entity if part.kind != "role" else None,
        "field": fld or None,
    }
    if data == "keep":
        return PluginStep(
            name, "keep", Safety.SAFE, f"keep {what}; it becomes the administrator's", **where
        )
    if part.kind == "role":
        return PluginStep(name, "remove_role", Safety.BREAKING, f"remove {what}")
    verb = "export and drop" if data == "export" else "drop"
    count = ""
    if part.kind == "entity":
        table = xrm.metadata_service.catalog.table(part.name)
        with xrm.db.transaction(write=False) as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
        count = f" and its {rows} record(s)" + cleared_references(name, part.name, xrm)
    return PluginStep(name, data, Safety.DESTRUCTIVE, f"{verb} {what}{count}", **where)


def cleared_references(plugin: str, entity: str, xrm: XRM) -> str:
    """What dropping ``entity`` clears in other plugins' lookups to any entity, for the plan."""
    metadata = xrm.metadata_service
    return "".join(
        f"; clear {s.details['entity']}.{s.details['field']} on {s.details['records']} "
        "record(s) pointing at them"
        for s in metadata.clearing_steps(entity)
        if s.details["records"] and metadata.owner(s.details["entity"]) != plugin
    )


def export_records(xrm: XRM, plugin: str, entities: Sequence[str], folder: Path) -> list[str]:
    """Every record of ``entities`` to ``folder/<plugin>-<time>/<entity>.jsonl``, with the
    exporter every export uses (``xrm.exports``: a file appears only once complete)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{plugin}-{stamp}"
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for entity in entities:
        path = target / f"{entity}.jsonl"
        xrm.exports.run(entity, path, format="jsonl")
        files.append(str(path))
    return files


def drop_extensions(
    metadata: Any, plugin: str, parts: Sequence[ledger.Part], caller: Caller
) -> list[str]:
    """Remove the fields and relationships ``plugin`` added to others' entities."""
    own = {p.name for p in parts if p.kind == "entity"}
    added: dict[str, set[str]] = {}
    for p in parts:
        entity, _, name = p.name.partition(".")
        if p.kind in ("field", "relationship") and entity not in own:
            added.setdefault(entity, set()).add(name)
    docs = []
    for entity, names in added.items():
        if not metadata.exists(entity):
            continue
        doc = dict(metadata.get(entity).schema)
        doc["properties"] = {k: v for k, v in doc["properties"].items() if k not in names}
        required = [r for r in doc.get("required", ()) if r not in names]
        doc.pop("required", None)
        if required:
            doc["required"] = required
        xrm = dict(doc["x-xrm"])
        rels = [r for r in xrm.get("relationships", ()) if r["name"] not in names]
        xrm.pop("relationships", None)
        if rels:
            xrm["relationships"] = rels
        doc["x-xrm"] = xrm
        docs.append(doc)
    if not docs:
        return []
    return list(metadata.define(docs, confirm=True, actor=caller).exports)


def drop_order(metadata: Any, entities: Sequence[str]) -> list[str]:
    """Entities referring to others of the list first, so each drop finds no reference left."""
    left = list(entities)
    order: list[str] = []
    while left:
        free = [
            e
            for e in left
            if not any(other != e and refers(metadata.get(other), e) for other in left)
        ]
        if not free:  # a cycle of lookups; the metadata service explains what refers to what
            free = left[:1]
        order += free
        left = [e for e in left if e not in free]
    return order


def refers(definition: Any, entity: str) -> bool:
    return any(f.refers_to(entity) for f in definition.fields) or any(
        r.target == entity for r in definition.relationships
    )
