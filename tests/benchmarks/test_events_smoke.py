"""The events benchmark suite runs end to end and reports what it compared (never timings)."""

from __future__ import annotations

import json

import pytest

from benchmarks.cli import main

PIPELINES = {
    "pipeline_0": ("after", 0),
    "pipeline_1_after": ("after", 1),
    "pipeline_10_after": ("after", 10),
    "pipeline_1_committed": ("committed", 1),
    "pipeline_10_committed": ("committed", 10),
}
KEYS = {"bench", "db", "ours", "raw", "unit", "ratio", "target", "met", "size"}


@pytest.mark.slow
@pytest.mark.postgresql  # it starts its own throwaway server
def test_smoke_run_reports_every_benchmark_on_both_databases(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["events", "--smoke"]) == 0

    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["db"], r["bench"]) for r in lines] == [
        (db, bench) for db in ("sqlite", "postgresql") for bench in [*PIPELINES, "outbox_delivery"]
    ]
    for r in lines:
        assert r["ours"] > 0 and r["raw"] > 0 and r["ratio"] > 0 and r["size"] > 0
        assert r["target"].startswith(">=")
        if r["bench"] == "outbox_delivery":
            # Both sides delivered every waiting event, in batches of xrm worker's default.
            assert set(r) == KEYS | {"batch", "delivered"}
            assert (r["unit"], r["batch"], r["delivered"]) == ("events/s", 100, r["size"])
        else:
            # The suite stops unless each subscriber ran (or was enqueued) once per change.
            assert set(r) == KEYS | {"subscribers", "stage"}
            assert r["unit"] == "changes/s"
            assert (r["stage"], r["subscribers"]) == PIPELINES[r["bench"]]
    assert "outbox_delivery        postgresql" in err  # the summary table
