"""``xrm entity plan|apply|export``: definitions from files, planned first, and back to files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.conftest import Cli
from xrm_core import XRM

TICKET = {
    "x-xrm": {"name": "ticket"},
    "properties": {"title": {"type": "string"}, "notes": {"type": "string"}},
}
TAG = {"x-xrm": {"name": "tag"}, "properties": {"label": {"type": "string"}}}


def _write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def _fields(xrm: XRM) -> list[str]:
    return [f.name for f in xrm.metadata.get("ticket").fields]


def test_plan_shows_the_steps_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    path = _write(tmp_path, "ticket.json", TICKET)

    text = cli.ok("entity", "plan", path).stdout
    planned = json.loads(cli.ok("entity", "plan", path, "--json").stdout)

    assert text.startswith("plan (safe):\n  [safe] create entity 'ticket'")
    assert planned["applied"] is False and planned["safety"] == "safe"
    assert planned["steps"][0]["action"] == "create_entity"
    assert cli.ok("entity", "list").stdout == ""


def test_apply_creates_then_changes_and_a_second_apply_has_nothing_to_do(
    cli: Cli, tmp_path: Path
) -> None:
    path = _write(tmp_path, "ticket.json", TICKET)

    assert cli.ok("entity", "apply", path).stdout.endswith("applied.\n")
    changed = {**TICKET, "properties": {**TICKET["properties"], "due": {"format": "date"}}}
    _write(tmp_path, "ticket.json", changed)
    applied = json.loads(cli.ok("entity", "apply", path, "--json").stdout)

    assert applied["applied"] is True
    assert [(s["action"], s["field"]) for s in applied["steps"]] == [("add_field", "due")]
    assert cli.ok("entity", "list").stdout == "ticket\tcustom\tv2\n"
    assert cli.ok("entity", "apply", path).stdout == "plan (safe):\n  nothing to change\n"


def test_a_destructive_apply_needs_confirm_and_exports_the_values(
    cli: Cli, system: XRM, tmp_path: Path
) -> None:
    path = _write(tmp_path, "ticket.json", TICKET)
    cli.ok("entity", "apply", path)
    system.metadata_service.refresh()  # another process changed the definitions
    system.records("ticket").create({"title": "Broken window", "notes": "third floor"})
    _write(tmp_path, "ticket.json", {**TICKET, "properties": {"title": {"type": "string"}}})

    refused = cli("entity", "apply", path)

    assert refused.exit_code == 1
    assert "[destructive] remove field ticket.notes" in refused.stdout
    assert refused.stderr.startswith("error [confirmation_required]: ")
    system.metadata_service.refresh()
    assert "notes" in _fields(system)

    confirmed = cli.ok("entity", "apply", path, "--confirm")

    exported = confirmed.stdout.split("exported dropped values to ")[1].split("\n")[0]
    assert "third floor" in Path(exported).read_text()
    system.metadata_service.refresh()
    assert "notes" not in _fields(system)


def test_export_writes_what_apply_reads_in_another_database(
    cli: Cli, tmp_path: Path, sqlite_url: str
) -> None:
    cli.ok("entity", "apply", _write(tmp_path, "both.json", [TICKET, TAG]))
    other = Cli(f"sqlite:///{tmp_path}/other.db")

    one = json.loads(cli.ok("entity", "export", "ticket").stdout)
    target = tmp_path / "custom.json"
    written = cli.ok("entity", "export", "--owner", "custom", "-o", str(target)).stdout

    assert one["x-xrm"]["name"] == "ticket"
    assert written == f"exported 2 definition(s) to {target}\n"
    assert [s["x-xrm"]["name"] for s in json.loads(target.read_text())] == ["tag", "ticket"]
    assert cli.ok("entity", "plan", str(target)).stdout.endswith("nothing to change\n")
    other.ok("entity", "apply", str(target))
    assert other.ok("entity", "show", "ticket").stdout == cli.ok("entity", "show", "ticket").stdout


def test_export_needs_a_name_or_an_owner(cli: Cli) -> None:
    result = cli("entity", "export")

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: name at least one entity, or give --owner"


def test_export_of_an_unknown_entity_is_one_line(cli: Cli) -> None:
    result = cli("entity", "export", "nope")

    assert (result.exit_code, result.stderr) == (
        1,
        "error [unknown_entity]: no entity called 'nope'\n",
    )
