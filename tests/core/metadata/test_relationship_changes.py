"""Many-to-many relationships changed in place: renamed with their links, attributes
added, removed and converted as fields are, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.api.conftest import Api, make_api
from xrm_core import XRM, ConfirmationRequired, DefinitionError, QueryError, XRMError, hookimpl
from xrm_core.metadata.plan import Plan, Safety
from xrm_core.plugins import make_plugin_manager

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView

TAG = {"x-xrm": {"name": "tag"}, "properties": {"label": {"type": "string"}}}
INTEGER = {"type": "integer"}
STRING = {"type": "string"}


def contact(*relationships: dict[str, Any], **props: Any) -> dict[str, Any]:
    """A contact with ``relationships`` and ``props`` (a name by default)."""
    return {
        "x-xrm": {"name": "contact", "relationships": list(relationships)},
        "properties": props or {"name": STRING},
    }


def tags(name: str = "tags", target: str = "tag", **attributes: Any) -> dict[str, Any]:
    """A relationship to tags; ``attributes`` by name (``required_`` prefix: required)."""
    rel: dict[str, Any] = {"name": name, "target": target}
    if attributes:
        # Copies: normalizing keeps shared objects shared (deepcopy), so one titled
        # "Weight" would title every attribute made from the same object.
        rel["attributes"] = {a.removeprefix("required_"): dict(s) for a, s in attributes.items()}
        rel["required"] = [a.removeprefix("required_") for a in attributes if "required_" in a]
    return rel


def actions(plan: Plan) -> list[tuple[str, Safety]]:
    return [(s.action, s.safety) for s in plan.steps]


def linked(xrm: XRM, weight: Any = 12, **props: Any) -> tuple[Any, Any]:
    """Contact and tag entities, one contact linked to one tag with ``weight``."""
    xrm.metadata.define([TAG, contact(tags(weight=INTEGER), **props)])
    ada = xrm.records("contact").create({"name": "Ada"})
    hot = xrm.records("tag").create({"label": "hot"})
    xrm.records("contact").link(ada["id"], "tags", hot["id"], {"weight": weight})
    return ada["id"], hot["id"]


def exported(plan: Plan, part: str) -> list[dict[str, Any]]:
    """The rows the plan exported for ``part`` (``relationship.attribute``)."""
    (path,) = [p for p in plan.exports if f"-{part}-" in p]
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_a_renamed_relationship_keeps_its_links_and_frees_its_old_name(
    xrm: XRM, database: DatabaseView
) -> None:
    ada, hot = linked(xrm)
    version = xrm.metadata.version
    renames = {"contact": {"tags": "labels"}}

    plan = xrm.metadata.define(contact(tags("labels", weight=INTEGER)), renames=renames)

    assert str(plan) == "[safe] rename relationship contact.tags to 'labels'; links kept"
    assert xrm.metadata.version > version
    assert xrm.metadata.history("contact")[-1].plan["steps"][0]["action"] == "rename_relationship"
    assert "contact__tags" not in database.tables()
    assert [i.name for i in database.indexes("contact__labels")] == ["contact__labels_target"]
    (link,) = xrm.records("contact").links(ada, "labels")
    assert (link["target_id"], link["weight"]) == (hot, 12)
    with pytest.raises(QueryError):
        xrm.records("contact").links(ada, "tags")
    # The old name, its table and its index are free for a new relationship.
    both = contact(tags("labels", weight=INTEGER), tags("tags"))
    assert actions(xrm.metadata.define(both)) == [("add_relationship", Safety.SAFE)]
    xrm.records("contact").link(ada, "tags", hot)
    assert len(xrm.records("contact").links(ada, "tags")) == 1


def test_link_attributes_change_as_fields_do(xrm: XRM, database: DatabaseView) -> None:
    ada, hot = linked(xrm)
    relabelled = tags(weight=INTEGER)
    relabelled["label"] = "Keywords"
    table = database.snapshot()["contact__tags"]

    plan = xrm.metadata.define(contact(relabelled))

    assert actions(plan) == [("change_relationship", Safety.SAFE)]
    assert database.snapshot()["contact__tags"] == table
    assert xrm.metadata.get("contact").relationship("tags").label == "Keywords"
    added = contact(
        {**tags(weight=INTEGER, note=STRING, required_rank=INTEGER), "label": "Keywords"}
    )
    assert actions(xrm.metadata.define(added)) == [
        ("add_attribute", Safety.SAFE),
        ("add_attribute", Safety.BREAKING),
    ]
    assert xrm.records("contact").links(ada, "tags")[0]["note"] is None
    xrm.records("contact").link(ada, "tags", hot, {"weight": 12, "note": "met", "rank": 1})
    # Converted without loss (breaking), the note removed (destructive), renamed: one change.
    wanted = contact({**tags("labels", weight=STRING, required_rank=INTEGER), "label": "Keywords"})
    renames = {"contact": {"tags": "labels"}}
    with pytest.raises(ConfirmationRequired):
        xrm.metadata.define(wanted, renames=renames)
    assert "note" in database.columns("contact__tags")

    plan = xrm.metadata.define(wanted, renames=renames, confirm=True)

    assert actions(plan) == [
        ("rename_relationship", Safety.SAFE),
        ("remove_attribute", Safety.DESTRUCTIVE),
        ("convert_attribute", Safety.BREAKING),
    ]
    assert [r["note"] for r in exported(plan, "labels.note")] == ["met"]
    (link,) = xrm.records("contact").links(ada, "labels")
    assert (link["weight"], link["rank"], "note" in link) == ("12", 1, False)
    # SQLite rebuilt the table: its keys and index came along.
    assert database.foreign_keys("contact__labels") == {
        ("source_id", "contact", "id"),
        ("target_id", "tag", "id"),
    }
    assert database.index_columns("contact__labels") == {("target_id",)}


def test_an_attribute_conversion_that_loses_values_is_destructive_and_exports_them(
    xrm: XRM,
) -> None:
    xrm.metadata.define([TAG, contact(tags(weight=STRING))])
    ada = xrm.records("contact").create({"name": "Ada"})["id"]
    for label, weight in (("hot", "7"), ("cold", "heavy")):
        tag = xrm.records("tag").create({"label": label})["id"]
        xrm.records("contact").link(ada, "tags", tag, {"weight": weight})

    plan = xrm.metadata.define(contact(tags(weight=INTEGER)), confirm=True)

    ((action, safety),) = actions(plan)
    assert (action, safety, plan.steps[0].details["values_lost"]) == (
        "convert_attribute",
        Safety.DESTRUCTIVE,
        1,
    )
    assert [r["value"] for r in exported(plan, "tags.weight")] == ["heavy"]
    weights = {link["weight"] for link in xrm.records("contact").links(ada, "tags")}
    assert weights == {7, None}


def test_bad_relationship_changes_are_refused_and_change_nothing(
    xrm: XRM, database: DatabaseView
) -> None:
    linked(xrm)
    xrm.metadata.define([{"x-xrm": {"name": "label"}, "properties": {"text": STRING}}])
    before = database.snapshot()
    cases = [
        # The name of a field the same change removes: remove it first.
        (contact(tags("name", weight=INTEGER), title=STRING), {"tags": "name"}),
        # A field and a relationship swapping names.
        (contact(tags("name", weight=INTEGER), tags=STRING), {"tags": "name", "name": "tags"}),
        (contact(tags("labels", "label", weight=INTEGER)), {"tags": "labels"}),
        (contact(tags("labels", weight=INTEGER)), {"tags": "missing"}),
    ]
    expected = [
        [("/renames/tags", "'name' is already a field: remove it first")],
        [
            ("/renames/tags", "'name' is already a field: remove it first"),
            ("/renames/name", "'tags' is already a relationship: remove it first"),
        ],
        [
            (
                "/renames/tags",
                "relationship 'tags' links to 'tag', 'labels' to 'label': a relationship "
                "keeps its target (remove it and add a new one)",
            )
        ],
        [("/renames/tags", "new name 'missing' is not a relationship of the new definition")],
    ]
    for (doc, renames), problems in zip(cases, expected, strict=True):
        with pytest.raises(DefinitionError) as error:
            xrm.metadata.plan(doc, renames={"contact": renames})
        assert [(p.pointer, p.message) for p in error.value.problems] == problems

    with pytest.raises(DefinitionError) as error:
        xrm.metadata.define(contact(tags(target="label", weight=INTEGER)))

    assert [p.pointer for p in error.value.problems] == ["/x-xrm/relationships/0/target"]
    assert database.snapshot() == before


def test_a_rename_that_fails_half_way_through_changes_nothing(
    xrm: XRM, database: DatabaseView
) -> None:
    ada, _ = linked(xrm, name=STRING, code=STRING)
    for name in ("5", "05"):
        xrm.records("contact").create({"name": name, "code": "x"})
    before = database.snapshot()
    # Distinct as text, equal as numbers, under a key of two fields: only applying the
    # conversion meets the duplicate, after the link table was renamed and converted.
    wanted = contact(tags("labels", weight=STRING), name=INTEGER, code=STRING)
    wanted["x-xrm"]["alternate_keys"] = [{"fields": ["name", "code"]}]

    with pytest.raises(XRMError) as error:
        xrm.metadata.define(wanted, renames={"contact": {"tags": "labels"}}, confirm=True)

    assert "existing records do not fit" in error.value.message
    assert database.snapshot() == before
    assert xrm.records("contact").links(ada, "tags")[0]["weight"] == 12


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """The REST API over a database with security installed (SQLite and PostgreSQL)."""
    yield from make_api(db_url, tmp_path)


def test_the_rest_api_lists_a_renamed_relationships_links_under_its_new_name(api: Api) -> None:
    ada, hot = linked(api.xrm)
    renames = {"contact": {"tags": "labels"}}
    api.xrm.metadata.define(contact(tags("labels", weight=INTEGER)), renames=renames)

    found = api.client.get(f"/api/v1/contact/{ada}/links/labels", headers=api.headers())
    gone = api.client.get(f"/api/v1/contact/{ada}/links/tags", headers=api.headers())

    assert found.status_code == 200, found.text
    links = [(link["target_id"], link["weight"]) for link in found.json()["items"]]
    assert links == [(str(hot), 12)]
    assert gone.status_code == 400, gone.text
    # Security reads the core entities' relationships by name: they keep it.
    user = dict(api.xrm.metadata.get("user").schema)
    with pytest.raises(DefinitionError) as error:
        api.xrm.metadata.plan(user, renames={"user": {"roles": "grants"}})
    assert [p.pointer for p in error.value.problems] == ["/renames/roles"]


class Tagging:
    """A plugin shipping contacts and tags at ``version``, the link with ``attributes``."""

    def __init__(self, version: str, **attributes: Any) -> None:
        self.version = version
        self.attributes = attributes

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "tagging", "version": self.version}

    @hookimpl
    def xrm_entity_schemas(self) -> list[dict[str, Any]]:
        return [TAG, contact(tags(**self.attributes))]


def test_a_plugin_upgrade_adds_a_link_attribute(db_url: str, tmp_path: Path) -> None:
    def opened(plugin: Tagging) -> XRM:
        pm = make_plugin_manager(load_entrypoints=False, plugins=[plugin])
        return XRM.from_url(db_url, export_dir=tmp_path, plugins=pm).as_system("tests")

    first = opened(Tagging("1.0.0", weight=INTEGER))
    first.plugins.install("tagging")
    ada = first.records("contact").create({"name": "Ada"})["id"]
    hot = first.records("tag").create({"label": "hot"})["id"]
    first.records("contact").link(ada, "tags", hot, {"weight": 3})
    first.close()
    upgraded = opened(Tagging("1.1.0", weight=INTEGER, note=STRING))
    try:
        plan = upgraded.plugins.upgrade("tagging")

        assert [(s.action, s.safety) for s in plan.steps if s.entity == "contact"] == [
            ("add_attribute", Safety.SAFE)
        ]
        (link,) = upgraded.records("contact").links(ada, "tags")
        assert (link["weight"], link["note"]) == (3, None)
        upgraded.records("contact").link(ada, "tags", hot, {"weight": 3, "note": "kept"})
        assert upgraded.records("contact").links(ada, "tags")[0]["note"] == "kept"
    finally:
        upgraded.close()
