"""What record service calls take from outside: their arguments, checked before anything
is read or written, and the time writes are stamped with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from xrm_core.errors import Problem, QueryError, RecordValidationError, shown

MAX_VERSION = 2**31 - 1


def check_version(value: object, at: str = "/if_version") -> None:
    """Refuse an expected version that no record can have (``None`` expects none)."""
    # bool is an int to Python, but never a version.
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise RecordValidationError(
            f"a version is a whole number, not {shown(value)}", [Problem(at, "must be an integer")]
        )
    # Versions start at 1 and the column is a 32-bit INTEGER: a larger number
    # would fail inside the driver rather than simply match no record.
    if value is not None and not 1 <= value <= MAX_VERSION:
        raise RecordValidationError(
            f"a version is a whole number from 1 to {MAX_VERSION}, not {shown(value)}",
            [Problem(at, f"must be from 1 to {MAX_VERSION}")],
        )


def listed(value: Any, at: str) -> list[Any]:
    """A list argument (order, fields, expand, group_by); a bare string is a mistake."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise QueryError("the query is not valid", [Problem(at, "must be a list")])
    return list(value)


def bulk_rows(rows: Any) -> list[Any]:
    """The rows of a bulk call: any iterable but text or a single object."""
    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Iterable):
        raise RecordValidationError(
            "bulk rows are a list of records", [Problem("", "must be a list of objects")]
        )
    return list(rows)


def now() -> dt.datetime:
    """The time a write is stamped with, in UTC."""
    return dt.datetime.now(dt.UTC)
