"""The GraphQL schema of a database, made from its live metadata and cached by version.

:func:`build_schema` reads every entity definition and registered action and
makes the whole schema (see :mod:`~xrm_core.graphql.inputs`,
:mod:`~xrm_core.graphql.objects`, :mod:`~xrm_core.graphql.operations`).
:class:`SchemaCache` keeps the schema made for a metadata version and a set of
actions, so a schema is made once per change, never per request: a request
that finds the metadata changed (here or, after ``refresh``, in another
process) gets a new schema; every other request reuses the one in the cache.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from xrm_core.actions import RegisteredAction
from xrm_core.errors import XRMError
from xrm_core.graphql.executor import Executor
from xrm_core.graphql.inputs import Inputs
from xrm_core.graphql.names import unescape
from xrm_core.graphql.objects import Objects
from xrm_core.graphql.operations import roots
from xrm_core.graphql.scalars import SCALARS
from xrm_core.xrm import XRM

logger = logging.getLogger("xrm.graphql")


def read(source: Any, attribute: str) -> object:
    """Strawberry's default resolver: records are dicts, keyed by field name."""
    if type(source) is dict:
        return source.get(unescape(attribute))
    return getattr(source, attribute, None)


class Schema(strawberry.Schema):
    """A Strawberry schema that logs only the errors that are bugs (not bad input)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log unexpected errors with their trace; the client never sees it."""
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, XRMError) and error.path:
                logger.error("unexpected error in GraphQL at %s", error.path, exc_info=original)


def build_schema(xrm: XRM) -> Schema:
    """The schema of ``xrm``'s entities and actions as they are now."""
    definitions = xrm.metadata_service.entities()
    inputs = Inputs(definitions)
    inputs.build()
    objects = Objects(definitions, inputs)
    objects.build()
    query, mutation = roots(definitions, xrm.action_registry.all(), inputs, objects)
    inputs.finish()
    objects.finish()
    config = StrawberryConfig(auto_camel_case=False, default_resolver=read, scalar_map=SCALARS)
    return Schema(
        query=query.finish(),
        mutation=mutation.finish() if mutation.fields else None,
        config=config,
        # A client sends the same few queries again and again: parse and validate each
        # once (their caches are shared by every request; each gets fresh extensions).
        extensions=[ParserCache, ValidationCache],
        execution_context_class=Executor,
    )


class SchemaCache:
    """One schema per metadata version and set of actions (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._actions: list[RegisteredAction] = []
        self._schema: Schema | None = None
        #: How many schemas were built (a schema is built once per change).
        self.builds = 0

    def get(self, xrm: XRM) -> Schema:
        """The schema for ``xrm``'s metadata and actions now, built if they changed."""
        with self._lock:
            key = (id(xrm.metadata_service), xrm.metadata_service.version)
            actions = xrm.action_registry.all()
            if self._schema is None or key != self._key or not _same(actions, self._actions):
                self._schema = build_schema(xrm)
                self._key, self._actions = key, actions
                self.builds += 1
            return self._schema


def _same(actions: list[RegisteredAction], cached: list[RegisteredAction]) -> bool:
    # By identity: re-registering an action under its name makes a new entry.
    return len(actions) == len(cached) and all(a is b for a, b in zip(actions, cached, strict=True))
