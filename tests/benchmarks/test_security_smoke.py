"""The security benchmark suite runs end to end and compares like with like (never timings)."""

from __future__ import annotations

import json

import pytest

from benchmarks.cli import main

BENCHES = ["permission_bulk_create", "permission_page", "permission_next_page"]
KEYS = {"bench", "db", "ours", "raw", "unit", "ratio", "target", "met", "size", "rows", "same_rows"}


@pytest.mark.slow
@pytest.mark.postgresql  # it starts its own throwaway server
def test_smoke_run_reports_every_benchmark_on_both_databases(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["security", "--smoke"]) == 0

    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["db"], r["bench"]) for r in lines] == [
        (db, bench) for db in ("sqlite", "postgresql") for bench in BENCHES
    ]
    for r in lines:
        pages = r["bench"] != "permission_bulk_create"
        assert set(r) == KEYS | ({"visible"} if pages else set())
        assert r["ours"] > 0 and r["raw"] > 0 and r["ratio"] > 0 and r["size"] > 0
        # Both sides did the same work: the same page of ids, the same stored records.
        assert r["same_rows"] is True
        if pages:
            assert (r["unit"], r["target"], r["rows"]) == ("ms", "<= 1.5", 50)
            # The reader sees their subtree (16 of 97 units) and what is shared with them.
            assert 0.1 < r["visible"] / r["size"] < 0.3
        else:
            assert (r["unit"], r["target"], r["rows"]) == ("records/s", ">= 0.91", r["size"])
    assert "permission_next_page    postgresql" in err  # the summary table
