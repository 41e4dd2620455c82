"""The hello plugin's tests: ``pip install -e '.[test]'``, then ``pytest``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from xrm_core import XRM, RecordValidationError
from xrm_core.plugins import contributions, make_plugin_manager, start

from xrm_hello import hooks


@pytest.fixture
def xrm(tmp_path: Path) -> Iterator[XRM]:
    """A database in memory with hello's entities, and the plugin started on it."""
    pm = make_plugin_manager()  # finds hello by its entry point, as xRM will
    xrm = XRM.from_url("sqlite://", export_dir=tmp_path).as_system("tests")
    xrm.metadata.define(contributions(pm, "xrm_entity_schemas")["hello"], owner="hello")
    start(xrm, pm)
    yield xrm
    xrm.close()


def test_a_new_visitor_is_greeted(xrm: XRM) -> None:
    ada = xrm.records("visitor").create({"name": "Ada"})

    assert ada["greeting"] == "Hello, Ada!"


def test_a_greeting_given_is_kept(xrm: XRM) -> None:
    grace = xrm.records("visitor").create({"name": "Grace", "greeting": "Welcome back!"})

    assert grace["greeting"] == "Welcome back!"


def test_a_visitor_needs_a_name(xrm: XRM) -> None:
    with pytest.raises(RecordValidationError) as refused:
        xrm.records("visitor").create({"email": "someone@example.org"})

    assert [problem.pointer for problem in refused.value.problems] == ["/name"]


def test_the_demo_data_logs_a_visit_for_each_visitor(xrm: XRM) -> None:
    hooks.xrm_demo_data(xrm, size=6)

    visits = xrm.records("visit").query(limit=100)
    assert xrm.records("visitor").count() == len(visits) == 6
    assert all(visit["visitor"] is not None for visit in visits)
