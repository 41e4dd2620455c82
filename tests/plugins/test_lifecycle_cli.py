"""``xrm plugins``: the lifecycle on the command line, with a plugin installed as a package."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

import xrm_core
from tests.plugins.conftest import Site
from xrm_core import XRM
from xrm_core.cli import main

HELLO = textwrap.dedent(
    """
    from xrm_core import hookimpl
    from xrm_core.plugins import RoleSpec

    @hookimpl
    def xrm_manifest():
        return {"name": "hello", "description": "Greetings."}

    @hookimpl
    def xrm_entity_schemas():
        return [{"x-xrm": {"name": "greeting"}, "properties": {"text": {"type": "string"}}}]

    @hookimpl
    def xrm_roles():
        return [RoleSpec("Greeter", "", [("greeting", "create", "own")])]
    """
)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_plan_install_list_and_uninstall_from_the_command_line(
    site: Site, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRM_LOAD_PLUGINS", "hello")  # not the bundled plugins of this environment
    site.install("xrm-hello", "0.3.0", modules={"xrm_hello": HELLO}, plugins={"hello": "xrm_hello"})

    code, out = run("plugins", "plan", "install", "hello", "--db", sqlite_url)
    assert code == 0, out
    core = xrm_core.__version__
    assert out.splitlines()[0] == f"install core {core}, install hello 0.3.0"  # a new database
    assert run("db", "upgrade", "--db", sqlite_url)[0] == 0  # installs the core
    code, out = run("plugins", "plan", "install", "hello", "--db", sqlite_url)
    assert out.splitlines()[0] == "install hello 0.3.0"
    assert "[safe] hello: create entity 'greeting'" in out
    assert "[safe] hello: create role 'Greeter' with 1 privilege(s)" in out
    listed = run("plugins", "list", "--db", sqlite_url)[1].splitlines()
    assert listed == [f"core\t{core}\tinstalled {core}", "hello\t0.3.0\tnot installed"]

    code, out = run("plugins", "install", "hello", "--db", sqlite_url)
    assert code == 0 and "done." in out, out
    assert run("plugins", "list", "--db", sqlite_url)[1].splitlines()[1] == (
        "hello\t0.3.0\tinstalled 0.3.0"
    )
    code, out = run("plugins", "ledger", "--db", sqlite_url, "--owner", "hello")
    assert "entity\tgreeting\thello" in out.splitlines()

    code, out = run("plugins", "uninstall", "hello", "--db", sqlite_url)
    assert code == 2 and "--data" in out  # the data choice is never defaulted
    code, out = run("plugins", "uninstall", "hello", "--db", sqlite_url, "--data", "drop")
    assert code == 1 and "confirm" in out
    code, out = run(
        "plugins", "uninstall", "hello", "--db", sqlite_url, "--data", "drop", "--confirm", "--json"
    )
    assert code == 0, out
    plan = json.loads(out)
    assert plan["applied"] and plan["safety"] == "destructive"
    xrm = XRM.from_url(sqlite_url).as_system("tests")
    assert not xrm.metadata.exists("greeting")
    xrm.close()


def test_an_unknown_plugin_is_one_clear_line(sqlite_url: str) -> None:
    code, out = run("plugins", "install", "nope", "--db", sqlite_url)
    assert code == 1
    (line,) = out.strip().splitlines()
    assert line.startswith("error [unknown_plugin]: no plugin called 'nope' is available")
