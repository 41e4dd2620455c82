"""The ``xrm`` command line, run in-process on the embedded SQLite default."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from xrm_core import XRM
from xrm_core.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_demo_creates_entities_and_prints_what_the_database_holds(sqlite_url: str) -> None:
    code, output = run("demo", "--db", sqlite_url, "--size", "20")
    assert code == 0, output
    assert "Added 130 demo records" in output
    lines = {line.split()[0]: line.split() for line in output.splitlines()[3:] if line.strip()}
    assert lines["person"][-1] == "20"
    assert lines["vehicle"][-1] == "30"
    assert lines["parking_violation"][-1] == "80"


def test_demo_is_deterministic_and_safe_to_run_again(sqlite_url: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path}/other.db"
    for url in (sqlite_url, other):
        assert run("demo", "--db", url, "--size", "10")[0] == 0
    code, output = run("demo", "--db", sqlite_url, "--size", "10")
    assert code == 0 and "already" in output
    names = []
    for url in (sqlite_url, other):
        xrm = XRM.from_url(url).as_system("tests")
        page = xrm.records("vehicle").query(order=["plate"], limit=100, expand=["keeper"])
        names.append([(r["plate"], r["make"], r["keeper"]["email"]) for r in page])
        xrm.close()
    assert names[0] == names[1]


def test_database_url_comes_from_the_environment(sqlite_url: str) -> None:
    result = CliRunner().invoke(main, ["db", "info"], env={"XRM_DATABASE_URL": sqlite_url})
    assert result.exit_code == 0
    assert "No entities yet" in result.output


def test_entity_define_shows_the_plan_and_dry_run_changes_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    schema = {"x-xrm": {"name": "ticket"}, "properties": {"title": {"type": "string"}}}
    path = tmp_path / "ticket.json"
    path.write_text(json.dumps(schema))
    code, output = run("entity", "define", "--db", sqlite_url, "--dry-run", str(path))
    assert code == 0 and "[safe] create entity 'ticket'" in output
    assert "ticket" not in run("entity", "list", "--db", sqlite_url)[1]
    code, output = run("entity", "define", "--db", sqlite_url, str(path))
    assert code == 0 and "applied." in output
    assert run("entity", "list", "--db", sqlite_url)[1].startswith("ticket\tcustom\tv1")
    shown = json.loads(run("entity", "show", "--db", sqlite_url, "ticket")[1])
    assert shown["properties"]["title"]["x-xrm"]["kind"] == "string"


def test_a_bad_definition_lists_every_problem_and_exits_non_zero(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"x-xrm": {"name": "Bad"}, "properties": {"a": {"x-xrm": {"kind": "x"}}}})
    )
    code, output = run("entity", "define", "--db", sqlite_url, str(path))
    assert code == 1
    assert "/x-xrm/name: bad name 'Bad'" in output
    assert "/properties/a/x-xrm/kind: unknown kind 'x'" in output
    assert "Traceback" not in output


def test_a_file_that_is_not_json_is_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    code, output = run("entity", "define", "--db", sqlite_url, str(path))
    assert code == 1 and "not a readable JSON file" in output


def test_drop_needs_confirmation(sqlite_url: str, tmp_path: Path) -> None:
    assert run("demo", "--db", sqlite_url, "--size", "5")[0] == 0
    code, output = run("entity", "drop", "--db", sqlite_url, "parking_violation")
    assert code == 1 and "confirm" in output
    code, output = run("entity", "drop", "--db", sqlite_url, "parking_violation", "--confirm")
    assert code == 0 and "dropped." in output
    assert "parking_violation" not in run("entity", "list", "--db", sqlite_url)[1]


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    code, output = run("db", "info", "--db", f"sqlite:///{tmp_path}/missing/dir/x.db")
    assert code == 1 and "cannot open" in output


def test_entity_define_renames_a_field_and_keeps_its_values(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "ticket.json"
    path.write_text(
        json.dumps({"x-xrm": {"name": "ticket"}, "properties": {"title": {"type": "string"}}})
    )
    assert run("entity", "define", "--db", sqlite_url, str(path))[0] == 0
    xrm = XRM.from_url(sqlite_url).as_system("tests")
    xrm.records("ticket").create({"title": "Broken window"})
    xrm.close()
    path.write_text(
        json.dumps({"x-xrm": {"name": "ticket"}, "properties": {"subject": {"type": "string"}}})
    )

    code, output = run(
        "entity", "define", "--db", sqlite_url, "--rename", "ticket.title=subject", str(path)
    )

    assert code == 0, output
    assert "rename field ticket.title to 'subject'" in output
    xrm = XRM.from_url(sqlite_url).as_system("tests")
    assert [r["subject"] for r in xrm.records("ticket").query()] == ["Broken window"]
    xrm.close()


def test_a_malformed_rename_is_a_usage_error(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "ticket.json"
    path.write_text(
        json.dumps({"x-xrm": {"name": "ticket"}, "properties": {"title": {"type": "string"}}})
    )
    code, output = run("entity", "define", "--db", sqlite_url, "--rename", "title", str(path))
    assert code == 2 and "ENTITY.OLD=NEW" in output
