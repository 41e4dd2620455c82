"""The database: one engine, and transactions that nest by joining.

A service call opens :meth:`Database.transaction`; a call made inside another
(a cascade delete, a plugin action later) joins the transaction already open in
this context, so a unit of work commits or rolls back as one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from xrm_core.context import correlated


def create_engine(url: str, **options: Any) -> Engine:
    """An engine set up the way the core needs it on each database."""
    backend = sa.engine.make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    if backend == "postgresql":
        # psycopg's server-side prepared statements can go missing after an
        # error inside a pipelined executemany rolled back to a savepoint (seen
        # as 'prepared statement "_pg3_N" does not exist' in bulk retries).
        connect_args = {"prepare_threshold": None, **options.pop("connect_args", {})}
        options["connect_args"] = connect_args
    engine = sa.create_engine(url, **options)
    if backend == "sqlite":
        _configure_sqlite(engine)
    else:
        _configure_postgresql(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself: pysqlite's own transaction handling
        # does not cover DDL, and plans must apply all-or-nothing.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=10000",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # A writer takes the write lock up front: upgrading a read lock later can
        # fail with SQLITE_BUSY no matter how long the busy timeout is.
        write = connection.get_execution_options().get("xrm_write", False)
        _raw_sql(connection, "BEGIN IMMEDIATE" if write else "BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Date grouping and text rendering of timestamptz follow the session zone.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()


def _raw_sql(conn: Connection, sql: str) -> None:
    # Straight to the driver: through SQLAlchemy a statement would open a
    # transaction (SQLite ignores some pragmas inside one), and a BEGIN would
    # cost as much as a read by primary key.
    try:
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        # Raised as SQLAlchemy raises driver errors, so callers catch one kind.
        raise sa.exc.DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


class Database:
    """An engine plus the transaction open in the current context, if any."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name
        self._current: ContextVar[Connection | None] = ContextVar(
            f"xrm_connection_{id(self)}", default=None
        )
        # Options set once per engine, not per connection: copying a connection
        # with new options costs a tenth of a read by primary key.
        self._reader = engine.execution_options(xrm_write=False)
        self._writer = engine.execution_options(xrm_write=True)
        self._changer = engine.execution_options(xrm_write=True, xrm_ddl=True)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Database:
        """Open the database at ``url`` (SQLAlchemy URL)."""
        return cls(create_engine(url, **options))

    @property
    def in_transaction(self) -> bool:
        """True inside :meth:`transaction` in this context."""
        return self._current.get() is not None

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """Yield a connection in a transaction, joining one already open here."""
        current = self._current.get()
        if current is not None:
            yield current
            return
        with (self._writer if write else self._reader).connect() as conn:
            yield from self._run(conn)

    @contextmanager
    def ddl_transaction(self) -> Iterator[Connection]:
        """A transaction for schema changes, joining one already open here.

        On SQLite, rebuilding a table (how it changes a column type or drops a
        referenced column) needs foreign keys off for the duration; they are
        checked with ``foreign_key_check`` before commit instead, as the SQLite
        manual prescribes for such changes.
        """
        current = self._current.get()
        if current is not None:
            # A schema change may join another schema change (a plugin install
            # applies several as one), never a record transaction: on SQLite
            # that one runs with foreign keys on, which table rebuilds cannot.
            if not current.get_execution_options().get("xrm_ddl"):
                raise RuntimeError("schema changes cannot join an open record transaction")
            yield current
            return
        with self._changer.connect() as conn:
            sqlite = self.dialect == "sqlite"
            if sqlite:
                _raw_sql(conn, "PRAGMA foreign_keys=OFF")
            try:
                yield from self._run(conn, check_foreign_keys=sqlite)
            finally:
                if sqlite:
                    _raw_sql(conn, "PRAGMA foreign_keys=ON")

    def _run(self, conn: Connection, check_foreign_keys: bool = False) -> Iterator[Connection]:
        token = self._current.set(conn)
        try:
            with correlated(), conn.begin():
                yield conn
                if check_foreign_keys:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"schema change broke foreign keys: {broken[:5]}")
        finally:
            self._current.reset(token)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
