"""Reading record requests: query parameters, the short filter form, ETags and bodies.

Every problem raises the core's own errors with a JSON pointer: a query
parameter is :class:`~xrm_core.errors.QueryError` pointing at ``/<parameter>``
(a filter's at the place in the JSON filter it stands for). Values are read by
the same helpers as every other endpoint's (:mod:`xrm_core.api.inputs`).

The short filter form maps onto the query language one condition per parameter::

    where.stage=won                    {"stage": "won"}
    where.amount[ge]=1000              {"amount": {"ge": "1000"}}
    where.account.industry[in]=a,b     {"account.industry": {"in": ["a", "b"]}}
    where.email[is_null]=true          {"email": {"is_null": true}}

Values stay text; the query compiler converts them to the field's type as it
does any JSON value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams

from xrm_core.api.inputs import (
    bad_parameter,
    boolean,
    name_list,
    only_parameters,
    parsed_json,
    whole_number,
)
from xrm_core.errors import Problem, QueryError, RecordValidationError, shown
from xrm_core.records.filters import OPERATORS
from xrm_core.records.service import MAX_LIMIT, MAX_VERSION

#: The prefix of the short filter form.
WHERE = "where."
_SHORT = re.compile(r"where\.(?P<path>[^\[\]]+)(?:\[(?P<op>[a-z_]+)\])?")
_ETAG = re.compile(r'(?:W/)?"(?P<version>[0-9]{1,10})"')
_LISTED = frozenset({"in", "not_in"})


@dataclass
class ListQuery:
    """The arguments of a list (``RecordService.query``) read from a query string."""

    filter: Any = None
    order: list[str] | None = None
    fields: list[str] | None = None
    expand: list[str] | None = None
    limit: int = 50
    cursor: str | None = None
    count: bool = False
    #: Other parameters the endpoint takes (``group_by``, ``measure.<name>``, ``dry_run``).
    extra: dict[str, str] = field(default_factory=dict)


def read_query(
    params: QueryParams, allowed: frozenset[str], prefixes: tuple[str, ...] = ()
) -> ListQuery:
    """The parameters of one request; anything not in ``allowed`` (or a prefix) is refused.

    ``filter`` and ``where.*`` are always allowed where ``filter`` is.
    """
    shorts = "filter" in allowed
    patterns = [f"{p}<name>" for p in prefixes] + ([f"{WHERE}<field>"] if shorts else [])
    only_parameters(params, allowed, patterns)
    query = ListQuery()
    short: dict[str, dict[str, Any]] = {}
    for name, value in params.multi_items():
        if shorts and name.startswith(WHERE):
            _short_condition(short, name, value)
        elif name in allowed:
            _assign(query, name, value)
        else:
            query.extra[name] = value
    if short:
        query.filter = short if query.filter is None else {"and": [query.filter, short]}
    return query


def _assign(query: ListQuery, name: str, value: str) -> None:
    if name == "filter":
        query.filter = _json_filter(value)
    elif name in ("order", "fields", "expand"):
        setattr(query, name, name_list(value))
    elif name == "limit":
        query.limit = whole_number(name, value, 1, MAX_LIMIT)
    elif name == "cursor":
        query.cursor = value
    elif name == "count":
        query.count = boolean(name, value)
    else:
        query.extra[name] = value


def _json_filter(value: str) -> Any:
    parsed = parsed_json("filter", value)
    if not isinstance(parsed, Mapping):
        raise QueryError(
            "the filter is not valid", [Problem("/filter", "a filter is a JSON object")]
        )
    return parsed


def _short_condition(short: dict[str, dict[str, Any]], name: str, value: str) -> None:
    match = _SHORT.fullmatch(name)
    if match is None:
        raise bad_parameter(
            name, "write a short filter as where.<field> or where.<field>[<operator>]"
        )
    path, op = match["path"], match["op"] or "eq"
    if op not in OPERATORS:
        raise bad_parameter(
            name, f"unknown operator {shown(op)}; use one of {', '.join(OPERATORS)}"
        )
    operators = short.setdefault(path, {})
    if op in operators:
        raise bad_parameter(name, "is given more than once")
    if op in _LISTED:
        operators[op] = name_list(value)
    elif op == "is_null":
        operators[op] = boolean(name, value)
    else:
        operators[op] = value


def if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` header asks for (None without one, or for ``*``).

    Takes the ETags this API sends (``W/"3"``, also without ``W/``); anything
    else raises :class:`RecordValidationError` at ``/if_version``, as the record
    service does for a version no record can have.
    """
    if header is None or header.strip() == "*":
        return None
    match = _ETAG.fullmatch(header.strip())
    if match is None or not 1 <= int(match["version"]) <= MAX_VERSION:
        raise RecordValidationError(
            f'If-Match must be an ETag this API sent (W/"<version>"), not {shown(header)}',
            [Problem("/if_version", "not an ETag of a record version")],
        )
    return int(match["version"])


def etag(version: Any) -> str:
    """The ETag of a record version: ``W/"<version>"``."""
    return f'W/"{version}"'
