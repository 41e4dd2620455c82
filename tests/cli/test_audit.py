"""``xrm audit``: a record's trail, as a table and as JSON Lines, with who did what."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.cli.conftest import Cli
from xrm_core import XRM

ACCOUNT = {
    "x-xrm": {"name": "account"},
    "properties": {"name": {"type": "string"}, "revenue": {"x-xrm": {"kind": "money"}}},
}


@pytest.fixture
def crm(system: XRM) -> Iterator[XRM]:
    """An ``account`` entity, and a user ``ada`` (Basic User) who owns nothing."""
    system.metadata.define(ACCOUNT)
    system.security.create_user("ada", roles=["Basic User"])
    yield system


def test_the_trail_newest_first_names_who_changed_what(cli: Cli, crm: XRM) -> None:
    accounts = crm.records("account")
    acme = accounts.create({"name": "Acme", "revenue": "1200"})
    admin = crm.security.create_user("bob", roles=["System Administrator"])
    crm.as_user(admin).records("account").update(acme["id"], {"name": "Acme Ltd"})

    lines = cli.ok("audit", "account", str(acme["id"])).stdout.splitlines()

    assert [line.split()[2:] for line in lines if not line.startswith(" ")] == [
        ["update", "bob"],
        ["create", "system", "(tests)"],
    ]
    assert lines[1] == '    name: "Acme" -> "Acme Ltd"'
    assert '    revenue: null -> "1200.00"' in lines


def test_json_lines_hold_whole_entries(cli: Cli, crm: XRM) -> None:
    acme = crm.records("account").create({"name": "Acme"})
    crm.records("account").delete(acme["id"])

    out = cli.ok("audit", "account", str(acme["id"]), "--json").stdout
    entries = [json.loads(line) for line in out.splitlines()]

    assert [e["operation"] for e in entries] == ["delete", "create"]
    assert entries[0]["changes"]["name"] == {"old": "Acme", "new": None}
    assert entries[0]["record_id"] == str(acme["id"])
    assert entries[0]["actor_type"] == "system" and entries[0]["reason"] == "tests"
    assert entries[0]["correlation_id"] and entries[0]["at"].endswith("+00:00")


def test_limit_pages_through_the_log(cli: Cli, crm: XRM) -> None:
    acme = crm.records("account").create({"name": "v0"})
    for n in range(1, 5):
        crm.records("account").update(acme["id"], {"name": f"v{n}"})

    out = cli.ok("audit", "account", str(acme["id"]), "--limit", "2", "--json").stdout

    assert [json.loads(line)["changes"]["name"]["new"] for line in out.splitlines()] == [
        "v4",
        "v3",
    ]


def test_without_an_id_the_definition_changes(cli: Cli, crm: XRM) -> None:
    out = cli.ok("audit", "account").stdout.splitlines()

    assert out[0].split()[2] == "define"
    assert out[1] == "    definition changed (--json shows it)"


def test_a_user_reads_only_what_they_may(cli: Cli, crm: XRM) -> None:
    acme = crm.records("account").create({"name": "Acme"})

    result = cli("audit", "account", str(acme["id"]), "--as-user", "ada")

    assert result.exit_code == 1
    assert result.stderr == (
        f"error [access_denied]: you may not read the history of account {acme['id']}\n"
    )


def test_an_unknown_record_or_entity_is_one_line(cli: Cli, crm: XRM) -> None:
    missing = uuid.uuid4()

    unknown_record = cli("audit", "account", str(missing))
    unknown_entity = cli("audit", "nope", str(missing))
    not_an_id = cli("audit", "account", "42")

    assert (unknown_record.exit_code, unknown_record.stderr) == (
        1,
        f"Error: no account {missing}, and no audit entries for it\n",
    )
    assert unknown_entity.stderr == "error [unknown_entity]: no entity called 'nope'\n"
    assert not_an_id.exit_code == 2
    assert not_an_id.stderr.splitlines()[-1].endswith("'42' is not a valid UUID.")


def test_a_record_of_an_entity_not_audited_says_so(cli: Cli, crm: XRM) -> None:
    crm.metadata.define({**ACCOUNT, "x-xrm": {"name": "account", "audit": False}})
    acme = crm.records("account").create({"name": "Acme"})

    out = cli.ok("audit", "account", str(acme["id"])).stdout

    assert out == f"no audit entries for account {acme['id']} (auditing is off for it).\n"
