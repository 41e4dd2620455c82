"""Reading and writing CSV and JSON Lines as streams of rows, never a whole file at once."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, get_args

from xrm_core.errors import InvalidFile, Problem

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = get_args(Format)
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_READ_SIZE = 1 << 20
_NOT_UTF8 = "the file is not UTF-8 text: save it as UTF-8 and import it again"


def format_of(path: Path | str, given: str | None = None) -> Format:
    """The format ``given``, or the one a file name's suffix says; raises InvalidFile."""
    if given is not None:
        if given not in FORMATS:
            raise InvalidFile(
                f"unknown format {given!r}: use one of {', '.join(FORMATS)}",
                [Problem("/format", "unknown format")],
            )
        return given
    found = _SUFFIXES.get(Path(path).suffix.lower()) if str(path) else None
    if found is None:
        named = f" of {str(path)!r}" if str(path) else ""
        raise InvalidFile(
            f"cannot tell the format{named}: name it .csv or .jsonl, or give the format",
            [Problem("/format", "unknown format")],
        )
    return found


def fingerprint(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks: what tells one file from another."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_READ_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


class CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for progress)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


@dataclass(frozen=True)
class SourceRow:
    """One row of an import file, as it was written.

    ``line`` is where the row starts (1-based); ``raw`` is a CSV row as a dict of
    column to text, a JSON Lines object, or the text of a line that is not one,
    in which case ``problem`` says why.
    """

    line: int
    raw: Any
    problem: str | None = None


class CsvSource:
    """The rows of a CSV file whose first row names the columns."""

    def __init__(self, stream: IO[bytes]) -> None:
        # utf-8-sig: spreadsheets often start their CSV with a byte order mark.
        self.text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        self.reader = csv.reader(self.text, strict=True)
        self.columns: tuple[str, ...] = self._header()

    def _header(self) -> tuple[str, ...]:
        try:
            header = next(self.reader, None)
        except UnicodeDecodeError:
            raise InvalidFile(_NOT_UTF8) from None
        except csv.Error as exc:
            raise InvalidFile(f"cannot read the CSV header: {exc}") from None
        if not header:
            raise InvalidFile(
                "the CSV file has no header row: its first row must name the fields",
                [Problem("/header", "is missing")],
            )
        columns = tuple(name.strip() for name in header)
        problems = [Problem(f"/header/{i}", "is blank") for i, n in enumerate(columns) if not n]
        problems += [
            Problem(f"/header/{i}", f"repeats the column {n!r}")
            for i, n in enumerate(columns)
            if n and n in columns[:i]
        ]
        if problems:
            raise InvalidFile("the CSV header is not valid", problems)
        return columns

    def __iter__(self) -> Iterator[SourceRow]:
        width = len(self.columns)
        while True:
            start = self.reader.line_num + 1
            try:
                cells = next(self.reader, None)
            except UnicodeDecodeError:
                # Text is decoded a block at a time: the line is not known exactly.
                raise InvalidFile(f"{_NOT_UTF8} (after line {start - 1})") from None
            except csv.Error as exc:
                raise InvalidFile(f"cannot read line {start}: {exc}") from None
            if cells is None:
                return
            if not cells:
                continue  # a blank line is no row
            if len(cells) != width:
                problem = f"has {len(cells)} cells; the header names {width} columns"
                yield SourceRow(start, dict(zip(self.columns, cells, strict=False)), problem)
                continue
            yield SourceRow(start, dict(zip(self.columns, cells, strict=True)))


class JsonLinesSource:
    """The rows of a JSON Lines file: one JSON object a line."""

    columns: tuple[str, ...] = ()

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[SourceRow]:
        for n, data in enumerate(self.stream, 1):
            try:
                text = data.decode("utf-8-sig" if n == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                yield SourceRow(n, data.decode("utf-8", "replace").strip(), "is not UTF-8 text")
                continue
            if not text:
                continue
            try:
                value = json.loads(text)
            except ValueError as exc:
                yield SourceRow(n, text, f"is not JSON ({exc})")
                continue
            if not isinstance(value, dict):
                yield SourceRow(n, value, "must be a JSON object")
                continue
            yield SourceRow(n, value)


def open_source(stream: IO[bytes], format: Format) -> CsvSource | JsonLinesSource:
    """The rows of ``stream`` (binary) in ``format``; a CSV header is read at once."""
    return CsvSource(stream) if format == "csv" else JsonLinesSource(stream)


class CsvSink:
    """Writes rows of text cells under a header."""

    def __init__(self, stream: IO[str], columns: Sequence[str]) -> None:
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow(columns)

    def write(self, cells: Sequence[str]) -> None:
        """Write one row."""
        self.writer.writerow(cells)


def json_line(value: Any) -> str:
    """One JSON Lines line (no newline) for a JSON-ready value."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
