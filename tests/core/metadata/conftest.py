"""Fixtures for the metadata suite: a view of the real database, read through SQLAlchemy.

Tests compare what the metadata service says with what the database holds, so
the inspector never goes through the service: it asks the database catalog.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from xrm_core import XRM
from xrm_core.testing.postgres import PostgresServer


@dataclass(frozen=True)
class IndexInfo:
    """One index or unique constraint as the database reports it."""

    name: str
    columns: tuple[str, ...]
    unique: bool


class DatabaseView:
    """What the database itself says about tables, columns, indexes and keys."""

    def __init__(self, xrm: XRM) -> None:
        self.engine = xrm.db.engine

    def _inspector(self) -> Any:
        # A fresh inspector each time: SQLAlchemy caches reflection per inspector.
        return sa.inspect(self.engine)

    def tables(self) -> set[str]:
        """Names of every table."""
        return set(self._inspector().get_table_names())

    def columns(self, table: str) -> dict[str, sa.types.TypeEngine[Any]]:
        """Column name to reflected type, in table order."""
        return {c["name"]: c["type"] for c in self._inspector().get_columns(table)}

    def nullable(self, table: str) -> dict[str, bool]:
        """Column name to whether it accepts NULL."""
        return {c["name"]: c["nullable"] for c in self._inspector().get_columns(table)}

    def indexes(self, table: str) -> list[IndexInfo]:
        """Indexes and unique constraints (SQLite reports some only as constraints).

        Leaves out the permission indexes every user-owned table has (on owner
        and business unit): tests of an index's life look at the definition's.
        """
        inspector = self._inspector()
        system = {f"{table}_xrm_owner_id", f"{table}_xrm_business_unit_id"}
        found = [
            IndexInfo(i["name"], tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes(table)
            if i["name"] not in system
        ]
        found += [
            IndexInfo(u["name"] or "", tuple(u["column_names"]), True)
            for u in inspector.get_unique_constraints(table)
        ]
        return found

    def index_columns(self, table: str, *, unique: bool | None = None) -> set[tuple[str, ...]]:
        """The column lists that carry an index (only unique ones, or only plain ones)."""
        return {i.columns for i in self.indexes(table) if unique is None or i.unique is unique}

    def foreign_keys(self, table: str) -> set[tuple[str, str, str]]:
        """``(column, referred table, referred column)`` for each single-column foreign key."""
        return {
            (fk["constrained_columns"][0], fk["referred_table"], fk["referred_columns"][0])
            for fk in self._inspector().get_foreign_keys(table)
        }

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row, straight from the table, ordered by id."""
        with self.engine.connect() as conn:
            t = sa.Table(table, sa.MetaData(), autoload_with=conn)
            return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.id)).mappings()]

    def snapshot(self) -> dict[str, Any]:
        """Every table's columns, indexes, unique constraints, foreign keys and rows."""
        inspector = self._inspector()
        # One catalog query per kind of object for all tables (PostgreSQL's is slow).
        parts = (
            inspector.get_multi_columns(),
            inspector.get_multi_indexes(),
            inspector.get_multi_unique_constraints(),
            inspector.get_multi_foreign_keys(),
        )
        found: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for _, table in sorted(parts[0]):
                described = [_described(part[None, table]) for part in parts]
                rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).mappings()
                found[table] = (described, sorted(repr(sorted(r.items())) for r in rows))
        return found

    def metadata_rows(self, entity: str) -> int:
        """How many rows of ``xrm_entity`` and ``xrm_entity_history`` mention ``entity``."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT (SELECT count(*) FROM xrm_entity WHERE name = :n)"
                        " + (SELECT count(*) FROM xrm_entity_history WHERE entity = :n)"
                    ),
                    {"n": entity},
                ).scalar_one()
            )


def _described(items: list[dict[str, Any]]) -> list[str]:
    """Reflected objects as sorted text, comparable whatever order the database lists them."""
    return sorted(repr(sorted((k, _text(v)) for k, v in item.items())) for item in items)


def _text(value: Any) -> str:
    """A reflected value as text; inside a dict too, where a SQL clause (a partial
    index's WHERE) would otherwise show as its object's address."""
    if isinstance(value, dict):
        return repr(sorted((k, _text(v)) for k, v in value.items()))
    return str(value)


@pytest.fixture
def ddl(xrm: XRM) -> Iterator[list[str]]:
    """The schema statements (CREATE, ALTER, DROP) the database receives from now on."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("CREATE", "ALTER", "DROP"):
            seen.append(statement)

    sa.event.listen(xrm.db.engine, "before_cursor_execute", listen)
    yield seen
    sa.event.remove(xrm.db.engine, "before_cursor_execute", listen)


@pytest.fixture
def database(xrm: XRM) -> DatabaseView:
    """The real database under ``xrm``, read without the metadata service."""
    return DatabaseView(xrm)


@pytest.fixture
def postgres_xrm(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[XRM]:
    """An :class:`XRM` on an empty PostgreSQL database, for PostgreSQL-only behaviour."""
    name = f"t_{uuid.uuid4().hex}"
    postgres_server.create_database(name)
    url = postgres_server.url(name)
    instance = XRM.from_url(url, export_dir=tmp_path / "exports").as_system("tests")
    try:
        yield instance
    finally:
        instance.close()
        postgres_server.drop_database(name)
