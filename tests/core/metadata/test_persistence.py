"""Definitions are data: stored, versioned, with a history and an owner, surviving restarts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from xrm_core import XRM

TAG = {"x-xrm": {"name": "tag"}, "properties": {"label": {"type": "string"}}}


def tag_with(**props: Any) -> dict[str, Any]:
    return {"x-xrm": {"name": "tag"}, "properties": {"label": {"type": "string"}, **props}}


def test_definitions_and_records_survive_a_restart(db_url: str, tmp_path: Path) -> None:
    first = XRM.from_url(db_url, export_dir=tmp_path).as_system("tests")
    first.metadata.define(
        [
            TAG,
            {
                "x-xrm": {"name": "note", "alternate_keys": [{"fields": ["code"]}]},
                "properties": {
                    "code": {"type": "string"},
                    "tag": {"x-xrm": {"kind": "lookup", "target": "tag"}},
                },
            },
        ],
        owner="notes",
    )
    tag = first.records("tag").create({"label": "hot"})
    note = first.records("note").create({"code": "N-1", "tag": tag["id"]})
    definitions = [first.metadata.get("tag"), first.metadata.get("note")]
    first.close()

    second = XRM.from_url(db_url, export_dir=tmp_path).as_system("tests")
    try:
        assert [second.metadata.get("tag"), second.metadata.get("note")] == definitions
        assert second.metadata.get("note").schema == definitions[1].schema
        assert second.metadata.owner("note") == "notes"
        assert second.records("note").get(note["id"])["tag"] == tag["id"]
        assert [d.name for d in second.metadata.entities()] == ["note", "tag"]
    finally:
        second.close()


def test_a_restarted_instance_can_keep_changing_definitions(db_url: str, tmp_path: Path) -> None:
    first = XRM.from_url(db_url, export_dir=tmp_path).as_system("tests")
    first.metadata.define(TAG)
    first.close()

    second = XRM.from_url(db_url, export_dir=tmp_path).as_system("tests")
    try:
        second.metadata.define(tag_with(colour={"type": "string"}))
        created = second.records("tag").create({"label": "hot", "colour": "red"})

        assert second.records("tag").get(created["id"])["colour"] == "red"
        assert second.metadata.entity_version("tag") == 2
    finally:
        second.close()


def test_each_change_increases_the_entity_version(xrm: XRM) -> None:
    xrm.metadata.define(TAG)
    xrm.metadata.define(tag_with(colour={"type": "string"}))
    xrm.metadata.define(tag_with(colour={"type": "string"}, size={"type": "integer"}))

    assert xrm.metadata.entity_version("tag") == 3


def test_defining_the_same_thing_again_is_not_a_change(xrm: XRM) -> None:
    xrm.metadata.define(TAG)
    metadata_version = xrm.metadata.version

    plan = xrm.metadata.define(TAG)

    assert plan.is_empty
    assert xrm.metadata.entity_version("tag") == 1
    assert len(xrm.metadata.history("tag")) == 1
    assert xrm.metadata.version == metadata_version


def test_the_metadata_version_grows_with_every_applied_change(xrm: XRM) -> None:
    start = xrm.metadata.version
    xrm.metadata.define(TAG)
    xrm.metadata.define(tag_with(colour={"type": "string"}))

    assert xrm.metadata.version == start + 2


def test_history_lists_every_change_with_its_plan(xrm: XRM) -> None:
    before = dt.datetime.now(dt.UTC)
    xrm.metadata.define(TAG)
    xrm.metadata.define(tag_with(colour={"type": "string"}))
    xrm.metadata.define(tag_with(), confirm=True)

    history = xrm.metadata.history("tag")

    assert [h.version for h in history] == [1, 2, 3]
    assert [[s["action"] for s in h.plan["steps"]] for h in history] == [
        ["create_entity"],
        ["add_field"],
        ["remove_field"],
    ]
    assert [h.plan["steps"][0]["safety"] for h in history] == ["safe", "safe", "destructive"]
    assert [h.plan["exports"] for h in history[:2]] == [[], []]
    assert history[1].definition is not None
    assert "colour" in history[1].definition["properties"]
    assert all(before <= h.changed_at <= dt.datetime.now(dt.UTC) for h in history)


def test_the_owner_is_custom_unless_said_otherwise(xrm: XRM) -> None:
    xrm.metadata.define(TAG)

    assert xrm.metadata.owner("tag") == "custom"
    assert [h.owner for h in xrm.metadata.history("tag")] == ["custom"]


def test_a_plugin_owns_what_it_defines_and_history_names_who_changed_it(xrm: XRM) -> None:
    xrm.metadata.define(TAG, owner="sales")
    xrm.metadata.define(tag_with(colour={"type": "string"}))

    # An administrator's change is recorded as theirs; the entity stays the plugin's.
    assert xrm.metadata.owner("tag") == "sales"
    assert [h.owner for h in xrm.metadata.history("tag")] == ["sales", "custom"]


def test_history_is_kept_after_a_drop(xrm: XRM) -> None:
    xrm.metadata.define(TAG, owner="sales")
    xrm.metadata.drop("tag", confirm=True)

    history = xrm.metadata.history("tag")

    assert [h.version for h in history] == [1, 2]
    assert history[-1].definition is None
    assert history[-1].owner == "sales"
    assert [s["action"] for s in history[-1].plan["steps"]] == ["drop_entity"]
    assert not xrm.metadata.exists("tag")


def test_an_entity_defined_again_after_a_drop_continues_its_history(xrm: XRM) -> None:
    xrm.metadata.define(TAG)
    xrm.metadata.drop("tag", confirm=True)

    xrm.metadata.define(TAG)

    assert [h.version for h in xrm.metadata.history("tag")] == [1, 2, 3]
    assert xrm.metadata.entity_version("tag") == 3
    assert xrm.records("tag").count() == 0


def test_history_of_an_entity_never_defined_is_empty(xrm: XRM) -> None:
    assert xrm.metadata.history("ghost") == []


def test_history_says_where_dropped_values_were_exported(xrm: XRM) -> None:
    xrm.metadata.define(tag_with(colour={"type": "string"}))
    xrm.records("tag").create({"label": "hot", "colour": "red"})

    plan = xrm.metadata.define(TAG, confirm=True)

    assert xrm.metadata.history("tag")[-1].plan["exports"] == list(plan.exports)
    assert len(plan.exports) == 1


def test_another_process_sees_a_change_after_refresh(db_url: str, tmp_path: Path) -> None:
    writer = XRM.from_url(db_url, export_dir=tmp_path).as_system("tests")
    reader = XRM.from_url(db_url, export_dir=tmp_path).as_system("tests")
    try:
        writer.metadata.define(TAG)
        assert not reader.metadata.exists("tag")

        assert reader.metadata.refresh() is True
        assert reader.metadata.get("tag") == writer.metadata.get("tag")
        assert reader.metadata.refresh() is False

        writer.metadata.define(tag_with(colour={"type": "string"}))
        reader.metadata.refresh()
        reader.records("tag").create({"label": "hot", "colour": "red"})
        assert writer.records("tag").query(filter={"colour": "red"}).records[0]["label"] == "hot"
    finally:
        writer.close()
        reader.close()
