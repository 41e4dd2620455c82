"""Administrators extend the core entities; what the core declares on them stays."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from xrm_core import XRM, DefinitionError


def user_schema(xrm: XRM) -> dict[str, Any]:
    return copy.deepcopy(dict(xrm.metadata.get("user").schema))


def names(xrm: XRM) -> set[str]:
    return {f.name for f in xrm.metadata.get("user").fields}


@pytest.fixture
def installed(xrm: XRM) -> XRM:
    xrm.security.install()
    return xrm


def test_a_field_and_a_relationship_added_to_a_core_entity_come_and_go(installed: XRM) -> None:
    schema = user_schema(installed)
    extended = copy.deepcopy(schema)
    extended["properties"]["badge"] = {"type": "string", "maxLength": 20}
    extended["x-xrm"].setdefault("relationships", []).append({"name": "mentors", "target": "user"})
    installed.metadata.define(extended)
    assert "badge" in names(installed)

    installed.metadata.define(schema, confirm=True)  # the administrator's own parts go again
    assert "badge" not in names(installed)


@pytest.mark.parametrize(
    ("change", "renames", "pointers"),
    [
        ("drop username", None, ["/properties/username"]),
        ("drop roles", None, ["/x-xrm/relationships"]),
        (
            "rename username",
            {"user": {"username": "login"}},
            ["/renames/username", "/properties/username"],
        ),
    ],
)
def test_removing_or_renaming_what_the_core_declares_is_refused(
    installed: XRM, change: str, renames: Any, pointers: list[str]
) -> None:
    schema = user_schema(installed)
    version = installed.metadata.version
    if change == "drop roles":
        links = schema["x-xrm"]["relationships"]
        schema["x-xrm"]["relationships"] = [r for r in links if r["name"] != "roles"]
    else:
        schema["properties"].pop("username")
        if renames:
            schema["properties"]["login"] = {"type": "string", "maxLength": 100}

    for attempt in (installed.metadata.plan, installed.metadata.define):
        with pytest.raises(DefinitionError) as error:
            attempt(schema, renames=renames)
        assert [p.pointer for p in error.value.problems] == pointers
        assert "part of the core" in error.value.problems[0].message
    assert installed.metadata.version == version
    assert "username" in names(installed)
