"""The executor's direct path answers exactly what graphql-core's own completion answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any, ClassVar

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from tests.graphql.conftest import Api
from xrm_core.api.responses import dumps
from xrm_core.graphql import build_schema
from xrm_core.graphql.endpoint import Context, error_entry
from xrm_core.graphql.executor import Executor
from xrm_core.graphql.loaders import Loaders

GADGET: dict[str, Any] = {
    "x-xrm": {"name": "gadget"},
    "properties": {
        "title": {"type": "string"},
        "notes": {"type": "string", "x-xrm": {"kind": "text"}},
        "count": {"type": "integer", "minimum": 0, "maximum": 1000},
        "serial": {"type": "integer"},
        "price": {"x-xrm": {"kind": "decimal"}},
        "active": {"type": "boolean"},
        "seen_at": {"type": "string", "format": "date-time"},
        "made_on": {"type": "string", "format": "date"},
        "size": {"enum": ["small", "large"]},
        "state": {"enum": ["in progress", "done"]},
        "colors": {"type": "array", "items": {"enum": ["red", "blue"]}, "uniqueItems": True},
        "extra": {"type": "object"},
        "contact": {"x-xrm": {"kind": "lookup", "target": "contact"}},
        "about": {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["account", "contact"]}},
    },
}

_FIELDS = (
    "id created_at created_by updated_at updated_by owner_id owner_type business_unit_id "
    "version title notes count serial price active seen_at made_on size state colors extra "
    "about { entity id } "
    "contact { __typename id name salary born account { name credit_limit parent { name } } }"
)
_QUERY = f"""
    query($missing: ID!) {{
      gadgetList(order: [{{title: ASC}}]) {{
        totalCount
        omitted
        nodes {{ {_FIELDS} }}
        edges {{ cursor node {{ title again: title contact {{ name }} }} }}
      }}
      gadget(id: $missing) {{ title }}
      contactList {{ nodes {{ name account {{ name }} gadgetListByContact {{ title }} }} }}
    }}
"""


def _data(api: Api) -> tuple[Any, Any]:
    """Gadgets of every kind of value, some empty, some pointing at what a clerk cannot read."""
    api.xrm.metadata.define(GADGET)
    (clerk,) = api.xrm.records("user").query(filter={"username": "clerk"}).records
    accounts, contacts = api.xrm.records("account"), api.xrm.records("contact")
    top = accounts.create({"name": "Top", "credit_limit": "5000.00"})
    shop = accounts.create({"name": "Shop", "parent": top["id"], "owner_id": clerk["id"]})
    ada = contacts.create(
        {"name": "Ada", "salary": "1200.50", "born": dt.date(1990, 5, 17), "account": top["id"]}
    )
    own = contacts.create({"name": "Own", "account": shop["id"], "owner_id": clerk["id"]})
    gadgets = api.xrm.records("gadget")
    gadgets.create(
        {
            "title": "Full",
            "notes": "long text",
            "count": 7,
            "serial": 2**40,
            "price": "19.99",
            "active": True,
            "seen_at": dt.datetime(2026, 11, 30, 8, 15, 30, 123456, tzinfo=dt.UTC),
            "made_on": dt.date(2026, 1, 2),
            "size": "large",
            "state": "in progress",
            "colors": ["red", "blue"],
            "extra": {"a": [1, 2], "b": None},
            "contact": ada["id"],
            "about": {"entity": "account", "id": top["id"]},
            "owner_id": clerk["id"],
        }
    )
    gadgets.create({"title": "Empty", "owner_id": clerk["id"]})
    gadgets.create({"title": "Own contact", "contact": own["id"], "owner_id": clerk["id"]})
    gadgets.create({"title": "Not the clerk's", "active": False, "contact": ada["id"]})
    return clerk, ada


def _stock(api: Api, user_id: Any, variables: dict[str, Any]) -> dict[str, Any]:
    """The query through Strawberry's own executor, encoded as the endpoint encodes."""
    schema = build_schema(api.xrm)
    schema.execution_context_class = StrawberryGraphQLCoreExecutionContext
    user = api.app.state.xrm.as_user(user_id)
    result = asyncio.run(
        schema.execute(
            _QUERY, variable_values=variables, context_value=Context(user, Loaders(user))
        )
    )
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error_entry(e) for e in result.errors]
    return dict(json.loads(dumps(body)))


def test_every_kind_of_value_is_answered_as_graphql_core_answers_it(api: Api) -> None:
    clerk, _ = _data(api)
    (admin,) = api.xrm.records("user").query(filter={"username": "admin"}).records
    variables = {"missing": "0190a3c1-0000-7000-8000-000000000000"}
    for token, user in ((api.admin_token, admin), (api.clerk_token, clerk)):
        ours = api.post(_QUERY, variables, token=token)
        assert ours == _stock(api, user["id"], variables)
        assert [e["extensions"]["code"] for e in ours["errors"]] == ["record_not_found"]

    # A user who may read gadgets and contacts but no account: the accounts are null.
    security = api.xrm.security
    cells = [(e, "read", "organization") for e in ("gadget", "contact")]
    security.create_role("Gadget reader", cells)
    reader = security.create_user("reader", roles=["Gadget reader"])
    token = api.xrm.auth.create_token(reader, name="tests").token
    ours = api.post(_QUERY, variables, token=token)
    assert ours == _stock(api, reader, variables)
    nodes = ours["data"]["gadgetList"]["nodes"]
    assert len(nodes) == 4 and nodes[1]["contact"]["name"] == "Ada"
    assert nodes[1]["contact"]["account"] is None

    as_clerk = api.post(_QUERY, variables, token=api.clerk_token)["data"]["gadgetList"]
    full = as_clerk["nodes"][1]
    assert full["title"] == "Full" and full["serial"] == 2**40 and full["price"] == "19.990000"
    assert full["seen_at"] == "2026-11-30T08:15:30.123456+00:00"
    assert full["size"] == "large" and full["colors"] == ["red", "blue"]
    assert full["contact"] is None  # Ada is not the clerk's to read
    own = as_clerk["nodes"][2]["contact"]
    assert own["name"] == "Own" and own["account"]["name"] == "Shop"
    assert own["account"]["parent"] is None  # Top is not the clerk's either
    as_admin = api.post(_QUERY, variables)["data"]["gadgetList"]["nodes"]
    assert as_admin[1]["contact"]["born"] == "1990-05-17"
    assert as_admin[1]["contact"]["account"]["credit_limit"] == "5000.00"
    assert as_admin[3]["contact"]["account"]["parent"] == {"name": "Top"}


class _Watching(Executor):
    """Our executor, noting the records it completes at once and the fields it leaves to
    graphql-core's usual way."""

    usual: ClassVar[list[str]] = []
    compiled: ClassVar[int] = 0

    def _completer(self, record_type: Any, details: Any) -> Any:
        completer = super()._completer(record_type, details)
        if completer is None:
            return None

        def counted(record: dict[str, Any]) -> Any:
            done = completer(record)
            _Watching.compiled += done is not None
            return done

        return counted

    def _complete(
        self, parent_type: Any, source_value: Any, path: Any, fields: Any, *rest: Any
    ) -> Any:
        _Watching.usual += [
            f"{parent_type.name}.{f.response_name}" for f in fields if f.key is None
        ]
        return super()._complete(parent_type, source_value, path, fields, *rest)


def test_plain_fields_and_lookups_take_the_direct_way(api: Api) -> None:
    # The direct way leans on Strawberry's and graphql-core's internals (decision 0037): an
    # upgrade that changes them would quietly make every field slow again. This says so.
    _data(api)
    (admin,) = api.xrm.records("user").query(filter={"username": "admin"}).records
    schema = build_schema(api.xrm)
    schema.execution_context_class = _Watching
    user = api.app.state.xrm.as_user(admin["id"])
    query = "{ gadgetList { nodes { title count price seen_at size contact { name } } } }"
    _Watching.usual.clear()
    _Watching.compiled = 0
    result = asyncio.run(schema.execute(query, context_value=Context(user, Loaders(user))))
    assert result.errors is None and len(result.data["gadgetList"]["nodes"]) == 4
    # Each gadget and each contact it points at, at once (graphql-core still asks, record
    # by record, the override that does it).
    assert _Watching.compiled == 4 + 3
    assert [f for f in _Watching.usual if f.split(".")[0] in ("Gadget", "Contact")] == []
