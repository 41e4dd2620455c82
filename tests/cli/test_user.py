"""``xrm user``: creating users, and API tokens that the server then accepts."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.cli.conftest import Cli
from xrm_core import XRM
from xrm_core.errors import AuthenticationFailed


def _user(xrm: XRM, username: str) -> dict[str, object] | None:
    found = xrm.records("user").query(filter={"username": username}, limit=1).records
    return found[0] if found else None


def test_create_a_user_with_roles_a_team_and_a_password(cli: Cli, system: XRM) -> None:
    root = system.security.root_business_unit()
    system.records("team").create({"name": "Support", "business_unit": root})

    roles = ["--role", "Basic User", "--role", "System Customizer", "--team", "Support"]
    about = ["--email", "ada@example.org", "--full-name", "Ada Lovelace"]
    password = "correct horse battery staple\n"
    result = cli.ok("user", "create", "ada", *roles, *about, "--password-stdin", input=password)

    ada = _user(system, "ada")
    assert ada is not None
    assert result.stdout == f"created user ada ({ada['id']})\n"
    assert (ada["email"], ada["full_name"]) == ("ada@example.org", "Ada Lovelace")
    assert system.auth.login("ada", "correct horse battery staple").user_id == ada["id"]
    listed = cli.ok("user", "list").stdout.splitlines()
    assert "ada\tactive\tBasic User,System Customizer\tAda Lovelace" in listed


def test_create_prepares_a_new_database_itself(cli: Cli) -> None:
    cli.ok("user", "create", "admin", "--role", "System Administrator")

    assert cli.ok("user", "list").stdout == "admin\tactive\tSystem Administrator\tadmin\n"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--role", "Astronaut"], None, "Error: no role called 'Astronaut' (roles: "),
        (["--team", "Nobody"], None, "Error: no team called 'Nobody'"),
        (["--password-stdin"], "short\n", "error [invalid_record]: the password is not acceptable"),
    ],
)
def test_a_refused_user_leaves_nothing_behind(
    cli: Cli, system: XRM, args: list[str], stdin: str | None, message: str
) -> None:
    result = cli("user", "create", "bob", *args, input=stdin)

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(message)
    assert _user(system, "bob") is None


def test_a_duplicate_username_is_refused(cli: Cli, system: XRM) -> None:
    cli.ok("user", "create", "ada")

    result = cli("user", "create", "ada")

    assert result.exit_code == 1
    assert result.stderr.startswith("error [")
    assert "username" in result.stderr
    assert system.records("user").count(filter={"username": "ada"}) == 1


def test_a_token_is_printed_once_alone_on_stdout_and_authenticates(cli: Cli, system: XRM) -> None:
    cli.ok("user", "create", "ada", "--role", "Basic User")

    result = cli.ok("user", "token", "ada", "--name", "backup script", "--expires-in-days", "7")

    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.startswith("xrm_")
    assert "'backup script' for ada, expires " in result.stderr
    assert token not in result.stderr
    ada = _user(system, "ada")
    assert ada is not None
    assert system.auth.authenticate(token).user_id == ada["id"]
    (info,) = system.auth.tokens(ada["id"])  # type: ignore[arg-type]
    assert info.name == "backup script" and info.expires_at is not None
    assert dt.timedelta(days=6) < info.expires_at - info.created_at <= dt.timedelta(days=7)
    listed = cli.ok("user", "tokens", "ada").stdout
    assert listed.startswith(f"{info.id}\tbackup script\tvalid\t") and token not in listed


def test_a_token_that_never_expires_and_its_revocation(cli: Cli, system: XRM) -> None:
    cli.ok("user", "create", "ada")
    token = cli.ok("user", "token", "ada", "--never-expires").stdout.strip()
    ada = _user(system, "ada")
    assert ada is not None
    (info,) = system.auth.tokens(ada["id"])  # type: ignore[arg-type]
    assert info.expires_at is None and info.name == "command line"

    assert cli.ok("user", "revoke", str(info.id)).stdout == f"revoked {info.id}.\n"

    with pytest.raises(AuthenticationFailed, match="revoked"):
        system.auth.authenticate(token)
    assert "\trevoked\tno expiry\t" in cli.ok("user", "tokens", "ada").stdout


def test_a_token_for_a_user_given_by_id(cli: Cli, system: XRM) -> None:
    cli.ok("user", "create", "ada")
    ada = _user(system, "ada")
    assert ada is not None

    token = cli.ok("user", "token", str(ada["id"])).stdout.strip()

    assert system.auth.authenticate(token).user_id == ada["id"]


def test_a_token_for_an_unknown_user_is_one_line(cli: Cli, system: XRM) -> None:
    result = cli("user", "token", "nobody")

    assert (result.exit_code, result.stderr) == (1, "Error: no user called 'nobody'\n")


def test_users_need_a_prepared_database(cli: Cli) -> None:
    result = cli("user", "list")

    assert result.exit_code == 1
    assert result.stderr == f"Error: {cli.url} has no users yet: run `xrm db upgrade` first\n"
