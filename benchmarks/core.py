"""The core suite: the record service against hand-written SQLAlchemy Core.

Both sides work on the same database through the same engine (so the same
connection settings: WAL and ``synchronous=NORMAL`` on SQLite), on tables
built by the same ``build_table`` from the same definition: ours is the
entity's table, raw is a twin under another name, with the same columns,
types and indexes. Whatever differs is the framework's own work.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from benchmarks import data
from benchmarks.results import Result, paired_medians
from xrm_core import XRM
from xrm_core.audit import audit_table
from xrm_core.storage.tables import build_table


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does, and how many times it is timed."""

    bulk_rows: int
    gets: int
    table_rows: int
    bulk_repeats: int
    get_repeats: int
    page_repeats: int
    aggregate_repeats: int


FULL = Sizes(100_000, 2_000, 1_000_000, 3, 5, 21, 5)
SMOKE = Sizes(2_000, 200, 20_000, 2, 3, 5, 3)

# ratio = ours / raw; throughputs must reach the floor, times stay under the ceiling.
BULK_TARGET = 0.5
GET_TARGET = 0.33
TIME_TARGET = 1.5


class Bench:
    """One database prepared for the suite: xRM's entity and its raw twin."""

    def __init__(self, xrm: XRM, label: str, progress: Callable[[str], None]) -> None:
        self.xrm = xrm
        self.label = label
        self.progress = progress
        self.engine: Engine = xrm.db.engine
        self.postgresql = xrm.db.dialect == "postgresql"
        xrm.metadata.define(data.SCHEMA)
        self.service = xrm.records(data.ENTITY)
        self.ours = xrm.metadata.catalog.table(data.ENTITY)
        definition = xrm.metadata.get(data.ENTITY)
        # Fields in the order of ours' columns: on PostgreSQL column order sets
        # the row's padding, so it is part of being identical.
        physical = sa.inspect(self.engine).get_columns(self.ours.name)
        position = {column["name"]: i for i, column in enumerate(physical)}
        fields = sorted(definition.fields, key=lambda f: position[f.columns[0]])
        twin = dataclasses.replace(definition, name=data.RAW_TABLE, fields=tuple(fields))
        self.raw = build_table(twin, sa.MetaData(), xrm.db.dialect)
        self.raw.create(self.engine)
        _check_identical(self.engine, self.ours.name, self.raw.name)

    def run(self, sizes: Sizes) -> Iterator[Result]:
        """Every benchmark, in order (bulk create first: it needs empty tables)."""
        yield self.bulk_create(sizes)
        self.progress(f"{self.label}: generating {sizes.table_rows:,} rows (not timed)")
        self.populate(sizes.table_rows)
        yield self.get_by_id(sizes)
        yield self.filtered_page(sizes)
        yield self.aggregate_by_month(sizes)

    # -- benchmarks ------------------------------------------------------

    def bulk_create(self, sizes: Sizes) -> Result:
        """Records/s: ``create_many`` (atomic) against one executemany INSERT."""
        n = sizes.bulk_rows
        self.progress(f"{self.label}: bulk create of {n:,} records x{sizes.bulk_repeats}")
        rows = data.records(n)
        prepared = data.raw_rows(rows)
        insert = self.raw.insert()

        def ours() -> None:
            self.xrm.records(data.ENTITY).create_many(rows)

        def raw() -> None:
            with self.engine.begin() as conn:
                conn.execute(insert, prepared)

        def empty(side: str) -> None:
            # Ours also writes the audit log (one row per record); it starts empty too.
            self.empty(*((self.ours, audit_table) if side == "ours" else (self.raw,)))

        ours_s, raw_s = paired_medians(ours, raw, sizes.bulk_repeats, before_each=empty)
        if self.service.count() != n or self._raw_count() != n:
            raise RuntimeError("bulk create did not write every row on both sides")
        return self._throughput("bulk_create", n, ours_s, raw_s, "records/s", BULK_TARGET, n)

    def get_by_id(self, sizes: Sizes) -> Result:
        """Reads/s: ``get(id)`` against a prepared SELECT by primary key."""
        k = sizes.gets
        self.progress(f"{self.label}: get by id, {k:,} ids x{sizes.get_repeats}")
        ids = self._sample_ids(k)
        statement = sa.select(self.raw).where(self.raw.c.id == sa.bindparam("id"))
        service = self.service

        def ours() -> None:
            for rid in ids:
                service.get(rid)

        def raw() -> None:
            # One connection and transaction per read, as the record service does.
            for rid in ids:
                with self.engine.begin() as conn:
                    conn.execute(statement, {"id": rid}).one()

        ours_s, raw_s = paired_medians(ours, raw, sizes.get_repeats)
        return self._throughput(
            "get_by_id", k, ours_s, raw_s, "ops/s", GET_TARGET, sizes.table_rows
        )

    def filtered_page(self, sizes: Sizes) -> Result:
        """Ms: the newest 50 open tickets, through the query language and by hand."""
        self.progress(f"{self.label}: filtered + sorted page of 50 x{sizes.page_repeats}")
        c = self.raw.c
        # The same order as ours: NULL is the smallest value, ties broken by id.
        newest = c.opened_at.desc().nulls_last() if self.postgresql else c.opened_at.desc()
        statement = sa.select(self.raw).where(c.status == "open").order_by(newest, c.id).limit(50)

        def ours() -> list[Any]:
            return self.service.query(
                filter={"status": "open"}, order=["-opened_at"], limit=50
            ).records

        def raw() -> list[Any]:
            with self.engine.begin() as conn:
                return list(conn.execute(statement).all())

        if [r["id"] for r in ours()] != [r.id for r in raw()]:
            raise RuntimeError("the filtered page differs between ours and raw")
        ours_s, raw_s = paired_medians(ours, raw, sizes.page_repeats)
        return self._duration("filtered_page", ours_s, raw_s, sizes.table_rows)

    def aggregate_by_month(self, sizes: Sizes) -> Result:
        """Ms: count and total amount per month of ``opened_at``, over every record."""
        self.progress(f"{self.label}: aggregate by month x{sizes.aggregate_repeats}")
        c = self.raw.c
        if self.postgresql:
            month = sa.func.to_char(c.opened_at, "YYYY-MM").label("month")
            ordering = month.asc().nulls_first()
        else:
            month = sa.func.strftime("%Y-%m", c.opened_at).label("month")
            ordering = month.asc()
        statement = (
            sa.select(month, sa.func.count(), sa.func.sum(c.amount))
            .group_by(month)
            .order_by(ordering)
        )

        def ours() -> list[tuple[Any, ...]]:
            groups = self.service.aggregate(
                group_by=["opened_at:month"], measures={"n": "count", "total": "sum:amount"}
            )
            return [(g["opened_at:month"], g["n"], g["total"]) for g in groups]

        def raw() -> list[tuple[Any, ...]]:
            with self.engine.begin() as conn:
                return [tuple(row) for row in conn.execute(statement)]

        if ours() != raw():
            raise RuntimeError("the monthly aggregate differs between ours and raw")
        ours_s, raw_s = paired_medians(ours, raw, sizes.aggregate_repeats)
        return self._duration("aggregate_by_month", ours_s, raw_s, sizes.table_rows)

    # -- results ---------------------------------------------------------

    def _throughput(
        self,
        bench: str,
        count: int,
        ours_s: float,
        raw_s: float,
        unit: str,
        target: float,
        size: int,
    ) -> Result:
        return Result(
            bench=bench,
            db=self.label,
            ours=count / ours_s,
            raw=count / raw_s,
            unit=unit,
            higher_is_better=True,
            target=target,
            size=size,
        )

    def _duration(self, bench: str, ours_s: float, raw_s: float, size: int) -> Result:
        return Result(
            bench=bench,
            db=self.label,
            ours=ours_s * 1000,
            raw=raw_s * 1000,
            unit="ms",
            higher_is_better=False,
            target=TIME_TARGET,
            size=size,
        )

    # -- preparing data (never timed) -------------------------------------

    def empty(self, *tables: sa.Table) -> None:
        """Empty ``tables`` and settle the database, before a timed write."""
        with self.engine.begin() as conn:
            for table in tables:
                if self.postgresql:
                    conn.execute(sa.text(f"TRUNCATE {table.name}"))
                else:
                    conn.execute(table.delete())
        self._settle()

    def populate(self, m: int) -> None:
        """``m`` generated rows in ours, the very same rows copied to raw, then statistics."""
        self.empty(self.ours, self.raw)
        with self.engine.begin() as conn:
            data.fill(conn, self.ours, m)
            data.copy(conn, self.ours, self.raw)
        with self.engine.connect() as conn:
            if self.postgresql:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(sa.text(f"VACUUM ANALYZE {self.ours.name}"))
                conn.execute(sa.text(f"VACUUM ANALYZE {self.raw.name}"))
            else:
                with conn.begin():
                    conn.execute(sa.text("ANALYZE"))
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

    def _sample_ids(self, k: int) -> list[Any]:
        with self.engine.begin() as conn:
            ids = list(conn.execute(sa.select(self.ours.c.id)).scalars())
        return random.Random(3).sample(ids, k)

    def _raw_count(self) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.raw)).scalar_one())


def _check_identical(engine: Engine, ours: str, raw: str) -> None:
    """Refuse to run unless both tables have the same columns, types and indexes."""
    inspector = sa.inspect(engine)

    def shape(table: str) -> tuple[Any, ...]:
        columns = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)]
        indexes = sorted(
            (tuple(i["column_names"]), bool(i["unique"]), str(i.get("column_sorting", {})))
            for i in inspector.get_indexes(table)
        )
        return tuple(columns), tuple(indexes)

    if shape(ours) != shape(raw):
        raise RuntimeError(f"{raw} is not identical to {ours}: {shape(ours)} != {shape(raw)}")
