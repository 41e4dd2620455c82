"""What an API call was given — query parameters and JSON bodies — read and checked.

One set of readers for every endpoint, so the same input means the same thing
everywhere (docs/rest-api.md, "Errors"):

- a query parameter that is not valid, or that the endpoint does not take,
  raises :class:`~xrm_core.errors.QueryError` pointing at the parameter by its
  name (``/limit``): **400** — a typo is refused, never ignored;
- a JSON body (or a member of it) that is not what the endpoint takes raises
  :class:`~xrm_core.errors.InvalidRequest` pointing into the body (``/confirm``,
  ``""`` for the body itself): **422**, as for every other content the
  services refuse (records, definitions, action input);
- booleans are ``true`` or ``false`` (what the OpenAPI document says), whole
  numbers are ASCII digits, lists of names are joined by commas.

Nothing has been done when one of these is raised.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from starlette.datastructures import QueryParams
from starlette.requests import Request

from xrm_core.errors import InvalidRequest, Problem, QueryError, pointer, shown

T = TypeVar("T")

_BOOLEANS = {"true": True, "false": False}
_WHOLE = re.compile(r"-?[0-9]{1,19}")


# -- errors ----------------------------------------------------------------------


def refuse(at: str, message: str, what: str = "the request is not valid") -> InvalidRequest:
    """The error for one bad member of the body at ``at`` (a JSON pointer)."""
    return InvalidRequest(what, [Problem(at, message)])


def bad_parameter(name: str, message: str) -> QueryError:
    """The error for the query parameter ``name``."""
    return QueryError(
        f"the query parameter {shown(name)} is not valid", [Problem(pointer(name), message)]
    )


def only_parameters(
    params: QueryParams, allowed: Collection[str], patterns: Collection[str] = ()
) -> None:
    """Refuse a query parameter the endpoint does not take, or one given twice.

    ``allowed`` names the parameters taken; ``patterns`` are families of them,
    written as a client is told (``where.<field>`` takes every name starting
    ``where.``). Raises :class:`QueryError` pointing at the first parameter
    refused; its detail lists what the endpoint takes.
    """
    starts = tuple(p.partition("<")[0] for p in patterns)
    seen: set[str] = set()
    for name, _ in params.multi_items():
        if name in seen:
            raise bad_parameter(name, "is given more than once")
        seen.add(name)
        if name not in allowed and not name.startswith(starts):
            raise bad_parameter(name, _not_taken(allowed, patterns))


def _not_taken(allowed: Collection[str], patterns: Collection[str]) -> str:
    taken = sorted({*allowed, *patterns})
    if not taken:
        return "is not a parameter of this endpoint (it takes none)"
    return f"is not a parameter of this endpoint (use {', '.join(taken)})"


# -- values of query parameters ----------------------------------------------------


def boolean(name: str, raw: str) -> bool:
    """``raw`` (the text of parameter ``name``) as ``true`` or ``false``; else QueryError."""
    value = _BOOLEANS.get(raw)
    if value is None:
        raise bad_parameter(name, f"must be true or false, not {shown(raw)}")
    return value


def whole_number(name: str, raw: str, low: int, high: int) -> int:
    """``raw`` (the text of parameter ``name``) as a whole number from ``low`` to ``high``."""
    if _WHOLE.fullmatch(raw) is None or not low <= int(raw) <= high:
        raise bad_parameter(name, f"must be a whole number from {low} to {high}")
    return int(raw)


def name_list(raw: str) -> list[str]:
    """``a, b,c`` as ``["a", "b", "c"]``; empty text is an empty list.

    Empty parts stay (``a,,b``), so whoever checks the names can say which is wrong.
    """
    return [part.strip() for part in raw.split(",")] if raw.strip() else []


def parsed_json(name: str, raw: str) -> Any:
    """``raw`` (the text of parameter ``name``) parsed as JSON; else QueryError."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_parameter(name, "is not valid JSON") from None


# -- query parameters of a request -------------------------------------------------


def text(request: Request, name: str, default: str | None = None) -> str | None:
    """The query parameter ``name`` (its last value), or ``default``."""
    return request.query_params.get(name, default)


def choice(request: Request, name: str, choices: Sequence[str], default: str) -> str:
    """The query parameter ``name``, which must be one of ``choices``."""
    value = request.query_params.get(name, default)
    if value not in choices:
        raise bad_parameter(name, f"must be one of {', '.join(choices)} (got {shown(value)})")
    return value


def number(request: Request, name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as a whole number from ``low`` to ``high``."""
    raw = request.query_params.get(name)
    return default if raw is None else whole_number(name, raw, low, high)


def flag(request: Request, name: str, default: bool = False) -> bool:
    """The query parameter ``name`` as ``true`` or ``false``."""
    raw = request.query_params.get(name)
    return default if raw is None else boolean(name, raw)


def names(request: Request, name: str) -> list[str] | None:
    """The query parameter ``name`` as a list of names joined by commas, or None."""
    raw = request.query_params.get(name)
    return None if raw is None else name_list(raw)


def json_value(request: Request, name: str) -> Any:
    """The query parameter ``name`` parsed as JSON, or None when absent."""
    raw = request.query_params.get(name)
    return None if raw is None else parsed_json(name, raw)


def moment(request: Request, name: str) -> dt.datetime | None:
    """The query parameter ``name`` as a time in ISO 8601 with a zone, or None."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise bad_parameter(name, "must be a time in ISO 8601 (2024-05-01T09:00:00Z)") from None
    if value.tzinfo is None:
        raise bad_parameter(name, "must say its time zone (end it with Z for UTC)")
    return value


# -- JSON bodies -------------------------------------------------------------------


def body_object(
    body: Any,
    allowed: Collection[str] | None = None,
    *,
    required: Collection[str] = (),
    what: str = "the request body",
) -> dict[str, Any]:
    """``body`` as a JSON object holding only ``allowed`` members and every ``required`` one.

    A missing body counts as ``{}``; ``allowed=None`` takes any member (a
    record's fields, which the record service checks). Raises
    :class:`InvalidRequest` for anything but an object, listing every unknown
    and every missing member otherwise.
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise refuse("", f"must be a JSON object ({what})", f"{what} must be a JSON object")
    problems = member_problems(body, allowed, required)
    if problems:
        raise InvalidRequest(f"{what} is not valid", problems)
    return body


def member_problems(
    body: dict[str, Any], allowed: Collection[str] | None, required: Collection[str] = ()
) -> list[Problem]:
    """A problem for each member of ``body`` not ``allowed`` and each ``required`` one missing."""
    problems = []
    if allowed is not None:
        problems += [Problem(pointer(k), "unknown member") for k in body if k not in allowed]
    problems += [Problem(pointer(k), "is required") for k in required if k not in body]
    return problems


def member(body: dict[str, Any], name: str, kind: type[T], default: T) -> T:
    """``body[name]`` when it is a ``kind`` (``default`` when absent); else InvalidRequest."""
    value = body.get(name, default)
    if value is default or (isinstance(value, kind) and not _bool_as_int(value, kind)):
        return value
    raise refuse(pointer(name), f"must be {_NAMES.get(kind, kind.__name__)}")


_NAMES = {bool: "true or false", int: "a whole number", str: "a string", dict: "an object"}


def _bool_as_int(value: object, kind: type) -> bool:
    return kind is int and isinstance(value, bool)


# -- answers -----------------------------------------------------------------------


def page(
    items: Sequence[T], limit: int, cursor: Callable[[T], str], shape: Callable[[T], Any]
) -> dict[str, Any]:
    """A list answer: ``items`` shaped, and the cursor of the next page when this one is full."""
    full = bool(items) and len(items) >= limit
    return {"items": [shape(i) for i in items], "next_cursor": cursor(items[-1]) if full else None}
