"""``xrm user``: users and their API tokens on the command line."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import click

from xrm_core.cli_common import database_option, opened
from xrm_core.records.service import MAX_LIMIT
from xrm_core.xrm import XRM

#: The name of a token made without ``--name``.
DEFAULT_TOKEN_NAME = "command line"

user_group: click.Group = click.Group(
    "user", help="Users and their API tokens: create, list, token, tokens, revoke."
)


@user_group.command("create")
@database_option
@click.argument("username")
@click.option("--role", "roles", multiple=True, metavar="ROLE", help="A role by name (repeat).")
@click.option("--team", "teams", multiple=True, metavar="TEAM", help="A team by name (repeat).")
@click.option("--email", help="The user's email address.")
@click.option("--full-name", default="", help="The user's name (default: USERNAME).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read a password (10 to 1,024 characters) from standard input, for signing in.",
)
def user_create(
    url: str,
    username: str,
    roles: tuple[str, ...],
    teams: tuple[str, ...],
    email: str | None,
    full_name: str,
    password_stdin: bool,
) -> None:
    """Create the user USERNAME with roles and teams, all or nothing; print its id.

    Prepares the database first, as `xrm db upgrade` does. Without a password the
    user signs in with API tokens only (`xrm user token`).
    """
    password = _read_password() if password_stdin else None
    with opened(url) as xrm:
        xrm.security.install()
        _require_roles(xrm, roles)
        team_ids = [_find(xrm, "team", "name", team) for team in teams]
        # One transaction: a refused password or role leaves no user behind.
        with xrm.transaction():
            user_id = xrm.security.create_user(
                username, roles=roles, teams=team_ids, full_name=full_name, email=email
            )
            if password is not None:
                xrm.auth.set_password(user_id, password)
        click.echo(f"created user {username} ({user_id})")


@user_group.command("list")
@database_option
def user_list(url: str) -> None:
    """List users: username, whether active, roles and full name."""
    with opened(url) as xrm:
        _require_security(xrm, url)
        users = xrm.records("user")
        role_names = {r["id"]: r["name"] for r in _every(xrm, "role", ["id", "name"])}
        for user in _every(xrm, "user", ["id", "username", "full_name", "is_active"]):
            links = users.links(user["id"], "roles")
            roles = ",".join(sorted(role_names[link["target_id"]] for link in links)) or "-"
            active = "inactive" if user["is_active"] is False else "active"
            click.echo(f"{user['username']}\t{active}\t{roles}\t{user['full_name'] or ''}")


@user_group.command("token")
@database_option
@click.argument("username")
@click.option("--name", default=DEFAULT_TOKEN_NAME, show_default=True, help="What it is for.")
@click.option(
    "--expires-in-days",
    "days",
    default=90,
    show_default=True,
    type=click.IntRange(min=1),
    help="Days until it expires.",
)
@click.option("--never-expires", is_flag=True, help="A token that does not expire.")
def user_token(url: str, username: str, name: str, days: int, never_expires: bool) -> None:
    """Make an API token for USERNAME and print it (shown this once, never again).

    The token alone goes to standard output, so `TOKEN=$(xrm user token ada)`
    works; what it is goes to standard error.
    """
    with opened(url) as xrm:
        user_id = find_user(xrm, url, username)
        expires_in = None if never_expires else dt.timedelta(days=days)
        new = xrm.auth.create_token(user_id, name=name, expires_in=expires_in)
    expiry = new.info.expires_at
    until = f"expires {expiry:%Y-%m-%d %H:%M} UTC" if expiry else "never expires"
    click.echo(f"API token {new.info.id} {name!r} for {username}, {until}:", err=True)
    click.echo(new.token)


@user_group.command("tokens")
@database_option
@click.argument("username")
def user_tokens(url: str, username: str) -> None:
    """List USERNAME's API tokens (never their secrets): id, name, state, dates."""
    with opened(url) as xrm:
        user_id = find_user(xrm, url, username)
        tokens = xrm.auth.tokens(user_id)
    now = dt.datetime.now(dt.UTC)
    if not tokens:
        click.echo(f"{username} has no API tokens.")
    for info in tokens:
        state = "valid" if info.is_valid(now) else "revoked" if info.revoked_at else "expired"
        used = f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "never used"
        expires = f"{info.expires_at:%Y-%m-%d}" if info.expires_at else "no expiry"
        click.echo(f"{info.id}\t{info.name}\t{state}\t{expires}\t{used}")


@user_group.command("revoke")
@database_option
@click.argument("token_id", type=click.UUID)
def user_revoke(url: str, token_id: uuid.UUID) -> None:
    """Revoke the API token TOKEN_ID (as `user tokens` lists it) for good."""
    with opened(url) as xrm:
        _require_security(xrm, url)
        xrm.auth.revoke(token_id)
        click.echo(f"revoked {token_id}.")


def find_user(xrm: XRM, url: str, user: str) -> uuid.UUID:
    """The id of the user called ``user`` (or with that id); exit 1 when there is none."""
    _require_security(xrm, url)
    try:
        wanted = uuid.UUID(user)
    except ValueError:
        return _find(xrm, "user", "username", user)
    xrm.records("user").get(wanted, fields=["id"])  # RecordNotFound: one line, exit 1
    return wanted


def _find(xrm: XRM, entity: str, field: str, value: str) -> uuid.UUID:
    found = xrm.records(entity).query(filter={field: value}, limit=1, fields=["id"]).records
    if not found:
        raise click.ClickException(f"no {entity} called {value!r}")
    return uuid.UUID(str(found[0]["id"]))


def _every(xrm: XRM, entity: str, fields: list[str]) -> Iterator[dict[str, Any]]:
    """Every record of ``entity`` (the system context reads them all), page by page."""
    cursor: str | None = None
    while True:
        page = xrm.records(entity).query(
            order=[fields[1]], limit=MAX_LIMIT, cursor=cursor, fields=fields
        )
        yield from page
        if (cursor := page.next_cursor) is None:
            return


def _require_roles(xrm: XRM, roles: tuple[str, ...]) -> None:
    known = [r["name"] for r in _every(xrm, "role", ["id", "name"])]
    for role in roles:
        if role not in known:
            raise click.ClickException(f"no role called {role!r} (roles: {', '.join(known)})")


def _require_security(xrm: XRM, url: str) -> None:
    if not xrm.security.installed:
        raise click.ClickException(f"{url} has no users yet: run `xrm db upgrade` first")


def _read_password() -> str:
    # One trailing newline is what `echo` or a file adds; it is not part of the password.
    text = sys.stdin.read()
    password = text[:-1] if text.endswith("\n") else text
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise click.UsageError("--password-stdin: standard input is empty")
    return password
