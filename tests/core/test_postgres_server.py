"""The throwaway PostgreSQL server every PostgreSQL test depends on."""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from xrm_core.testing.postgres import PostgresServer, find_pg_bindir


def _database_exists(server: PostgresServer, name: str) -> bool:
    with psycopg.connect(server.conninfo()) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.postgresql
def test_url_accepts_sqlalchemy_connections(postgres_server: PostgresServer) -> None:
    url = postgres_server.url()
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/postgres"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
            user = conn.execute(sa.text("SELECT current_user")).scalar_one()
    finally:
        engine.dispose()
    assert int(version) >= 150000
    assert user == "postgres"


@pytest.mark.postgresql
def test_test_server_settings(postgres_server: PostgresServer) -> None:
    names = [
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "max_connections",
        "TimeZone",
        "listen_addresses",
        "server_encoding",
        "lc_collate",
        "unix_socket_directories",
    ]
    with psycopg.connect(postgres_server.conninfo()) as conn:
        values = {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}  # type: ignore[index]
    assert values == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "TimeZone": "UTC",
        "listen_addresses": "127.0.0.1",
        "server_encoding": "UTF8",
        "lc_collate": "C",
        "unix_socket_directories": str(postgres_server.temp_dir),
    }


@pytest.mark.postgresql
def test_server_runs_as_postgres_when_root(postgres_server: PostgresServer) -> None:
    # PostgreSQL refuses to run as root, so as root the data directory must
    # belong to the postgres system user; otherwise to whoever runs the tests.
    expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert postgres_server.data_dir.stat().st_uid == expected
    assert postgres_server.temp_dir.stat().st_uid == expected


@pytest.mark.postgresql
def test_create_and_drop_database(postgres_server: PostgresServer) -> None:
    name = "t_create_drop"
    postgres_server.create_database(name)
    try:
        assert _database_exists(postgres_server, name)
        engine = sa.create_engine(postgres_server.url(name))
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE TABLE thing (id integer PRIMARY KEY)"))
                conn.execute(sa.text("INSERT INTO thing VALUES (1)"))
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM thing")).scalar_one() == 1
        finally:
            engine.dispose()
    finally:
        postgres_server.drop_database(name)
    assert not _database_exists(postgres_server, name)


@pytest.mark.postgresql
def test_drop_database_ends_open_connections(postgres_server: PostgresServer) -> None:
    name = "t_drop_force"
    postgres_server.create_database(name)
    leaked = psycopg.connect(postgres_server.conninfo(name))
    try:
        postgres_server.drop_database(name)
        assert not _database_exists(postgres_server, name)
        with pytest.raises(psycopg.OperationalError):
            leaked.execute("SELECT 1")
    finally:
        leaked.close()


@pytest.mark.postgresql
def test_drop_missing_database_is_a_no_op(postgres_server: PostgresServer) -> None:
    postgres_server.drop_database("t_never_created")


def test_db_url_fixture_gives_an_empty_private_database(db_url: str) -> None:
    # Runs once per backend; the postgresql param carries the marker itself.
    engine = sa.create_engine(db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE private_check (id integer)"))
    finally:
        engine.dispose()
    if db_url.startswith("postgresql"):
        assert sa.make_url(db_url).database.startswith("t_")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Upper",
        "1starts_with_digit",
        "has-dash",
        "has space",
        'quote"',
        "x'; DROP DATABASE postgres; --",
        "t_" + "a" * 62,
        "café",
    ],
)
def test_bad_database_names_are_refused(name: str) -> None:
    # Validation happens before any connection, so no running server is needed.
    server = PostgresServer()
    with pytest.raises(ValueError, match="invalid database name"):
        server.create_database(name)
    with pytest.raises(ValueError, match="invalid database name"):
        server.drop_database(name)
    with pytest.raises(ValueError, match="invalid database name"):
        server.url(name)


def test_missing_binaries_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XRM_PG_BIN", str(tmp_path))
    with pytest.raises(RuntimeError, match="initdb"):
        find_pg_bindir()
    with pytest.raises(RuntimeError, match="XRM_PG_BIN"):
        PostgresServer().start()


@pytest.mark.postgresql
def test_stop_shuts_down_and_removes_everything() -> None:
    # Its own server, so stopping it cannot disturb the session server; also
    # covers fast=False, which benchmarks use.
    server = PostgresServer(fast=False)
    server.start()
    try:
        port = server.port
        temp_dir = server.temp_dir
        assert _port_accepts(port)
        with psycopg.connect(server.conninfo()) as conn:
            fsync = conn.execute("SHOW fsync").fetchone()
        assert fsync == ("on",)
    finally:
        server.stop()
    assert not temp_dir.exists()
    assert not _port_accepts(port)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"host=127.0.0.1 port={port} user=postgres connect_timeout=2").close()
    server.stop()  # a second stop is harmless
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port


@pytest.mark.postgresql
def test_context_manager_stops_on_exit() -> None:
    with PostgresServer() as server:
        temp_dir = server.temp_dir
        port = server.port
        assert _port_accepts(port)
    assert not temp_dir.exists()
    assert not _port_accepts(port)
