"""Writing through GraphQL: create, update, delete and actions, with the service's errors."""

from __future__ import annotations

from typing import Any

import pydantic

from tests.graphql.conftest import Api
from xrm_core.actions import ActionContext
from xrm_core.plugins.declarations import Action

_CREATE = """
    mutation($data: Contact_Create!) {
      createContact(data: $data) { id name salary born version account { name } }
    }
"""


def test_create_update_and_delete_a_record(api: Api) -> None:
    acme = api.xrm.records("account").create({"name": "Acme"})
    data = {"name": "Ada", "salary": "1200.5", "born": "1815-12-10", "account": str(acme["id"])}
    made = api.execute(_CREATE, {"data": data})["createContact"]
    assert made["salary"] == "1200.50" and made["born"] == "1815-12-10"
    assert made["version"] == 1 and made["account"] == {"name": "Acme"}
    stored = api.xrm.records("contact").get(made["id"])
    assert stored["name"] == "Ada" and stored["account"] == acme["id"]

    update = """
        mutation($id: ID!, $v: Int) {
          updateContact(id: $id, data: {name: "Ada L.", born: null}, ifVersion: $v) {
            name born version
          }
        }
    """
    changed = api.execute(update, {"id": made["id"], "v": 1})["updateContact"]
    assert changed == {"name": "Ada L.", "born": None, "version": 2}
    stale = api.post(update, {"id": made["id"], "v": 1})
    assert stale["data"] is None
    assert stale["errors"][0]["extensions"]["code"] == "version_conflict"
    assert stale["errors"][0]["extensions"]["details"]["current_version"] == 2

    delete = """
        mutation($id: ID!, $dry: Boolean!) {
          deleteAccount(id: $id, dryRun: $dry) { id dryRun deleted }
        }
    """
    dry = api.execute(delete, {"id": str(acme["id"]), "dry": True})["deleteAccount"]
    assert dry == {"id": str(acme["id"]), "dryRun": True, "deleted": {"contact": 1, "account": 1}}
    assert api.xrm.records("contact").count() == 1
    api.execute(delete, {"id": str(acme["id"]), "dry": False})
    assert api.xrm.records("contact").count() == 0


def test_invalid_data_is_refused_with_every_problem_and_nothing_written(api: Api) -> None:
    answer = api.post(_CREATE, {"data": {"email": "not an address", "name": "x" * 51}})
    assert answer["data"] is None
    (error,) = answer["errors"]
    assert error["path"] == ["createContact"]
    assert error["extensions"]["code"] == "invalid_record"
    pointers = {p["pointer"] for p in error["extensions"]["problems"]}
    assert pointers == {"/email", "/name"}
    assert "Traceback" not in str(answer)
    assert api.xrm.records("contact").count() == 0


def test_a_value_graphql_itself_refuses_is_an_invalid_graphql_error(api: Api) -> None:
    answer = api.post(_CREATE, {"data": {"name": "Ada", "salary": "lots"}})
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] == "invalid_graphql"
    assert api.xrm.records("contact").count() == 0


def test_a_user_sees_and_changes_only_what_their_roles_allow(api: Api) -> None:
    theirs = api.xrm.records("account").create({"name": "Not the clerk's"})
    mine = api.execute(
        'mutation { createAccount(data: {name: "Clerk Ltd"}) { id name } }',
        token=api.clerk_token,
    )["createAccount"]
    listed = api.execute("{ accountList { nodes { name } } }", token=api.clerk_token)
    assert listed["accountList"]["nodes"] == [{"name": "Clerk Ltd"}]
    hidden = api.post(f'{{ account(id: "{theirs["id"]}") {{ name }} }}', token=api.clerk_token)
    assert hidden["errors"][0]["extensions"]["code"] == "record_not_found"
    refused = api.post(
        f'mutation {{ deleteAccount(id: "{theirs["id"]}") {{ id }} }}', token=api.clerk_token
    )
    assert refused["errors"][0]["extensions"]["code"] == "record_not_found"
    assert api.xrm.records("account").count() == 2 and mine["name"] == "Clerk Ltd"


def test_a_secured_field_is_null_for_those_who_may_not_read_it(api: Api) -> None:
    api.execute(
        'mutation { createAccount(data: {name: "Clerk Ltd"}) { id } }', token=api.clerk_token
    )
    api.xrm.records("account").update(
        api.xrm.records("account").query().records[0]["id"], {"credit_limit": 5000}
    )
    query = "{ accountList { omitted nodes { name credit_limit } } }"
    clerk = api.execute(query, token=api.clerk_token)["accountList"]
    assert clerk == {
        "omitted": ["credit_limit"],
        "nodes": [{"name": "Clerk Ltd", "credit_limit": None}],
    }
    admin = api.execute(query)["accountList"]
    assert admin["nodes"][0]["credit_limit"] == "5000.00" and admin["omitted"] == []
    filtered = api.post(
        "{ accountList(filter: {credit_limit: {gt: 1}}) { nodes { name } } }",
        token=api.clerk_token,
    )
    assert filtered["errors"][0]["extensions"]["code"] == "access_denied"
    assert filtered["errors"][0]["extensions"]["problems"][0]["pointer"] == "/filter/credit_limit"


class _Raise(pydantic.BaseModel):
    percent: int = pydantic.Field(ge=0, le=100)


class _Raised(pydantic.BaseModel):
    salary: str


def _give_a_raise(context: ActionContext, record_id: Any, data: Any) -> _Raised:
    contacts = context.records()
    contact = contacts.get(record_id)
    salary = contact["salary"] * (100 + data.percent) / 100
    return _Raised(salary=str(contacts.update(record_id, {"salary": salary})["salary"]))


class _Nothing(pydantic.BaseModel):
    pass


def _fail(context: ActionContext, record_id: Any, data: Any) -> _Nothing:
    raise RuntimeError("a bug in a plugin, with a secret in its message")


def test_actions_are_mutations_that_check_input_and_permissions(api: Api) -> None:
    ada = api.xrm.records("contact").create({"name": "Ada", "salary": 1000})
    api.xrm.actions.register(Action("contact", "give_raise", _Raise, _Raised, _give_a_raise))
    api.xrm.actions.register(
        Action("contact", "break_down", _Nothing, _Nothing, _fail, on="collection")
    )
    run = "mutation($id: ID!, $in: JSON) { contactGiveRaise(id: $id, input: $in) }"
    done = api.execute(run, {"id": str(ada["id"]), "in": {"percent": 10}})
    assert done == {"contactGiveRaise": {"salary": "1100.00"}}
    bad = api.post(run, {"id": str(ada["id"]), "in": {"percent": 500}})
    assert bad["errors"][0]["extensions"]["code"] == "invalid_action_input"
    assert bad["errors"][0]["extensions"]["problems"][0]["pointer"] == "/percent"
    clerk = api.post(run, {"id": str(ada["id"]), "in": {"percent": 10}}, token=api.clerk_token)
    assert clerk["errors"][0]["extensions"]["code"] == "record_not_found"
    assert api.xrm.records("contact").get(ada["id"])["salary"] == 1100

    broken = api.post("mutation { contactBreakDown }")
    (error,) = broken["errors"]
    assert error["extensions"]["code"] == "internal_error"
    assert error["extensions"]["correlation_id"] in error["message"]
    assert "secret" not in str(broken) and "Traceback" not in str(broken)
