"""Batched reads for one GraphQL request: no query per record, whatever the nesting.

Every nested field that reads records asks a :class:`Loaders` data loader
instead of the database. The loader collects the keys asked for while one
level of the result is resolved, then makes one call to the record service
for all of them, as the request's user (permissions and field security apply
as everywhere else):

- lookups: one ``query(filter={"id": {"in": ids}})`` per target entity;
- reverse lookups (one-to-many): one query per (entity, field, filter, order)
  over the ids of every parent;
- many-to-many links: one :meth:`~xrm_core.records.service.RecordService.links_of`
  per (entity, relationship, side).

So a request's number of SQL statements depends on the shape of the query,
not on how many records it returns (beyond a statement per 1,000 records).
Loaders live for one request: nothing read is cached beyond it.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import threading
import uuid
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from strawberry.dataloader import DataLoader

from xrm_core.metadata.definition import Kind
from xrm_core.records.results import Record
from xrm_core.records.service import MAX_LIMIT
from xrm_core.xrm import XRM

T = TypeVar("T")
#: Parent ids per query of a reverse relation (the filter language takes 10,000 values).
_PARENTS = 1000


#: True while a request is executed on a worker thread's own loop (:func:`run_here`).
_here: ContextVar[bool] = ContextVar("xrm_graphql_here", default=False)
_threads = threading.local()


class _Selector(selectors.DefaultSelector):
    """A selector that does not ask the kernel when the loop has work ready.

    The loop asks with a timeout of 0 whenever callbacks are ready, which they are
    at nearly every step of an operation (data loaders, awaited resolvers), and
    the system call lets go of the GIL: taking it back from the server's busy
    event loop cost a GraphQL request more than its own work between two steps.
    With nothing ready the loop asks with a timeout, and this one asks the kernel.
    """

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is not None and timeout <= 0:
            return []
        return super().select(timeout)


class _Loop:
    """A worker thread's event loop, closed when the thread ends."""

    def __init__(self) -> None:
        self.loop = asyncio.SelectorEventLoop(_Selector())

    def __del__(self) -> None:
        self.loop.close()


def run_here(awaitable: Coroutine[Any, Any, T]) -> T:
    """Run ``awaitable`` to its end on this (worker) thread, its service calls directly.

    The endpoint executes a whole request this way in one of the app's API
    threads, as REST does, instead of one trip to a thread for the token and
    one for each level of reads: each trip cost about a tenth of a page of 100
    records.
    """
    held: _Loop | None = getattr(_threads, "held", None)
    if held is None:
        held = _threads.held = _Loop()
    token = _here.set(True)
    try:
        return held.loop.run_until_complete(awaitable)
    finally:
        _here.reset(token)


async def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a synchronous service call: directly under :func:`run_here` (as the endpoint
    does), else in Starlette's thread pool (a schema executed by other means)."""
    if _here.get():
        return function(*args, **kwargs)
    return await run_in_threadpool(function, *args, **kwargs)


class Loaders:
    """The data loaders of one request, made as first needed, all acting as ``xrm``'s user."""

    def __init__(self, xrm: XRM) -> None:
        self.xrm = xrm
        self._loaders: dict[tuple[Any, ...], DataLoader[Any, Any]] = {}

    def record(self, entity: str) -> DataLoader[uuid.UUID, Record | None]:
        """Records of ``entity`` by id; None for an id the user cannot read (or none at all)."""

        def batch(ids: list[uuid.UUID]) -> list[Record | None]:
            return records_by_id(self.xrm, entity, ids)

        return self._loader(("record", entity), batch)

    def children(
        self,
        entity: str,
        field: str,
        parent: str,
        filter: Any = None,
        order: Sequence[str] = (),
    ) -> DataLoader[uuid.UUID, list[Record]]:
        """Records of ``entity`` whose lookup ``field`` points at each ``parent`` record."""
        key = ("children", entity, field, parent, _key(filter), tuple(order))

        def batch(ids: list[uuid.UUID]) -> list[list[Record]]:
            return records_pointing(self.xrm, entity, field, parent, ids, filter, list(order))

        return self._loader(key, batch)

    def links(self, entity: str, relationship: str, by: str) -> DataLoader[uuid.UUID, list[Record]]:
        """Links of ``entity`` through ``relationship``, per source (or per target) id."""

        def batch(ids: list[uuid.UUID]) -> list[list[Record]]:
            found = self.xrm.records(entity).links_of(ids, relationship, by=by)
            return [found.get(i, []) for i in ids]

        return self._loader(("links", entity, relationship, by), batch)

    def _loader(
        self, key: tuple[Any, ...], batch: Callable[[list[Any]], list[Any]]
    ) -> DataLoader[Any, Any]:
        found = self._loaders.get(key)
        if found is None:

            async def load(keys: list[Any]) -> list[Any]:
                return await call(batch, list(keys))  # type: ignore[no-any-return]

            found = self._loaders[key] = DataLoader(load_fn=load)
        return found


def records_by_id(xrm: XRM, entity: str, ids: Sequence[uuid.UUID]) -> list[Record | None]:
    """The records of ``ids`` (None where unreadable), with one query per 1,000 ids."""
    service = xrm.records(entity)
    wanted = list(dict.fromkeys(ids))
    found: dict[uuid.UUID, Record] = {}
    for start in range(0, len(wanted), MAX_LIMIT):
        part = wanted[start : start + MAX_LIMIT]
        page = service.query(filter={"id": {"in": part}}, limit=len(part))
        found.update((r["id"], r) for r in page)
    return [found.get(i) for i in ids]


def records_pointing(
    xrm: XRM,
    entity: str,
    field: str,
    parent: str,
    ids: Sequence[uuid.UUID],
    filter: Any,
    order: list[str],
) -> list[list[Record]]:
    """For each parent id, the ``entity`` records whose ``field`` points at it, in ``order``."""
    service = xrm.records(entity)
    polymorphic = service.definition.field(field).kind is Kind.POLYMORPHIC_LOOKUP
    groups: dict[uuid.UUID, list[Record]] = {i: [] for i in ids}
    wanted = list(groups)
    for start in range(0, len(wanted), _PARENTS):
        part = wanted[start : start + _PARENTS]
        if polymorphic:
            condition: dict[str, Any] = {
                "and": [{f"{field}.entity": parent}, {f"{field}.id": {"in": part}}]
            }
        else:
            condition = {field: {"in": part}}
        where = condition if filter is None else {"and": [condition, filter]}
        cursor = None
        while True:
            page = service.query(filter=where, order=order, limit=MAX_LIMIT, cursor=cursor)
            for record in page:
                value = record.get(field)
                key = value["id"] if polymorphic and value else value
                if key in groups:
                    groups[key].append(record)
            cursor = page.next_cursor
            if cursor is None:
                break
    return [groups[i] for i in ids]


def _key(filter: Any) -> str:
    return json.dumps(filter, sort_keys=True, default=str)
