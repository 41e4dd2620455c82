"""A record's timeline (``xrm.timeline``, REST): audit entries and what plugins add, merged.

A plugin of the tests ("notes") adds entries through ``xrm_timeline_entries``;
the contacts plugin's activities are tested with that plugin.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm_core import (
    XRM,
    InvalidDeclaration,
    RecordNotFound,
    TimelineEntry,
    hookimpl,
)
from xrm_core.api.app import create_app
from xrm_core.errors import InvalidRequest
from xrm_core.plugins import make_plugin_manager, start
from xrm_core.settings import Settings

PROJECT = {"x-xrm": {"name": "project"}, "properties": {"name": {"type": "string"}}}
#: A moment before and after anything the tests create.
LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FAR_AHEAD = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


class Notes:
    """A plugin adding two entries to every project's timeline: one old, one ahead.

    It reads the project as the caller, so what it adds depends on their rights.
    """

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, uuid.UUID, int]] = []

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "notes", "version": "1.0.0"}

    @hookimpl
    def xrm_timeline_entries(self, xrm: XRM, entity: str, record_id: uuid.UUID, limit: int) -> Any:
        self.asked.append((entity, record_id, limit))
        if self.answer is not None:
            return self.answer
        if entity != "project":
            return []
        name = xrm.records(entity).get(record_id)["name"]
        return [
            TimelineEntry(FAR_AHEAD, "note", "reminder", f"Review {name}", text="yearly"),
            TimelineEntry(
                LONG_AGO, "note", "memo", "Founded", entity="project", record_id=record_id
            ),
        ]


@pytest.fixture
def notes() -> Notes:
    return Notes()


@pytest.fixture
def system(db_url: str, tmp_path: Path, notes: Notes) -> Iterator[XRM]:
    """A database with projects, the notes plugin started on it."""
    pm = make_plugin_manager(load_entrypoints=False, plugins=[notes])
    instance = XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=pm)
    system = instance.as_system("tests")
    system.security.install()
    system.metadata.define(PROJECT)
    start(system, pm)
    try:
        yield system
    finally:
        instance.close()


def test_plugins_entries_and_the_audit_merge_newest_first(system: XRM, notes: Notes) -> None:
    projects = system.records("project")
    apollo = projects.create({"name": "Apollo"})
    projects.update(apollo["id"], {"name": "Apollo 11"})

    entries = system.timeline("project", str(apollo["id"]))

    assert [(e.source, e.title) for e in entries] == [
        ("note", "Review Apollo 11"),
        ("audit", "changed name"),
        ("audit", "created"),
        ("note", "Founded"),
    ]
    assert entries[1].changes == {"name": {"old": "Apollo", "new": "Apollo 11"}}
    assert (entries[3].entity, entries[3].record_id) == ("project", apollo["id"])
    assert notes.asked == [("project", apollo["id"], 50)]
    assert [e.title for e in system.timeline("project", apollo["id"], limit=2)] == [
        "Review Apollo 11",
        "changed name",
    ]


def test_a_record_the_caller_may_not_read_has_no_timeline(system: XRM, notes: Notes) -> None:
    secret = system.records("project").create({"name": "Secret"})
    user = system.security.create_user("nobody", roles=["Basic User"])

    with pytest.raises(RecordNotFound):
        system.as_user(user).timeline("project", secret["id"])
    assert notes.asked == []  # no plugin was asked about it
    with pytest.raises(InvalidRequest) as raised:
        system.timeline("project", secret["id"], limit=0)
    assert raised.value.problems[0].pointer == "/limit"


@pytest.mark.parametrize("answer", [["not an entry"], "text"])
def test_a_plugin_answering_something_else_is_named(
    db_url: str, tmp_path: Path, answer: Any
) -> None:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[Notes(answer)])
    system = XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=pm).as_system("t")
    system.security.install()
    system.metadata.define(PROJECT)
    start(system, pm)
    project = system.records("project").create({"name": "Apollo"})

    with pytest.raises(InvalidDeclaration, match="plugin 'notes', xrm_timeline_entries"):
        system.timeline("project", project["id"])
    system.close()


def test_the_rest_endpoint_serves_the_timeline_as_documented(
    db_url: str, tmp_path: Path, notes: Notes
) -> None:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[notes])
    xrm = XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=pm)
    system = xrm.as_system("tests")
    system.security.install()
    system.metadata.define(PROJECT)
    system.plugins.install("notes")  # the server starts the plugins the database has installed
    admin = system.security.create_user("admin", roles=["System Administrator"])
    token = system.auth.create_token(admin, name="tests").token
    project = system.records("project").create({"name": "Apollo"})
    app = create_app(xrm, settings=Settings(database_url=db_url), plugins=pm)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        url = f"/api/v1/project/{project['id']}/timeline"
        answer = client.get(url + "?limit=2", headers=headers)
        missing = client.get(f"/api/v1/project/{uuid.uuid4()}/timeline", headers=headers)
        bad_limit = client.get(url + "?limit=0", headers=headers)
        document = client.get("/api/openapi.json", headers=headers).json()

    assert answer.status_code == 200, answer.text
    first, second = answer.json()["items"]
    assert first["title"] == "Review Apollo" and first["at"].startswith("2100-01-01")
    assert second == {
        "at": second["at"],
        "source": "audit",
        "kind": "create",
        "title": "created",
        "text": "",
        "entity": None,
        "record_id": None,
        "actor_id": None,
        "changes": {"name": {"old": None, "new": "Apollo"}},
    }
    assert missing.status_code == 404 and bad_limit.status_code == 400
    documented = document["paths"]["/api/v1/project/{id}/timeline"]["get"]
    assert documented["operationId"] == "timeline_project"
    assert {"200", "404"} <= set(documented["responses"])
    xrm.close()
