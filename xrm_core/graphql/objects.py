"""Object types made from metadata: a type per entity, its connection, its links.

An entity's type has the system columns, every field (all nullable: a secured
field the user may not read is null, and listed in the connection's
``omitted``), each lookup as the record it points at, each many-to-many
relationship as its links, and, for every lookup or relationship elsewhere
that points at this entity, the records that point here
(``contactListByAccount``, ``contactLinksByTags``). Every nested read goes
through the request's data loaders (:mod:`xrm_core.graphql.loaders`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from xrm_core.errors import Problem, QueryError
from xrm_core.graphql.building import Draft, annotate, list_of
from xrm_core.graphql.executor import LOOKUP
from xrm_core.graphql.inputs import Inputs, to_filter, to_order
from xrm_core.graphql.names import entity_part, entity_type, field_part, reverse_field
from xrm_core.graphql.scalars import shared
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind, ManyToMany
from xrm_core.records.query import encode_cursor
from xrm_core.records.service import MAX_LIMIT

#: Per entity, the target entity of each of its lookups, by field name.
Lookups = dict[str, dict[str, str]]
#: Records a reverse relation lists per parent unless ``first`` says otherwise.
REVERSE_FIRST = 100

_SYSTEM: tuple[tuple[str, Any, str], ...] = (
    ("id", strawberry.ID, "The record's id"),
    ("created_at", dt.datetime, "When it was created (UTC)"),
    ("created_by", strawberry.ID | None, "The user who created it"),
    ("updated_at", dt.datetime, "When it last changed (UTC)"),
    ("updated_by", strawberry.ID | None, "The user who last changed it"),
    ("owner_id", strawberry.ID | None, "Its owner: a user or a team"),
    ("owner_type", str | None, "'user' or 'team'"),
    ("business_unit_id", strawberry.ID | None, "Its owner's business unit"),
    ("version", int, "Changes with every update (pass it as ifVersion)"),
)


class Objects:
    """The object types of every entity."""

    def __init__(self, definitions: Sequence[EntityDefinition], inputs: Inputs) -> None:
        self.definitions = {d.name: d for d in definitions}
        self.inputs = inputs
        self.types = {d.name: Draft(entity_type(d.name), d.label) for d in definitions}
        self.connections = {d.name: Draft(entity_part(d.name, "Connection")) for d in definitions}
        self.edges = {d.name: Draft(entity_part(d.name, "Edge")) for d in definitions}
        self.links: dict[tuple[str, str], Draft] = {}
        #: Per entity, the target of each lookup that resolves to a record (by field name).
        self.lookups: Lookups = {d.name: {} for d in definitions}

    def build(self) -> None:
        """Fill in every object type's fields."""
        for d in self.definitions.values():
            self._record_type(d)
            self._connection(d)
        for d in self.definitions.values():
            self._reverse(d)
            for rel in d.relationships:
                if rel.target in self.types:
                    self._relationship(d, rel)

    def finish(self) -> None:
        """Turn every draft into a Strawberry type."""
        for group in (self.types, self.connections, self.edges, self.links):
            for draft in group.values():
                draft.finish()

    def _record_type(self, d: EntityDefinition) -> None:
        draft = self.types[d.name]
        for name, kind, label in _SYSTEM:
            draft.add(name, kind, description=label)
        for f in d.fields:
            if f.kind is Kind.LOOKUP and f.target in self.types:
                self.lookups[d.name][f.name] = f.target
                draft.add(
                    f.name, resolver=_lookup(f, self.types[f.target].cls), description=f.label
                )
            elif f.kind is Kind.POLYMORPHIC_LOOKUP:
                draft.add(f.name, shared()["Reference"] | None, description=f.label)
            else:
                draft.add(f.name, self.inputs.value_type(d.name, f) | None, description=f.label)

    def _connection(self, d: EntityDefinition) -> None:
        record = self.types[d.name].cls
        edge = self.edges[d.name]
        edge.add("node", record)
        edge.add("cursor", str | None, description="the cursor after this record, as `after`")
        connection = self.connections[d.name]
        connection.description = f"A page of {d.plural}"
        connection.add("nodes", list_of(record))
        connection.add("edges", resolver=_edges(edge.cls))
        connection.add("pageInfo", shared()["PageInfo"])
        connection.add(
            "totalCount", int | None, description="all matches (asked for only if selected)"
        )
        connection.add("omitted", list[str], description="secured fields you may not read (null)")

    def _reverse(self, d: EntityDefinition) -> None:
        """Add to each entity a lookup of ``d`` can point at the records of ``d`` pointing at it."""
        for f in d.fields:
            targets = (f.target,) if f.kind is Kind.LOOKUP else f.targets
            if f.any_entity:  # a lookup to any entity: every entity has its reverse field
                targets = tuple(self.types)
            if not f.is_reference:
                continue
            for target in targets:
                if target in self.types:
                    resolver = _children(d, f, target, self.types[d.name].cls, self.inputs)
                    self.types[target].add(
                        reverse_field(d.name, f.name),
                        resolver=resolver,
                        description=f"{d.plural} whose {f.name} is this record",
                    )

    def _relationship(self, d: EntityDefinition, rel: ManyToMany) -> None:
        link = Draft(field_part(d.name, rel.name, "Link"), f"A link of {d.name}.{rel.name}")
        self.links[d.name, rel.name] = link
        link.add("source_id", strawberry.ID)
        link.add("target_id", strawberry.ID)
        link.add("created_at", dt.datetime | None)
        for a in rel.attributes:
            link.add(a.name, self.inputs.value_type(d.name, a) | None, description=a.label)
        link.add("source", resolver=_linked(d.name, "source_id", self.types[d.name].cls))
        target = self.types[rel.target].cls
        link.add("target", resolver=_linked(rel.target, "target_id", target))
        self.types[d.name].add(
            rel.name, resolver=_links(d.name, rel.name, "source", link.cls), description=rel.label
        )
        self.types[rel.target].add(
            reverse_field(d.name, rel.name, links=True),
            resolver=_links(d.name, rel.name, "target", link.cls),
            description=f"links of {d.name}.{rel.name} to this record",
        )


def _lookup(f: FieldDefinition, target: Any) -> Any:
    entity, name = f.target or "", f.name

    # Not a coroutine: a record read with its page (the page expands the lookups
    # its query selects) is answered as it is, without a task per record; an id
    # goes to the loader, whose awaitable graphql-core awaits.
    def resolve(root: Any, info: Any) -> Any:
        value = root.get(name)
        if value is None or type(value) is dict:
            return value
        return info.context.loaders.record(entity).load(value)

    # The executor completes an expanded record without calling this (executor.LOOKUP).
    setattr(resolve, LOOKUP, name)
    return annotate(resolve, target | None)


def expansions(selections: Sequence[Any], entity: str, lookups: Lookups) -> list[str]:
    """The lookups of ``entity`` that ``selections`` (of its records) select, as expand paths.

    ``{ name account { name parent { name } } }`` of a contact gives
    ``["account", "account.parent"]``: what the record service's ``expand`` reads
    with the records, one query per lookup and level.
    """
    paths: list[str] = []
    targets = lookups.get(entity, {})
    for selection in selections:
        if isinstance(selection, SelectedField):
            target = targets.get(selection.name)
            if target is not None:
                paths.append(selection.name)
                deeper = expansions(selection.selections, target, lookups)
                paths.extend(f"{selection.name}.{path}" for path in deeper)
        elif isinstance(selection, FragmentSpread | InlineFragment):
            paths.extend(expansions(selection.selections, entity, lookups))
    return list(dict.fromkeys(paths))


def node_selections(selections: Sequence[Any]) -> list[Any]:
    """What a connection's selections select of its records (``nodes``, ``edges.node``)."""
    found: list[Any] = []
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == "nodes":
                found.extend(selection.selections)
            elif selection.name == "edges":
                found.extend(
                    inner
                    for edge in _fields(selection.selections)
                    if edge.name == "node"
                    for inner in edge.selections
                )
        elif isinstance(selection, FragmentSpread | InlineFragment):
            found.extend(node_selections(selection.selections))
    return found


def _fields(selections: Sequence[Any]) -> list[SelectedField]:
    found: list[SelectedField] = []
    for selection in selections:
        if isinstance(selection, SelectedField):
            found.append(selection)
        elif isinstance(selection, FragmentSpread | InlineFragment):
            found.extend(_fields(selection.selections))
    return found


def _linked(entity: str, column: str, target: Any) -> Any:
    async def resolve(root: Any, info: Any) -> Any:
        return await info.context.loaders.record(entity).load(root[column])

    return annotate(resolve, target | None)


def _links(entity: str, relationship: str, by: str, link: Any) -> Any:
    async def resolve(root: Any, info: Any) -> Any:
        return await info.context.loaders.links(entity, relationship, by).load(root["id"])

    return annotate(resolve, list_of(link))


def _children(
    d: EntityDefinition, f: FieldDefinition, parent: str, record: Any, inputs: Inputs
) -> Any:
    entity, field = d.name, f.name

    async def resolve(
        root: Any,
        info: Any,
        filter: Any = None,
        order: Any = None,
        first: int = REVERSE_FIRST,
    ) -> Any:
        if not 0 <= first <= MAX_LIMIT:
            raise QueryError(
                "the query is not valid",
                [Problem("/first", f"first is a whole number from 0 to {MAX_LIMIT}")],
            )
        where = None if filter is None else to_filter(filter)
        loader = info.context.loaders.children(entity, field, parent, where, to_order(order))
        found: list[Any] = await loader.load(root["id"])
        return found[:first]

    return annotate(
        resolve,
        list_of(record),
        filter=inputs.filters[d.name].cls | None,
        order=list_of(inputs.orders[d.name].cls) | None,
        first=int,
    )


def _edges(edge: Any) -> Any:
    async def resolve(root: Any, info: Any) -> Any:
        order: list[str] = root["order"]
        keys = [k.lstrip("-") for k in order]
        if "id" not in keys:
            keys.append("id")
        own = all("." not in k for k in keys)
        nodes = root["nodes"]
        edges = []
        for n, record in enumerate(nodes):
            cursor = None
            if own and all(k in record for k in keys):
                cursor = encode_cursor(order, [record[k] for k in keys])
            elif n == len(nodes) - 1:
                cursor = root["pageInfo"]["endCursor"]
            edges.append({"node": record, "cursor": cursor})
        return edges

    return annotate(resolve, list_of(edge))
