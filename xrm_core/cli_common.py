"""What every ``xrm`` command shares: the database option and how errors are shown."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.engine import url as sa_url

from xrm_core.errors import XRMError
from xrm_core.xrm import XRM

DEFAULT_URL = "sqlite:///xrm.db"

#: Exit codes: 1 for bad input or a refused change, 2 for usage (click's own).
EXIT_REFUSED = 1

database_option = click.option(
    "--db",
    "url",
    envvar="XRM_DATABASE_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="SQLAlchemy URL of the database (env XRM_DATABASE_URL).",
)


@contextmanager
def opened(url: str) -> Iterator[XRM]:
    """Open the database, turning core errors into a message and an exit code."""
    try:
        # The command line acts for the operator of the machine, who could open
        # the database file anyway; users and tokens come with the server.
        xrm = XRM.from_url(url).as_system("command line")
    except Exception as exc:
        # One line: the driver's own message (SQLAlchemy adds a second line, a link).
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise click.ClickException(f"cannot open {shown_url(url)}: {reason}") from None
    try:
        yield xrm
    except XRMError as exc:
        click.echo(f"error [{exc.code}]: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    finally:
        xrm.close()


def shown_url(url: str) -> str:
    """A database URL as it may be printed: with its password masked."""
    try:
        return sa_url.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: the caller reports that; nothing secret to hide
        return url
