"""The table of a record list: headers that sort, cells as text, links to records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from admin_ui.fields import as_text, lookup_ids, reference
from admin_ui.record_form_lookup import labels_of, title_fields
from xrm_core.errors import XRMError
from xrm_core.metadata.definition import NUMBER_KINDS, EntityDefinition, FieldDefinition, Kind
from xrm_core.records.results import Page as RecordPage
from xrm_core.xrm import XRM

_UNSORTABLE = frozenset({Kind.JSON, Kind.MULTI_CHOICE, Kind.POLYMORPHIC_LOOKUP})


@dataclass
class Listing:
    """What running a list's query gave: a page of records, or the problems found."""

    page: RecordPage | None = None
    #: Problems that concern no filter row (a stale page link, a sort).
    problems: list[str] = field(default_factory=list)
    #: What is wrong with the query-language filter.
    query_error: str | None = None

    @property
    def failed(self) -> bool:
        """True when the records could not be listed as asked."""
        return self.page is None


@dataclass(frozen=True)
class Header:
    """A column header: its label, the sort key a click asks for, and the sort shown now."""

    name: str
    label: str
    sort_key: str | None
    #: ``ascending``/``descending`` when the list is sorted by this column (``aria-sort``).
    sorted: str | None
    numeric: bool


@dataclass(frozen=True)
class Cell:
    """A value as shown, with the record it links to, if any."""

    text: str
    href: str | None = None
    numeric: bool = False


@dataclass(frozen=True)
class Row:
    """One record: its id, the link to its page and its cells."""

    id: str
    href: str
    cells: list[Cell]


@dataclass(frozen=True)
class Table:
    """The headers and rows of a list."""

    headers: list[Header]
    rows: list[Row]


def table(
    xrm: XRM,
    definition: EntityDefinition,
    page: RecordPage | None,
    shown: Sequence[FieldDefinition],
    order: Sequence[str],
) -> Table:
    """The table of ``page``'s records in the columns ``shown``, sorted by ``order``."""
    current = order[0] if order else ""
    headers = [_header(xrm, f, current) for f in shown]
    records = page.records if page is not None else []
    names = _lookup_names(xrm, records, shown)
    rows = []
    for record in records:
        rid = str(record["id"])
        href = f"/admin/records/{definition.name}/{rid}"
        cells = [_cell(record, f, names) for f in shown]
        if cells:  # the first column opens the record
            first = cells[0]
            cells[0] = Cell(first.text or "(open)", href, first.numeric)
        rows.append(Row(rid, href, cells))
    return Table(headers, rows)


def sort_key(xrm: XRM, f: FieldDefinition) -> str | None:
    """What clicking ``f``'s header sorts by: lookups by the name of what they point at."""
    if f.kind in _UNSORTABLE:
        return None
    if f.kind is Kind.LOOKUP and f.target:
        try:
            named = title_fields(xrm.metadata.get(f.target))
        except XRMError:
            named = ()
        return f"{f.name}.{named[0]}" if named else f.name
    return f.name


def _header(xrm: XRM, f: FieldDefinition, current: str) -> Header:
    key = sort_key(xrm, f)
    sorted_now = None
    if key is not None and current.lstrip("-") == key:
        sorted_now = "descending" if current.startswith("-") else "ascending"
    return Header(f.name, f.label, key, sorted_now, f.kind in NUMBER_KINDS)


def _cell(record: dict[str, Any], f: FieldDefinition, names: dict[str, str]) -> Cell:
    value = record.get(f.name)
    text = as_text(value, f, names)
    href = None
    ref = reference(value, f) if f.is_reference else None
    if ref is not None:
        href = f"/admin/records/{ref[0]}/{ref[1]}"
    return Cell(text, href, f.kind in NUMBER_KINDS)


def _lookup_names(
    xrm: XRM, records: list[dict[str, Any]], shown: Sequence[FieldDefinition]
) -> dict[str, str]:
    """Labels of the records the lookup columns point at, one query per target entity."""
    wanted: dict[str, set[str]] = {}
    for f in shown:
        if f.is_reference:
            for entity, ids in lookup_ids(records, f).items():
                wanted.setdefault(entity, set()).update(ids)
    names: dict[str, str] = {}
    for entity, ids in wanted.items():
        names.update(labels_of(xrm, entity, ids))
    return names
