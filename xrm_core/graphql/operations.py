"""The root fields: reading records, writing them, running actions.

Per entity (``contact``, type ``Contact``):

- ``contact(id: ID!): Contact`` and ``contactList(filter, order, first, after)``,
  a connection with cursors (``totalCount`` is counted only when selected);
- ``createContact(data)``, ``updateContact(id, data, ifVersion)``,
  ``deleteContact(id, ifVersion, dryRun)``;
- per action, ``leadQualify(id, input)`` (no ``id`` for a collection action),
  its input and output as JSON, checked by the action's models.

Each resolver makes one call to a service (``loaders.call``: directly, on the
request's API thread), as the request's user; the service's errors become
GraphQL errors with their codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from xrm_core.actions import RegisteredAction
from xrm_core.graphql.building import Draft, annotate, list_of
from xrm_core.graphql.inputs import Inputs, to_filter, to_order, to_values
from xrm_core.graphql.loaders import call
from xrm_core.graphql.names import action_field, list_field, mutation_field
from xrm_core.graphql.objects import Lookups, Objects, expansions, node_selections
from xrm_core.graphql.scalars import shared
from xrm_core.metadata.definition import EntityDefinition
from xrm_core.records.results import DeleteReport, Page

#: Records per page unless ``first`` says otherwise (the service allows 1 to 1,000).
FIRST = 50


def roots(
    definitions: Sequence[EntityDefinition],
    actions: Sequence[RegisteredAction],
    inputs: Inputs,
    objects: Objects,
) -> tuple[Draft, Draft]:
    """The Query and Mutation types (drafts, to be finished with the rest)."""
    query = Draft("Query", "Records of every entity, as your API token's user sees them")
    mutation = Draft("Mutation", "Changes to records, and actions, as your API token's user")
    query.add("metadataVersion", resolver=_metadata_version(), description=_VERSION_NOTE)
    for d in definitions:
        record = objects.types[d.name].cls
        query.add(
            d.name,
            resolver=_get(d.name, record, objects.lookups),
            description=f"One {d.label} by id",
        )
        query.add(
            list_field(d.name),
            resolver=_list(d.name, objects.connections[d.name].cls, inputs, objects.lookups),
            description=f"{d.plural} matching a filter, a page at a time",
        )
        data = inputs.creates[d.name].cls, inputs.updates[d.name].cls
        mutation.add(mutation_field("create", d.name), resolver=_create(d.name, record, data[0]))
        mutation.add(mutation_field("update", d.name), resolver=_update(d.name, record, data[1]))
        mutation.add(mutation_field("delete", d.name), resolver=_delete(d.name))
    names = {d.name for d in definitions}
    for registered in actions:
        if registered.action.entity in names:
            mutation.add(
                action_field(registered.action.entity, registered.action.name),
                resolver=_action(registered),
                description=_describe(registered),
            )
    return query, mutation


_VERSION_NOTE = "The metadata version this schema was made from (changes with any definition)"


def _metadata_version() -> Any:
    async def resolve(root: Any, info: Any) -> int:
        return int(info.context.xrm.metadata_service.version)

    return annotate(resolve, int)


def _get(entity: str, record: Any, lookups: Lookups) -> Any:
    async def resolve(root: Any, info: Any, id: Any) -> Any:
        expand = expansions(info.selected_fields[0].selections, entity, lookups)
        return await call(info.context.xrm.records(entity).get, id, expand=expand or None)

    return annotate(resolve, record | None, id=strawberry.ID)


def _list(entity: str, connection: Any, inputs: Inputs, lookups: Lookups) -> Any:
    async def resolve(
        root: Any,
        info: Any,
        filter: Any = None,
        order: Any = None,
        first: int = FIRST,
        after: str | None = None,
    ) -> Any:
        keys = to_order(order)
        selected = info.selected_fields
        service = info.context.xrm.records(entity)
        # The lookups the query selects are read with the page, as REST's ?expand=.
        expand = expansions(node_selections(selected[0].selections), entity, lookups)
        page: Page = await call(
            service.query,
            filter=None if filter is None else to_filter(filter),
            order=keys,
            limit=first,
            cursor=after,
            expand=expand or None,
            count=_selects(selected, "totalCount"),
        )
        return _connection(page, keys)

    return annotate(
        resolve,
        connection,
        filter=inputs.filters[entity].cls | None,
        order=list_of(inputs.orders[entity].cls) | None,
        first=int,
        after=str | None,
    )


def _connection(page: Page, order: list[str]) -> dict[str, Any]:
    records = page.records
    info = {
        "hasNextPage": page.next_cursor is not None,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": page.next_cursor,
    }
    return {
        "nodes": records,
        "order": order,
        "pageInfo": info,
        "totalCount": page.total,
        "omitted": list(page.omitted),
    }


def _selects(selections: Sequence[Any], name: str) -> bool:
    """True when the field being resolved selects ``name`` (through fragments too)."""
    for selection in selections:
        if isinstance(selection, SelectedField) and selection.name == name:
            return True
        if isinstance(selection, SelectedField | FragmentSpread | InlineFragment) and _selects(
            selection.selections, name
        ):
            return True
    return False


def _create(entity: str, record: Any, data_type: Any) -> Any:
    async def resolve(root: Any, info: Any, data: Any) -> Any:
        return await call(info.context.xrm.records(entity).create, to_values(data))

    return annotate(resolve, record, data=data_type)


def _update(entity: str, record: Any, data_type: Any) -> Any:
    async def resolve(
        root: Any, info: Any, id: Any, data: Any, ifVersion: int | None = None
    ) -> Any:
        service = info.context.xrm.records(entity)
        return await call(service.update, id, to_values(data), if_version=ifVersion)

    return annotate(resolve, record, id=strawberry.ID, data=data_type, ifVersion=int | None)


def _delete(entity: str) -> Any:
    async def resolve(
        root: Any, info: Any, id: Any, ifVersion: int | None = None, dryRun: bool = False
    ) -> Any:
        service = info.context.xrm.records(entity)
        report: DeleteReport = await call(service.delete, id, if_version=ifVersion, dry_run=dryRun)
        return {
            "id": id,
            "dryRun": report.dry_run,
            "deleted": report.deleted,
            "cleared": report.cleared,
            "unlinked": report.unlinked,
        }

    return annotate(
        resolve, shared()["DeleteResult"], id=strawberry.ID, ifVersion=int | None, dryRun=bool
    )


def _action(registered: RegisteredAction) -> Any:
    name = registered.qualified_name

    def run(xrm: Any, record: Any, given: Any) -> Any:
        return xrm.actions.run(name, record, given).model_dump(mode="json")

    if registered.on == "collection":

        async def collection(root: Any, info: Any, input: Any = None) -> Any:
            return await call(run, info.context.xrm, None, input)

        return annotate(collection, JSON, input=JSON | None)

    async def one(root: Any, info: Any, id: Any, input: Any = None) -> Any:
        return await call(run, info.context.xrm, id, input)

    return annotate(one, JSON, id=strawberry.ID, input=JSON | None)


def _describe(registered: RegisteredAction) -> str:
    action = registered.action
    on = "one record (give its id)" if action.on == "record" else "the entity as a whole"
    text = f"Action {action.qualified_name} on {on}; needs the {action.privilege} privilege."
    return f"{action.description}\n\n{text}" if action.description else text
