"""Each hook, as a plugin implements it: what the core gets back, per plugin, checked."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import xrm_core
from xrm_core import XRM
from xrm_core.errors import InvalidDeclaration, Problem
from xrm_core.hookspecs import hookimpl
from xrm_core.plugins import (
    Action,
    AdminPanel,
    EntityExtension,
    Migration,
    RolePrivilege,
    RoleSpec,
    Subscriber,
    call_each,
    contributions,
    make_plugin_manager,
    plugin_manifests,
    resolve,
)
from xrm_core.security.predicates import Rule
from xrm_core.security.principal import Principal

ACCOUNT = {
    "x-xrm": {"name": "account"},
    "properties": {"name": {"type": "string", "maxLength": 100}},
    "required": ["name"],
}
LEAD = {
    "x-xrm": {"name": "lead"},
    "properties": {"topic": {"type": "string", "maxLength": 200}},
}


class QualifyInput(BaseModel):
    create_account: bool = True


class QualifyOutput(BaseModel):
    account_id: str | None


def qualify(context: Any, record_id: Any, data: QualifyInput) -> QualifyOutput:
    return QualifyOutput(account_id=None)


def on_account_created(event: Any) -> None:
    """Would greet the new account."""


async def forecast(request: Request) -> Response:
    return PlainTextResponse("forecast")


def partner_deals(principal: Principal, table: sa.FromClause) -> sa.ColumnElement[bool] | None:
    return None


class Contacts:
    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "contacts", "version": "1.0.0"}

    @hookimpl
    def xrm_entity_schemas(self) -> list[dict[str, Any]]:
        return [ACCOUNT]

    @hookimpl
    def xrm_roles(self) -> list[RoleSpec]:
        return [RoleSpec("Account Manager", "Manages accounts.", [("account", "read", "subtree")])]

    @hookimpl
    def xrm_subscribers(self) -> list[Subscriber]:
        return [Subscriber("greet", "committed", "account.created", on_account_created)]

    @hookimpl
    def xrm_demo_data(self, xrm: XRM, size: int) -> None:
        xrm.metadata.define(ACCOUNT)
        xrm.records("account").create_many([{"name": f"Account {i}"} for i in range(size)])

    @hookimpl
    def xrm_startup(self, xrm: XRM) -> None:
        self.started = xrm.metadata.get("account").name


class Sales:
    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "sales", "version": "1.0.0", "dependencies": {"contacts": ">=1"}}

    @hookimpl
    def xrm_entity_schemas(self) -> list[dict[str, Any]]:
        return [LEAD]

    @hookimpl
    def xrm_entity_extensions(self) -> list[EntityExtension]:
        return [
            EntityExtension.from_dict(
                {
                    "entity": "account",
                    "properties": {"credit_limit": {"x-xrm": {"kind": "money"}}},
                    "relationships": [{"name": "leads", "target": "lead"}],
                }
            )
        ]

    @hookimpl
    def xrm_permission_rules(self) -> list[Rule]:
        return [Rule("partner_deals", "lead", partner_deals)]

    @hookimpl
    def xrm_actions(self) -> list[Action]:
        return [Action("lead", "qualify", QualifyInput, QualifyOutput, qualify)]

    @hookimpl
    def xrm_routes(self) -> list[Route]:
        return [Route("/forecast", forecast)]

    @hookimpl
    def xrm_admin_panels(self) -> list[AdminPanel]:
        return [AdminPanel("pipeline", "Sales pipeline", forecast, order=10)]

    @hookimpl
    def xrm_migrations(self) -> list[Migration]:
        return [
            Migration("0001_keep_topics", "before", lambda xrm: None),
            Migration("0002_fill_scores", "after", lambda xrm: None, "Scores for old leads"),
        ]

    @hookimpl
    def xrm_demo_data(self, xrm: XRM) -> None:
        # Runs after contacts' demo data: the accounts are there.
        self.accounts_seen = xrm.records("account").count()


@pytest.fixture
def pm() -> Any:
    return make_plugin_manager(load_entrypoints=False, plugins=[Sales(), Contacts()])


def order(pm: Any) -> list[str]:
    return [m.name for m in resolve(plugin_manifests(pm).values(), "0.1.0")]


def test_xrm_manifest_answers_for_each_plugin(pm: Any) -> None:
    assert {name: m.version.public for name, m in plugin_manifests(pm).items()} == {
        "contacts": "1.0.0",
        "core": xrm_core.__version__,  # the built-in plugin
        "sales": "1.0.0",
    }
    assert call_each(pm, "xrm_manifest", order=["sales"]) == {
        "sales": {"name": "sales", "version": "1.0.0", "dependencies": {"contacts": ">=1"}}
    }


def test_xrm_entity_schemas_are_kept_apart_by_plugin(pm: Any) -> None:
    found = contributions(pm, "xrm_entity_schemas", order(pm))
    assert found.pop("core")[0]["x-xrm"]["name"] == "business_unit"
    assert found == {"contacts": [ACCOUNT], "sales": [LEAD]}


def test_xrm_entity_extensions(pm: Any) -> None:
    [extension] = contributions(pm, "xrm_entity_extensions")["sales"]
    assert extension.entity == "account"
    assert list(extension.properties) == ["credit_limit"]
    assert extension.relationships == ({"name": "leads", "target": "lead"},)


def test_xrm_roles(pm: Any) -> None:
    [role] = contributions(pm, "xrm_roles")["contacts"]
    assert role == RoleSpec(
        "Account Manager", "Manages accounts.", [RolePrivilege("account", "read", "subtree")]
    )


def test_xrm_permission_rules(pm: Any) -> None:
    [rule] = contributions(pm, "xrm_permission_rules")["sales"]
    assert (rule.name, rule.entity, rule.mode, rule.privileges) == (
        "partner_deals",
        "lead",
        "grant",
        frozenset({"read"}),
    )


def test_xrm_subscribers(pm: Any) -> None:
    [subscriber] = contributions(pm, "xrm_subscribers")["contacts"]
    assert subscriber.stage == "committed"
    assert subscriber.matches("account.created")
    assert not subscriber.matches("account.updated")


def test_xrm_actions(pm: Any) -> None:
    [action] = contributions(pm, "xrm_actions")["sales"]
    assert action.qualified_name == "lead.qualify"
    assert action.privilege == "update"
    assert action.input_model.model_validate({}).create_account is True


def test_xrm_routes(pm: Any) -> None:
    [route] = contributions(pm, "xrm_routes")["sales"]
    assert isinstance(route, Route)
    assert route.path == "/forecast"


def test_xrm_admin_panels(pm: Any) -> None:
    assert [(p.name, p.title, p.order) for p in contributions(pm, "xrm_admin_panels")["sales"]] == [
        ("pipeline", "Sales pipeline", 10)
    ]


def test_xrm_migrations_keep_their_order_and_phase(pm: Any) -> None:
    migrations = contributions(pm, "xrm_migrations")["sales"]
    assert [(m.id, m.phase) for m in migrations] == [
        ("0001_keep_topics", "before"),
        ("0002_fill_scores", "after"),
    ]


def test_xrm_demo_data_runs_in_dependency_order(pm: Any, xrm: XRM) -> None:
    called = call_each(pm, "xrm_demo_data", order(pm), xrm=xrm, size=3)
    assert list(called) == ["contacts", "sales"]
    assert pm.get_plugin("sales").accounts_seen == 3


def test_xrm_startup_gets_the_xrm(pm: Any, xrm: XRM) -> None:
    call_each(pm, "xrm_demo_data", order(pm), xrm=xrm, size=1)
    assert list(call_each(pm, "xrm_startup", order(pm), xrm=xrm)) == ["contacts"]
    assert pm.get_plugin("contacts").started == "account"


def test_a_plugin_answering_nothing_is_left_out(pm: Any) -> None:
    class Quiet:
        @hookimpl
        def xrm_manifest(self) -> dict[str, Any]:
            return {"name": "quiet", "version": "1.0.0"}

        @hookimpl
        def xrm_roles(self) -> None:
            return None

        @hookimpl
        def xrm_subscribers(self) -> list[Subscriber]:
            return []

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Quiet()])
    assert contributions(pm, "xrm_roles") == {}
    assert contributions(pm, "xrm_subscribers") == {}


def answer(hook: str, value: Any) -> Any:
    """A plugin manager with one plugin answering ``value`` to ``hook``."""
    plugin = type(
        "Plugin",
        (),
        {
            "xrm_manifest": hookimpl(lambda self: {"name": "odd", "version": "1.0.0"}),
            hook: hookimpl(lambda self: value),
        },
    )
    return make_plugin_manager(load_entrypoints=False, plugins=[plugin()])


@pytest.mark.parametrize(
    ("hook", "value", "problem"),
    [
        ("xrm_roles", RoleSpec("Clerk"), Problem("", "returned RoleSpec, not a list")),
        ("xrm_roles", ["Clerk"], Problem("/0", "item 0 is str, not RoleSpec")),
        (
            "xrm_roles",
            [RoleSpec("Clerk"), RoleSpec("Clerk")],
            Problem("/1", "'Clerk' is declared twice"),
        ),
        ("xrm_entity_schemas", [ACCOUNT, ACCOUNT], Problem("/1", "'account' is declared twice")),
        ("xrm_routes", [forecast], Problem("/0", "item 0 is function, not BaseRoute")),
        (
            "xrm_permission_rules",
            [Rule("deals", "lead", partner_deals, mode="allow")],  # type: ignore[arg-type]
            Problem("/0/mode", "unknown mode 'allow'; grant or restrict"),
        ),
        (
            "xrm_permission_rules",
            [Rule("deals", "lead", partner_deals, privileges=frozenset({"approve"}))],
            Problem(
                "/0/privileges", "privileges among create, read, update, delete, assign, share"
            ),
        ),
    ],
)
def test_a_bad_answer_names_the_plugin_and_the_hook(
    hook: str, value: Any, problem: Problem
) -> None:
    with pytest.raises(InvalidDeclaration) as caught:
        contributions(answer(hook, value), hook)
    assert caught.value.code == "invalid_declaration"
    assert caught.value.message == f"plugin 'odd', {hook}: {problem.message}"
    assert caught.value.problems == (problem,)
    assert caught.value.details == {"plugins": ["odd"], "hook": hook}


def test_a_declaration_refused_inside_a_hook_names_the_plugin_and_the_hook() -> None:
    class Careless:
        @hookimpl
        def xrm_manifest(self) -> dict[str, Any]:
            return {"name": "careless", "version": "1.0.0"}

        @hookimpl
        def xrm_subscribers(self) -> list[Subscriber]:
            stage: Any = "afterwards"
            return [Subscriber("greet", stage, "account.created", on_account_created)]

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Careless()])
    with pytest.raises(InvalidDeclaration) as caught:
        contributions(pm, "xrm_subscribers")
    assert caught.value.message == "plugin 'careless', xrm_subscribers: invalid subscriber 'greet'"
    assert [p.pointer for p in caught.value.problems] == ["/stage"]


def test_only_hooks_can_be_called(pm: Any) -> None:
    with pytest.raises(ValueError, match="'xrm_widgets' is not an xRM hook"):
        call_each(pm, "xrm_widgets")
    with pytest.raises(ValueError, match="'xrm_startup' is not a declaring hook"):
        contributions(pm, "xrm_startup")
    with pytest.raises(TypeError, match="xrm_demo_data takes xrm, size; got count, xrm"):
        call_each(pm, "xrm_demo_data", xrm=None, count=3)
