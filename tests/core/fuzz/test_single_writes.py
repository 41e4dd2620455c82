"""create, update, get and delete of one record, with arbitrary input."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm_core import DeleteReport, XRMError

if TYPE_CHECKING:
    from tests.core.fuzz.conftest import World

FUZZ = settings(
    max_examples=int(os.environ.get("XRM_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
ENTITIES = st.sampled_from(["thing", "account", "tag"])


@FUZZ
@given(data=st.data())
def test_create_takes_any_record_or_refuses_it_cleanly(world: World, data: st.DataObject) -> None:
    record = data.draw(world.record(), label="record")
    with world.unit_of_work(data.draw(st.booleans(), label="in a unit of work")):
        result = world.attempt(lambda: world.things.create(record))
        if not isinstance(result, XRMError):
            world.reads_back(world.things, result)


@FUZZ
@given(data=st.data())
def test_create_takes_any_value_of_one_field_or_refuses_it_cleanly(
    world: World, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(world.fields), label="field")
    record = {"title": "One field", name: data.draw(world.values(name), label="value")}
    with world.unit_of_work(data.draw(st.booleans(), label="in a unit of work")):
        result = world.attempt(lambda: world.things.create(record))
        if not isinstance(result, XRMError):
            world.reads_back(world.things, result)


@FUZZ
@given(data=st.data())
def test_update_takes_any_change_and_version_or_refuses_it_cleanly(
    world: World, data: st.DataObject
) -> None:
    record_id = data.draw(world.record_ids(), label="id")
    change = data.draw(world.changes(), label="changes")
    version = data.draw(world.versions(), label="if_version")
    with world.unit_of_work(data.draw(st.booleans(), label="in a unit of work")):
        result = world.attempt(lambda: world.things.update(record_id, change, if_version=version))
        if not isinstance(result, XRMError):
            world.reads_back(world.things, result)


@FUZZ
@given(data=st.data())
def test_get_takes_any_id_fields_and_expand(world: World, data: st.DataObject) -> None:
    entity = data.draw(ENTITIES, label="entity")
    record_id = data.draw(world.record_ids(entity), label="id")
    names = world.names([*world.fields, *world.system])
    fields = data.draw(
        world.mostly(st.none() | st.lists(names, max_size=4), world.anything), label="fields"
    )
    paths = world.names(["account", "parent", "regarding", "parent.account", "title"])
    expand = data.draw(
        world.mostly(st.none() | st.lists(paths, max_size=3), world.anything), label="expand"
    )
    result = world.attempt(
        lambda: world.service(entity).get(record_id, fields=fields, expand=expand),
        reads_only=True,
    )
    if not isinstance(result, XRMError):
        assert result["id"] in world.ids[entity]


@FUZZ
@given(data=st.data())
def test_delete_takes_any_id_and_version_or_refuses_it_cleanly(
    world: World, data: st.DataObject
) -> None:
    entity = data.draw(ENTITIES, label="entity")
    service = world.service(entity)
    record_id = data.draw(world.record_ids(entity), label="id")
    version = data.draw(world.versions(), label="if_version")
    dry_run = data.draw(st.booleans(), label="dry_run")
    inside = data.draw(st.booleans(), label="in a unit of work")
    with world.unit_of_work(inside):
        before = world.snapshot()
        result = world.attempt(
            lambda: service.delete(record_id, if_version=version, dry_run=dry_run)
        )
        if isinstance(result, DeleteReport) and dry_run:
            assert world.snapshot() == before
    if isinstance(result, DeleteReport) and not dry_run and not inside:
        world.seed()  # the next examples need records to point at
