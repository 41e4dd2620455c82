"""Streamed imports: a file read a batch at a time, written through the record service.

Every batch goes through ``xrm.records(entity)`` as the XRM's caller, so
validation, permissions, field security, events and audit apply as to any
other write. With ``skip_bad_rows`` each batch commits together with the
import's progress and its rejected rows, so an interrupted import resumes
after its last committed batch; ``all_or_nothing`` writes in one transaction.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from xrm_core.errors import (
    ImportRejected,
    ImportStateError,
    InvalidFile,
    Problem,
    QueryError,
)
from xrm_core.records.service import RecordService
from xrm_core.transfer.batch import write_batch
from xrm_core.transfer.formats import (
    SourceRow,
    fingerprint,
    format_of,
)
from xrm_core.transfer.held import HeldRejections
from xrm_core.transfer.jobs import (
    MODES,
    BatchOutcome,
    ImportJob,
    ImportStore,
    Mode,
    Rejection,
)
from xrm_core.transfer.report import replacing, writable, write_report
from xrm_core.transfer.sources import Opened, Source, is_path, opened_source, same_file
from xrm_core.transfer.values import Columns

if TYPE_CHECKING:
    from xrm_core.xrm import XRM

#: Rows per batch: each batch is one transaction (and a few statements).
DEFAULT_BATCH = 1000
MAX_BATCH = 10_000
#: Problems an ImportRejected names itself; the report has every one.
_SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class Progress:
    """How far an import got: rows read (this run and before), outcomes, bytes of the file."""

    rows: int
    created: int
    updated: int
    rejected: int
    bytes_read: int
    bytes_total: int | None


ProgressHandler = Callable[[Progress], None]


class _Refused(Exception):
    """Rolls back an all-or-nothing import that found bad rows."""


class Imports:
    """Imports of records from CSV or JSON Lines, made as the XRM's caller (``xrm.imports``)."""

    def __init__(self, xrm: XRM) -> None:
        self.xrm = xrm
        self.store = ImportStore(xrm.db)

    # -- starting and continuing -----------------------------------------

    def run(
        self,
        entity: str,
        source: Source,
        *,
        format: str | None = None,
        mode: Mode = "skip_bad_rows",
        key: str | Sequence[str] | None = None,
        batch_size: int = DEFAULT_BATCH,
        report: Path | str | None = None,
        name: str | None = None,
        fingerprint: str | None = None,
        on_progress: ProgressHandler | None = None,
    ) -> ImportJob:
        """Import the rows of ``source`` (a file path or a binary stream) into ``entity``.

        ``key`` (an alternate key's name or fields) updates the record a row
        matches and creates the others; without it every row is created.
        ``skip_bad_rows`` writes the good rows and rejects the others;
        ``all_or_nothing`` writes nothing if any row is bad and raises
        :class:`ImportRejected`. Rejected rows go to the import's rejections,
        and to the ``report`` file when one is named. A stream needs ``format``;
        ``name`` and ``fingerprint`` identify it for a later :meth:`resume`.
        Raises :class:`InvalidFile` (unreadable file, bad header),
        :class:`UnknownEntity`, :class:`AccessDenied` before anything is written.
        """
        records = self.xrm.records(entity)
        if mode not in MODES:
            raise QueryError(
                f"unknown import mode {mode!r}", [Problem("/mode", f"use one of {MODES}")]
            )
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
            raise QueryError(
                "the batch size is not valid",
                [Problem("/batch_size", f"must be a whole number from 1 to {MAX_BATCH}")],
            )
        if key is None:
            records.require_create()
        else:
            records.upsert_many([], key=key)  # checks the key; writes nothing
        stored_key = key if key is None or isinstance(key, str) else tuple(key)
        fmt = format_of(name or (source if is_path(source) else ""), format)  # type: ignore[arg-type]
        if report is not None:
            writable(report)
        with opened_source(source, fmt, fingerprint) as opened:
            self._check_columns(records, opened.rows.columns, stored_key)
            job = self.store.start(
                entity=entity,
                format=fmt,
                mode=mode,
                key=stored_key,
                batch_size=batch_size,
                source=name or opened.name,
                columns=opened.rows.columns or None,
                fingerprint=opened.fingerprint,
                report=None if report is None else str(report),
                started_by=records.caller.user_id,
            )
            return self._go(job, records, opened, on_progress)

    def resume(
        self,
        import_id: uuid.UUID | str,
        source: Source,
        *,
        fingerprint: str | None = None,
        on_progress: ProgressHandler | None = None,
    ) -> ImportJob:
        """Continue an interrupted import from the row after its last committed batch.

        ``source`` must be the file the import started with: when the import
        knows the file's SHA-256 (it started from a path, or a stream with a
        ``fingerprint``), a path must have that SHA-256 and a stream must come
        with it as ``fingerprint``; a CSV file must have the same header.
        Raises :class:`ImportStateError` when the import is finished, when the
        file is not the same, or when another process continues it meanwhile;
        :class:`InvalidFile` when its report cannot be written.
        """
        job = self.get(import_id)
        if job.finished:
            raise ImportStateError(
                f"import {job.id} is {job.status}: there is nothing to resume",
                details={"id": str(job.id), "status": job.status},
            )
        records = self.xrm.records(job.entity)
        if job.report is not None:
            writable(job.report)
        with opened_source(source, job.format, fingerprint) as opened:  # type: ignore[arg-type]
            same_file(job, opened)
            self._check_columns(records, opened.rows.columns, job.key)
            return self._go(job, records, opened, on_progress)

    def unfinished(self, entity: str, path: Path | str) -> ImportJob | None:
        """The caller's newest interrupted import of this file into ``entity``, if any."""
        try:
            print_ = fingerprint(Path(path))
        except OSError as exc:
            raise InvalidFile(f"cannot read {path}: {exc.strerror}") from None
        found = self.store.find(entity=entity, fingerprint=print_, unfinished=True)
        return next((job for job in found if self._may_see(job)), None)

    # -- looking at imports ----------------------------------------------

    def get(self, import_id: uuid.UUID | str) -> ImportJob:
        """An import the caller started (administrators: any); raises ImportStateError."""
        try:
            wanted = uuid.UUID(str(import_id))
        except ValueError:
            raise ImportStateError(f"{import_id!r} is not an import id") from None
        job = self.store.get(wanted)
        if not self._may_see(job):
            raise ImportStateError(f"no import with id {wanted}", details={"id": str(wanted)})
        return job

    def find(self, entity: str | None = None) -> list[ImportJob]:
        """The imports the caller may see, newest first."""
        return [job for job in self.store.find(entity=entity) if self._may_see(job)]

    def rejections(
        self, import_id: uuid.UUID | str, *, after: int = 0, limit: int | None = None
    ) -> Iterator[Rejection]:
        """The rows an import rejected after line ``after``, in file order (at most ``limit``).

        Read a batch at a time from the database, starting at ``after``: a page
        of a large report (``after`` = the last line of the previous page) does
        not read the rows before it.
        """
        return self.store.rejections(self.get(import_id).id, after=after, limit=limit)

    def write_report(
        self, import_id: uuid.UUID | str, target: Path | str | IO[str], format: str | None = None
    ) -> int:
        """Write the rejected rows to ``target`` (a path or a text stream); how many.

        The format is ``format``, else the path's suffix, else the import file's.
        A path is written whole or not at all: into a temporary file beside it,
        renamed over it once complete. Raises :class:`InvalidFile` when it
        cannot be written.
        """
        job = self.get(import_id)
        if isinstance(target, Path | str):
            fmt = format_of(target, format) if format or Path(target).suffix else job.format
            with replacing(writable(target)) as stream:
                return write_report(job, self.rejections(job.id), stream, fmt)  # type: ignore[arg-type]
        return write_report(
            job, self.rejections(job.id), target, format_of("", format or job.format)
        )

    def abandon(self, import_id: uuid.UUID | str) -> ImportJob:
        """Give up an interrupted import (what it committed stays); it can no longer resume."""
        job = self.get(import_id)
        if job.finished:
            raise ImportStateError(f"import {job.id} is {job.status} already")
        return self.store.finish(job, "abandoned")

    def _may_see(self, job: ImportJob) -> bool:
        caller = self.xrm.caller
        if caller is None:
            return False
        if job.started_by is not None and job.started_by == caller.user_id:
            return True
        return self.xrm.security_service.is_administrator(caller)

    # -- the work ----------------------------------------------------------

    def _check_columns(self, records: RecordService, columns: Sequence[str], key: Any) -> None:
        """A CSV header names fields (or lookups by key) the caller may write."""
        if not columns:
            return
        self._columns(records).check_header(columns)
        fields = [c for c in columns if records.definition.has_field(c)]
        for operation in ("create", "update") if key is not None else ("create",):
            records.security.check_fields(records.caller, records.definition, fields, operation)

    def _columns(self, records: RecordService) -> Columns:
        definitions = {d.name: d for d in records.metadata.entities()}
        return Columns(records.definition, definitions)

    def _go(
        self,
        job: ImportJob,
        records: RecordService,
        opened: Opened,
        on_progress: ProgressHandler | None,
    ) -> ImportJob:
        rows = iter(opened.rows)
        try:
            # Rows already committed are read again (a stream cannot seek) and passed over.
            for _ in itertools.islice(rows, job.rows_done):
                pass
            run = self._skipping if job.mode == "skip_bad_rows" else self._all_or_nothing
            done = run(job, records, rows, opened, on_progress)
        except InvalidFile as exc:
            # The file cannot be read past this point: resuming would fail the same way.
            self.store.finish(job, "failed", error=exc.message)
            raise
        if job.report is not None and done.rejected:
            self.write_report(job.id, job.report)
        if done.status == "failed":
            raise ImportRejected(
                f"{done.rejected} of {done.rows_done} rows are not valid; nothing was written",
                _first_problems(self.store.rejections(job.id)),
                {"import_id": str(job.id), "rejected": done.rejected, "report": job.report},
            )
        return done

    def _skipping(
        self,
        job: ImportJob,
        records: RecordService,
        rows: Iterator[SourceRow],
        opened: Opened,
        on_progress: ProgressHandler | None,
    ) -> ImportJob:
        done, counts = job.rows_done, [job.created, job.updated, job.rejected]
        columns = self._columns(records)
        while part := list(itertools.islice(rows, job.batch_size)):
            with self.xrm.transaction() as conn:
                outcome = write_batch(job, records, columns, part, self.xrm.records)
                done = self.store.record(conn, job, done, outcome)
            counts = _add(counts, outcome)
            _report(on_progress, done, counts, opened)
        return self.store.finish(job, "completed")

    def _all_or_nothing(
        self,
        job: ImportJob,
        records: RecordService,
        rows: Iterator[SourceRow],
        opened: Opened,
        on_progress: ProgressHandler | None,
    ) -> ImportJob:
        read, counts = 0, [0, 0, 0]
        columns = self._columns(records)
        with HeldRejections() as held:
            try:
                with self.xrm.transaction() as conn:
                    while part := list(itertools.islice(rows, job.batch_size)):
                        outcome = write_batch(job, records, columns, part, self.xrm.records)
                        read += len(part)
                        held.add(outcome.rejections)
                        counts = _add(counts, outcome)
                        _report(on_progress, read, counts, opened)
                    if held.count:
                        raise _Refused
                    self.store.record(conn, job, 0, BatchOutcome(read, counts[0], counts[1], ()))
                    return self.store.finish(job, "completed")
            except _Refused:
                pass
            with self.xrm.transaction() as conn:
                self.store.record(conn, job, 0, BatchOutcome(read, 0, 0, ()))
                for batch in held.batches(job.batch_size):
                    self.store.reject(conn, job, batch)
                return self.store.finish(
                    job, "failed", error="rows are not valid; nothing was written"
                )


def _add(counts: list[int], outcome: BatchOutcome) -> list[int]:
    created, updated, rejected = counts
    return [
        created + outcome.created,
        updated + outcome.updated,
        rejected + len(outcome.rejections),
    ]


def _report(
    on_progress: ProgressHandler | None, rows: int, counts: list[int], opened: Opened
) -> None:
    if on_progress is not None:
        created, updated, rejected = counts
        on_progress(Progress(rows, created, updated, rejected, opened.counter.count, opened.size))


def _first_problems(rejections: Iterator[Rejection]) -> list[Problem]:
    shown = []
    for rejection in itertools.islice(rejections, _SHOWN_PROBLEMS):
        shown += [
            Problem(f"/line/{rejection.line}{p.pointer}", p.message) for p in rejection.problems
        ]
    return shown
