"""REST endpoints for the records of every entity, under ``/api/v1/{entity}``.

``GET|POST /{entity}``, ``GET|PATCH|DELETE /{entity}/{id}``, ``POST /{entity}/$bulk``,
``GET /{entity}/$aggregate``, ``GET|POST /{entity}/{id}/links/{relationship}`` and
``DELETE /{entity}/{id}/links/{relationship}/{target_id}`` (see docs/rest-api.md).
The ``{entity}`` segment never matches the API's fixed first segments
(``metadata``, ``me``, ...: :data:`~xrm_core.metadata.validation.RESERVED_ENTITY_NAMES`),
so their routes answer whatever order the route modules are mounted in.
"""

from __future__ import annotations

import re

from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import BaseRoute, Route

from xrm_core.api.endpoint import endpoint
from xrm_core.api.records import handlers as h
from xrm_core.api.records.spec import openapi_paths
from xrm_core.metadata.validation import RESERVED_ENTITY_NAMES

__all__ = ["openapi_paths", "routes"]


class EntityConvertor(Convertor[str]):
    """An entity name in a path: a snake_case word that is not a reserved segment."""

    reserved = "|".join(sorted(map(re.escape, RESERVED_ENTITY_NAMES)))
    regex = rf"(?!(?:{reserved})(?![a-z0-9_]))[a-z][a-z0-9_]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class RecordIdConvertor(Convertor[str]):
    """A record id in a path: one segment not starting with ``$`` (``$bulk``, ``$aggregate``)."""

    regex = r"[^/$][^/]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("xrm_entity", EntityConvertor())
register_url_convertor("xrm_id", RecordIdConvertor())

_E = "/v1/{entity:xrm_entity}"


def routes() -> list[BaseRoute]:
    """The record routes, mounted under ``/api``.

    The busiest come first (the router tries routes in order, a regular
    expression each); ``{id}`` never matches ``$bulk`` or ``$aggregate``, so
    order decides nothing else. Handlers that take query parameters read them
    with ``read_query`` (``query=None``), which refuses the others as every
    endpoint does; the rest take none.
    """
    one = _E + "/{id:xrm_id}"
    links = one + "/links/{relationship}"
    return [
        Route(one, endpoint(h.get_record, query=None), methods=["GET"]),
        Route(_E, endpoint(h.list_records, query=None), methods=["GET"]),
        Route(_E, endpoint(h.create_record, status=201), methods=["POST"]),
        Route(one, endpoint(h.update_record), methods=["PATCH"]),
        Route(one, endpoint(h.delete_record, query=None), methods=["DELETE"]),
        Route(_E + "/$aggregate", endpoint(h.aggregate_records, query=None), methods=["GET"]),
        Route(_E + "/$bulk", endpoint(h.bulk_records), methods=["POST"]),
        Route(links, endpoint(h.list_links), methods=["GET"]),
        Route(links, endpoint(h.create_link), methods=["POST"]),
        Route(links + "/{target_id}", endpoint(h.delete_link), methods=["DELETE"]),
    ]
