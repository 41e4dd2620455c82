"""Command line: ``python -m benchmarks SUITE [--smoke] [--db sqlite|postgresql|all]``.

Suites: ``core``, ``security``, ``events``, ``api``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchmarks import api, core, events, security
from benchmarks.results import Result, print_table
from xrm_core import XRM
from xrm_core.testing.postgres import PostgresServer

DATABASES = ("sqlite", "postgresql")
SUITES = ("core", "security", "events", "api")


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m benchmarks``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure xRM against hand-written SQL on the same database.",
    )
    p.add_argument(
        "suite",
        choices=SUITES,
        help=(
            "core: records against hand-written SQL; security: what permissions cost; "
            "events: the event pipeline per change, and outbox delivery; "
            "api: requests/s of a running server against bare endpoints, GraphQL against REST"
        ),
    )
    p.add_argument("--smoke", action="store_true", help="small sizes: a correctness run in seconds")
    p.add_argument("--db", choices=[*DATABASES, "all"], default="all", help="default: all")
    p.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target is missed"
    )
    p.add_argument(
        "--only",
        action="append",
        choices=api.BENCHES,
        metavar="BENCH",
        help=f"api suite: run only this benchmark (repeatable): {', '.join(api.BENCHES)}",
    )
    p.add_argument(
        "--postgres-url",
        help="an empty PostgreSQL database to use instead of starting a throwaway server",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite: JSON lines on stdout, progress and a summary table on stderr.

    Returns 0, or with ``--strict`` 1 when a target is missed (a smoke run on
    a busy CI machine checks that the suite works, not how fast it is).
    """
    p = parser()
    args = p.parse_args(argv)
    if args.only and args.suite != "api":
        p.error("--only selects benchmarks of the api suite")
    databases = DATABASES if args.db == "all" else (args.db,)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="xrm-bench-") as tmp:
        for db in databases:
            with _database(db, Path(tmp), args.postgres_url) as url:
                xrm = XRM.from_url(url, export_dir=Path(tmp) / "exports").as_system("benchmark")
                try:
                    for result in _run(args.suite, xrm, db, args.smoke, args.only):
                        results.append(result)
                        print(json.dumps(result.as_json()), flush=True)
                finally:
                    xrm.close()
    sys.stderr.write("\n")
    print_table(results, sys.stderr)
    return 1 if args.strict and not all(r.met for r in results) else 0


def _run(
    suite: str, xrm: XRM, db: str, smoke: bool, only: Sequence[str] | None = None
) -> Iterator[Result]:
    if suite == "security":
        sizes = security.SMOKE if smoke else security.FULL
        return security.Bench(xrm, db, _progress).run(sizes)
    if suite == "api":
        return api.Bench(xrm, db, _progress).run(api.SMOKE if smoke else api.FULL, only)
    if suite == "events":
        return events.Bench(xrm, db, _progress).run(events.SMOKE if smoke else events.FULL)
    return core.Bench(xrm, db, _progress).run(core.SMOKE if smoke else core.FULL)


@contextmanager
def _database(db: str, tmp: Path, postgres_url: str | None) -> Iterator[str]:
    if db == "sqlite":
        # A file, as the embedded default is: an in-memory database would hide I/O.
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    if postgres_url is not None:
        yield postgres_url
        return
    _progress("postgresql: starting a throwaway server (durable settings: fsync on)")
    # fast=False: commits pay for real durability, as in production.
    with PostgresServer(fast=False) as server:
        server.create_database("bench")
        yield server.url("bench")


def _progress(message: str) -> None:
    sys.stderr.write(f"# {message}\n")
    sys.stderr.flush()
