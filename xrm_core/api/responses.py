"""JSON responses for records: ids, times and decimals as every client can read them.

Encoded with orjson (already the audit log's encoder). UUIDs and datetimes
become strings in ISO form; decimals become strings too, so that no client
parsing JSON numbers into doubles loses a cent (the OpenAPI document says
``type: string, format: decimal``).
"""

from __future__ import annotations

import decimal
from typing import Any

import orjson
from starlette.responses import JSONResponse


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """``value`` as JSON bytes."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


class RecordsResponse(JSONResponse):
    """A JSON response that can carry records."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
