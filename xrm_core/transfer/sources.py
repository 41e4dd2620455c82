"""Where an import's rows come from: a file or a stream, opened, and checked to be the same file.

A file is known by its SHA-256 (a stream by the fingerprint its sender gives)
and, for CSV, by its header; a resume must present the same one (decision 0021).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from xrm_core.errors import ImportStateError, InvalidFile, shown
from xrm_core.transfer.formats import (
    CountingReader,
    CsvSource,
    Format,
    JsonLinesSource,
    fingerprint,
    open_source,
)
from xrm_core.transfer.jobs import ImportJob

#: What an import reads: a file's path, or a binary stream.
Source = Path | str | IO[bytes]


@dataclass
class Opened:
    """A source opened for reading: its rows, and what identifies it."""

    rows: CsvSource | JsonLinesSource
    counter: CountingReader
    name: str
    size: int | None
    fingerprint: str | None


@contextmanager
def opened_source(source: Source, fmt: Format, given: str | None) -> Iterator[Opened]:
    """``source`` opened for reading in ``fmt``; ``given`` is a stream's fingerprint.

    A path is hashed first (its SHA-256 is its fingerprint); raises
    :class:`InvalidFile` when it cannot be read.
    """
    if not is_path(source):
        stream: IO[bytes] = source  # type: ignore[assignment]
        counter = CountingReader(stream)
        rows = open_source(io.BufferedReader(counter), fmt)
        yield Opened(rows, counter, getattr(stream, "name", "<stream>"), None, given)
        return
    path = Path(source)  # type: ignore[arg-type]
    try:
        print_ = fingerprint(path)
        file = path.open("rb")
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidFile(f"cannot read {path}: {exc.strerror}") from None
    with file:
        counter = CountingReader(file)
        rows = open_source(io.BufferedReader(counter), fmt)
        yield Opened(rows, counter, str(path), size, print_)


def same_file(job: ImportJob, opened: Opened) -> None:
    """Refuse to continue ``job`` with a file other than the one it started with."""
    differs = None
    if job.fingerprint is not None and opened.fingerprint is None:
        differs = (
            f"import {job.id} started from a file with SHA-256 {job.fingerprint}: "
            "send that file with its SHA-256 (fingerprint) to continue it"
        )
    elif job.fingerprint is not None and opened.fingerprint != job.fingerprint:
        differs = (
            f"{opened.name} is not the file import {job.id} started with "
            f"(its content differs: SHA-256 {opened.fingerprint}, not {job.fingerprint})"
        )
    elif (tuple(opened.rows.columns) or None) != job.columns:
        header = ",".join(opened.rows.columns) or "none"
        differs = (
            f"{opened.name} is not the file import {job.id} started with (its header is "
            f"{shown(header)}, not {shown(','.join(job.columns or ()) or 'none')})"
        )
    if differs is not None:
        raise ImportStateError(differs, details={"id": str(job.id)})


def is_path(source: Source) -> bool:
    """True when ``source`` names a file rather than being a stream."""
    return isinstance(source, Path | str)
