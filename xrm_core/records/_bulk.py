"""Bulk writes: chunks written at once, row by row only to find out which row failed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import (
    BrokenReference,
    BulkError,
    Problem,
    QueryError,
    RecordValidationError,
    XRMError,
    pointer,
    shown,
)
from xrm_core.metadata.definition import FieldDefinition, Kind
from xrm_core.metadata.models import InvalidRecord
from xrm_core.records.results import BulkMode, BulkResult, RowResult

if TYPE_CHECKING:
    from xrm_core.records.service import RecordService

#: Rows written per statement; a larger chunk costs more only when a row is refused.
CHUNK = 2000
_Row = tuple[int, Mapping[str, Any]]
_Chunk = Callable[[Connection, list[_Row]], list[RowResult]]


class _RowFailed(Exception):
    """One row of a chunk failed with ``error``."""

    def __init__(self, index: int, error: XRMError) -> None:
        super().__init__(error.message)
        self.index = index
        self.error = error


class Bulk:
    """The bulk operations of one record service."""

    def __init__(self, service: RecordService) -> None:
        self.service = service
        self.definition = service.definition

    def run(self, rows: list[Mapping[str, Any]], mode: BulkMode, chunk: _Chunk) -> BulkResult:
        """Run ``chunk`` over ``rows`` in chunks; ``atomic`` raises if any row failed."""
        if mode not in ("atomic", "per_row"):
            raise ValueError(f"unknown bulk mode {mode!r}: use 'atomic' or 'per_row'")
        results: list[RowResult] = []
        # The savepoint takes back the rows written so far when an atomic bulk
        # fails inside a caller's unit of work that goes on.
        with self.service.db.transaction() as conn, conn.begin_nested():
            for start in range(0, len(rows), CHUNK):
                part = list(enumerate(rows[start : start + CHUNK], start))
                results.extend(self._run_chunk(conn, part, chunk))
            failed = [r for r in results if not r.ok]
            if failed and mode == "atomic":
                raise BulkError(
                    f"{len(failed)} of {len(rows)} rows failed; nothing was written",
                    [
                        Problem(pointer(r.index) + p.pointer, p.message)
                        for r in failed
                        if r.error is not None
                        for p in (r.error.problems or (Problem("", r.error.message),))
                    ],
                    {"failed_rows": [r.index for r in failed]},
                )
        return BulkResult(results)

    def _run_chunk(self, conn: Connection, part: list[_Row], chunk: _Chunk) -> list[RowResult]:
        """Run the chunk at once; if the database refuses it, in halves to find out which rows.

        A chunk reports the rows it can judge itself (validation, references)
        as failed results; an error raised means a row the database refused.
        """
        try:
            with conn.begin_nested():
                return chunk(conn, part)
        except _RowFailed as failed:
            if len(part) == 1:
                return [RowResult(failed.index, False, error=failed.error)]
        except XRMError as exc:
            if len(part) == 1:
                return [RowResult(part[0][0], False, error=exc)]
        # Halve until the refused rows are alone: a few savepoints, not one a row.
        middle = len(part) // 2
        return [
            *self._run_chunk(conn, part[:middle], chunk),
            *self._run_chunk(conn, part[middle:], chunk),
        ]

    def create(self, conn: Connection, part: Sequence[_Row]) -> list[RowResult]:
        """Create a chunk of records: validated, reference-checked, inserted at once."""
        service = self.service
        failed: list[RowResult] = []
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, data in part:
            try:
                valid.append((index, service.validate_new(data)))
            except XRMError as exc:
                failed.append(RowResult(index, False, error=exc))
        broken = service.broken_references(conn, [values for _, values in valid])
        if broken:
            message = "a lookup points at a record that does not exist"
            failed.extend(
                RowResult(valid[n][0], False, error=BrokenReference(message, problems))
                for n, problems in broken.items()
            )
            valid = [item for n, item in enumerate(valid) if n not in broken]
        rows = service.new_rows([values for _, values in valid])
        if rows:
            service.insert(conn, rows)
        as_record = service.row_as_record()
        results = [
            RowResult(i, True, as_record(row), created=True)
            for (i, _), row in zip(valid, rows, strict=True)
        ]
        if failed:
            results = sorted([*results, *failed], key=lambda r: r.index)
        return results

    def update(self, conn: Connection, part: Sequence[_Row]) -> list[RowResult]:
        """Update a chunk of records, one statement each (each with its version check)."""
        service = self.service
        validator = service.metadata.validator(service.entity)
        results = []
        for index, data in part:
            try:
                if not isinstance(data, Mapping):
                    raise RecordValidationError(
                        f"the {service.entity} change is not valid",
                        [Problem("", "must be an object of id, version and changes")],
                    )
                if data.get("id") is None:
                    raise RecordValidationError(
                        f"the {service.entity} change is not valid",
                        [Problem("/id", "is required")],
                    )
                record = service.apply_update(
                    conn,
                    data["id"],
                    validator.validate_patch,
                    {k: v for k, v in data.items() if k not in ("id", "version")},
                    data.get("version"),
                    version_at="/version",
                )
            except InvalidRecord as exc:
                raise _RowFailed(index, service.invalid(exc)) from None
            except XRMError as exc:
                raise _RowFailed(index, exc) from None
            results.append(RowResult(index, True, record))
        return results

    def upsert(
        self, conn: Connection, part: Sequence[_Row], key: tuple[str, ...]
    ) -> list[RowResult]:
        """Create or update each row of a chunk by its key, in input order."""
        validator = self.service.metadata.validator(self.service.entity)
        results: list[RowResult] = []
        keyed: list[tuple[int, Mapping[str, Any], tuple[Any, ...] | None]] = []
        for index, data in part:
            if not isinstance(data, Mapping):
                keyed.append((index, data, None))  # refused by validation, with its pointer
                continue
            missing = [k for k in key if data.get(k) is None]
            if missing:
                error = RecordValidationError(
                    "an upsert row needs every field of its key",
                    [Problem(pointer(k), "is required to match records") for k in missing],
                )
                results.append(RowResult(index, False, error=error))
                continue
            # Keys are compared as the database returns them: "2024-01-02" is a date.
            try:
                normal = validator.validate_patch({k: data[k] for k in key})
            except InvalidRecord:
                keyed.append((index, data, None))  # the create reports the bad value
                continue
            keyed.append((index, data, self._key_values(normal, key)))
        existing = self._find_by_key(conn, [k for _, _, k in keyed if k is not None], key)
        # Rows apply in input order: a key repeated in the batch creates the
        # record on its first row and updates it on the later ones. If that
        # create fails, the next row of the key tries, in the next round (a loop,
        # not recursion: a batch may repeat one failing key thousands of times).
        updates: list[tuple[int, Mapping[str, Any], tuple[Any, ...]]] = []
        waiting = keyed
        while waiting:
            creates: list[_Row] = []
            later: list[tuple[int, Mapping[str, Any], tuple[Any, ...] | None]] = []
            claimed: set[tuple[Any, ...]] = set()
            for index, data, values in waiting:
                if values is not None and values in existing:
                    updates.append((index, data, values))
                elif values is not None and values in claimed:
                    later.append((index, data, values))
                else:
                    creates.append((index, data))
                    if values is not None:
                        claimed.add(values)
            created = self.create(conn, creates)
            results += created
            for r in created:
                if r.record is not None:
                    existing[self._key_values(r.record, key)] = r.record["id"]
            waiting = later
        changes = [(i, {**d, "id": existing[v]}) for i, d, v in updates]
        if changes:
            results += self.update(conn, changes)
        return sorted(results, key=lambda r: r.index)

    def alternate_key(self, key: str | Sequence[str]) -> tuple[str, ...]:
        """The fields of the unique key called ``key`` or made of the fields ``key``."""
        names = [k.name for k in self.definition.alternate_keys]
        names += [f.name for f in self.definition.fields if f.unique]
        fields = [key] if isinstance(key, str) else key
        if not isinstance(fields, Sequence) or not all(isinstance(f, str) for f in fields):
            raise QueryError(
                f"{shown(key)} is not an alternate key of {self.service.entity!r}",
                [Problem("/key", f"a key is a name or a list of field names, one of {names}")],
            )
        wanted = sorted(fields)
        unique = [index for index in self.definition.all_indexes() if index.unique]
        for index in unique:
            if index.name == key or sorted(index.fields) == wanted:
                return index.fields
        raise QueryError(
            f"{shown(key)} is not an alternate key of {self.service.entity!r}",
            [Problem("/key", f"use one of {names}" if names else "the entity has no unique key")],
        )

    def _key_columns(self, key: tuple[str, ...]) -> list[str]:
        return [c for name in key for c in self.definition.field(name).columns]

    def _key_values(self, values: Mapping[str, Any], key: tuple[str, ...]) -> tuple[Any, ...]:
        columns: dict[str, Any] = {}
        for name in key:
            columns.update(columns_of(self.definition.field(name), values[name]))
        return tuple(columns[c] for c in self._key_columns(key))

    def _find_by_key(
        self, conn: Connection, keys: list[tuple[Any, ...]], key: tuple[str, ...]
    ) -> dict[tuple[Any, ...], uuid.UUID]:
        if not keys:
            return {}
        table = self.service.table()
        columns = [table.c[c] for c in self._key_columns(key)]
        unique = list(dict.fromkeys(keys))
        match = (
            sa.tuple_(*columns).in_(unique)
            if len(columns) > 1
            else columns[0].in_([k[0] for k in unique])
        )
        found = conn.execute(sa.select(table.c.id, *columns).where(match))
        return {tuple(r[1:]): r[0] for r in found}


def columns_of(f: FieldDefinition, value: Any) -> dict[str, Any]:
    """The column values that store ``value`` of field ``f``."""
    if f.kind is Kind.POLYMORPHIC_LOOKUP:
        entity_col, id_col = f.columns
        if value is None:
            return {entity_col: None, id_col: None}
        return {entity_col: value["entity"], id_col: value["id"]}
    return {f.name: value}
