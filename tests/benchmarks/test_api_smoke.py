"""The api benchmark suite runs against a real server and reports every bench (never timings)."""

from __future__ import annotations

import json

import pytest

from benchmarks.cli import main

BENCHES = {
    # bench: (records per answer, target)
    "http_get_by_id": (1, ">= 0.6"),
    "http_filtered_list": (50, ">= 0.6"),
    "graphql_nested_all": (100, ">= 0.667"),
    "graphql_nested_some": (100, ">= 0.667"),
}
KEYS = {"bench", "db", "ours", "raw", "unit", "ratio", "target", "met", "size"}


@pytest.mark.slow
@pytest.mark.postgresql  # it starts its own throwaway server
def test_smoke_run_reports_every_benchmark_on_both_databases(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["api", "--smoke"]) == 0

    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["db"], r["bench"]) for r in lines] == [
        (db, bench) for db in ("sqlite", "postgresql") for bench in BENCHES
    ]
    for r in lines:
        # Both sides answered 200 for every request counted (any other status stops the
        # suite), and the same records when asked the same thing (checked before timing).
        assert set(r) == KEYS | {"concurrency", "seconds", "rounds", "same_records"}
        assert r["ours"] > 0 and r["raw"] > 0 and r["ratio"] > 0
        assert r["unit"] == "requests/s"
        assert (r["size"], r["target"]) == BENCHES[r["bench"]]
        assert r["same_records"] is True
        assert (r["concurrency"], r["rounds"]) == (8, 1)
    assert "graphql_nested_some  postgresql" in err  # the summary table


@pytest.mark.slow
def test_only_runs_the_benchmarks_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api", "--smoke", "--db", "sqlite", "--only", "graphql_nested_some"]) == 0

    out, _ = capsys.readouterr()
    assert [json.loads(line)["bench"] for line in out.splitlines()] == ["graphql_nested_some"]
    with pytest.raises(SystemExit) as refused:
        main(["core", "--smoke", "--only", "graphql_nested_some"])
    assert refused.value.code == 2
