"""Installing, upgrading, uninstalling, enabling and disabling plugins, plan first."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import xrm_core
from xrm_core import XRM, hookimpl
from xrm_core.errors import (
    AccessDenied,
    ConfirmationRequired,
    MissingDependency,
    OwnershipConflict,
    PluginInUse,
    PluginStateError,
    PluginVersionConflict,
)
from xrm_core.events.model import Event, Subscriber
from xrm_core.metadata.plan import Safety
from xrm_core.plugins import EntityExtension, Migration, RoleSpec, make_plugin_manager, start

ACCOUNT = {
    "x-xrm": {"name": "account", "label": "Account"},
    "properties": {"name": {"type": "string", "maxLength": 100}},
    "required": ["name"],
}
CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {
        "full_name": {"type": "string"},
        "account": {"x-xrm": {"kind": "lookup", "target": "account"}},
    },
}
DEAL = {
    "x-xrm": {"name": "deal"},
    "properties": {
        "title": {"type": "string"},
        "account": {"x-xrm": {"kind": "lookup", "target": "account"}},
    },
}


@dataclass
class Plugin:
    """A plugin made of plain values, as a test needs it."""

    name: str
    version: str = "1.0.0"
    dependencies: dict[str, str] = field(default_factory=dict)
    entities: list[dict[str, Any]] = field(default_factory=list)
    extensions: list[EntityExtension] = field(default_factory=list)
    roles: list[RoleSpec] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)
    subscribers: list[Subscriber] = field(default_factory=list)

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "dependencies": self.dependencies}

    @hookimpl
    def xrm_entity_schemas(self) -> list[dict[str, Any]]:
        return self.entities

    @hookimpl
    def xrm_entity_extensions(self) -> list[EntityExtension]:
        return self.extensions

    @hookimpl
    def xrm_roles(self) -> list[RoleSpec]:
        return self.roles

    @hookimpl
    def xrm_migrations(self) -> list[Migration]:
        return self.migrations

    @hookimpl
    def xrm_subscribers(self) -> list[Subscriber]:
        return self.subscribers


def contacts(version: str = "1.0.0", **kw: Any) -> Plugin:
    return Plugin(
        "contacts",
        version,
        entities=kw.pop("entities", [ACCOUNT, CONTACT]),
        roles=kw.pop("roles", [RoleSpec("Contact Reader", "Reads", [("contact", "read", "own")])]),
        **kw,
    )


def sales(version: str = "1.0.0", **kw: Any) -> Plugin:
    return Plugin(
        "sales",
        version,
        dependencies=kw.pop("dependencies", {"contacts": ">=1.0"}),
        entities=kw.pop("entities", [DEAL]),
        extensions=kw.pop(
            "extensions",
            [EntityExtension("account", {"credit_limit": {"type": "number"}})],
        ),
        **kw,
    )


Opener = Callable[..., XRM]


@pytest.fixture
def open_xrm(db_url: str, tmp_path: Path) -> Iterator[Opener]:
    """Open the test database with a given set of plugins available, in the system context."""
    opened: list[XRM] = []

    def open_with(*plugins: object) -> XRM:
        pm = make_plugin_manager(load_entrypoints=False, plugins=plugins)
        xrm = XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=pm)
        opened.append(xrm)
        return xrm.as_system("tests")

    yield open_with
    for xrm in opened:
        xrm.close()


def _role_cells(xrm: XRM, role: str) -> dict[str, str]:
    role_id = xrm.security.role_id(role)
    cells = xrm.records("role_privilege").query(filter={"role": str(role_id)}, limit=100)
    return {f"{c['entity']}/{c['privilege']}": c["scope"] for c in cells}


# -- install -----------------------------------------------------------------


def test_the_plan_shows_dependencies_first_and_changes_nothing(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts(), sales())

    plan = xrm.plugins.plan_install("sales")

    assert [(n, a, b) for n, a, b in plan.plugins] == [
        ("core", None, xrm_core.__version__),  # a fresh database: the core comes first
        ("contacts", None, "1.0.0"),
        ("sales", None, "1.0.0"),
    ]
    described = [(s.plugin, s.action, s.entity, s.field) for s in plan.steps]
    assert ("contacts", "create_entity", "account", None) in described
    assert ("sales", "create_entity", "deal", None) in described
    assert ("contacts", "create_role", None, None) in described
    assert plan.safety is Safety.SAFE and not plan.applied
    assert ("core", "create_entity", "user", None) in described
    assert "install contacts 1.0.0, install sales 1.0.0" in str(plan)
    assert not xrm.metadata.exists("account")
    assert xrm.plugins.installed() == {}


def test_install_creates_entities_roles_and_the_ledger(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts(), sales())

    plan = xrm.plugins.install("sales")

    assert plan.applied
    assert {n: p.version for n, p in xrm.plugins.installed().items()} == {
        "core": xrm_core.__version__,
        "contacts": "1.0.0",
        "sales": "1.0.0",
    }
    assert xrm.metadata.owner("account") == "contacts"
    assert xrm.metadata.owner("deal") == "sales"
    assert "credit_limit" in xrm.metadata.get("account").field_names
    assert xrm.plugins.owner_of("entity", "account") == "contacts"
    assert xrm.plugins.owner_of("field", "account.name") == "contacts"
    assert xrm.plugins.owner_of("field", "account.credit_limit") == "sales"
    assert xrm.plugins.owner_of("role", "Contact Reader") == "contacts"
    assert _role_cells(xrm, "Contact Reader") == {"contact/read": "own"}
    account = xrm.records("account").create({"name": "Acme", "credit_limit": 1000})
    assert xrm.records("deal").create({"title": "Big", "account": account["id"]})["title"] == "Big"


def test_installing_twice_or_without_a_dependency_is_refused(open_xrm: Opener) -> None:
    xrm = open_xrm(sales())
    with pytest.raises(MissingDependency, match="contacts"):
        xrm.plugins.plan_install("sales")

    xrm = open_xrm(contacts())
    xrm.plugins.install("contacts")
    with pytest.raises(PluginStateError, match="installed already"):
        xrm.plugins.install("contacts")


def test_a_failure_midway_leaves_the_database_as_it_was(open_xrm: Opener, db_url: str) -> None:
    def boom(xrm: XRM) -> None:
        xrm.records("account").create({"name": "half-written"})
        raise RuntimeError("migration failed")

    broken = sales(migrations=[Migration("0001-seed", "after", boom)])
    xrm = open_xrm(contacts(), broken)

    with pytest.raises(RuntimeError, match="migration failed") as failed:
        xrm.plugins.install("sales")

    assert any("0001-seed" in note for note in failed.value.__notes__)
    for view in (xrm, open_xrm(contacts(), broken)):  # this process and a fresh one agree
        assert not view.metadata.exists("account")
        assert not view.metadata.exists("deal")
        assert view.plugins.installed() == {}
        assert view.plugins.ledger() == []


def test_migrations_run_in_order_once_each(open_xrm: Opener) -> None:
    ran: list[str] = []

    def note(tag: str) -> Callable[[XRM], None]:
        def run(xrm: XRM) -> None:
            exists = xrm.metadata.exists("deal")
            ran.append(f"{tag}:{'deal' if exists else 'no deal'}")

        return run

    first = [Migration("a", "before", note("a")), Migration("b", "after", note("b"))]
    xrm = open_xrm(contacts(), sales(migrations=first))
    plan = xrm.plugins.plan_install("sales")
    actions = [s.action for s in plan.steps if s.plugin == "sales"]
    assert actions[0] == "run_migration" and actions[-1] == "run_migration"
    xrm.plugins.install("sales")
    assert ran == ["a:no deal", "b:deal"]

    later = [*first, Migration("c", "after", note("c"))]
    xrm = open_xrm(contacts(), sales("1.1.0", migrations=later))
    xrm.plugins.upgrade("sales")
    assert ran == ["a:no deal", "b:deal", "c:deal"]
    xrm.plugins.upgrade("sales")  # nothing new: nothing runs
    assert ran == ["a:no deal", "b:deal", "c:deal"]


# -- upgrade -----------------------------------------------------------------


def test_an_upgrade_keeps_an_administrators_customizations(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts())
    xrm.plugins.install("contacts")
    # The administrator adds a field and relabels one of the plugin's.
    doc = dict(xrm.metadata.get("account").schema)
    props = dict(doc["properties"])
    props["vip"] = {"type": "boolean"}
    props["name"] = {**props["name"], "title": "Company"}
    xrm.metadata.define({**doc, "properties": props})
    # Version 1.1 adds a field and changes the entity's label.
    account_v2 = {
        "x-xrm": {"name": "account", "label": "Organization"},
        "properties": {**ACCOUNT["properties"], "website": {"type": "string", "format": "uri"}},
        "required": ["name"],
    }
    xrm = open_xrm(contacts("1.1.0", entities=[account_v2, CONTACT]))

    plan = xrm.plugins.upgrade("contacts")

    assert plan.plugins == (("contacts", "1.0.0", "1.1.0"),)
    account = xrm.metadata.get("account")
    assert {"name", "vip", "website"} <= set(account.field_names)
    assert account.schema["properties"]["name"]["title"] == "Company"
    assert account.schema["x-xrm"]["label"] == "Organization"
    assert xrm.plugins.owner_of("field", "account.vip") == "custom"
    assert xrm.plugins.owner_of("field", "account.website") == "contacts"
    assert xrm.plugins.installed()["contacts"].version == "1.1.0"


def test_a_field_the_plugin_drops_needs_confirmation_and_is_exported(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts())
    xrm.plugins.install("contacts")
    xrm.records("contact").create({"full_name": "Ada"})
    slim = {
        "x-xrm": {"name": "contact"},
        "properties": {"account": CONTACT["properties"]["account"]},
    }
    xrm = open_xrm(contacts("2.0.0", entities=[ACCOUNT, slim]))

    plan = xrm.plugins.plan_upgrade("contacts")
    assert plan.safety is Safety.DESTRUCTIVE
    with pytest.raises(ConfirmationRequired):
        xrm.plugins.upgrade("contacts")
    assert "full_name" in xrm.metadata.get("contact").field_names
    assert xrm.plugins.installed()["contacts"].version == "1.0.0"

    done = xrm.plugins.upgrade("contacts", confirm=True)

    assert "full_name" not in xrm.metadata.get("contact").field_names
    exported = "".join(Path(p).read_text() for p in done.exports)
    assert "Ada" in exported


def test_upgrading_the_extended_plugin_keeps_the_extension(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts(), sales())
    xrm.plugins.install("sales")
    bigger = {**ACCOUNT, "properties": {**ACCOUNT["properties"], "phone": {"type": "string"}}}
    xrm = open_xrm(contacts("1.2.0", entities=[bigger, CONTACT]), sales())

    xrm.plugins.upgrade("contacts")

    assert {"credit_limit", "phone"} <= set(xrm.metadata.get("account").field_names)
    assert xrm.plugins.owner_of("field", "account.credit_limit") == "sales"


def test_downgrades_and_upgrades_breaking_a_dependent_are_refused(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts("1.5.0"), sales(dependencies={"contacts": "~=1.5"}))
    xrm.plugins.install("sales")

    with pytest.raises(PluginStateError, match="downgrade"):
        open_xrm(contacts("1.4.0"), sales()).plugins.upgrade("contacts")
    with pytest.raises(PluginVersionConflict, match=r"'sales' needs contacts ~=1\.5"):
        open_xrm(contacts("2.0.0"), sales()).plugins.upgrade("contacts")
    assert xrm.plugins.installed()["contacts"].version == "1.5.0"


def test_a_role_keeps_an_administrators_change_across_upgrades(open_xrm: Opener) -> None:
    v1 = RoleSpec("Seller", "", [("deal", "read", "own"), ("deal", "update", "own")])
    xrm = open_xrm(contacts(), sales(roles=[v1]))
    xrm.plugins.install("sales")
    # The administrator widens reading deals.
    cell = xrm.records("role_privilege").query(
        filter={"role": str(xrm.security.role_id("Seller")), "privilege": "read"}
    )
    xrm.records("role_privilege").update(cell.records[0]["id"], {"scope": "business_unit"})
    v2 = RoleSpec("Seller", "", [("deal", "read", "own"), ("deal", "update", "business_unit")])
    xrm = open_xrm(contacts(), sales("1.1.0", roles=[v2]))

    xrm.plugins.upgrade("sales")

    assert _role_cells(xrm, "Seller") == {
        "deal/read": "business_unit",
        "deal/update": "business_unit",
    }


# -- ownership conflicts -----------------------------------------------------


def test_a_plugin_cannot_take_what_others_own(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts())
    xrm.metadata.define({"x-xrm": {"name": "account"}, "properties": {"x": {"type": "string"}}})
    with pytest.raises(OwnershipConflict, match=r"'account'.*'custom'"):
        xrm.plugins.plan_install("contacts")

    other = Plugin("billing", entities=[], extensions=[EntityExtension("deal", {"x": {}})])
    xrm = open_xrm(contacts(entities=[ACCOUNT, CONTACT, DEAL]), other)
    xrm.metadata.drop("account", confirm=True)
    xrm.plugins.install("contacts")
    with pytest.raises(OwnershipConflict, match="not one of its dependencies"):
        xrm.plugins.install("billing")


def test_two_plugins_adding_one_field_conflict(open_xrm: Opener) -> None:
    twin = Plugin(
        "loyalty",
        dependencies={"contacts": ">=1"},
        extensions=[EntityExtension("account", {"credit_limit": {"type": "integer"}})],
    )
    xrm = open_xrm(contacts(), sales(), twin)
    xrm.plugins.install("sales")

    with pytest.raises(OwnershipConflict, match=r"account\.credit_limit.*'sales'"):
        xrm.plugins.install("loyalty")
    assert "loyalty" not in xrm.plugins.installed()


# -- uninstall ---------------------------------------------------------------


def test_uninstall_is_refused_while_another_plugin_depends_on_it(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts(), sales())
    xrm.plugins.install("sales")

    with pytest.raises(PluginInUse, match="'sales'"):
        xrm.plugins.uninstall("contacts", data="keep")
    with pytest.raises(PluginStateError, match="keep, export or drop"):
        xrm.plugins.uninstall("sales", data="yes")  # type: ignore[arg-type]
    assert set(xrm.plugins.installed()) == {"core", "contacts", "sales"}
    with pytest.raises(PluginStateError, match="built in"):
        xrm.plugins.uninstall("core", data="keep")


def test_uninstall_keeping_data_hands_it_to_the_administrator(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts(), sales())
    xrm.plugins.install("sales")
    xrm.records("deal").create({"title": "Kept"})

    plan = xrm.plugins.uninstall("sales", data="keep")

    assert plan.safety is Safety.SAFE
    assert xrm.metadata.owner("deal") == "custom"
    assert [d["title"] for d in xrm.records("deal").query()] == ["Kept"]
    assert xrm.plugins.owner_of("field", "account.credit_limit") == "custom"
    assert "sales" not in xrm.plugins.installed()
    # Installing it again takes its parts back.
    xrm.plugins.install("sales")
    assert xrm.metadata.owner("deal") == "sales"
    assert xrm.plugins.owner_of("entity", "deal") == "sales"
    assert xrm.plugins.owner_of("field", "account.credit_limit") == "sales"


def test_uninstall_dropping_data_needs_confirmation(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts(), sales())
    xrm.plugins.install("sales")
    xrm.records("account").create({"name": "Acme", "credit_limit": 5})

    plan = xrm.plugins.plan_uninstall("sales", data="drop")
    assert plan.safety is Safety.DESTRUCTIVE
    with pytest.raises(ConfirmationRequired):
        xrm.plugins.uninstall("sales", data="drop")
    assert xrm.metadata.exists("deal")

    xrm.plugins.uninstall("sales", data="drop", confirm=True)

    assert not xrm.metadata.exists("deal")
    assert "credit_limit" not in xrm.metadata.get("account").field_names
    assert [a["name"] for a in xrm.records("account").query()] == ["Acme"]
    assert xrm.plugins.ledger("sales") == []


def test_uninstall_exporting_data_writes_every_record(open_xrm: Opener, tmp_path: Path) -> None:
    xrm = open_xrm(contacts())
    xrm.plugins.install("contacts")
    acme = xrm.records("account").create({"name": "Acme"})
    xrm.records("contact").create({"full_name": "Ada", "account": acme["id"]})

    done = xrm.plugins.uninstall(
        "contacts", data="export", confirm=True, export_dir=tmp_path / "out"
    )

    files = {Path(p).name: Path(p) for p in done.exports if str(tmp_path / "out") in p}
    assert set(files) == {"account.jsonl", "contact.jsonl"}
    (ada,) = [json.loads(line) for line in files["contact.jsonl"].read_text().splitlines()]
    assert ada["full_name"] == "Ada" and ada["account"] == str(acme["id"])
    assert not xrm.metadata.exists("account")
    with pytest.raises(Exception, match="Contact Reader"):
        xrm.security.role_id("Contact Reader")


def test_uninstall_exporting_data_also_exports_the_references_it_clears(
    open_xrm: Opener, tmp_path: Path
) -> None:
    xrm = open_xrm(contacts())
    xrm.plugins.install("contacts")
    about = {"x-xrm": {"kind": "polymorphic_lookup", "targets": "*"}}
    xrm.metadata.define({"x-xrm": {"name": "memo"}, "properties": {"about": about}})
    acme = xrm.records("account").create({"name": "Acme"})
    memo = xrm.records("memo").create({"about": {"entity": "account", "id": acme["id"]}})

    done = xrm.plugins.uninstall(
        "contacts", data="export", confirm=True, export_dir=tmp_path / "out"
    )

    assert xrm.records("memo").get(memo["id"])["about"] is None
    (cleared,) = [Path(p) for p in done.exports if p.endswith("clear_references.jsonl")]
    assert cleared.parent == tmp_path / "out"
    assert cleared.name.endswith("-account-memo.about-clear_references.jsonl")
    assert [json.loads(line) for line in cleared.read_text().splitlines()] == [
        {
            "entity": "memo",
            "id": str(memo["id"]),
            "field": "about",
            "value": {"entity": "account", "id": str(acme["id"])},
        }
    ]


# -- enable and disable --------------------------------------------------------


def test_a_disabled_plugin_does_not_start(open_xrm: Opener) -> None:
    seen: list[Event] = []
    watcher = sales(subscribers=[Subscriber("watch", "after", "deal.created", seen.append)])
    xrm = open_xrm(contacts(), watcher)
    xrm.plugins.install("sales")

    with pytest.raises(PluginInUse, match="'sales'"):
        xrm.plugins.disable("contacts")
    xrm.plugins.disable("sales")
    assert start(xrm, xrm.plugin_manager) == ["contacts", "core"]
    xrm.records("deal").create({"title": "unseen"})
    assert seen == []
    xrm.plugins.disable("contacts")  # nothing enabled depends on it now
    assert start(xrm, xrm.plugin_manager) == ["core"]
    with pytest.raises(PluginInUse, match="'contacts'"):
        xrm.plugins.enable("sales")

    fresh = open_xrm(contacts(), watcher)
    fresh.plugins.enable("contacts")
    fresh.plugins.enable("sales")
    assert start(fresh, fresh.plugin_manager) == ["contacts", "core", "sales"]
    fresh.records("deal").create({"title": "seen"})
    assert [e.after["title"] for e in seen if e.after] == ["seen"]


# -- who may ---------------------------------------------------------------------


def test_only_administrators_manage_plugins(open_xrm: Opener) -> None:
    xrm = open_xrm(contacts())
    xrm.security.install()
    clerk = xrm.security.create_user("clerk", roles=["Basic User"])
    admin = xrm.security.create_user("boss", roles=["System Administrator"])

    with pytest.raises(AccessDenied, match="administrator"):
        xrm.as_user(clerk).plugins.plan_install("contacts")
    with pytest.raises(AccessDenied):
        xrm.as_user(clerk).plugins.install("contacts")
    assert set(xrm.plugins.installed()) == {"core"}

    xrm.as_user(admin).plugins.install("contacts")
    (entry,) = [e for e in _history(xrm) if e["plugin"] != "core"]
    assert (entry["plugin"], entry["operation"], entry["actor"]) == ("contacts", "install", admin)


def _history(xrm: XRM) -> Sequence[dict[str, Any]]:
    from xrm_core.plugins.ledger import history_table

    with xrm.db.transaction(write=False) as conn:
        return [dict(r) for r in conn.execute(sa.select(history_table)).mappings()]


def test_an_upgrade_dropping_an_extension_and_an_entity_needs_confirmation(
    open_xrm: Opener,
) -> None:
    xrm = open_xrm(contacts(), sales())
    xrm.plugins.install("sales")
    xrm.records("account").create({"name": "Acme", "credit_limit": 7})
    quote = {"x-xrm": {"name": "quote"}, "properties": {"total": {"type": "number"}}}
    xrm = open_xrm(contacts(), sales("2.0.0", entities=[quote], extensions=[]))

    plan = xrm.plugins.plan_upgrade("sales")

    assert {(s.action, s.entity, s.field) for s in plan.steps} >= {
        ("create_entity", "quote", None),
        ("remove_field", "account", "credit_limit"),
        ("drop_entity", "deal", None),
    }
    with pytest.raises(ConfirmationRequired):
        xrm.plugins.upgrade("sales")
    assert xrm.metadata.exists("deal") and not xrm.metadata.exists("quote")

    xrm.plugins.upgrade("sales", confirm=True)

    assert not xrm.metadata.exists("deal") and xrm.metadata.owner("quote") == "sales"
    assert "credit_limit" not in xrm.metadata.get("account").field_names
    assert xrm.plugins.owner_of("field", "account.credit_limit") == "custom"
    assert xrm.plugins.owner_of("entity", "deal") == "custom"


def test_two_plugins_cannot_own_one_subscriber_name(open_xrm: Opener) -> None:
    def handler(event: Event) -> None:
        pass

    sync = [Subscriber("sync", "after", "account.created", handler)]
    other = Plugin("audit_trail", dependencies={"contacts": ">=1"}, subscribers=sync)
    xrm = open_xrm(contacts(subscribers=sync), other)
    xrm.plugins.install("contacts")

    with pytest.raises(OwnershipConflict, match=r"subscriber 'sync' \('contacts'\)"):
        xrm.plugins.install("audit_trail")
    assert "audit_trail" not in xrm.plugins.installed()
    assert xrm.plugins.owner_of("subscriber", "sync") == "contacts"
