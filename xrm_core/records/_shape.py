"""Rows of an entity's table turned into records, and the empty row new records start from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xrm_core.metadata.definition import EntityDefinition, Kind
from xrm_core.records.query import SYSTEM_FIELDS
from xrm_core.records.results import Record


@dataclass(frozen=True)
class Shape:
    """How rows of one definition version become records, and records rows."""

    system: tuple[str, ...]
    fields: tuple[str, ...]
    polymorphic: tuple[tuple[str, str, str], ...]  # (field, entity column, id column)
    empty: Mapping[str, None]  # every field column, empty: the base of a new row

    @classmethod
    def of(cls, definition: EntityDefinition) -> Shape:
        poly: tuple[tuple[str, str, str], ...] = tuple(
            (f.name, f.columns[0], f.columns[1])
            for f in definition.fields
            if f.kind is Kind.POLYMORPHIC_LOOKUP
        )
        columns = [c for f in definition.fields for c in f.columns]
        return cls(tuple(SYSTEM_FIELDS), definition.field_names, poly, dict.fromkeys(columns))

    @property
    def keys(self) -> tuple[str, ...]:
        """Record keys in table column order (system columns, then fields)."""
        return (*self.system, *self.fields)

    def reader(self, columns: Sequence[str]) -> Callable[[Sequence[Any]], Record]:
        """Turns result rows with these ``columns`` into records."""
        keys = self.keys
        if not self.polymorphic and tuple(columns[: len(keys)]) == keys:
            # Columns and record keys are the same: one dict per row, nothing else.
            # (Extra sort-key columns may follow; zip stops before them.)
            return lambda row: dict(zip(keys, row))  # noqa: B905
        names = list(columns)
        return lambda row: self.record(dict(zip(names, row, strict=True)))

    def record(self, row: Mapping[Any, Any]) -> Record:
        """A record from a row of the entity's table (keyed by column)."""
        if not self.polymorphic:
            return {k: row[k] for k in (*self.system, *self.fields)}
        record = {k: row[k] for k in self.system}
        poly = {name: (e, i) for name, e, i in self.polymorphic}
        for name in self.fields:
            if name in poly:
                entity, rid = row[poly[name][0]], row[poly[name][1]]
                record[name] = None if rid is None else {"entity": entity, "id": rid}
            else:
                record[name] = row[name]
        return record
