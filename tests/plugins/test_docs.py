"""The plugin contract is documented and tested, hook by hook (as datasette checks its own)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xrm_core import errors, hookspecs

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / "docs" / "plugins.md").read_text()
HOOKS = {
    name: function
    for name, function in vars(hookspecs).items()
    if inspect.isfunction(function) and hasattr(function, f"{hookspecs.PROJECT}_spec")
}
TESTS = [
    path.read_text()
    for path in (ROOT / "tests").rglob("*.py")
    if path.resolve() != Path(__file__).resolve()
]


def test_the_hooks_are_found() -> None:
    assert {"xrm_manifest", "xrm_entity_schemas", "xrm_startup"} <= set(HOOKS)
    assert all(name.startswith("xrm_") for name in HOOKS)


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_every_hook_has_a_section_in_the_reference(hook: str) -> None:
    arguments = ", ".join(inspect.signature(HOOKS[hook]).parameters)
    assert f"\n### `{hook}({arguments})`\n" in REFERENCE


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_every_hook_has_a_docstring_saying_when_it_is_called(hook: str) -> None:
    doc = inspect.getdoc(HOOKS[hook]) or ""
    assert "Called" in doc
    assert "Returns" in doc


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_every_hook_is_implemented_by_a_test(hook: str) -> None:
    assert any(re.search(rf"def {hook}\(", text) for text in TESTS)


def test_the_reference_documents_no_hook_that_does_not_exist() -> None:
    assert set(re.findall(r"^### `(xrm_\w+)\(", REFERENCE, re.MULTILINE)) == set(HOOKS)


def test_every_plugin_error_is_in_the_reference() -> None:
    plugin_errors = [
        cls
        for cls in vars(errors).values()
        if inspect.isclass(cls) and issubclass(cls, errors.PluginError)
    ]
    assert len(plugin_errors) >= 8
    assert [
        c.__name__ for c in plugin_errors if f"`{c.__name__}` (`{c.code}`)" not in REFERENCE
    ] == []


@pytest.mark.parametrize(
    "module", ["xrm_core.hookspecs", "xrm_core.plugins", "xrm_core.plugins.manager"]
)
def test_the_plugin_modules_import_in_any_order(module: str) -> None:
    # hookspecs and the plugins package import each other's names; a fresh
    # interpreter starting from either end must not meet a half-imported module.
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)
