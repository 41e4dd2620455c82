"""A record's related lists: records pointing here, and many-to-many links (link / unlink).

One-to-many: for every lookup of any entity that can point at this record's
entity, the records whose lookup points here (those the user may read). Many-
to-many: the relationships of this entity (this record is the source) and those
of other entities targeting it (this record is the target); a link belongs to its
source record, so linking and unlinking need the update privilege on that one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.record_form import read_field
from admin_ui.record_form_lookup import labels_of, resolve
from admin_ui.record_page_flash import flash
from admin_ui.web import Page, view
from xrm_core.errors import AccessDenied, InvalidRequest, Problem, XRMError
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind, ManyToMany
from xrm_core.xrm import XRM

#: Records each related list shows (the total says how many there are).
SHOWN = 10


@dataclass
class RelatedList:
    """Records of ``entity`` whose lookup ``field`` points at the record."""

    title: str
    entity: str
    field: str
    rows: list[tuple[str, str]]
    total: int
    #: The form of a new such record with the lookup filled in (None for polymorphic ones).
    new_url: str | None = None


@dataclass
class LinkList:
    """Records linked to the record through the many-to-many ``owner.relationship``."""

    title: str
    #: The entity of the linked records.
    entity: str
    owner: str
    relationship: str
    #: ``source``: the record is the link's source; ``target``: it is what links point at.
    side: str
    rows: list[tuple[str, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Unique on the page (ids of its inputs)."""
        return f"{self.owner}-{self.relationship}-{self.side}"


def routes(one: str) -> list[BaseRoute]:
    """Linking and unlinking records of the record at ``one``."""
    return [
        Route(one + "/links", view(link_record), methods=["POST"]),
        Route(one + "/links/remove", view(unlink_record), methods=["POST"]),
    ]


def related_lists(xrm: XRM, definition: EntityDefinition, rid: uuid.UUID) -> list[RelatedList]:
    """Every one-to-many list of the record the user may read, by entity and field."""
    found = []
    for other in xrm.metadata.entities():
        for f in other.fields:
            where = _pointing_here(f, definition.name, rid)
            if where is None:
                continue
            try:
                page = xrm.records(other.name).query(filter=where, limit=SHOWN, count=True)
            except AccessDenied:
                continue
            rows = list(labels_of(xrm, other.name, [r["id"] for r in page]).items())
            new_url = None
            if f.kind is Kind.LOOKUP:
                new_url = f"/admin/records/{other.name}/new?{f.name}={rid}"
            title = f"{other.plural} ({f.label})"
            found.append(RelatedList(title, other.name, f.name, rows, page.total or 0, new_url))
    return found


def _pointing_here(f: FieldDefinition, entity: str, rid: uuid.UUID) -> dict[str, Any] | None:
    if f.kind is Kind.LOOKUP and f.target == entity:
        return {f.name: str(rid)}
    if f.kind is Kind.POLYMORPHIC_LOOKUP and f.refers_to(entity):
        return {f"{f.name}.entity": entity, f"{f.name}.id": str(rid)}
    return None


def link_lists(xrm: XRM, definition: EntityDefinition, rid: uuid.UUID) -> list[LinkList]:
    """The record's many-to-many links, from both sides, that the user may read."""
    lists = [
        LinkList(rel.label, rel.target, definition.name, rel.name, "source")
        for rel in definition.relationships
    ]
    for other in xrm.metadata.entities():
        lists += [
            LinkList(f"{other.plural} ({rel.label})", other.name, other.name, rel.name, "target")
            for rel in other.relationships
            if rel.target == definition.name
        ]
    shown = []
    for linked in lists:
        try:
            records = xrm.records(linked.owner)
            if linked.side == "source":
                ids = [link["target_id"] for link in records.links(rid, linked.relationship)]
            else:
                links = records.links_of([rid], linked.relationship, by="target")[rid]
                ids = [link["source_id"] for link in links]
        except AccessDenied:
            continue
        labels = labels_of(xrm, linked.entity, ids)
        linked.rows = [(str(i), labels.get(str(i), str(i))) for i in ids]
        shown.append(linked)
    return shown


def link_record(page: Page) -> Response:
    """Link the record with the one chosen in the link form's search."""
    owner, relationship, side, entity = _relationship(page)
    chooser = FieldDefinition("other", Kind.LOOKUP, "record", target=entity)
    try:
        other = read_field(chooser, page.value, page.values, lambda e, t: resolve(page.xrm, e, t))
    except ValueError as error:
        flash(page, f"Nothing was linked: the record to link {error}.", problem=True)
        return page.redirect(_back(page))
    if other is None:
        flash(page, "Nothing was linked: choose a record to link first.", problem=True)
        return page.redirect(_back(page))
    return _change(page, owner, relationship, _ends(page, side, other), add=True)


def unlink_record(page: Page) -> Response:
    """Remove one link of the record."""
    owner, relationship, side, _ = _relationship(page)
    return _change(page, owner, relationship, _ends(page, side, page.value("other")), add=False)


def _change(
    page: Page, owner: str, relationship: str, ends: tuple[str, str], *, add: bool
) -> Response:
    """Link (``add``) or unlink ``ends`` (source, target); say how it went on the record's page."""
    done = "linked" if add else "unlinked"
    try:
        records = page.xrm.records(owner)
        (records.link if add else records.unlink)(ends[0], relationship, ends[1])
    except XRMError as error:
        flash(page, f"Nothing was {done}: {error.message}.", problem=True)
    else:
        flash(page, f"{done.capitalize()}.")
    return page.redirect(_back(page))


def _relationship(page: Page) -> tuple[str, str, str, str]:
    """(owner entity, relationship, side, entity of the other record) named by the form."""
    owner, name, side = page.value("owner"), page.value("relationship"), page.value("side")
    here = str(page.request.path_params["entity"])
    rel: ManyToMany | None = None
    if page.xrm.metadata.exists(owner):
        try:
            rel = page.xrm.metadata.get(owner).relationship(name)
        except KeyError:
            rel = None
    this_end = {"source": owner, "target": rel.target if rel else None}.get(side)
    if rel is None or this_end != here:
        raise InvalidRequest(
            "the link form names no relationship of this record; reload the page",
            [Problem("/relationship", "not a relationship of this record")],
        )
    return owner, name, side, rel.target if side == "source" else owner


def _ends(page: Page, side: str, other: str) -> tuple[str, str]:
    here = str(page.request.path_params["id"])
    return (here, other) if side == "source" else (other, here)


def _back(page: Page) -> str:
    params = page.request.path_params
    return f"/records/{params['entity']}/{params['id']}"
