"""Docs are part of the feature: what the code offers, the docs must mention."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import xrm_core
from xrm_core.metadata.definition import Kind, OnDelete
from xrm_core.records.aggregates import FUNCTIONS, PERIODS
from xrm_core.records.filters import OPERATORS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_field_kind_is_documented() -> None:
    text = (DOCS / "entities.md").read_text()
    missing = [k.value for k in Kind if f"| `{k.value}` |" not in text]
    assert not missing


def test_every_delete_behaviour_is_documented() -> None:
    text = (DOCS / "entities.md").read_text()
    assert all(f"`{b.value}`" in text for b in OnDelete)


def test_every_operator_measure_and_period_is_documented() -> None:
    text = (DOCS / "queries.md").read_text()
    assert [op for op in OPERATORS if f"`{op}`" not in text] == []
    assert [f for f in FUNCTIONS if f"`{f}" not in text] == []
    assert [p for p in PERIODS if f"`:{p}`" not in text] == []


def test_every_public_name_has_a_docstring() -> None:
    undocumented = []
    for name in xrm_core.__all__:
        obj = getattr(xrm_core, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not inspect.getdoc(obj):
                undocumented.append(name)
            members = vars(obj).items() if inspect.isclass(obj) else ()
            undocumented.extend(
                f"{name}.{member}"
                for member, value in members
                if inspect.isfunction(value)
                and not member.startswith("_")
                and not inspect.getdoc(value)
            )
    assert undocumented == []


def test_every_doc_page_is_linked_from_the_index() -> None:
    index = (DOCS / "index.md").read_text()
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    linked = set(re.findall(r"\(([\w-]+\.md)", index))
    assert pages <= linked


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    root = DOCS.parent
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    commands = re.findall(r"^(\.venv/bin/python -m pytest.*)$", ci, re.MULTILINE)
    assert commands, "no pytest command in .ci/run"
    assert all(command in readme for command in commands)
    assert ".venv/bin/xrm serve --demo" in readme
