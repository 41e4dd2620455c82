"""Many rows into one table straight through the driver (the audit log, the outbox).

Bulk writes add a row of their own per record (an audit entry, an outbox
event). Through SQLAlchemy's executemany those cost about as much again as the
records; here values go through their column type's bind processor (so they
are stored exactly as SQLAlchemy stores them, and read back through the table)
and then to the driver at once: COPY on PostgreSQL with psycopg (about three
times faster than INSERT there), one executemany of the driver's cursor
elsewhere. See docs/decisions/0013.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _same(value: Any) -> Any:
    return value


def bind_processor(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value of ``column`` before the driver gets it."""
    return column.type.dialect_impl(dialect).bind_processor(dialect) or _same


class DriverInsert:
    """Inserts rows of ``columns`` (values already processed) into ``table``."""

    def __init__(self, table: sa.Table, columns: Sequence[str], dialect: sa.Dialect) -> None:
        names = ", ".join(columns)
        self.copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        if self.copy:
            self.statement = f"COPY {table.name} ({names}) FROM STDIN"
        else:
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            marks = ", ".join([mark] * len(columns))
            self.statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"

    def write(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in the transaction SQLAlchemy has open on ``conn``."""
        if not rows:
            return
        driver = conn.connection.driver_connection
        if driver is None:
            raise RuntimeError("writing rows needs an open database connection")
        if self.copy:
            with driver.cursor() as cursor, cursor.copy(self.statement) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        cursor = driver.cursor()
        try:
            cursor.executemany(self.statement, rows)
        finally:
            cursor.close()
