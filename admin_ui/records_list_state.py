"""What a record list shows, as URL query parameters: filters, sort, columns, page.

Everything is in the URL, so a filtered, sorted list (or one of its pages) can
be bookmarked, and a plain GET gives what htmx shows. The parameters:

- ``f1``, ``op1``, ``v1``, ``to1``, ``f2``, ... — filter rows (field, operator,
  value, second value of a range), combined with AND;
- ``q`` — a filter in the query language (JSON), ANDed with the rows;
- ``sort`` — a field, ``-`` first for descending;
- ``col`` (repeated) — the columns shown; ``limit`` — records per page;
- ``after`` — the record service's cursor of this page; ``trail`` — the cursors of
  the pages before it (comma-separated), so that *Previous* needs no query of its own;
- ``view`` — the saved view the list was opened from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from admin_ui.records_list_filters import FilterRow

#: Records per page the form offers; the first is the default.
LIMITS = (25, 10, 50, 100)
#: Filter rows one list takes (the query language allows many more conditions).
MAX_ROWS = 20
#: Pages one trail remembers: going further back starts again from the first page.
MAX_TRAIL = 50
_ROW_KEY = re.compile(r"f([0-9]{1,3})")


@dataclass
class ListState:
    """One record list's filters, sort, columns and page."""

    rows: list[FilterRow] = field(default_factory=list)
    query: str = ""
    sort: str = ""
    columns: list[str] = field(default_factory=list)
    limit: int = LIMITS[0]
    after: str = ""
    trail: list[str] = field(default_factory=list)
    view: str = ""

    def params(self, *, page: bool = True) -> list[tuple[str, str]]:
        """The state as query parameters (without the page: the first page)."""
        out: list[tuple[str, str]] = []
        for i, row in enumerate(self.rows, start=1):
            out += [(f"f{i}", row.field), (f"op{i}", row.op), (f"v{i}", row.value)]
            if row.to:
                out.append((f"to{i}", row.to))
        if self.query:
            out.append(("q", self.query))
        if self.sort:
            out.append(("sort", self.sort))
        out += [("col", c) for c in self.columns]
        if self.limit != LIMITS[0]:
            out.append(("limit", str(self.limit)))
        if page and self.after:
            out.append(("after", self.after))
            if self.trail:
                out.append(("trail", ",".join(self.trail)))
        if self.view:
            out.append(("view", self.view))
        return out

    def url(self, base: str, **changes: object) -> str:
        """``base`` with this state (changed by ``changes``) as its query string."""
        state = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        query = urlencode(state.params())
        return f"{base}?{query}" if query else base

    def sorted_by(self, base: str, sort: str) -> str:
        """The first page sorted by ``sort``."""
        return self.url(base, sort=sort, after="", trail=[])

    def next_page(self, base: str, cursor: str) -> str:
        """The page after this one, whose cursor is ``cursor``."""
        trail = [*self.trail, self.after] if self.after else []
        return self.url(base, after=cursor, trail=trail[-MAX_TRAIL:])

    def previous_page(self, base: str) -> str | None:
        """The page before this one; None on the first page."""
        if not self.after:
            return None
        if not self.trail:
            return self.url(base, after="", trail=[])
        return self.url(base, after=self.trail[-1], trail=self.trail[:-1])

    @property
    def page_number(self) -> int:
        """1 for the first page (as far as the trail remembers)."""
        return len(self.trail) + 2 if self.after else 1


def parse(params: Mapping[str, str], getlist: Iterable[str]) -> ListState:
    """The state in query parameters; ``getlist`` is every ``col`` value.

    Unknown or malformed parameters are left out rather than refused: a list
    always shows, and what it could not take is simply not applied.
    """
    numbers = sorted(int(m.group(1)) for k in params if (m := _ROW_KEY.fullmatch(k)))
    rows = [
        FilterRow(
            params[f"f{n}"],
            params.get(f"op{n}", ""),
            params.get(f"v{n}", ""),
            params.get(f"to{n}", ""),
        )
        for n in numbers[:MAX_ROWS]
    ]
    limit_text = params.get("limit", "")
    limit = int(limit_text) if limit_text.isdigit() and int(limit_text) in LIMITS else LIMITS[0]
    after = params.get("after", "")
    trail = [c for c in params.get("trail", "").split(",") if c] if after else []
    return ListState(
        rows=rows,
        query=params.get("q", "").strip(),
        sort=params.get("sort", "").strip(),
        columns=list(dict.fromkeys(c for c in getlist if c)),
        limit=limit,
        after=after,
        trail=trail[-MAX_TRAIL:],
        view=params.get("view", ""),
    )
