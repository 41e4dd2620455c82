"""The security suite: what permissions cost, against the same work without them.

One organization per database: a tree of business units, users spread over
it, and *the reader*, a user whose role reads the benchmark entity in their
business unit's subtree and creates it in their own business unit. Two things
are measured:

- a page of records as the reader sees it, through the record service (the
  permission predicate compiled by the security layer) against hand-written
  SQL with the same predicate, on the same table;
- a bulk create as the reader (permission checks) against the same bulk
  create in the system context (none), same rows, same table.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from benchmarks import data
from benchmarks.results import Result, paired_medians
from xrm_core import XRM
from xrm_core.audit import audit_table
from xrm_core.records.results import BulkResult, Record
from xrm_core.records.service import RecordService
from xrm_core.security.caller import Caller
from xrm_core.security.principal import subtree
from xrm_core.security.service import BASIC_USER
from xrm_core.security.tables import share_table

ENTITY = data.ENTITY
ROLE = "Benchmark reader"
#: Children per business unit at each level below the root: 1 + 6 + 18 + 72 = 97
#: units. The reader sits in a division, whose subtree is 16 of them.
TREE = (6, 3, 4)
#: Shares of other records with other users, for every share with the reader:
#: the share table is not the reader's alone.
OTHER_SHARES = 10
_BATCH = 10_000


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does, and how many times it is timed."""

    table_rows: int
    users: int
    shares: int
    page_repeats: int
    bulk_rows: int
    bulk_repeats: int


FULL = Sizes(1_000_000, 1_000, 1_000, 21, 50_000, 9)
SMOKE = Sizes(5_000, 100, 250, 3, 500, 2)

# ratio = ours / raw, as in the core suite.
PAGE_TARGET = 1.5
#: At most 10% slower, as a throughput: 1 / 1.10 is 0.909.
BULK_TARGET = 0.91


@dataclass(frozen=True)
class Organization:
    """The business units, users and teams the benchmarks run with."""

    #: Business unit -> its parent (None for the root).
    units: dict[uuid.UUID, uuid.UUID | None]
    #: (user, their business unit), the reader excepted.
    users: list[tuple[uuid.UUID, uuid.UUID]]
    reader: uuid.UUID
    division: uuid.UUID
    teams: list[uuid.UUID]

    @property
    def subtree(self) -> list[uuid.UUID]:
        """The reader's business unit and every unit below it, sorted."""
        return sorted(subtree(self.units, self.division))

    @property
    def principals(self) -> list[uuid.UUID]:
        """The reader and their teams: what they own, and what is shared with them, is readable."""
        return [self.reader, *self.teams]


class Bench:
    """One database prepared for the suite: security installed, the benchmark entity defined."""

    def __init__(self, xrm: XRM, label: str, progress: Callable[[str], None]) -> None:
        self.xrm = xrm
        self.label = label
        self.progress = progress
        self.engine: Engine = xrm.db.engine
        self.postgresql = xrm.db.dialect == "postgresql"
        xrm.security.install()
        xrm.metadata.define(data.SCHEMA)
        self.table = xrm.metadata.catalog.table(ENTITY)

    def run(self, sizes: Sizes) -> Iterator[Result]:
        """Every benchmark, in order (bulk create first: it needs an empty table)."""
        self.progress(f"{self.label}: an organization of {sizes.users:,} users (not timed)")
        org = self.organization(sizes.users)
        yield self.bulk_create(sizes, org)
        self.progress(
            f"{self.label}: generating {sizes.table_rows:,} records and "
            f"{sizes.shares * (1 + OTHER_SHARES):,} shares (not timed)"
        )
        self.populate(sizes, org)
        yield from self.permission_pages(sizes, org)

    # -- benchmarks ------------------------------------------------------

    def bulk_create(self, sizes: Sizes, org: Organization) -> Result:
        """Records/s: ``create_many`` as the reader against the system context.

        Both sides get the very same rows, owned by the reader (so that the
        system context, which owns nothing, writes the same records): the only
        difference is who calls, and so the permission checks.
        """
        n = sizes.bulk_rows
        self.progress(f"{self.label}: bulk create of {n:,} records x{sizes.bulk_repeats}")
        rows = [{**row, "owner_id": org.reader, "owner_type": "user"} for row in data.records(n)]

        def ours() -> None:
            self.xrm.as_user(org.reader).records(ENTITY).create_many(rows)

        def raw() -> None:
            self.xrm.as_system("benchmark").records(ENTITY).create_many(rows)

        def empty(_side: str) -> None:
            # Both sides write the audit log (one row per record); it starts empty too.
            self.empty(self.table, audit_table)

        # Once each, untimed: both sides store the same records (and warm up).
        stored = []
        for run in (ours, raw):
            empty("")
            run()
            stored.append(self._stored())
        if stored[0] != stored[1] or len(stored[0]) != n:
            raise RuntimeError("bulk create stored different records as the reader and the system")
        ours_s, raw_s = paired_medians(ours, raw, sizes.bulk_repeats, before_each=empty)
        return Result(
            bench="permission_bulk_create",
            db=self.label,
            ours=n / ours_s,
            raw=n / raw_s,
            unit="records/s",
            higher_is_better=True,
            target=BULK_TARGET,
            size=n,
            extra={"rows": n, "same_rows": True},
        )

    def permission_pages(self, sizes: Sizes, org: Organization) -> Iterator[Result]:
        """Ms: the reader's first page of 50 by id, then the next one by its cursor."""
        self.progress(f"{self.label}: permission-filtered pages of 50 x{sizes.page_repeats}")
        first_page, next_page, count = self._raw_statements()
        params: dict[str, Any] = {
            "units": org.subtree,
            "entity": ENTITY,
            "principals": org.principals,
        }

        def reader() -> RecordService:
            # As a request would: the caller is bound anew, its rights come from the cache.
            return self.xrm.as_user(org.reader).records(ENTITY)

        cursor = reader().query(limit=50).next_cursor
        with self.engine.begin() as conn:
            visible = int(conn.execute(count, params).scalar_one())
            last = conn.execute(first_page, params).all()[-1].id
        if reader().count() != visible:
            raise RuntimeError("the reader sees another number of records than raw SQL selects")

        def ours_first() -> list[Any]:
            return reader().query(limit=50).records

        def raw_first() -> list[Any]:
            with self.engine.begin() as conn:
                return list(conn.execute(first_page, params).all())

        def ours_next() -> list[Any]:
            return reader().query(limit=50, cursor=cursor).records

        def raw_next() -> list[Any]:
            with self.engine.begin() as conn:
                return list(conn.execute(next_page, {**params, "after": last}).all())

        extra = {"rows": 50, "same_rows": True, "visible": visible}
        for bench, ours, raw in (
            ("permission_page", ours_first, raw_first),
            ("permission_next_page", ours_next, raw_next),
        ):
            ids = [r.id for r in raw()]
            if [r["id"] for r in ours()] != ids or len(ids) != 50:
                raise RuntimeError(f"{bench}: the page differs between ours and raw")
            ours_s, raw_s = paired_medians(ours, raw, sizes.page_repeats)
            yield Result(
                bench=bench,
                db=self.label,
                ours=ours_s * 1000,
                raw=raw_s * 1000,
                unit="ms",
                higher_is_better=False,
                target=PAGE_TARGET,
                size=sizes.table_rows,
                extra=extra,
            )

    def _raw_statements(self) -> tuple[sa.TextualSelect, sa.TextualSelect, sa.TextClause]:
        """The first page, the next page and the count of what the reader may read, by hand."""
        # The predicate an application would write: records in the reader's
        # subtree, owned by the reader or one of their teams, or shared with
        # them for reading. Identifiers come from our own table, never from input.
        visible = f"""
            SELECT {{what}} FROM {self.table.name}
            WHERE (business_unit_id IN :units
                   OR owner_id IN :principals
                   OR id IN (SELECT record_id FROM xrm_share
                             WHERE entity = :entity AND principal_id IN :principals
                               AND can_read))
        """
        ids = [
            sa.bindparam("units", expanding=True, type_=sa.Uuid),
            sa.bindparam("principals", expanding=True, type_=sa.Uuid),
        ]
        page = visible.format(what="*")
        first = sa.text(f"{page} ORDER BY id LIMIT 50").bindparams(*ids)
        after = sa.text(f"{page} AND id > :after ORDER BY id LIMIT 50").bindparams(
            *ids, sa.bindparam("after", type_=sa.Uuid)
        )
        count = sa.text(visible.format(what="count(*)")).bindparams(*ids)
        return first.columns(*self.table.c), after.columns(*self.table.c), count

    # -- preparing data (never timed) -------------------------------------

    def organization(self, users: int) -> Organization:
        """Business units, ``users`` users spread over them, two teams, and the reader."""
        system = self.xrm.as_system("benchmark")
        security = self.xrm.security
        root = security.root_business_unit()
        units: dict[uuid.UUID, uuid.UUID | None] = {root: None}
        level = [root]
        for depth, children in enumerate(TREE, 1):
            rows = [
                {"name": f"Unit {depth}.{i}.{j}", "parent": parent}
                for i, parent in enumerate(level)
                for j in range(children)
            ]
            made = _records(system.records("business_unit").create_many(rows))
            level = [r["id"] for r in made]
            units.update((r["id"], r["parent"]) for r in made)
        division = next(u for u, parent in units.items() if parent == root)
        # Users round-robin over every unit, so that each unit owns as many records.
        spread = list(units)
        made_users = system.records("user").create_many(
            {
                "username": f"user{i}",
                "full_name": f"User {i}",
                "email": f"user{i}@example.com",
                "business_unit": spread[i % len(spread)],
            }
            for i in range(users)
        )
        people = [(r["id"], r["business_unit"]) for r in _records(made_users)]
        made_teams = system.records("team").create_many(
            {"name": f"Team {i}", "business_unit": division} for i in range(2)
        )
        teams = [r["id"] for r in _records(made_teams)]
        security.create_role(
            ROLE,
            [(ENTITY, "read", "subtree"), (ENTITY, "create", "business_unit")],
            description="Reads the benchmark entity in a subtree, creates it in a unit.",
        )
        reader = security.create_user(
            "reader", business_unit=division, roles=(BASIC_USER, ROLE), teams=teams
        )
        org = Organization(units, people, reader, division, teams)
        principal = security.principal(Caller.user(reader))
        if sorted(principal.subtree) != org.subtree or principal.team_ids != set(teams):
            raise RuntimeError("the reader's principal is not the organization built")
        return org

    def populate(self, sizes: Sizes, org: Organization) -> None:
        """Records owned by every user, shares with the reader, others', then statistics.

        Records go straight into the table (the suite measures reads, not the
        load), with the system columns the record service would write.
        """
        self.empty(self.table, audit_table)
        rnd = random.Random(7)
        inside = set(org.subtree)
        outside: list[uuid.UUID] = []  # a uniform sample of records outside the subtree
        seen = 0
        wanted = sizes.shares * (1 + OTHER_SHARES)
        insert = self.table.insert()
        owners = [*org.users, (org.reader, org.division)]
        with self.engine.begin() as conn:
            for start in range(0, sizes.table_rows, _BATCH):
                rows = data.raw_rows(data.records(min(_BATCH, sizes.table_rows - start), start))
                for i, row in enumerate(rows, start):
                    owner, unit = owners[rnd.randrange(len(owners))]
                    row.update(
                        subject=f"Ticket {i}",
                        owner_id=owner,
                        owner_type="user",
                        business_unit_id=unit,
                    )
                    if unit in inside:
                        continue
                    seen += 1  # reservoir sampling
                    if len(outside) < wanted:
                        outside.append(row["id"])
                    elif (k := rnd.randrange(seen)) < wanted:
                        outside[k] = row["id"]
                conn.execute(insert, rows)
            self._share(conn, rnd, org, outside[: sizes.shares], outside[sizes.shares :])
        with self.engine.connect() as conn:
            if self.postgresql:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(sa.text(f"VACUUM ANALYZE {self.table.name}"))
                conn.execute(sa.text(f"VACUUM ANALYZE {share_table.name}"))
            else:
                with conn.begin():
                    conn.execute(sa.text("ANALYZE"))
        self._settle()

    def _share(
        self,
        conn: Connection,
        rnd: random.Random,
        org: Organization,
        mine: Sequence[uuid.UUID],
        others: Sequence[uuid.UUID],
    ) -> None:
        """Share ``mine`` with the reader (four in five) or a team; ``others`` with others."""
        now = dt.datetime.now(dt.UTC)
        flags = {f"can_{p}": False for p in ("update", "delete", "assign", "share")}

        def share(record: uuid.UUID, principal: uuid.UUID, kind: str) -> dict[str, Any]:
            return {
                "entity": ENTITY,
                "record_id": record,
                "principal_id": principal,
                "principal_type": kind,
                "can_read": True,
                **flags,
                "created_at": now,
                "created_by": None,
            }

        rows = [
            share(r, org.reader, "user") if i % 5 else share(r, org.teams[i % 2], "team")
            for i, r in enumerate(mine)
        ]
        rows += [share(r, org.users[rnd.randrange(len(org.users))][0], "user") for r in others]
        conn.execute(share_table.insert(), rows)

    def empty(self, *tables: sa.Table) -> None:
        """Empty ``tables`` and settle the database, before a timed write."""
        with self.engine.begin() as conn:
            for table in tables:
                if self.postgresql:
                    conn.execute(sa.text(f"TRUNCATE {table.name}"))
                else:
                    conn.execute(table.delete())
        self._settle()

    def _settle(self) -> None:
        # Start each timed write from a clean log, so that neither side pays
        # for a checkpoint the other one caused.
        with self.engine.connect() as conn:
            if self.postgresql:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("CHECKPOINT"))
            else:
                conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                )

    def _stored(self) -> list[tuple[Any, ...]]:
        """What a bulk create stored, ids and timestamps aside."""
        c = self.table.c
        columns = [c.owner_id, c.owner_type, c.business_unit_id, c.subject, c.amount, c.status]
        with self.engine.begin() as conn:
            return sorted(tuple(r) for r in conn.execute(sa.select(*columns)))


def _records(result: BulkResult) -> list[Record]:
    """The records an atomic bulk create wrote, in input order."""
    return [r.record for r in result.rows if r.record is not None]
