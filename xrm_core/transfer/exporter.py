"""Streamed exports: any query of the query language, page by page, to CSV or JSON Lines."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from xrm_core.errors import InvalidFile, Problem, QueryError
from xrm_core.metadata.definition import FieldDefinition
from xrm_core.records.service import MAX_LIMIT, RecordService
from xrm_core.transfer.formats import CsvSink, Format, format_of, json_line
from xrm_core.transfer.values import Columns, KeyColumn, to_text

if TYPE_CHECKING:
    from xrm_core.xrm import XRM


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: how many records, which columns, which secured fields it left out."""

    entity: str
    format: Format
    rows: int
    columns: tuple[str, ...]
    #: Secured fields the caller may not read, left out of the file.
    omitted: tuple[str, ...]


class Exports:
    """Exports of records to CSV or JSON Lines, read as the XRM's caller (``xrm.exports``)."""

    def __init__(self, xrm: XRM) -> None:
        self.xrm = xrm

    def run(
        self,
        entity: str,
        target: Path | str | IO[str],
        *,
        format: str | None = None,
        filter: Any = None,
        order: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        page_size: int = MAX_LIMIT,
        on_progress: Callable[[int], None] | None = None,
    ) -> ExportResult:
        """Write the records of ``entity`` matching ``filter``, in ``order``, to ``target``.

        ``target`` is a path (written to a temporary file that replaces it when
        complete) or a text stream, which needs ``format``. Columns are ``id`` and
        every field the caller may read, or ``fields``, where ``lookup.key``
        writes a lookup as a unique field of its target (``account.number``).
        ``on_progress`` receives the count of records written after each page.
        Raises :class:`QueryError` for a bad query, :class:`AccessDenied` for a
        secured field asked for by name.
        """
        records = self.xrm.records(entity)
        path = target if isinstance(target, Path | str) else None
        fmt = format_of(path or "", format)
        columns, keys = self._columns(records, fields)
        omitted = tuple(
            sorted(records.security.unreadable_fields(records.caller, entity) - set(columns))
        )
        pages = self._pages(records, filter, order, columns, keys, page_size)
        rows = 0
        with _writing(target) as stream:
            write = _writer(records, fmt, stream, columns)
            for page in pages:
                for record in page:
                    write(record)
                rows += len(page)
                if on_progress is not None:
                    on_progress(rows)
        return ExportResult(entity, fmt, rows, columns, omitted if fields is None else ())

    def _columns(
        self, records: RecordService, fields: Sequence[str] | None
    ) -> tuple[tuple[str, ...], list[KeyColumn]]:
        definition = records.definition
        if fields is None:
            hidden = records.security.unreadable_fields(records.caller, definition.name)
            names = ("id", *(f for f in definition.field_names if f not in hidden))
            return names, []
        if isinstance(fields, str | bytes) or not isinstance(fields, Sequence):
            raise QueryError("the export is not valid", [Problem("/fields", "must be a list")])
        names = tuple(fields)
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise QueryError("the export is not valid", [Problem(f"/fields/{i}", "not a name")])
        definitions = {d.name: d for d in records.metadata.entities()}
        keys = []
        for i, name in enumerate(names):
            if isinstance(name, str) and "." in name:
                found = Columns(definition, definitions).key_column(name)
                if isinstance(found, str):
                    raise QueryError("the export is not valid", [Problem(f"/fields/{i}", found)])
                keys.append(found)
        return names, keys

    def _pages(
        self,
        records: RecordService,
        filter: Any,
        order: Sequence[str] | None,
        columns: tuple[str, ...],
        keys: list[KeyColumn],
        page_size: int,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of records holding exactly ``columns`` (the first page checks the query)."""
        plain = [c for c in columns if "." not in c]
        expand = list(dict.fromkeys(k.lookup for k in keys))
        cursor: str | None = None
        while True:
            page = records.query(
                filter=filter,
                order=order,
                limit=page_size,
                cursor=cursor,
                fields=plain,
                expand=expand or None,
            )
            yield [_flat(r, columns, keys) for r in page]
            cursor = page.next_cursor
            if cursor is None:
                return


def _flat(
    record: dict[str, Any], columns: tuple[str, ...], keys: list[KeyColumn]
) -> dict[str, Any]:
    flat = {c: record.get(c) for c in columns if "." not in c}
    for key in keys:
        related = record.get(key.lookup)
        flat[key.column] = related.get(key.key.name) if isinstance(related, dict) else None
    return {c: flat[c] for c in columns}


def _writer(
    records: RecordService, fmt: Format, stream: IO[str], columns: tuple[str, ...]
) -> Callable[[dict[str, Any]], None]:
    if fmt == "jsonl":

        def write_line(record: dict[str, Any]) -> None:
            stream.write(json_line(to_jsonable_python(record)) + "\n")

        return write_line
    definition = records.definition
    kinds: list[FieldDefinition | None] = []
    for column in columns:
        head, _, rest = column.partition(".")
        owner = definition
        if rest:
            target = definition.field(head).target or ""
            owner, head = records.metadata.get(target), rest
        kinds.append(owner.field(head) if owner.has_field(head) else None)
    sink = CsvSink(stream, columns)
    return lambda record: sink.write(
        [to_text(f, record[c]) for f, c in zip(kinds, columns, strict=True)]
    )


@contextmanager
def _writing(target: Path | str | IO[str]) -> Iterator[IO[str]]:
    """A text stream to write to: a path is replaced only when the export is complete."""
    if not isinstance(target, Path | str):
        yield target
        return
    path = Path(target)
    partial = path.with_name(path.name + ".part")
    try:
        stream = partial.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidFile(f"cannot write {path}: {exc.strerror}") from None
    try:
        with stream:
            yield stream
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
