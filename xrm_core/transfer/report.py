"""The report of an import's rejected rows: each row as written, its line, and why."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

from xrm_core.errors import InvalidFile, Problem
from xrm_core.transfer.formats import CsvSink, Format, json_line
from xrm_core.transfer.jobs import ImportJob, Rejection


def write_report(
    job: ImportJob, rejections: Iterable[Rejection], stream: IO[str], format: Format
) -> int:
    """Write ``rejections`` of ``job`` to ``stream`` in ``format``; how many were written.

    CSV: ``line``, the file's own columns (or ``row``, the JSON of a JSON Lines
    row), then ``problems`` ("/email: ...; /age: ..."). JSON Lines: one
    ``{"line", "row", "problems": [{"pointer", "message"}]}`` object a row.
    """
    count = 0
    if format == "jsonl":
        for rejection in rejections:
            stream.write(json_line(rejection.to_dict()) + "\n")
            count += 1
        return count
    columns = job.columns
    sink = CsvSink(stream, ["line", *(columns or ["row"]), "problems"])
    for rejection in rejections:
        row = rejection.row
        if columns is not None and isinstance(row, Mapping):
            cells = [str(row.get(c, "")) for c in columns]
        else:
            cells = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)]
        problems = "; ".join(str(p) for p in rejection.problems)
        sink.write([str(rejection.line), *cells, problems])
        count += 1
    return count


def writable(target: Path | str) -> Path:
    """``target`` as a path a report can be written to; raises :class:`InvalidFile`.

    Checked before an import starts, so a report that cannot be written is
    refused before any row is, not after the import committed.
    """
    path = Path(target)
    if path.is_dir():
        raise InvalidFile(
            f"cannot write the report to {path}: it is a directory",
            [Problem("/report", "is a directory")],
        )
    try:
        # The report is written beside its final place, then renamed (see replacing).
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}."):
            pass
    except OSError as exc:
        raise InvalidFile(
            f"cannot write the report to {path}: {exc.strerror or exc}",
            [Problem("/report", "cannot be written")],
        ) from None
    return path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[IO[str]]:
    """A text stream whose content replaces ``path`` whole once the block ends without error.

    Written into a temporary file in the same directory and renamed over
    ``path`` (atomic on POSIX and Windows): a reader never sees half a report,
    and a failure leaves the earlier file, if any, as it was.
    """
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
