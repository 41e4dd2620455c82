"""link, unlink and links with arbitrary relationships, ids and attributes."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm_core import XRMError

if TYPE_CHECKING:
    from tests.core.fuzz.conftest import World

FUZZ = settings(
    max_examples=int(os.environ.get("XRM_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
ATTRIBUTES = ("weight", "note", "since", "fee")


def relationships(world: World) -> st.SearchStrategy[Any]:
    wrong = st.sampled_from(["Tags", "tag", "account", "thing__tags", "", "tags "])
    return world.mostly(st.just("tags"), wrong | world.anything, odds=3)


def attributes(world: World) -> st.SearchStrategy[Any]:
    plausible: dict[str, st.SearchStrategy[Any]] = {
        "weight": st.integers(-2, 12) | world.huge_ints,
        "note": st.text(max_size=25),
        "since": st.dates() | st.dates().map(str) | st.datetimes(max_value=dt.datetime(9999, 1, 1)),
        "fee": st.decimals(places=3) | st.floats() | st.text(max_size=8),
    }
    fields = st.fixed_dictionaries(
        {}, optional={n: plausible[n] | world.anything for n in ATTRIBUTES}
    )
    loose = st.dictionaries(
        world.names([*ATTRIBUTES, "source_id", "created_at"]), world.anything, max_size=3
    )
    return world.mostly(st.none() | fields, loose | world.anything, odds=3)


@FUZZ
@given(data=st.data())
def test_link_takes_any_relationship_ids_and_attributes(world: World, data: st.DataObject) -> None:
    source = data.draw(world.record_ids(), label="record_id")
    relationship = data.draw(relationships(world), label="relationship")
    target = data.draw(world.record_ids("tag"), label="target_id")
    values = data.draw(attributes(world), label="attributes")
    with world.unit_of_work(data.draw(st.booleans(), label="in a unit of work")):
        result = world.attempt(lambda: world.things.link(source, relationship, target, values))
        if not isinstance(result, XRMError):
            stored = world.things.links(source, relationship)
            assert [link for link in stored if link["target_id"] == result["target_id"]] == [result]


@FUZZ
@given(data=st.data())
def test_unlink_takes_any_relationship_and_ids(world: World, data: st.DataObject) -> None:
    source = data.draw(world.record_ids(), label="record_id")
    relationship = data.draw(relationships(world), label="relationship")
    target = data.draw(world.record_ids("tag"), label="target_id")
    with world.unit_of_work(data.draw(st.booleans(), label="in a unit of work")):
        result = world.attempt(lambda: world.things.unlink(source, relationship, target))
        if result is True:
            stored = world.things.links(source, relationship)
            assert all(str(link["target_id"]) != str(target).lower() for link in stored)


@FUZZ
@given(data=st.data())
def test_links_takes_any_relationship_and_id(world: World, data: st.DataObject) -> None:
    source = data.draw(world.record_ids(), label="record_id")
    relationship = data.draw(relationships(world), label="relationship")
    result = world.attempt(lambda: world.things.links(source, relationship), reads_only=True)
    if not isinstance(result, XRMError):
        assert all(link["source_id"] in world.ids["thing"] for link in result)
