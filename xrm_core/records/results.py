"""What the record service returns: records, pages, bulk outcomes, delete reports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from xrm_core.errors import XRMError

Record = dict[str, Any]
"""A record: its fields and system columns, as Python values."""

BulkMode = Literal["atomic", "per_row"]


@dataclass(frozen=True)
class Page:
    """One page of a query: records, the cursor of the next page, and the total if asked."""

    records: list[Record]
    next_cursor: str | None = None
    total: int | None = None
    #: Secured fields left out of every record because the caller may not read them.
    omitted: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class RowResult:
    """The outcome of one row of a bulk operation."""

    index: int
    ok: bool
    record: Record | None = None
    error: XRMError | None = None
    created: bool = False


@dataclass(frozen=True)
class BulkResult:
    """Per-row outcomes of a bulk operation, in input order."""

    rows: list[RowResult]

    @property
    def succeeded(self) -> list[RowResult]:
        """Rows written."""
        return [r for r in self.rows if r.ok]

    @property
    def failed(self) -> list[RowResult]:
        """Rows refused, each with its error."""
        return [r for r in self.rows if not r.ok]


@dataclass
class DeleteReport:
    """What a delete removed (or, in a dry run, would remove).

    ``deleted`` counts records per entity, ``cleared`` lookups set to null per
    ``entity.field``, ``unlinked`` many-to-many links per link table.
    """

    deleted: dict[str, int] = field(default_factory=dict)
    cleared: dict[str, int] = field(default_factory=dict)
    unlinked: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def add(self, counts: dict[str, int], key: str, n: int) -> None:
        """Add ``n`` to ``counts[key]`` (one of this report's three dicts)."""
        if n:
            counts[key] = counts.get(key, 0) + n
