"""Starting plugins in an XRM: subscribers, permission rules, start-up hooks."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from xrm_core import XRM, Event, MissingDependency, Rule, Subscriber, hookimpl
from xrm_core.events.worker import Worker
from xrm_core.plugins import make_plugin_manager
from xrm_core.plugins.lifecycle import PluginService
from xrm_core.plugins.startup import start

TICKET = {
    "x-xrm": {"name": "ticket"},
    "properties": {"title": {"type": "string"}, "public": {"type": "boolean", "default": False}},
}


class Helpdesk:
    """A plugin reacting to tickets and letting everyone read public ones."""

    def __init__(self) -> None:
        self.synced: list[Event] = []
        self.started_with: XRM | None = None

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "helpdesk", "version": "1.2.0", "core": ">=0.1"}

    @hookimpl
    def xrm_subscribers(self) -> list[Subscriber]:
        return [Subscriber("sync_tickets", "committed", "ticket.created", self.synced.append)]

    @hookimpl
    def xrm_permission_rules(self) -> list[Rule]:
        return [Rule("public_tickets", "ticket", lambda _p, table: table.c.public == sa.true())]

    @hookimpl
    def xrm_startup(self, xrm: XRM) -> None:
        self.started_with = xrm


def test_a_started_plugin_subscribes_adds_its_rules_and_is_told(xrm: XRM) -> None:
    xrm.security.install()
    xrm.metadata.define(TICKET)
    helpdesk = Helpdesk()
    pm = make_plugin_manager(load_entrypoints=False, plugins=[helpdesk])

    assert start(xrm, pm) == ["core", "helpdesk"]

    assert helpdesk.started_with is xrm
    (subscriber,) = xrm.events.of_stage("committed")
    assert (subscriber.name, subscriber.owner) == ("sync_tickets", "helpdesk")
    xrm.records("ticket").create_many([{"title": "open", "public": True}, {"title": "closed"}])
    assert Worker(xrm.db, xrm.events, name="w").run_once() == 2
    assert sorted((e.after or {})["title"] for e in helpdesk.synced) == ["closed", "open"]
    bob = xrm.security.create_user("bob")  # no role: only the rule lets him read
    assert [t["title"] for t in xrm.as_user(bob).records("ticket").query()] == ["open"]


def test_plugins_whose_dependencies_are_missing_do_not_start(xrm: XRM) -> None:
    class Reports:
        @hookimpl
        def xrm_manifest(self) -> dict[str, Any]:
            return {"name": "reports", "version": "1.0.0", "dependencies": {"helpdesk": ">=2"}}

        @hookimpl
        def xrm_subscribers(self) -> list[Subscriber]:
            return [Subscriber("report", "after", "*", print)]

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Reports()])

    with pytest.raises(MissingDependency, match="helpdesk"):
        start(xrm, pm)
    assert xrm.events.of_stage("after") == []


def test_a_process_serving_a_database_starts_only_the_plugins_it_installed(xrm: XRM) -> None:
    xrm.security.install()
    xrm.metadata.define(TICKET)  # a ticket entity of the database's own, not the plugin's
    pm = make_plugin_manager(load_entrypoints=False, plugins=[Helpdesk()])

    assert start(xrm, pm, installed_only=True) == ["core"]
    assert xrm.events.of_stage("committed") == []

    PluginService(xrm, pm).install("helpdesk")
    assert start(xrm, pm, installed_only=True) == ["core", "helpdesk"]
