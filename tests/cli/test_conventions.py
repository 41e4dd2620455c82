"""Every ``xrm`` command keeps the conventions: help, one-line errors, exit codes, a reference.

The commands are found by walking the command tree, so a new command is held to
the same rules; one missing from the tables below fails the tests, by name.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from xrm_core.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"
NOWHERE = "sqlite:////nonexistent/folder/xrm.db"
NOT_A_TOKEN = "01a2310f-47e5-77ec-8a79-8716404eb970"


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> dict[str, click.Command]:
    """Every command and group under ``group``, by the words that call it (``entity plan``)."""
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        words = (*path, name)
        found[" ".join(words)] = command
        if isinstance(command, click.Group):
            found.update(_commands(command, words))
    return found


COMMANDS = _commands(main)
LEAVES = sorted(name for name, c in COMMANDS.items() if not isinstance(c, click.Group))

#: A bad input for each command: its arguments, the exit code, and what stderr says.
#: ``--db`` is added (a database prepared by ``xrm db upgrade``) unless given.
BAD_INPUTS: dict[str, tuple[list[str], int, str]] = {
    "action list": (["--db", NOWHERE], 1, "Error: cannot open"),
    "action run": (["nope.act"], 1, "error [unknown_action]: no action called 'nope.act'"),
    "audit": (["nope"], 1, "error [unknown_entity]: no entity called 'nope'"),
    "db info": (["--db", NOWHERE], 1, "Error: cannot open"),
    "db upgrade": (["--db", NOWHERE], 1, "Error: cannot open"),
    "demo": (["--size", "0"], 2, "0 is not in the range x>=1"),
    "entity apply": (["{broken}"], 1, "not a readable JSON file"),
    "entity define": (["{missing}"], 2, "does not exist"),
    "entity drop": (["nope"], 1, "error [unknown_entity]: no entity called 'nope'"),
    "entity export": (["nope"], 1, "error [unknown_entity]: no entity called 'nope'"),
    "entity list": (["--db", NOWHERE], 1, "Error: cannot open"),
    "entity plan": (["{ticket}", "--rename", "title"], 2, "write ENTITY.OLD=NEW"),
    "entity show": (["nope"], 1, "error [unknown_entity]: no entity called 'nope'"),
    "export": (["nope", "out.csv"], 1, "error [unknown_entity]: no entity called 'nope'"),
    "import": (["user", "{missing}"], 1, "error [invalid_file]: cannot read"),
    "plugins disable": (["nope"], 1, "error [plugin_state]: plugin 'nope' is not installed"),
    "plugins enable": (["nope"], 1, "error [plugin_state]: plugin 'nope' is not installed"),
    "plugins install": (["nope"], 1, "error [unknown_plugin]: no plugin called 'nope'"),
    "plugins ledger": (["--db", NOWHERE], 1, "Error: cannot open"),
    "plugins list": (["--db", NOWHERE], 1, "Error: cannot open"),
    "plugins plan": (["install", "nope"], 1, "error [unknown_plugin]: no plugin called 'nope'"),
    "plugins uninstall": (["nope"], 2, "Missing option '--data'"),
    "plugins upgrade": (["nope"], 1, "error [plugin_state]: plugin 'nope' is not installed"),
    "serve": (["--db", NOWHERE], 1, "Error: cannot open"),
    "user create": (["ada", "--role", "Astronaut"], 1, "Error: no role called 'Astronaut'"),
    "user list": (["--db", NOWHERE], 1, "Error: cannot open"),
    "user revoke": (
        [NOT_A_TOKEN],
        1,
        f"error [record_not_found]: no API token with id {NOT_A_TOKEN}",
    ),
    "user token": (["nobody"], 1, "Error: no user called 'nobody'"),
    "user tokens": (["nobody"], 1, "Error: no user called 'nobody'"),
    "worker": (["--batch", "0"], 2, "0 is not in the range 1<=x<=1000"),
}


def _run(args: list[str], input: str | None = None) -> Result:
    return CliRunner().invoke(main, args, input=input)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a database prepared by ``xrm db upgrade``, and a few files."""
    folder = tmp_path_factory.mktemp("conventions")
    assert _run(["db", "upgrade", "--db", f"sqlite:///{folder}/xrm.db"]).exit_code == 0
    (folder / "broken.json").write_text("{not json")
    (folder / "ticket.json").write_text('{"x-xrm": {"name": "ticket"}, "properties": {}}')
    return folder


def test_every_command_has_a_bad_input_case() -> None:
    assert sorted(BAD_INPUTS) == LEAVES


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_group_has_help_and_a_docstring(name: str) -> None:
    command = COMMANDS[name]
    result = _run([*name.split(), "--help"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: main {name} ")
    assert command.help and command.help.strip()
    assert command.get_short_help_str(limit=200) in " ".join(result.stdout.split())
    undocumented = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert undocumented == [], f"xrm {name}: options without help"


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_a_bad_input_is_one_clear_line_and_a_conventional_exit_code(
    name: str, prepared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(prepared)
    args, code, message = BAD_INPUTS[name]
    files = {"broken": "broken.json", "missing": "missing.json", "ticket": "ticket.json"}
    args = [a.format(**files) for a in args]
    if "--db" not in args:
        args += ["--db", f"sqlite:///{prepared}/xrm.db"]

    result = _run([*name.split(), *args])

    # An exception escaping the command would be a traceback for the user.
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if code == 1:  # refused input: the whole of stderr is one line
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert message in result.stderr
    else:  # a usage error: click's usage, a hint, and one line of error
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and message in errors[0], result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "70000"], {}, "Error: bad settings: port: Input should be less than"),
        ([], {"XRM_CONFIG": "/nonexistent/xrm.toml"}, "XRM_CONFIG=/nonexistent/xrm.toml: no such"),
        ([], {"XRM_RATE_LIMIT": "many"}, "Error: bad settings: rate_limit: Input should be"),
    ],
)
def test_serve_refuses_bad_settings_in_one_line(
    args: list[str], env: dict[str, str], message: str, prepared: Path
) -> None:
    url = f"sqlite:///{prepared}/xrm.db"
    result = CliRunner().invoke(main, ["serve", "--db", url, *args], env=env)

    assert isinstance(result.exception, SystemExit) and result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


@pytest.mark.parametrize("name", LEAVES)
def test_an_unknown_option_is_a_usage_error(name: str) -> None:
    result = _run([*name.split(), "--no-such-option"])

    assert result.exit_code == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("Error: No such option") and "--no-such-option" in last


def _sections(text: str) -> dict[str, str]:
    """The reference's sections, by command: a heading ``### `xrm NAME ...` `` and its body."""
    parts = re.split(r"^#{2,3} `xrm ([a-z -]+?)(?: [A-Z[{].*)?`$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_the_reference_documents_every_command_and_option() -> None:
    sections = _sections((DOCS / "cli.md").read_text())
    missing = [name for name in LEAVES if name not in sections]
    options = [
        f"xrm {name} {opt}"
        for name in LEAVES
        if name in sections
        for param in COMMANDS[name].params
        if isinstance(param, click.Option)
        for opt in param.opts
        # --db is the same everywhere: documented once, at the top.
        if opt.startswith("--") and opt != "--db" and f"`{opt}" not in sections[name]
    ]
    assert missing == [], "commands missing from docs/cli.md"
    assert options == [], "options missing from their command's section in docs/cli.md"
    assert not set(sections) - set(LEAVES), "docs/cli.md documents commands that do not exist"
