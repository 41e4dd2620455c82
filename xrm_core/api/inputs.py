"""What an API call was given — query parameters and JSON bodies — read and checked.

A body that is not what the endpoint takes raises
:class:`~xrm_core.errors.InvalidRequest` pointing at the member (``/confirm``);
a bad query parameter raises :class:`~xrm_core.errors.QueryError` pointing at
the parameter by its name (``/limit``), as the record endpoints do. Both are
400s, and nothing has been done when one is raised.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from starlette.requests import Request

from xrm_core.errors import InvalidRequest, Problem, QueryError, pointer, shown

T = TypeVar("T")


def refuse(at: str, message: str, what: str = "the request is not valid") -> InvalidRequest:
    """The error for one bad input at ``at`` (a JSON pointer)."""
    return InvalidRequest(what, [Problem(at, message)])


def bad_parameter(name: str, message: str) -> QueryError:
    """The error for the query parameter ``name``."""
    return QueryError(
        f"the query parameter {shown(name)} is not valid", [Problem(f"/{name}", message)]
    )


def body_object(
    body: Any, allowed: Collection[str], *, required: Collection[str] = ()
) -> dict[str, Any]:
    """``body`` as a JSON object holding only ``allowed`` members and every ``required`` one.

    A missing body counts as ``{}``. Raises :class:`InvalidRequest` listing
    every unknown and every missing member.
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise refuse("", "the body must be a JSON object")
    problems = [Problem(pointer(k), "unknown member") for k in body if k not in allowed]
    problems += [Problem(pointer(k), "is required") for k in required if k not in body]
    if problems:
        raise InvalidRequest("the request body is not valid", problems)
    return body


def member(body: dict[str, Any], name: str, kind: type[T], default: T) -> T:
    """``body[name]`` when it is a ``kind`` (``default`` when absent); else InvalidRequest."""
    value = body.get(name, default)
    if value is default or (isinstance(value, kind) and not _bool_as_int(value, kind)):
        return value
    raise refuse(pointer(name), f"must be {_NAMES.get(kind, kind.__name__)}")


_NAMES = {bool: "true or false", int: "a whole number", str: "a string", dict: "an object"}


def _bool_as_int(value: object, kind: type) -> bool:
    return kind is int and isinstance(value, bool)


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
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise bad_parameter(name, f"must be a whole number from {low} to {high}")
    return value


def flag(request: Request, name: str, default: bool = False) -> bool:
    """The query parameter ``name`` as a boolean (``true``/``false``, ``1``/``0``)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())
    if value is None:
        raise bad_parameter(name, "must be true or false")
    return value


def names(request: Request, name: str) -> list[str] | None:
    """The query parameter ``name`` as a list of names joined by commas, or None."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def json_value(request: Request, name: str) -> Any:
    """The query parameter ``name`` parsed as JSON, or None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_parameter(name, "is not valid JSON") from None


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


def page(
    items: Sequence[T], limit: int, cursor: Callable[[T], str], shape: Callable[[T], Any]
) -> dict[str, Any]:
    """A list answer: ``items`` shaped, and the cursor of the next page when this one is full."""
    full = bool(items) and len(items) >= limit
    return {"items": [shape(i) for i in items], "next_cursor": cursor(items[-1]) if full else None}
