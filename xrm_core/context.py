"""The correlation id: one id shared by everything a unit of work does.

Audit entries (and later events) carry it, so that a REST request, a CLI
command or an import can be followed through every record it touched. An
interface sets it with :func:`correlated` (an HTTP request id, say); otherwise
each outermost transaction gets a fresh one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from xrm_core.ids import new_id

_correlation: ContextVar[str | None] = ContextVar("xrm_correlation", default=None)


def correlation_id() -> str | None:
    """The correlation id in force, if any."""
    return _correlation.get()


@contextmanager
def correlated(value: str | None = None) -> Iterator[str]:
    """Run the block under ``value`` (or the id already in force, or a new one)."""
    current = _correlation.get()
    if value is None and current is not None:
        yield current
        return
    token = _correlation.set(value or str(new_id()))
    try:
        yield _correlation.get() or ""
    finally:
        _correlation.reset(token)
