"""The command line never prints a database password."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from xrm_core.cli import main


def test_a_database_password_is_masked_in_errors() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://ada:s3cret-pw@127.0.0.1:{port}/xrm"

    result = CliRunner().invoke(main, ["db", "info", "--db", url])

    assert result.exit_code == 1
    assert "s3cret-pw" not in result.output
    assert "ada:***@127.0.0.1" in result.output
