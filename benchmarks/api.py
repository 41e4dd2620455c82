"""The api suite: requests per second against a running server, over HTTP.

One database, prepared here (not timed): security installed, an administrator
with an API token, accounts and deals (``bench_deal`` has a lookup to
``bench_account``, a choice ``stage`` and an index on ``(stage, close_date)``).
Then uvicorn serves :mod:`benchmarks.api_server` in a process of its own, and
wrk (the load generator, a C program: Debian's ``wrk``) keeps ``concurrency``
requests in flight on keep-alive connections for ``seconds`` and counts the
answers; any answer but a 2xx stops the suite:

- ``http_get_by_id``: ``GET /api/v1/bench_deal/{id}`` against a bare Starlette
  endpoint running ``SELECT ... WHERE id = :id`` (random ids, the same for both);
- ``http_filtered_list``: ``GET /api/v1/bench_deal?where.stage=...&order=-close_date&limit=50``
  against a bare endpoint running the same SQL (a random stage, the same for both);
- ``graphql_nested_all``: a GraphQL query for 100 deals with their account,
  every field of both, against the REST equivalent,
  ``GET /api/v1/bench_deal?limit=100&expand=account``;
- ``graphql_nested_some``: the same with a few fields, as a client picks them,
  against REST with ``fields=`` (which still expands the whole account).

Before anything is timed, both sides of each bench are asked the same thing
once (with httpx) and must answer the same records. Each side is warmed up,
then measured ``rounds`` times, the two alternating (and which goes first
alternating too); the best round of each is reported: other processes only
ever slow a round down. wrk, not a Python client, generates the load: one
written in Python spends more per request than the bare endpoint does, and
then measures itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa

from benchmarks.api_server import DEAL, Server
from benchmarks.results import Result
from xrm_core import XRM
from xrm_core.graphql.names import list_field

ACCOUNT = "bench_account"
STAGES = ("lead", "qualified", "proposal", "won", "lost")
INDUSTRIES = ("retail", "tech", "finance", "health")

SCHEMAS: list[dict[str, Any]] = [
    {
        "x-xrm": {"name": ACCOUNT},
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "industry": {"enum": list(INDUSTRIES)},
            "city": {"type": "string", "maxLength": 100},
        },
        "required": ["name"],
    },
    {
        "x-xrm": {
            "name": DEAL,
            "indexes": [{"name": "ix_stage_close_date", "fields": ["stage", "close_date"]}],
        },
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "amount": {"x-xrm": {"kind": "money"}, "minimum": 0},
            "stage": {"enum": list(STAGES)},
            "close_date": {"type": "string", "format": "date"},
            "probability": {"type": "integer", "minimum": 0, "maximum": 100},
            "notes": {"type": "string", "x-xrm": {"kind": "text"}},
            "account": {"x-xrm": {"kind": "lookup", "target": ACCOUNT}},
        },
        "required": ["name", "stage", "close_date"],
    },
]


@dataclass(frozen=True)
class Sizes:
    """How much data there is, and how the load is generated."""

    accounts: int
    deals: int
    #: Requests in flight at once (one connection each).
    concurrency: int
    #: Seconds of each measured round, and of the warm-up of each side (0: none);
    #: wrk takes whole seconds.
    seconds: int
    warmup: int
    rounds: int


FULL = Sizes(1_000, 20_000, 8, 10, 3, 3)
SMOKE = Sizes(50, 300, 8, 1, 0, 1)

#: Ours against the bare endpoint, as a throughput.
REST_TARGET = 0.6
#: GraphQL within 1.5x of the REST equivalent, as a throughput: 1 / 1.5.
GRAPHQL_TARGET = 0.667
#: The benchmarks of the suite, in the order they run.
BENCHES = ("http_get_by_id", "http_filtered_list", "graphql_nested_all", "graphql_nested_some")
#: Records in the GraphQL and REST lists.
NESTED_ROWS = 100
#: The columns every record has.
SYSTEM_FIELDS = (
    "id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "owner_id",
    "owner_type",
    "business_unit_id",
    "version",
)
#: The deal's fields a client picks in ``graphql_nested_some`` (the account: id, name).
SOME_FIELDS = ("name", "amount", "stage", "close_date", "account")


@dataclass(frozen=True)
class Call:
    """One HTTP request: method, path, query parameters, JSON body."""

    method: str
    path: str
    params: dict[str, str] | None = None
    body: Any = None

    @property
    def target(self) -> str:
        """The path with its query string, as sent."""
        query = httpx2.QueryParams(self.params or {})
        return f"{self.path}?{query}" if query else self.path


@dataclass(frozen=True)
class Calls:
    """What one side of a bench sends: each request one of ``calls``, picked at random.

    They share a method and a body (wrk sends one request per path).
    """

    calls: tuple[Call, ...]

    @classmethod
    def of(cls, *calls: Call) -> Calls:
        if len({(c.method, json.dumps(c.body)) for c in calls}) != 1:
            raise ValueError("the calls of one load differ only by their paths")
        return cls(calls)


class StatusError(RuntimeError):
    """A request answered something other than 200: the suite stops."""


class Bench:
    """One database prepared for the suite, and the server answering over it."""

    def __init__(self, xrm: XRM, label: str, progress: Callable[[str], None]) -> None:
        self.xrm = xrm
        self.label = label
        self.progress = progress
        self.url = xrm.db.engine.url.render_as_string(hide_password=False)

    def run(self, sizes: Sizes, only: Sequence[str] | None = None) -> Iterator[Result]:
        """Prepare the data, start the server, then every benchmark (or those ``only`` names)."""
        token, ids = self._prepare(sizes)
        self.progress(f"{self.label}: starting the server (uvicorn, one worker)")
        with Server(self.url) as server:
            load = _Load(server.base_url, token, sizes)
            benches: dict[str, Callable[[], Result]] = {
                "http_get_by_id": lambda: self._get_by_id(load, ids, sizes),
                "http_filtered_list": lambda: self._filtered_list(load, sizes),
                "graphql_nested_all": lambda: self._graphql(
                    load, sizes, "graphql_nested_all", every_field=True
                ),
                "graphql_nested_some": lambda: self._graphql(
                    load, sizes, "graphql_nested_some", every_field=False
                ),
            }
            for name, bench in benches.items():
                if not only or name in only:
                    yield bench()

    # -- benchmarks ------------------------------------------------------

    def _get_by_id(self, load: _Load, ids: list[str], sizes: Sizes) -> Result:
        ours = Calls.of(*(ours_get(i) for i in ids))
        bare = Calls.of(*(bare_get(i) for i in ids))
        some = ids[len(ids) // 2]
        a, b = load.once(ours_get(some)), load.once(bare_get(some))
        _same("http_get_by_id", [a], [b], rows=1)
        if a["id"] != some:
            raise RuntimeError(f"http_get_by_id: asked for {some}, got {a['id']}")
        return self._compare("http_get_by_id", load, ours, bare, sizes, REST_TARGET, rows=1)

    def _filtered_list(self, load: _Load, sizes: Sizes) -> Result:
        ours = Calls.of(*(ours_list(stage) for stage in STAGES))
        bare = Calls.of(*(bare_list(stage) for stage in STAGES))
        a, b = load.once(ours_list("won")), load.once(bare_list("won"))
        _same("http_filtered_list", a["items"], b["items"], rows=50)
        return self._compare("http_filtered_list", load, ours, bare, sizes, REST_TARGET, rows=50)

    def _graphql(self, load: _Load, sizes: Sizes, bench: str, every_field: bool) -> Result:
        """GraphQL for 100 deals with their account, against REST's list with ``expand``."""
        query, rest = _nested_query(self.xrm, every_field)
        graphql = Call("POST", "/graphql", body={"query": query})
        answer = load.once(graphql)
        if "errors" in answer:
            raise StatusError(f"{bench}: {answer['errors']}")
        nodes = answer["data"][list_field(DEAL)]["nodes"]
        items = load.once(rest)["items"]
        # The same deals with the same accounts (REST expands the whole account).
        for item, node in zip(items, nodes, strict=False):
            item["account"] = {k: item["account"][k] for k in node["account"]}
        _same(bench, nodes, items, NESTED_ROWS)
        return self._compare(
            bench, load, Calls.of(graphql), Calls.of(rest), sizes, GRAPHQL_TARGET, NESTED_ROWS
        )

    def _compare(
        self,
        bench: str,
        load: _Load,
        ours: Calls,
        raw: Calls,
        sizes: Sizes,
        target: float,
        rows: int,
    ) -> Result:
        """Requests/s of ``ours`` and ``raw``: warmed up, then the best of alternating rounds."""
        c, s = sizes.concurrency, sizes.seconds
        self.progress(f"{self.label}: {bench}, {c} in flight, {sizes.rounds} x {s} s each side")
        for calls in (ours, raw):
            if sizes.warmup:
                load.rate(calls, sizes.warmup)
        best = {"ours": 0.0, "raw": 0.0}
        for i in range(sizes.rounds):
            order = [("ours", ours), ("raw", raw)]
            if i % 2:
                order.reverse()
            for side, calls in order:
                rate, cpu = load.rate(calls, s)
                self.progress(f"  {side}: {rate:,.0f} requests/s (load generator: {cpu:.0%} CPU)")
                best[side] = max(best[side], rate)
        return Result(
            bench=bench,
            db=self.label,
            ours=best["ours"],
            raw=best["raw"],
            unit="requests/s",
            higher_is_better=True,
            target=target,
            size=rows,
            extra={"concurrency": c, "seconds": s, "rounds": sizes.rounds, "same_records": True},
        )

    # -- preparing data (never timed) -------------------------------------

    def _prepare(self, sizes: Sizes) -> tuple[str, list[str]]:
        """Security, an administrator's token, accounts and deals; the deals' ids."""
        xrm = self.xrm
        self.progress(
            f"{self.label}: {sizes.accounts:,} accounts and {sizes.deals:,} deals (not timed)"
        )
        xrm.security.install()
        admin = xrm.security.create_user("bench_admin", roles=["System Administrator"])
        token = xrm.auth.create_token(admin, name="benchmark").token
        xrm.metadata.define(SCHEMAS)
        rnd = random.Random(8)
        accounts = xrm.records(ACCOUNT).create_many(
            [
                {"name": f"Account {i}", "industry": rnd.choice(INDUSTRIES), "city": f"City {i}"}
                for i in range(sizes.accounts)
            ]
        )
        account_ids = [row.record["id"] for row in accounts.rows if row.record is not None]
        xrm.records(DEAL).create_many([_deal(i, rnd, account_ids) for i in range(sizes.deals)])
        table = xrm.metadata.catalog.table(DEAL)
        with xrm.db.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
            ids = [str(i) for i in conn.execute(sa.select(table.c.id)).scalars()]
        return token, ids


def ours_get(deal_id: str) -> Call:
    """One deal through the REST API."""
    return Call("GET", f"/api/v1/{DEAL}/{deal_id}")


def bare_get(deal_id: str) -> Call:
    """One deal from the bare endpoint."""
    return Call("GET", f"/bare/deal/{deal_id}")


def ours_list(stage: str) -> Call:
    """The filtered list of 50, through the REST API (the short filter form)."""
    params = {"where.stage": stage, "order": "-close_date", "limit": "50"}
    return Call("GET", f"/api/v1/{DEAL}", params)


def bare_list(stage: str) -> Call:
    """The filtered list of 50, from the bare endpoint."""
    return Call("GET", "/bare/deals", {"stage": stage, "limit": "50"})


def _deal(i: int, rnd: random.Random, accounts: list[Any]) -> dict[str, Any]:
    return {
        "name": f"Deal {i}",
        "amount": f"{rnd.randrange(100_000_00) / 100:.2f}",
        "stage": STAGES[i % len(STAGES)],
        "close_date": dt.date(2020, 1, 1) + dt.timedelta(days=rnd.randrange(6 * 365)),
        "probability": rnd.randrange(101),
        "notes": f"Deal number {i}, discussed with the customer's buyer.",
        "account": rnd.choice(accounts),
    }


def _nested_query(xrm: XRM, every_field: bool) -> tuple[str, Call]:
    """GraphQL for 100 deals with their account, and the REST request for the same records.

    With ``every_field``, every field of both (what REST answers by default);
    else a few, as a client picks them (REST then lists those of the deal and
    still expands the whole account: it has no way to pick the account's).
    """
    params = {"limit": str(NESTED_ROWS), "expand": "account"}
    if every_field:
        catalog = xrm.metadata.catalog
        deal = [*SYSTEM_FIELDS, *(f.name for f in catalog.definitions[DEAL].fields)]
        account = [*SYSTEM_FIELDS, *(f.name for f in catalog.definitions[ACCOUNT].fields)]
    else:
        deal, account = ["id", *SOME_FIELDS], ["id", "name"]
        params["fields"] = ",".join(SOME_FIELDS)
    nested = " ".join(f"account {{ {' '.join(account)} }}" if f == "account" else f for f in deal)
    query = f"{{ {list_field(DEAL)}(first: {NESTED_ROWS}) {{ nodes {{ {nested} }} }} }}"
    return query, Call("GET", f"/api/v1/{DEAL}", params)


def _same(bench: str, ours: list[Any], raw: list[Any], rows: int) -> None:
    """Stop unless both sides answered the same ``rows`` records."""
    if ours != raw or len(ours) != rows:
        raise RuntimeError(f"{bench}: the two sides answered different records")


#: wrk's script: each request one of the paths in a file, at random; a JSON summary at the end.
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("XRM_BENCH_PATHS")) do paths[#paths + 1] = line end
wrk.method = os.getenv("XRM_BENCH_METHOD")
wrk.headers["Authorization"] = os.getenv("XRM_BENCH_AUTHORIZATION")
local body = os.getenv("XRM_BENCH_BODY")
if body ~= "" then
  local file = assert(io.open(body, "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Content-Type"] = "application/json"
end
request = function()
  return wrk.format(nil, paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'XRM_RESULT {"requests": %d, "microseconds": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
"""
#: How the script's summary line starts.
WRK_RESULT = "XRM_RESULT "
#: Seconds a request may take before wrk counts it as an error.
WRK_TIMEOUT = 30


class _Load:
    """The load generator: wrk keeping ``concurrency`` requests in flight, and httpx for checks."""

    def __init__(self, base_url: str, token: str, sizes: Sizes) -> None:
        wrk = shutil.which("wrk")
        if wrk is None:
            raise RuntimeError("the api suite needs wrk, the load generator: apt-get install wrk")
        self.wrk = wrk
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.concurrency = sizes.concurrency

    def once(self, call: Call) -> Any:
        """The JSON answer to one request (untimed), which must be a 200."""
        return asyncio.run(self._once(call))

    def rate(self, calls: Calls, seconds: int) -> tuple[float, float]:
        """Answers per second over ``seconds``, and the share of a core wrk used.

        Raises :class:`StatusError` when any answer was not a 2xx, or a request failed.
        """
        with tempfile.TemporaryDirectory(prefix="xrm-wrk-") as folder:
            here = Path(folder)
            (here / "script.lua").write_text(WRK_SCRIPT)
            (here / "paths").write_text("".join(f"{c.target}\n" for c in calls.calls))
            first = calls.calls[0]
            if first.body is not None:
                (here / "body.json").write_text(json.dumps(first.body))
            env = {
                **os.environ,
                "XRM_BENCH_PATHS": str(here / "paths"),
                "XRM_BENCH_METHOD": first.method,
                "XRM_BENCH_AUTHORIZATION": self.headers["Authorization"],
                "XRM_BENCH_BODY": str(here / "body.json") if first.body is not None else "",
            }
            command = [self.wrk, "-t1", f"-c{self.concurrency}", f"-d{seconds}s"]
            command += [f"--timeout={WRK_TIMEOUT}s", "-s", str(here / "script.lua"), self.base_url]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = _summary(done, f"{first.method} {first.target}")
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return summary["requests"] / (summary["microseconds"] / 1e6), cpu / elapsed

    def _client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=60.0)

    async def _once(self, call: Call) -> Any:
        async with self._client() as client:
            return json.loads(await _send(client, call))


def _summary(done: subprocess.CompletedProcess[str], what: str) -> dict[str, int]:
    """wrk's counts, once sure that every request was answered with a 2xx."""
    lines = [line for line in done.stdout.splitlines() if line.startswith(WRK_RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}"
        )
    summary: dict[str, int] = json.loads(lines[-1].removeprefix(WRK_RESULT))
    failed = {k: v for k, v in summary.items() if k not in ("requests", "microseconds") and v}
    if failed:
        raise StatusError(f"{what}: not every request was answered with a 2xx: {failed}")
    if not summary["requests"]:
        raise StatusError(f"{what}: no request was answered")
    return summary


async def _send(client: httpx2.AsyncClient, call: Call) -> bytes:
    response = await client.request(call.method, call.path, params=call.params, json=call.body)
    if response.status_code != 200:
        raise StatusError(
            f"{call.method} {call.path} answered {response.status_code}: {response.text[:2000]}"
        )
    return response.content
