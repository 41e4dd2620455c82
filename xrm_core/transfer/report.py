"""The report of an import's rejected rows: each row as written, its line, and why."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import IO

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
