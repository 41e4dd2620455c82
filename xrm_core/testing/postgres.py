"""A throwaway PostgreSQL server for tests and benchmarks.

The server lives in a fresh temporary directory, listens only on 127.0.0.1 on
a free port, trusts every local connection and is deleted on ``stop()``::

    with PostgresServer() as server:
        server.create_database("example")
        engine = sqlalchemy.create_engine(server.url("example"))
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = ["PostgresServer", "find_pg_bindir"]

_DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
# PostgreSQL silently truncates longer identifiers, which would make two
# distinct test database names collide.
_MAX_NAME_LENGTH = 63
_LOG_TAIL_LINES = 40
# Ports from a bind-to-0 probe can be taken by someone else (another xdist
# worker, say) before the postmaster binds them, so a start is retried.
_START_ATTEMPTS = 3


def find_pg_bindir() -> Path:
    """Return the directory holding the PostgreSQL server programs.

    Looks at ``$XRM_PG_BIN``, then the newest ``/usr/lib/postgresql/*/bin``
    (Debian/Ubuntu layout), then ``pg_config --bindir``. Raises
    ``RuntimeError`` naming what is missing when none of them has ``initdb``.
    """
    override = os.environ.get("XRM_PG_BIN")
    if override:
        # An explicit choice that is wrong must not silently fall back to
        # another installation.
        bindir = Path(override)
        if not _has_server_programs(bindir):
            raise RuntimeError(
                f"XRM_PG_BIN={override!r} does not contain the PostgreSQL server "
                "programs (initdb, pg_ctl)"
            )
        return bindir

    candidates: list[Path] = []
    if _DEBIAN_PG_ROOT.is_dir():
        versioned = [p for p in _DEBIAN_PG_ROOT.iterdir() if (p / "bin").is_dir()]
        versioned.sort(key=_version_key, reverse=True)
        candidates.extend(p / "bin" for p in versioned)
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))

    for bindir in candidates:
        if _has_server_programs(bindir):
            return bindir
    looked_at = ", ".join(str(c) for c in candidates) or "nothing found"
    raise RuntimeError(
        "PostgreSQL server programs (initdb, pg_ctl) not found; looked at: "
        f"{looked_at}. Install PostgreSQL 15 (Debian: apt-get install postgresql) "
        "or set XRM_PG_BIN to the directory containing initdb."
    )


def _has_server_programs(bindir: Path) -> bool:
    return all(os.access(bindir / prog, os.X_OK) for prog in ("initdb", "pg_ctl"))


def _version_key(path: Path) -> tuple[int, ...]:
    # Directory names are versions ("15", "9.6"); a lexical sort would put
    # "9.6" above "15".
    parts = re.findall(r"\d+", path.name)
    return tuple(int(p) for p in parts) if parts else (-1,)


def _check_database_name(name: str) -> str:
    if not _NAME_RE.match(name) or len(name) > _MAX_NAME_LENGTH:
        raise ValueError(
            f"invalid database name {name!r}: use lowercase letters, digits and "
            f"underscores, not starting with a digit, at most {_MAX_NAME_LENGTH} characters"
        )
    return name


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """A private PostgreSQL server in a temporary directory.

    Use it as a context manager or call ``start()``/``stop()``. Connections
    are unauthenticated as the superuser ``postgres`` on 127.0.0.1. With
    ``fast=True`` (the default) durability is switched off, which is what
    tests want; benchmarks that should measure realistic commit costs pass
    ``fast=False``.

    PostgreSQL refuses to run as root, so when the current process is root
    every server program runs as ``system_user`` (the ``postgres`` account
    the Debian package creates) and the temporary directory is given to
    that user. ``base_dir`` chooses where the temporary directory is made;
    as root it must be reachable by ``system_user``.
    """

    def __init__(
        self,
        *,
        fast: bool = True,
        bindir: Path | str | None = None,
        base_dir: Path | str | None = None,
        system_user: str = "postgres",
        start_timeout: int = 60,
    ) -> None:
        self.fast = fast
        self._bindir = Path(bindir) if bindir is not None else None
        self._base_dir = Path(base_dir) if base_dir is not None else None
        self._system_user = system_user
        self._start_timeout = start_timeout
        self._temp_dir: Path | None = None
        self._port: int | None = None
        self._run_as: pwd.struct_passwd | None = None
        self._running = False

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create the cluster and start the server; raise ``RuntimeError`` on failure."""
        if self._temp_dir is not None:
            raise RuntimeError("PostgresServer is already started")
        if self._bindir is None:
            self._bindir = find_pg_bindir()
        elif not _has_server_programs(self._bindir):
            raise RuntimeError(
                f"bindir {str(self._bindir)!r} does not contain the PostgreSQL server "
                "programs (initdb, pg_ctl)"
            )
        self._run_as = self._resolve_run_as()

        temp_dir = Path(tempfile.mkdtemp(prefix="xrm-pg-", dir=self._base_dir))
        self._temp_dir = temp_dir
        # A server whose owner never reaches stop() (a crashed script, an
        # interrupted benchmark) must not outlive this process.
        atexit.register(self.stop)
        try:
            if self._run_as is not None:
                os.chown(temp_dir, self._run_as.pw_uid, self._run_as.pw_gid)
            self._initdb()
            base_conf = (self.data_dir / "postgresql.conf").read_text()
            for attempt in range(1, _START_ATTEMPTS + 1):
                port = _free_port()
                self._write_conf(base_conf, port)
                if self._pg_ctl_start(last_attempt=attempt == _START_ATTEMPTS):
                    self._port = port
                    self._running = True
                    break
        except BaseException:
            # The original error says why the start failed; a secondary
            # failure while tidying up must not replace it.
            with contextlib.suppress(Exception):
                self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory; safe to call twice."""
        temp_dir = self._temp_dir
        if temp_dir is None:
            return
        atexit.unregister(self.stop)
        if self._running or (self.data_dir / "postmaster.pid").exists():
            result = self._run(
                [
                    str(self._program("pg_ctl")),
                    "-D",
                    str(self.data_dir),
                    "-w",
                    "-t",
                    str(self._start_timeout),
                    "stop",
                    "-m",
                    "fast",
                ],
            )
            still_running = (
                result.returncode != 0
                and self._run(
                    [str(self._program("pg_ctl")), "-D", str(self.data_dir), "status"]
                ).returncode
                == 0
            )
            if still_running:
                # Deleting the data directory under a live postmaster would
                # leave an orphan nobody can stop; keep it for inspection.
                raise RuntimeError(
                    f"pg_ctl stop failed (exit {result.returncode}); server left in "
                    f"{temp_dir}\n{result.stdout}{result.stderr}\n{self._log_tail()}"
                )
        self._running = False
        self._port = None
        self._temp_dir = None
        shutil.rmtree(temp_dir, ignore_errors=True)

    # -- accessors -----------------------------------------------------------

    @property
    def temp_dir(self) -> Path:
        """The temporary directory holding the data directory, log and socket."""
        if self._temp_dir is None:
            raise RuntimeError("PostgresServer is not started")
        return self._temp_dir

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (``PGDATA``)."""
        return self.temp_dir / "data"

    @property
    def log_file(self) -> Path:
        """The server log written by ``pg_ctl -l``."""
        return self.temp_dir / "postgres.log"

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1 the server listens on."""
        if self._port is None:
            raise RuntimeError("PostgresServer is not running")
        return self._port

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return "127.0.0.1"

    def url(self, database: str = "postgres") -> str:
        """Return a SQLAlchemy URL (psycopg 3 driver) for ``database``."""
        _check_database_name(database)
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        """Return a libpq connection string for ``database``, for psycopg directly."""
        _check_database_name(database)
        return make_conninfo(
            host=self.host,
            port=self.port,
            user="postgres",
            dbname=database,
            connect_timeout=10,
        )

    # -- databases -----------------------------------------------------------

    def create_database(self, name: str) -> None:
        """Create an empty database called ``name`` (validated, never formatted into SQL)."""
        _check_database_name(name)
        self._execute_admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, terminating its open connections."""
        _check_database_name(name)
        self._execute_admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def _execute_admin(self, statement: sql.Composed) -> None:
        # CREATE/DROP DATABASE cannot run inside a transaction block.
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(statement)

    # -- internals -----------------------------------------------------------

    def _resolve_run_as(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(self._system_user)
        except KeyError:
            raise RuntimeError(
                f"PostgreSQL refuses to run as root and there is no {self._system_user!r} "
                "system user to run it as (the Debian postgresql package creates it)"
            ) from None

    def _program(self, name: str) -> Path:
        assert self._bindir is not None
        return self._bindir / name

    def _env(self) -> dict[str, str]:
        # Inherited PG* variables (PGDATA, PGPORT, PGOPTIONS...) would quietly
        # change how the programs behave.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        if self._run_as is not None:
            env["HOME"] = self._run_as.pw_dir
            env["USER"] = env["LOGNAME"] = self._run_as.pw_name
        return env

    def _run(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        # cwd inside the temp dir: as the postgres user, the caller's cwd may be
        # unreadable, which makes the programs fail to resolve their own paths.
        if self._run_as is None:
            return subprocess.run(
                list(args),
                cwd=self._temp_dir,
                env=self._env(),
                capture_output=True,
                text=True,
                check=False,
            )
        # subprocess drops privileges in the child between fork and exec, as
        # runuser/setpriv would, without depending on util-linux being there.
        return subprocess.run(
            list(args),
            cwd=self._temp_dir,
            env=self._env(),
            capture_output=True,
            text=True,
            check=False,
            user=self._run_as.pw_uid,
            group=self._run_as.pw_gid,
            extra_groups=[],
        )

    def _initdb(self) -> None:
        result = self._run(
            [
                str(self._program("initdb")),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
                # Nothing here has to survive a crash; skipping the final
                # fsync of every file saves most of initdb's time.
                "--no-sync",
            ]
        )
        if result.returncode != 0:
            hint = ""
            if self._run_as is not None:
                hint = (
                    f"\n(running as {self._run_as.pw_name!r}: every parent of "
                    f"{self.temp_dir} must be searchable by that user)"
                )
            raise RuntimeError(
                f"initdb failed (exit {result.returncode}){hint}\n{result.stdout}{result.stderr}"
            )

    def _settings(self, port: int) -> dict[str, str]:
        settings = {
            "listen_addresses": _conf_quote("127.0.0.1"),
            "port": str(port),
            # A socket in our own directory: /var/run/postgresql may not
            # exist or be writable, and must not be shared between servers.
            "unix_socket_directories": _conf_quote(str(self.temp_dir)),
            "max_connections": "200",
            "timezone": _conf_quote("UTC"),
            "log_timezone": _conf_quote("UTC"),
        }
        if self.fast:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        return settings

    def _write_conf(self, base_conf: str, port: int) -> None:
        # Later lines win in postgresql.conf, so appending to initdb's
        # defaults is enough; rewriting from base_conf keeps retries clean.
        lines = [f"{key} = {value}" for key, value in self._settings(port).items()]
        text = base_conf + "\n# xrm_core.testing.postgres\n" + "\n".join(lines) + "\n"
        (self.data_dir / "postgresql.conf").write_text(text)

    def _pg_ctl_start(self, *, last_attempt: bool) -> bool:
        started = time.monotonic()
        result = self._run(
            [
                str(self._program("pg_ctl")),
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                str(self._start_timeout),
                "-l",
                str(self.log_file),
                "start",
            ]
        )
        if result.returncode == 0:
            return True
        log_tail = self._log_tail()
        if not last_attempt and "could not bind" in log_tail:
            self.log_file.unlink(missing_ok=True)
            return False
        elapsed = time.monotonic() - started
        raise RuntimeError(
            f"PostgreSQL failed to start (pg_ctl exit {result.returncode} after "
            f"{elapsed:.1f}s)\n{result.stdout}{result.stderr}\n"
            f"--- last lines of {self.log_file} ---\n{log_tail}"
        )

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(lines[-_LOG_TAIL_LINES:])
