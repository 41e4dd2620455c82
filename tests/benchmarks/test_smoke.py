"""The benchmark suite runs end to end and reports well-formed results (never timings)."""

from __future__ import annotations

import json

import pytest

from benchmarks.cli import main

BENCHES = ["bulk_create", "get_by_id", "filtered_page", "aggregate_by_month"]
KEYS = {"bench", "db", "ours", "raw", "unit", "ratio", "target", "met", "size"}


@pytest.mark.slow
@pytest.mark.postgresql  # it starts its own throwaway server
def test_smoke_run_reports_every_benchmark_on_both_databases(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["core", "--smoke"]) == 0

    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["db"], r["bench"]) for r in lines] == [
        (db, bench) for db in ("sqlite", "postgresql") for bench in BENCHES
    ]
    for r in lines:
        assert set(r) == KEYS
        assert r["ours"] > 0 and r["raw"] > 0 and r["ratio"] > 0 and r["size"] > 0
        assert r["unit"] in ("records/s", "ops/s", "ms")
        assert r["target"].startswith(">=" if r["unit"] != "ms" else "<=")
    assert "aggregate_by_month  postgresql" in err  # the summary table
