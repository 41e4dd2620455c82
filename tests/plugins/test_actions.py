"""Actions: declared by plugins, run with the caller's rights in one unit of work, anywhere."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict, Field

from xrm_core import (
    XRM,
    AccessDenied,
    Action,
    ActionContext,
    Event,
    InvalidActionInput,
    InvalidActionOutput,
    InvalidDeclaration,
    RecordNotFound,
    Subscriber,
    UnknownAction,
    hookimpl,
)
from xrm_core.cli import main
from xrm_core.events.worker import Worker
from xrm_core.plugins import make_plugin_manager, start

if TYPE_CHECKING:
    from tests.plugins.conftest import Site

ACCOUNT = {"x-xrm": {"name": "account"}, "properties": {"name": {"type": "string"}}}
LEAD = {
    "x-xrm": {"name": "lead"},
    "properties": {
        "name": {"type": "string"},
        "company": {"type": "string"},
        "status": {"enum": ["new", "qualified"], "default": "new"},
        "rating": {"type": "integer"},
        "account": {"x-xrm": {"kind": "lookup", "target": "account"}},
    },
    "required": ["name"],
}


class QualifyInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(default=3, ge=1, le=5)
    create_account: bool = True


class QualifyOutput(BaseModel):
    status: str
    account_id: uuid.UUID | None = None


def qualify(context: ActionContext, record_id: uuid.UUID, data: QualifyInput) -> QualifyOutput:
    lead = context.record()
    account_id = None
    if data.create_account:
        account_id = context.records("account").create({"name": lead["company"]})["id"]
    changes = {"status": "qualified", "rating": data.rating, "account": account_id}
    context.records().update(record_id, changes)
    return QualifyOutput(status="qualified", account_id=account_id)


class ImportInput(BaseModel):
    names: list[str] = Field(min_length=1)


class ImportOutput(BaseModel):
    created: int


def import_names(context: ActionContext, record_id: None, data: ImportInput) -> dict[str, int]:
    context.records().create_many([{"name": n} for n in data.names])
    return {"created": len(data.names)}  # a mapping that validates as the output will do


class Sales:
    """A plugin offering a record action and a collection action on leads."""

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "sales", "version": "1.0.0"}

    @hookimpl
    def xrm_actions(self) -> list[Action]:
        return [
            Action("lead", "qualify", QualifyInput, QualifyOutput, qualify, "update", "Qualify."),
            Action(
                "lead",
                "import_names",
                ImportInput,
                ImportOutput,
                import_names,
                "create",
                "",
                "collection",
            ),
        ]


@pytest.fixture
def crm(xrm: XRM) -> XRM:
    """Leads and accounts, the sales plugin started, and a salesperson working own leads."""
    xrm.security.install()
    xrm.metadata.define([ACCOUNT, LEAD])
    start(xrm, make_plugin_manager(load_entrypoints=False, plugins=[Sales()]))
    own = [(e, p, "own") for e in ("lead", "account") for p in ("create", "read", "update")]
    xrm.security.create_role("Salesperson", own)
    xrm.security.create_role(
        "Lead Reader", [("lead", "read", "organization"), ("lead", "update", "own")]
    )
    return xrm


def user(xrm: XRM, name: str, role: str = "Salesperson") -> XRM:
    return xrm.as_user(xrm.security.create_user(name, roles=[role]))


def lead(xrm: XRM, name: str = "Ada", company: str = "Analytical Engines") -> uuid.UUID:
    return uuid.UUID(str(xrm.records("lead").create({"name": name, "company": company})["id"]))


def test_a_record_action_runs_as_the_caller_in_one_unit_of_work(crm: XRM) -> None:
    ada = user(crm, "ada")
    lead_id = lead(ada)

    output = ada.actions.run("lead.qualify", lead_id, {"rating": 5})

    assert isinstance(output, QualifyOutput) and output.status == "qualified"
    stored = ada.records("lead").get(lead_id)
    assert (stored["status"], stored["rating"], stored["account"]) == (
        "qualified",
        5,
        output.account_id,
    )
    account = ada.records("account").get(str(output.account_id))
    assert (account["name"], account["owner_id"]) == ("Analytical Engines", ada.caller.user_id)  # type: ignore[union-attr]
    # The handler's changes are the caller's, and one unit of work in the audit log.
    [update] = [e for e in crm.audit.for_record("lead", lead_id) if e.operation == "update"]
    assert update.actor_id == ada.caller.user_id  # type: ignore[union-attr]
    unit = crm.audit.by_correlation(update.correlation_id)
    assert [(e.entity, e.operation) for e in unit] == [("account", "create"), ("lead", "update")]


def test_the_action_raises_its_event_with_input_and_output(crm: XRM) -> None:
    now: list[Event] = []
    later: list[Event] = []
    crm.events.subscribe(Subscriber("audit_trail", "after", "lead.qualify", now.append))
    crm.events.subscribe(Subscriber("to_erp", "committed", "lead.*", later.append))
    ada = user(crm, "ada")
    lead_id = lead(ada)
    later_before = Worker(crm.db, crm.events, name="w").run_once()  # the lead.created

    output = ada.actions.run("lead.qualify", str(lead_id), {"create_account": False})

    [event] = now
    assert (event.name, event.entity, event.record_id, event.actor_id) == (
        "lead.qualify",
        "lead",
        lead_id,
        ada.caller.user_id,  # type: ignore[union-attr]
    )
    assert event.data == {
        "input": {"rating": 3, "create_account": False},
        "output": {"status": "qualified", "account_id": None},
    }
    [update] = [e for e in crm.audit.for_record("lead", lead_id) if e.operation == "update"]
    assert event.correlation_id == update.correlation_id
    assert later_before == 1 and output == QualifyOutput(status="qualified")
    assert Worker(crm.db, crm.events, name="w").run_once() == 2  # lead.updated, lead.qualify
    assert [e.name for e in later[1:]] == ["lead.updated", "lead.qualify"]


def test_bad_input_is_refused_with_pointers_and_changes_nothing(crm: XRM) -> None:
    lead_id = lead(crm)
    seen: list[Event] = []
    crm.events.subscribe(Subscriber("seen", "after", "lead.*", seen.append))

    with pytest.raises(InvalidActionInput) as refused:
        crm.actions.run("lead.qualify", lead_id, {"rating": 9, "colour": "red"})

    assert {(p.pointer, p.message) for p in refused.value.problems} == {
        ("/rating", "Input should be less than or equal to 5"),
        ("/colour", "Extra inputs are not permitted"),
    }
    assert refused.value.code == "invalid_action_input"
    assert crm.records("lead").get(lead_id)["status"] == "new"
    assert seen == [] and crm.records("account").count() == 0


def test_a_record_action_needs_its_record_and_a_collection_action_none(crm: XRM) -> None:
    with pytest.raises(InvalidActionInput, match="runs on one lead record: give its id"):
        crm.actions.run("lead.qualify")
    with pytest.raises(InvalidActionInput, match="not on one record"):
        crm.actions.run("lead.import_names", lead(crm), {"names": ["x"]})
    with pytest.raises(RecordNotFound, match="no lead with id"):
        crm.actions.run("lead.qualify", uuid.uuid4())  # the system context too
    with pytest.raises(RecordNotFound, match="is not a record id"):
        crm.actions.run("lead.qualify", "lead-1")


def test_a_record_the_caller_cannot_read_is_not_found_and_one_they_may_not_change_is_denied(
    crm: XRM,
) -> None:
    ada = user(crm, "ada")
    lead_id = lead(ada)
    bob = user(crm, "bob")  # reads and updates his own leads only
    carol = user(crm, "carol", "Lead Reader")  # reads every lead, updates her own

    with pytest.raises(RecordNotFound, match=f"no lead with id {lead_id}"):
        bob.actions.run("lead.qualify", lead_id)
    with pytest.raises(AccessDenied, match="update privilege on lead"):
        carol.actions.run("lead.qualify", lead_id)

    assert crm.records("lead").get(lead_id)["status"] == "new"
    assert crm.records("account").count() == 0


def test_a_collection_action_needs_the_privilege_on_the_entity(crm: XRM) -> None:
    ada = user(crm, "ada")
    reader = user(crm, "reader", "Lead Reader")

    assert ada.actions.run("lead.import_names", data={"names": ["A", "B"]}) == ImportOutput(
        created=2
    )
    with pytest.raises(AccessDenied, match="create privilege on 'lead'"):
        reader.actions.run("lead.import_names", data={"names": ["C"]})
    assert sorted(r["name"] for r in crm.records("lead").query()) == ["A", "B"]


def test_a_handler_that_fails_after_writing_leaves_nothing_behind(crm: XRM) -> None:
    def qualify_then_fail(context: ActionContext, record_id: uuid.UUID, data: BaseModel) -> Any:
        context.records("account").create({"name": "half"})
        context.records().update(record_id, {"status": "qualified"})
        raise RuntimeError("the credit check is down")

    crm.actions.register(Action("lead", "risky", QualifyInput, QualifyOutput, qualify_then_fail))
    seen: list[Event] = []
    crm.events.subscribe(Subscriber("seen", "committed", "*", seen.append))
    lead_id = lead(crm)
    Worker(crm.db, crm.events, name="w").run_once()

    with crm.transaction():
        # In a caller's own unit of work, the action is undone alone (a savepoint).
        other = lead(crm, "Grace")
        with pytest.raises(RuntimeError, match="credit check") as failed:
            crm.actions.run("lead.risky", lead_id)

    assert "raised by action lead.risky of 'custom'" in failed.value.__notes__
    assert crm.records("lead").get(lead_id)["status"] == "new"
    assert crm.records("account").count() == 0
    assert crm.records("lead").get(other)["name"] == "Grace"
    assert [e.operation for e in crm.audit.for_record("lead", lead_id)] == ["create"]
    assert Worker(crm.db, crm.events, name="w").run_once() == 1  # Grace's lead.created only


def test_an_output_the_model_refuses_is_the_plugins_bug_and_rolls_back(crm: XRM) -> None:
    def sloppy(context: ActionContext, record_id: uuid.UUID, data: BaseModel) -> Any:
        context.records().update(record_id, {"status": "qualified"})
        return {"state": "qualified"}

    crm.actions.register(Action("lead", "sloppy", QualifyInput, QualifyOutput, sloppy), owner="x")
    lead_id = lead(crm)

    with pytest.raises(InvalidActionOutput) as refused:
        crm.actions.run("lead.sloppy", lead_id)

    assert refused.value.message == (
        "action lead.sloppy of 'x' returned dict, which QualifyOutput refuses"
    )
    assert [(p.pointer, p.message) for p in refused.value.problems] == [
        ("/status", "Field required")
    ]
    assert crm.records("lead").get(lead_id)["status"] == "new"


def test_actions_are_listed_with_their_owner_and_json_schemas(crm: XRM) -> None:
    listed = [a.to_dict() for a in crm.as_user(crm.security.create_user("dan")).actions.list()]

    assert [(a["name"], a["on"], a["privilege"], a["owner"]) for a in listed] == [
        ("lead.import_names", "collection", "create", "sales"),
        ("lead.qualify", "record", "update", "sales"),
    ]
    qualify_schema = listed[1]
    assert qualify_schema["input_schema"]["properties"]["rating"]["maximum"] == 5
    assert qualify_schema["output_schema"]["required"] == ["status"]
    assert crm.actions.list(entity="account") == []
    with pytest.raises(UnknownAction, match=r"no action called 'lead\.qualfy' \(did you mean"):
        crm.actions.get("lead.qualfy")


def test_two_plugins_declaring_one_action_are_refused_before_anything_starts(xrm: XRM) -> None:
    class Rival:
        @hookimpl
        def xrm_manifest(self) -> dict[str, Any]:
            return {"name": "rival", "version": "1.0.0"}

        @hookimpl
        def xrm_actions(self) -> list[Action]:
            return [Action("lead", "qualify", QualifyInput, QualifyOutput, qualify)]

        @hookimpl
        def xrm_subscribers(self) -> list[Subscriber]:
            return [Subscriber("rival_sync", "after", "*", print)]

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Sales(), Rival()])

    with pytest.raises(InvalidDeclaration) as refused:
        start(xrm, pm)

    assert refused.value.message == "action 'lead.qualify' is declared by 'rival' and 'sales'"
    assert refused.value.details["plugins"] == ["rival", "sales"]
    assert xrm.actions.list() == [] and xrm.events.of_stage("after") == []
    xrm.actions.register(Action("lead", "qualify", QualifyInput, QualifyOutput, qualify))
    with pytest.raises(InvalidDeclaration, match="declared by 'custom' twice"):
        xrm.actions.register(Action("lead", "qualify", QualifyInput, QualifyOutput, qualify))
    xrm.action_registry.unregister("lead.qualify")
    assert xrm.actions.list() == []


def test_an_action_may_not_take_the_name_of_a_record_change() -> None:
    with pytest.raises(InvalidDeclaration) as refused:
        Action("lead", "updated", QualifyInput, QualifyOutput, qualify, on="everything")  # type: ignore[arg-type]
    assert {p.pointer: p.message for p in refused.value.problems} == {
        "/name": "'updated' names a record change event; choose another",
        "/on": "unknown target 'everything'; one of record, collection",
    }


PLUGIN_MODULE = """
from pydantic import BaseModel
from xrm_core import Action, hookimpl


class Note(BaseModel):
    text: str


class Noted(BaseModel):
    company: str


def note(context, record_id, data):
    lead = context.record()
    context.records().update(record_id, {"company": f"{lead['company']} ({data.text})"})
    return Noted(company=context.record()["company"])


@hookimpl
def xrm_manifest():
    return {"name": "notes", "version": "1.0.0"}


@hookimpl
def xrm_actions():
    return [Action("lead", "note", Note, Noted, note, description="Note on the company.")]
"""


def test_the_cli_lists_and_runs_installed_plugins_actions(
    crm: XRM, db_url: str, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.install("xrm-notes", modules={"xrm_notes": PLUGIN_MODULE}, plugins={"notes": "xrm_notes"})
    monkeypatch.setenv("XRM_LOAD_PLUGINS", "notes")
    lead_id = lead(user(crm, "ada"))
    run = CliRunner().invoke
    # A plugin's actions run where the plugin is installed, not merely importable.
    assert run(main, ["action", "list", "--db", db_url]).output == "No actions.\n"
    assert run(main, ["plugins", "install", "notes", "--db", db_url]).exit_code == 0

    listed = run(main, ["action", "list", "--db", db_url, "--entity", "lead"])
    assert listed.exit_code == 0, listed.output
    assert listed.output == "lead.note\trecord\tupdate\tnotes\tNote on the company.\n"

    ran = run(
        main,
        [
            "action",
            "run",
            "lead.note",
            str(lead_id),
            "--data",
            '{"text": "big"}',
            "--db",
            db_url,
            "--as-user",
            "ada",
        ],
    )
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output) == {"company": "Analytical Engines (big)"}

    denied = run(
        main,
        [
            "action",
            "run",
            "lead.note",
            str(lead_id),
            "--data",
            "{}",
            "--db",
            db_url,
            "--as-user",
            "nobody",
        ],
    )
    assert (denied.exit_code, denied.output) == (1, "Error: no user called 'nobody'\n")
    not_json = run(
        main, ["action", "run", "lead.note", str(lead_id), "--data", "{text", "--db", db_url]
    )
    assert not_json.exit_code == 1
    assert not_json.output.startswith("Error: --data is not JSON (")
    assert len(not_json.output.splitlines()) == 1
    invalid = run(main, ["action", "run", "lead.note", str(lead_id), "--db", db_url])
    assert invalid.exit_code == 1
    assert invalid.output.splitlines() == [
        "error [invalid_action_input]: the input of lead.note is not valid",
        "  /text: Field required",
    ]
    assert crm.records("lead").get(lead_id)["company"] == "Analytical Engines (big)"
