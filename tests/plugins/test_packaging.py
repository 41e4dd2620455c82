"""Plugins as pip installs them: real packages, built into wheels, found by their entry points.

Each package is built with ``pip wheel`` from a copy of its source and installed
with ``pip install --target`` into a folder of the test's own; a fresh
interpreter with that folder on its path then finds the plugin as a user's xRM
would. The test environment's own site-packages never changes (xdist workers
share it), and nothing needs the network (decision 0016).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
TESTPLUGIN = ROOT / "tests" / "plugins" / "packages" / "xrm_testplugin"
HELLO = ROOT / "docs" / "examples" / "xrm_hello"
TUTORIAL = ROOT / "docs" / "plugin-tutorial.md"

# pip must neither read a developer's configuration nor look at an index.
PIP_ENV = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run(command: list[str], **options: Any) -> str:
    """Run ``command``; its output, or a failure showing what it said."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _build(source: Path, tmp: Path) -> Path:
    """Build ``source`` into a wheel, from a copy (pip leaves build/ and *.egg-info behind)."""
    copy = tmp / "src" / source.name
    shutil.copytree(
        source, copy, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")
    )
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-index", "--no-deps"]
    _run([*pip, "--no-build-isolation", "--wheel-dir", str(tmp / "wheels"), str(copy)], env=PIP_ENV)
    (wheel,) = (tmp / "wheels").glob(f"{source.name}-*.whl")
    return wheel


@pytest.fixture(scope="session")
def testplugin_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(TESTPLUGIN, tmp_path_factory.mktemp("testplugin"))


@pytest.fixture(scope="session")
def hello_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(HELLO, tmp_path_factory.mktemp("hello"))


def _install(tmp_path: Path, *wheels: Path) -> Path:
    """pip-install ``wheels`` into a fresh folder, as into a site-packages; that folder."""
    site = tmp_path / "site-packages"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]
    _run([*pip, "--target", str(site), *map(str, wheels)], env=PIP_ENV)
    return site


def _seeing(site: Path) -> dict[str, str]:
    """The environment of a process that sees what pip installed in ``site``.

    Without this test's own pytest settings (``PYTEST_*``): a pytest run inside
    must be configured by its own project alone.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    # Only the plugins pip put in ``site``: not those installed in the test environment
    # itself (the bundled contacts and sales), which would change what the tests see.
    env["XRM_LOAD_PLUGINS"] = ",".join(_plugins_in(site))
    return env


def _plugins_in(site: Path) -> list[str]:
    names = []
    for points in site.glob("*.dist-info/entry_points.txt"):
        section = points.read_text().partition("[xrm.plugins]")[2].split("[")[0]
        names += [line.split("=")[0].strip() for line in section.splitlines() if "=" in line]
    return sorted(names)


def _probe(site: Path, code: str) -> Any:
    """Run ``code`` in a fresh interpreter that sees ``site``; what it prints, read as JSON."""
    script = [sys.executable, "-W", "error", "-c", textwrap.dedent(code)]
    return json.loads(_run(script, env=_seeing(site), cwd=site.parent))


@pytest.mark.slow
def test_a_pip_installed_plugin_is_found_with_its_manifest_from_the_package(
    testplugin_wheel: Path, tmp_path: Path
) -> None:
    site = _install(tmp_path, testplugin_wheel)

    found = _probe(
        site,
        """
        import json
        import xrm_core
        from xrm_core import XRM, MissingDependency
        from xrm_core.plugins import (
            contributions, make_plugin_manager, plugin_manifests, resolve
        )

        pm = make_plugin_manager()
        manifests = plugin_manifests(pm)
        schemas = contributions(pm, "xrm_entity_schemas")["testplugin"]
        xrm = XRM.from_url("sqlite://").as_system("test")
        try:
            resolve(manifests.values(), xrm_core.__version__)
        except MissingDependency as error:
            refused = error.message
        print(json.dumps({
            "manifest": manifests["testplugin"].to_dict(),
            "module": pm.get_plugin("testplugin").__file__,
            "plan": str(xrm.metadata.plan(schemas)),
            "roles": [r.name for r in contributions(pm, "xrm_roles")["testplugin"]],
            "subscribers": [s.name for s in contributions(pm, "xrm_subscribers")["testplugin"]],
            "refused": refused,
        }))
        """,
    )

    manifest = found["manifest"]
    assert manifest["name"] == "testplugin"
    assert manifest["version"] == "2.1.0-rc.1"  # the package's 2.1.0rc1, as semver
    assert manifest["description"] == "Tickets, for testing how xRM finds installed plugins."
    assert SpecifierSet(manifest["core"]) == SpecifierSet(">=0.1,<1")
    # packaging carries no plugin; the extra's and the other platform's are left out.
    assert manifest["dependencies"] == {"hello": ">=1.0"}
    assert found["module"].startswith(str(site))
    assert found["plan"] == "[safe] create entity 'ticket'"  # read from the wheel's package data
    assert (found["roles"], found["subscribers"]) == (["Ticket agent"], ["tidy_titles"])
    assert found["refused"] == "'testplugin' needs 'hello' (>=1.0), which is not installed"


@pytest.mark.slow
def test_a_plugin_starts_after_the_installed_plugin_it_needs(
    testplugin_wheel: Path, hello_wheel: Path, tmp_path: Path
) -> None:
    site = _install(tmp_path, testplugin_wheel, hello_wheel)

    found = _probe(
        site,
        """
        import json
        from xrm_core import XRM
        from xrm_core.plugins import contributions, make_plugin_manager, start

        pm = make_plugin_manager()
        xrm = XRM.from_url("sqlite://").as_system("test")
        xrm.metadata.define(contributions(pm, "xrm_entity_schemas")["testplugin"])
        order = start(xrm, pm)
        ticket = xrm.records("ticket").create({"title": "  Printer jam "})
        print(json.dumps({
            "order": order,
            "owners": {s.name: s.owner for s in xrm.events.of_stage("validate")},
            "title": ticket["title"],
        }))
        """,
    )

    assert found["order"].index("hello") < found["order"].index("testplugin")
    assert found["owners"] == {"greet_visitors": "hello", "tidy_titles": "testplugin"}
    assert found["title"] == "Printer jam"


@pytest.mark.slow
def test_the_example_plugin_installs_with_its_manifest_role_and_valid_schemas(
    hello_wheel: Path, tmp_path: Path
) -> None:
    site = _install(tmp_path, hello_wheel)

    found = _probe(
        site,
        """
        import json
        from xrm_core import XRM
        from xrm_core.plugins import contributions, make_plugin_manager, plugin_manifests

        pm = make_plugin_manager()
        schemas = contributions(pm, "xrm_entity_schemas")["hello"]
        plan = XRM.from_url("sqlite://").as_system("test").metadata.plan(schemas)
        (role,) = contributions(pm, "xrm_roles")["hello"]
        print(json.dumps({
            "manifest": plugin_manifests(pm)["hello"].to_dict(),
            "plan": [(str(step.safety), step.description) for step in plan.steps],
            "role": [role.name, [[c.entity, c.privilege, c.scope] for c in role.privileges]],
        }))
        """,
    )

    manifest = found["manifest"]
    assert (manifest["name"], manifest["version"]) == ("hello", "1.0.0")
    assert manifest["description"].startswith("Welcomes visitors at the front desk")
    assert SpecifierSet(manifest["core"]) == SpecifierSet(">=0.1,<1")
    assert manifest["dependencies"] == {}
    assert found["plan"] == [
        ["safe", "create entity 'visit'"],
        ["safe", "create entity 'visitor'"],
    ]
    name, privileges = found["role"]
    assert name == "Receptionist"
    assert ["visitor", "read", "organization"] in privileges
    assert ["visit", "update", "own"] in privileges
    assert (site / "xrm_hello" / "schemas" / "visitor.json").is_file()


@pytest.mark.slow
def test_the_example_plugins_hooks_do_what_the_tutorial_says(
    hello_wheel: Path, tmp_path: Path
) -> None:
    site = _install(tmp_path, hello_wheel)

    found = _probe(
        site,
        """
        import json
        from xrm_core import XRM, RecordValidationError
        from xrm_core.plugins import call_each, contributions, make_plugin_manager, start

        pm = make_plugin_manager()
        xrm = XRM.from_url("sqlite://").as_system("test")
        xrm.metadata.define(contributions(pm, "xrm_entity_schemas")["hello"], owner="hello")
        start(xrm, pm)
        visitors = xrm.records("visitor")
        ada = visitors.create({"name": "Ada"})
        grace = visitors.create({"name": "Grace", "greeting": "Welcome back, Grace."})
        try:
            visitors.create({"email": "nobody@example.org"})
        except RecordValidationError as error:
            refused = [p.pointer for p in error.problems]
        call_each(pm, "xrm_demo_data", ["hello"], xrm=xrm, size=6)
        print(json.dumps({
            "greetings": [ada["greeting"], grace["greeting"]],
            "refused": refused,
            "owner": xrm.metadata.owner("visitor"),
            "visitors": visitors.count(),
            "visits": xrm.records("visit").count(),
            "greetings_after_demo": sorted(v["greeting"] for v in visitors.query(limit=100)),
        }))
        """,
    )

    assert found["greetings"] == ["Hello, Ada!", "Welcome back, Grace."]
    assert found["refused"] == ["/name"]
    assert found["owner"] == "hello"
    assert (found["visitors"], found["visits"]) == (2 + 6, 6)
    demo = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson"] * 2
    assert found["greetings_after_demo"] == sorted(
        ["Hello, Ada!", "Welcome back, Grace.", *(f"Hello, {name}!" for name in demo[:6])]
    )


@pytest.mark.slow
def test_the_example_plugins_own_tests_pass_against_the_installed_package(
    hello_wheel: Path, tmp_path: Path
) -> None:
    site = _install(tmp_path, hello_wheel)
    # Its project without src/: the tests can import only the plugin pip installed.
    project = tmp_path / "xrm_hello"
    shutil.copytree(HELLO, project, ignore=shutil.ignore_patterns("src", "__pycache__"))
    written = len(
        re.findall(r"^def test_", (project / "tests" / "test_hello.py").read_text(), re.M)
    )

    output = _run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        env=_seeing(site),
        cwd=project,
    )

    assert re.search(rf"\b{written} passed\b", output), output
    assert written >= 4


def test_the_tutorial_shows_the_example_files_as_they_are() -> None:
    # A block placed after <!-- file: PATH --> must appear, verbatim, in that file of the
    # example: the tutorial cannot drift from the code the tests build and run.
    tutorial = TUTORIAL.read_text(encoding="utf-8")
    shown = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", tutorial, re.DOTALL)
    assert {path for path, _ in shown} >= {
        "pyproject.toml",
        "src/xrm_hello/hooks.py",
        "src/xrm_hello/schemas/visitor.json",
        "src/xrm_hello/schemas/visit.json",
    }
    for path, block in shown:
        assert block in (HELLO / path).read_text(encoding="utf-8"), path


def _release_1_1(tmp: Path) -> Path:
    """The example as the tutorial's section 11 changes it: version 1.1.0, a company field."""
    source = tmp / "xrm_hello"
    shutil.copytree(HELLO, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    project = source / "pyproject.toml"
    project.write_text(project.read_text().replace('version = "1.0.0"', 'version = "1.1.0"'))
    schema_file = source / "src" / "xrm_hello" / "schemas" / "visitor.json"
    schema = json.loads(schema_file.read_text())
    schema["properties"]["company"] = {"type": "string", "maxLength": 100}
    schema_file.write_text(json.dumps(schema, indent=2))
    return _build(source, tmp / "build-1.1")


def _console_sessions() -> list[list[tuple[str, list[str]]]]:
    """The ``$ xrm ...`` commands of the tutorial's sections 10 to 12, with their output."""
    tutorial = TUTORIAL.read_text(encoding="utf-8")
    part = tutorial[tutorial.index("## 10.") : tutorial.index("## Where next")]
    sessions = []
    for block in re.findall(r"```console\n(.*?)```", part, re.DOTALL):
        commands: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            else:
                commands[-1][1].append(line)
        sessions.append(commands)
    return sessions


@pytest.mark.slow
def test_the_tutorials_install_upgrade_and_uninstall_run_as_shown(
    hello_wheel: Path, tmp_path: Path
) -> None:
    first = _install(tmp_path / "1.0", hello_wheel)
    second = _install(tmp_path / "1.1", _release_1_1(tmp_path))
    sessions = _console_sessions()
    assert len(sessions) == 4  # install; upgrade; disable and enable; uninstall
    work = tmp_path / "srv"  # the commands run here, on the default database ./xrm.db
    work.mkdir()

    for number, (session, site) in enumerate(
        zip(sessions, [first, second, second, second], strict=True)
    ):
        if number == 3:  # records to export: the example's demo data, twelve visitors
            seed = (
                "from xrm_core import XRM\nfrom xrm_core.plugins import call_each\n"
                "xrm = XRM.from_url('sqlite:///xrm.db').as_system('demo')\n"
                "call_each(xrm.plugin_manager, 'xrm_demo_data', xrm=xrm, size=12)\n"
            )
            _run([sys.executable, "-W", "error", "-c", seed], env=_seeing(site), cwd=work)
        for command, expected in session:
            args = command.split()
            assert args[0] == "xrm", command
            env = {k: v for k, v in _seeing(site).items() if k != "XRM_DATABASE_URL"}
            cli = "from xrm_core.cli import main; main()"
            output = _run([sys.executable, "-c", cli, *args[1:]], env=env, cwd=work)
            got = output.splitlines()
            assert len(got) == len(expected), (command, output)
            for want, line in zip(expected, got, strict=True):
                if want.startswith("exported: "):  # where and when differ; which file does not
                    name = want.rsplit("/", 1)[1]
                    assert re.fullmatch(
                        rf"exported: {work}/xrm-exports/hello-\d{{8}}T\d+Z/{name}", line
                    )
                else:
                    assert line == want, command
