"""Measurements and how they are reported: JSON lines on stdout, a table on stderr."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass(frozen=True)
class Result:
    """One benchmark on one database: ours against raw, and the target for their ratio.

    ``ratio`` is always ours / raw. For a throughput (higher is better) the
    target is a floor; for a time (lower is better) it is a ceiling.
    """

    bench: str
    db: str
    ours: float
    raw: float
    unit: str
    higher_is_better: bool
    target: float
    size: int
    #: More keys for the JSON line, such as what was checked (``same_rows``).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """ours / raw, whatever the unit."""
        return self.ours / self.raw

    @property
    def target_text(self) -> str:
        """The target with its direction: ``>= 0.5`` or ``<= 1.5``."""
        return f"{'>=' if self.higher_is_better else '<='} {self.target:g}"

    @property
    def met(self) -> bool:
        """True when the ratio is on the right side of the target."""
        if self.higher_is_better:
            return self.ratio >= self.target
        return self.ratio <= self.target

    def as_json(self) -> dict[str, Any]:
        """The JSON line printed for this result."""
        return {
            "bench": self.bench,
            "db": self.db,
            "ours": _round(self.ours),
            "raw": _round(self.raw),
            "unit": self.unit,
            "ratio": round(self.ratio, 3),
            "target": self.target_text,
            "met": self.met,
            "size": self.size,
            **self.extra,
        }


def _round(value: float) -> float:
    # Enough digits for a 0.2 ms page and for 80,000 records/s alike.
    return float(f"{value:.4g}") if value < 1000 else round(value, 1)


def seconds(run: Callable[[], object]) -> float:
    """Wall-clock seconds one call of ``run`` takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def paired_medians(
    ours: Callable[[], object],
    raw: Callable[[], object],
    repeats: int,
    before_each: Callable[[str], object] | None = None,
) -> tuple[float, float]:
    """Median seconds of ``ours`` and of ``raw`` over ``repeats`` runs each.

    The two alternate, and which goes first alternates too, so that a cache
    warming up or a database file growing does not favour either side.
    ``before_each`` is called (untimed) with ``"ours"`` or ``"raw"`` before each run.
    """
    timings: dict[str, list[float]] = {"ours": [], "raw": []}
    for i in range(repeats):
        order = [("ours", ours), ("raw", raw)]
        if i % 2:
            order.reverse()
        for name, run in order:
            if before_each is not None:
                before_each(name)
            timings[name].append(seconds(run))
    return statistics.median(timings["ours"]), statistics.median(timings["raw"])


def print_table(results: Sequence[Result], out: TextIO) -> None:
    """A human-readable table of ``results``."""
    header = ("bench", "db", "ours", "raw", "unit", "ratio", "target", "met")
    rows = [header]
    for r in results:
        rows.append(
            (
                r.bench,
                r.db,
                f"{_round(r.ours):,}",
                f"{_round(r.raw):,}",
                r.unit,
                f"{r.ratio:.2f}",
                r.target_text,
                "yes" if r.met else "NO",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i in (0, 1, 4, 6, 7) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
