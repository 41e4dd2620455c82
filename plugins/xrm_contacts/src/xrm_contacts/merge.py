"""Merging two accounts or two contacts: the survivor takes the duplicate's place."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from xrm_core import XRM, EntityDefinition, FieldDefinition, Kind, Problem, RecordValidationError

_PAGE = 500


class MergeReport(BaseModel):
    """What a merge did: fields filled on the survivor, references and links moved."""

    survivor: uuid.UUID
    merged: uuid.UUID
    filled: list[str]
    moved: dict[str, int]


def merge(xrm: XRM, entity: str, survivor: uuid.UUID, duplicate: uuid.UUID) -> MergeReport:
    """Merge ``duplicate`` into ``survivor`` (two records of ``entity``), as ``xrm``'s caller.

    Every lookup pointing at the duplicate, in any entity (polymorphic ones
    such as ``activity.regarding`` included), and every many-to-many link of
    it, moves to the survivor; the survivor's empty fields take the
    duplicate's values; then the duplicate is deleted. All of it goes through
    the record service in one transaction, so each change is checked against
    the caller's permissions (update on both records and on every record
    moved, delete on the duplicate) and audited under one correlation id.
    Raises :class:`RecordValidationError` when both are one record.
    """
    if survivor == duplicate:
        raise RecordValidationError(
            f"a {entity} cannot be merged into itself", [Problem("/duplicate", "same record")]
        )
    records = xrm.records(entity)
    with xrm.transaction() as conn:
        kept, gone = records.get(survivor), records.get(duplicate)
        records.authorize(conn, [duplicate], "update")
        records.authorize(conn, [duplicate], "delete")
        moved: dict[str, int] = {}
        for other in xrm.metadata.entities():
            for f in other.fields:
                if f.is_reference and f.refers_to(entity):
                    count = _move_references(xrm, other, f, entity, survivor, duplicate)
                    if count:
                        moved[f"{other.name}.{f.name}"] = count
            for rel in other.relationships:
                for by in _link_ends(other, rel.target, entity):
                    count = _move_links(xrm, other.name, rel.name, by, survivor, duplicate)
                    if count:
                        moved[f"{other.name}.{rel.name}"] = count
        filled = _fill(records.definition, kept, gone)
        if filled:
            records.update(survivor, filled)
        records.delete(duplicate)
    return MergeReport(survivor=survivor, merged=duplicate, filled=sorted(filled), moved=moved)


def _move_references(
    xrm: XRM,
    other: EntityDefinition,
    f: FieldDefinition,
    entity: str,
    survivor: uuid.UUID,
    duplicate: uuid.UUID,
) -> int:
    """Point ``other.f`` at the survivor wherever it points at the duplicate."""
    polymorphic = f.kind is Kind.POLYMORPHIC_LOOKUP
    match: dict[str, Any] = (
        {f"{f.name}.entity": entity, f"{f.name}.id": duplicate}
        if polymorphic
        else {f.name: duplicate}
    )
    value: Any = {"entity": entity, "id": survivor} if polymorphic else survivor
    # Found in the system context: a record the caller cannot update must
    # refuse the merge (the update below raises), not stay behind pointing at
    # a deleted record.
    finder = xrm.as_system(f"merge {entity} {duplicate} into {survivor}").records(other.name)
    ids = [r["id"] for r in _all(finder.query, match) if r["id"] != duplicate]
    updates = []
    for rid in ids:
        # A record pointing at the duplicate that is the survivor itself (its
        # parent account was the duplicate) would point at itself: clear it.
        points_at_self = other.name == entity and rid == survivor
        updates.append({"id": rid, f.name: None if points_at_self else value})
    if updates:
        xrm.records(other.name).update_many(updates)
    return len(updates)


def _link_ends(other: EntityDefinition, target: str, entity: str) -> list[str]:
    ends = ["source"] if other.name == entity else []
    return [*ends, "target"] if target == entity else ends


def _move_links(
    xrm: XRM, source: str, relationship: str, by: str, survivor: uuid.UUID, duplicate: uuid.UUID
) -> int:
    records = xrm.as_system("merge").records(source)
    links = records.links_of([duplicate], relationship, by=by)[duplicate]
    mine = xrm.records(source)
    (declared,) = [r for r in xrm.metadata.get(source).relationships if r.name == relationship]
    names = [a.name for a in declared.attributes]
    for link in links:
        attributes = {name: link[name] for name in names if name in link}
        if by == "source":
            mine.link(survivor, relationship, link["target_id"], attributes)
        else:
            mine.link(link["source_id"], relationship, survivor, attributes)
        mine.unlink(link["source_id"], relationship, link["target_id"])
    return len(links)


def _fill(
    definition: EntityDefinition, kept: dict[str, Any], gone: dict[str, Any]
) -> dict[str, Any]:
    """The survivor's empty fields the duplicate has values for."""
    filled = {}
    for f in definition.fields:
        if kept.get(f.name) in (None, "", []) and gone.get(f.name) not in (None, "", []):
            if f.name == "parent" and gone[f.name] == kept["id"]:
                continue  # the survivor cannot be its own parent
            filled[f.name] = gone[f.name]
    return filled


def _all(query: Any, match: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = query(filter=match, limit=_PAGE, cursor=cursor, order=["id"], fields=["id"])
        rows += list(page)
        cursor = page.next_cursor
        if cursor is None:
            return rows
