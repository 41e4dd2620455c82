"""Imports as data: each import's settings and progress, and the rows it rejected.

The progress of an import is written in the transaction of the batch it
counts (see docs/decisions on resumable imports): after a crash the stored
position is exactly the rows whose records were committed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import ImportStateError, Problem
from xrm_core.ids import new_id
from xrm_core.storage.database import Database
from xrm_core.storage.tables import core_metadata
from xrm_core.storage.types import DocumentType, UTCDateTime

Status = Literal["running", "completed", "failed", "abandoned"]
Mode = Literal["skip_bad_rows", "all_or_nothing"]
MODES: tuple[Mode, ...] = ("skip_bad_rows", "all_or_nothing")

import_table = sa.Table(
    "xrm_import",
    core_metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    # The alternate key rows are matched by (upsert), or NULL to create every row.
    sa.Column("key", DocumentType, nullable=True),
    sa.Column("batch_size", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    # A CSV file's header (a report of rejected rows repeats it); NULL for JSON Lines.
    sa.Column("columns", DocumentType, nullable=True),
    # SHA-256 of the file: a resumed import must read the same bytes.
    sa.Column("fingerprint", sa.String(64), nullable=True),
    sa.Column("report", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    # Data rows of the file whose outcome is committed: where a resume starts.
    sa.Column("rows_done", sa.BigInteger, nullable=False),
    sa.Column("created", sa.BigInteger, nullable=False),
    sa.Column("updated", sa.BigInteger, nullable=False),
    sa.Column("rejected", sa.BigInteger, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    # NULL for the system context.
    sa.Column("started_by", sa.Uuid, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_xrm_import_unfinished", "entity", "fingerprint", "status"),
)

rejection_table = sa.Table(
    "xrm_import_rejection",
    core_metadata,
    sa.Column(
        "import_id",
        sa.Uuid,
        sa.ForeignKey("xrm_import.id", name="fk_xrm_import_rejection", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("line", sa.BigInteger, primary_key=True),
    # The row as the file holds it: a dict of cells, a JSON object, or a line's text.
    sa.Column("row", DocumentType, nullable=True),
    # [{"pointer": ..., "message": ...}, ...]
    sa.Column("problems", DocumentType, nullable=False),
)


@dataclass(frozen=True)
class ImportJob:
    """An import: what it reads, how, and how far it got."""

    id: uuid.UUID
    entity: str
    format: str
    mode: Mode
    #: The alternate key that matches rows to records (its name or fields), or None: create.
    key: str | tuple[str, ...] | None
    batch_size: int
    #: The file's name (or what the caller called the stream).
    source: str
    #: A CSV file's header, or None.
    columns: tuple[str, ...] | None
    fingerprint: str | None
    #: Where the report of rejected rows is written, if anywhere.
    report: str | None
    status: Status
    rows_done: int
    created: int
    updated: int
    rejected: int
    error: str | None
    started_by: uuid.UUID | None
    started_at: dt.datetime
    updated_at: dt.datetime

    @property
    def finished(self) -> bool:
        """True unless the import is still running (or was interrupted)."""
        return self.status != "running"


@dataclass(frozen=True)
class Rejection:
    """A row an import refused: where it is in the file, as written, and why."""

    line: int
    row: Any
    problems: tuple[Problem, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to a JSON Lines report."""
        problems = [{"pointer": p.pointer, "message": p.message} for p in self.problems]
        return {"line": self.line, "row": self.row, "problems": problems}


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did, written with its records."""

    rows: int
    created: int
    updated: int
    rejections: Sequence[Rejection]


class ImportStore:
    """Reads and writes import progress and rejections."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(self, **settings: Any) -> ImportJob:
        """Record a new running import (committed at once, so a crash leaves it resumable)."""
        stamp = dt.datetime.now(dt.UTC)
        row = {
            "id": new_id(),
            "status": "running",
            "rows_done": 0,
            "created": 0,
            "updated": 0,
            "rejected": 0,
            "error": None,
            "started_at": stamp,
            "updated_at": stamp,
            **settings,
        }
        for name in ("key", "columns"):
            if row[name] is not None and not isinstance(row[name], str):
                row[name] = list(row[name])
        with self.db.transaction() as conn:
            conn.execute(import_table.insert(), [row])
        return self.get(row["id"])

    def get(self, import_id: uuid.UUID) -> ImportJob:
        """The import ``import_id``; raises ImportStateError when there is none."""
        with self.db.transaction(write=False) as conn:
            row = (
                conn.execute(sa.select(import_table).where(import_table.c.id == import_id))
                .mappings()
                .first()
            )
        if row is None:
            raise ImportStateError(f"no import with id {import_id}", details={"id": str(import_id)})
        return _job(row)

    def find(
        self, *, entity: str | None = None, fingerprint: str | None = None, unfinished: bool = False
    ) -> list[ImportJob]:
        """Imports, newest first, optionally of one entity, one file, or still running."""
        query = sa.select(import_table).order_by(import_table.c.started_at.desc())
        if entity is not None:
            query = query.where(import_table.c.entity == entity)
        if fingerprint is not None:
            query = query.where(import_table.c.fingerprint == fingerprint)
        if unfinished:
            query = query.where(import_table.c.status == "running")
        with self.db.transaction(write=False) as conn:
            return [_job(r) for r in conn.execute(query).mappings()]

    def record(self, conn: Connection, job: ImportJob, done: int, outcome: BatchOutcome) -> int:
        """Count a batch in the open transaction; the new ``rows_done``.

        The update matches only the position the batch started from, so two
        processes continuing one import cannot both count (and write) a batch.
        """
        ahead = done + outcome.rows
        result = conn.execute(
            import_table.update()
            .where(import_table.c.id == job.id, import_table.c.rows_done == done)
            .values(
                rows_done=ahead,
                created=import_table.c.created + outcome.created,
                updated=import_table.c.updated + outcome.updated,
                rejected=import_table.c.rejected + len(outcome.rejections),
                updated_at=dt.datetime.now(dt.UTC),
            )
        )
        if result.rowcount != 1:
            raise ImportStateError(
                f"import {job.id} was continued by another process meanwhile",
                details={"id": str(job.id)},
            )
        self._insert(conn, job, outcome.rejections)
        return ahead

    def reject(self, conn: Connection, job: ImportJob, rejections: Sequence[Rejection]) -> None:
        """Store more rejections of ``job`` and count them, in the open transaction."""
        conn.execute(
            import_table.update()
            .where(import_table.c.id == job.id)
            .values(rejected=import_table.c.rejected + len(rejections))
        )
        self._insert(conn, job, rejections)

    def _insert(self, conn: Connection, job: ImportJob, rejections: Sequence[Rejection]) -> None:
        if rejections:
            conn.execute(
                rejection_table.insert(),
                [{"import_id": job.id, **r.to_dict()} for r in rejections],
            )

    def finish(
        self, job: ImportJob, status: Status, error: str | None = None, **values: Any
    ) -> ImportJob:
        """Set the final status of an import (in the open transaction, if any)."""
        with self.db.transaction() as conn:
            conn.execute(
                import_table.update()
                .where(import_table.c.id == job.id)
                .values(status=status, error=error, updated_at=dt.datetime.now(dt.UTC), **values)
            )
        return self.get(job.id)

    def rejections(
        self, import_id: uuid.UUID, *, after: int = 0, limit: int | None = None, batch: int = 1000
    ) -> Iterator[Rejection]:
        """An import's rejected rows after line ``after``, in file order; at most ``limit``.

        Read a batch at a time, each batch from where the last one stopped
        (``line > after`` on the primary key), so a page anywhere in a large
        report costs what one page costs.
        """
        left = limit
        while left is None or left > 0:
            size = batch if left is None else min(batch, left)
            found = self._after(import_id, after, size)
            yield from found
            if len(found) < size:
                return
            after = found[-1].line
            left = None if left is None else left - len(found)

    def _after(self, import_id: uuid.UUID, after: int, size: int) -> list[Rejection]:
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(
                sa.select(rejection_table)
                .where(rejection_table.c.import_id == import_id, rejection_table.c.line > after)
                .order_by(rejection_table.c.line)
                .limit(size)
            ).mappings()
            return [
                Rejection(r["line"], r["row"], tuple(Problem(**p) for p in r["problems"]))
                for r in rows
            ]


def _job(row: Mapping[Any, Any]) -> ImportJob:
    values = {f.name: row[f.name] for f in fields(ImportJob)}
    for name in ("key", "columns"):
        if isinstance(values[name], list):
            values[name] = tuple(values[name])
    return ImportJob(**values)
