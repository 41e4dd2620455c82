"""The plugin manager: finding plugins, refusing broken ones, asking each for its manifest."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import pluggy
import pytest

import xrm_core
from xrm_core.errors import (
    DuplicatePlugin,
    InvalidHook,
    InvalidManifest,
    PluginError,
    Problem,
)
from xrm_core.hookspecs import hookimpl
from xrm_core.plugins import contributions, make_plugin_manager, plugin_manifests, resolve

if TYPE_CHECKING:
    from tests.plugins.conftest import Site


class Contacts:
    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "contacts", "version": "1.4.0", "description": "Accounts and contacts."}


class Sales:
    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "sales", "version": "2.0.0", "dependencies": {"contacts": "~=1.4"}}


def manifest_plugin(**manifest: Any) -> object:
    class Plugin:
        @hookimpl
        def xrm_manifest(self) -> dict[str, Any]:
            return manifest

    return Plugin()


def plugin_module(name: str, extra: str = "") -> str:
    """Source of a plugin module whose manifest leaves the rest to its package."""
    return (
        "from xrm_core.hookspecs import hookimpl\n\n"
        f"@hookimpl\ndef xrm_manifest():\n    return {{'name': {name!r}}}\n{extra}"
    )


def test_plugins_are_registered_under_their_manifest_names() -> None:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[Sales(), Contacts()])
    assert isinstance(pm, pluggy.PluginManager)
    assert sorted(name for name, plugin in pm.list_name_plugin() if plugin) == [
        "contacts",
        "core",  # built in
        "sales",
    ]
    manifests = plugin_manifests(pm)
    assert list(manifests) == ["contacts", "core", "sales"]
    assert manifests["contacts"].description == "Accounts and contacts."
    order = [m.name for m in resolve(manifests.values(), "0.1.0")]
    assert order == ["contacts", "core", "sales"]


def test_each_call_builds_a_new_manager() -> None:
    first = make_plugin_manager(load_entrypoints=False, plugins=[Contacts()])
    second = make_plugin_manager(load_entrypoints=False)
    assert first is not second
    assert list(plugin_manifests(second)) == ["core"]
    assert list(plugin_manifests(first)) == ["contacts", "core"]


def test_a_misspelled_hook_is_refused_with_a_suggestion() -> None:
    class Typo:
        @hookimpl
        def xrm_manifest(self) -> dict[str, Any]:
            return {"name": "typo", "version": "1.0.0"}

        @hookimpl
        def xrm_subscriber(self) -> list[Any]:
            return []

    with pytest.raises(InvalidHook) as caught:
        make_plugin_manager(load_entrypoints=False, plugins=[Typo()])
    assert caught.value.code == "invalid_hook"
    assert caught.value.message == (
        "plugin 'typo' implements 'xrm_subscriber', which is not an xRM hook "
        "(did you mean 'xrm_subscribers'?)"
    )
    assert caught.value.problems == (Problem("/typo/xrm_subscriber", caught.value.message),)


def test_a_hook_taking_arguments_the_hook_does_not_have_is_refused() -> None:
    class WrongArguments:
        @hookimpl
        def xrm_manifest(self) -> dict[str, Any]:
            return {"name": "wrong", "version": "1.0.0"}

        @hookimpl
        def xrm_demo_data(self, xrm: Any, count: int) -> None:
            """Takes ``count``, where the hook passes ``size``."""

    with pytest.raises(InvalidHook) as caught:
        make_plugin_manager(load_entrypoints=False, plugins=[WrongArguments()])
    assert caught.value.message == (
        "plugin 'wrong' implements 'xrm_demo_data' taking 'count', which the hook does not "
        "pass (it passes: xrm, size)"
    )
    assert [p.pointer for p in caught.value.problems] == ["/wrong/xrm_demo_data"]


def test_two_plugins_with_one_name_are_refused() -> None:
    with pytest.raises(DuplicatePlugin) as caught:
        make_plugin_manager(
            load_entrypoints=False,
            plugins=[Contacts(), manifest_plugin(name="contacts", version="9.0.0")],
        )
    assert caught.value.code == "duplicate_plugin"
    assert caught.value.message == "two plugins are called 'contacts'"


def test_one_plugin_object_registered_twice_is_refused() -> None:
    twice = manifest_plugin()  # no name: registered under pluggy's own name
    with pytest.raises(DuplicatePlugin, match="is registered twice"):
        make_plugin_manager(load_entrypoints=False, plugins=[twice, twice])


def test_a_blocked_plugin_is_not_registered() -> None:
    pm = make_plugin_manager(
        load_entrypoints=False, blocked=["sales"], plugins=[Contacts(), Sales()]
    )
    assert pm.is_blocked("sales")
    assert list(plugin_manifests(pm)) == ["contacts", "core"]


def test_a_plugin_without_a_manifest_is_refused() -> None:
    class Anonymous:
        @hookimpl
        def xrm_roles(self) -> list[Any]:
            return []

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Anonymous()])
    with pytest.raises(InvalidManifest, match="does not implement xrm_manifest"):
        plugin_manifests(pm)


def test_an_invalid_manifest_names_the_plugin_and_points_into_it() -> None:
    pm = make_plugin_manager(
        load_entrypoints=False, plugins=[manifest_plugin(name="sales", version="2")]
    )
    with pytest.raises(InvalidManifest) as caught:
        plugin_manifests(pm)
    assert caught.value.message == "the manifest of plugin 'sales' is not valid"
    assert [p.pointer for p in caught.value.problems] == ["/version"]
    assert caught.value.details == {"plugins": ["sales"]}


def test_a_manifest_that_is_not_an_object_is_refused() -> None:
    class Listed:
        @hookimpl
        def xrm_manifest(self) -> list[str]:
            return ["sales", "1.0.0"]

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Listed()])
    with pytest.raises(InvalidManifest, match="returned list, not a JSON object"):
        plugin_manifests(pm)


def test_a_failing_manifest_hook_says_which_plugin_failed() -> None:
    class Broken:
        @hookimpl
        def xrm_manifest(self) -> dict[str, Any]:
            raise RuntimeError("no settings file")

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Broken()])
    with pytest.raises(RuntimeError, match="no settings file") as caught:
        plugin_manifests(pm)
    assert any("in xrm_manifest of xRM plugin" in note for note in caught.value.__notes__)


def test_only_a_built_in_plugin_may_be_called_core(site: Site) -> None:
    with pytest.raises(InvalidManifest, match="the name 'core' belongs to the core's built-in"):
        make_plugin_manager(
            load_entrypoints=False, plugins=[manifest_plugin(name="core", version="1.0.0")]
        )
    site.install("xrm-fake-core", modules={"fake_core": ""}, plugins={"core": "fake_core"})
    with pytest.raises(InvalidManifest, match="belongs to the core's built-in"):
        make_plugin_manager()


def test_the_core_is_a_built_in_plugin_declaring_its_entities_through_hooks() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    (core,) = plugin_manifests(pm).values()
    assert core.name == "core" and str(core.version) == xrm_core.__version__
    schemas = contributions(pm, "xrm_entity_schemas")["core"]
    assert [s["x-xrm"]["name"] for s in schemas][:3] == ["business_unit", "role", "role_privilege"]


# -- installed plugins (entry points of installed packages) -------------------


def test_installed_plugins_are_found_through_their_entry_points(site: Site) -> None:
    site.install(
        "xrm-contacts",
        "1.4.2",
        summary="Accounts, contacts and their activities.",
        modules={"xrm_contacts_plugin": plugin_module("contacts")},
        plugins={"contacts": "xrm_contacts_plugin"},
        requires=["xrm>=0.1"],
    )
    site.install(
        "xrm-sales",
        "2.0.0",
        modules={"xrm_sales_plugin": plugin_module("sales")},
        plugins={"sales": "xrm_sales_plugin"},
        requires=["xrm-contacts~=1.4"],
    )
    pm = make_plugin_manager()
    assert pm.get_plugin("contacts") is sys.modules["xrm_contacts_plugin"]
    manifests = plugin_manifests(pm)
    contacts, sales = manifests["contacts"], manifests["sales"]
    # what the manifest left out comes from the package
    assert contacts.to_dict() == {
        "name": "contacts",
        "version": "1.4.2",
        "description": "Accounts, contacts and their activities.",
        "core": ">=0.1",
        "dependencies": {},
    }
    assert sales.to_dict()["dependencies"] == {"contacts": "~=1.4"}
    assert [m.name for m in resolve([sales, contacts], "0.1.0")] == ["contacts", "sales"]


def test_what_a_manifest_says_wins_over_the_package_metadata(site: Site) -> None:
    source = (
        "from xrm_core.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef xrm_manifest():\n"
        "    return {'name': 'sales', 'description': 'Sales force automation.',"
        " 'dependencies': {}}\n"
    )
    site.install(
        "xrm-sales",
        "2.0.0",
        summary="Package summary",
        modules={"xrm_sales_plugin": source},
        plugins={"sales": "xrm_sales_plugin"},
        requires=["xrm-contacts~=1.4"],
    )
    sales = plugin_manifests(make_plugin_manager())["sales"]
    assert (sales.description, dict(sales.dependencies)) == ("Sales force automation.", {})


def test_a_blocked_installed_plugin_is_never_imported(site: Site) -> None:
    site.install(
        "xrm-broken",
        modules={"xrm_broken_plugin": "raise RuntimeError('imported!')\n"},
        plugins={"broken": "xrm_broken_plugin"},
    )
    pm = make_plugin_manager(blocked=["broken"])
    assert pm.is_blocked("broken")
    assert "xrm_broken_plugin" not in sys.modules
    assert "broken" not in plugin_manifests(pm)


def test_xrm_load_plugins_lists_the_installed_plugins_to_load(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.install(
        "xrm-broken",
        modules={"xrm_broken_plugin": "raise RuntimeError('imported!')\n"},
        plugins={"broken": "xrm_broken_plugin"},
    )
    site.install(
        "xrm-contacts", modules={"xrm_c": plugin_module("contacts")}, plugins={"contacts": "xrm_c"}
    )
    monkeypatch.setenv("XRM_LOAD_PLUGINS", "contacts, nothing-else")
    assert list(plugin_manifests(make_plugin_manager())) == ["contacts", "core"]
    assert "xrm_broken_plugin" not in sys.modules
    monkeypatch.setenv("XRM_LOAD_PLUGINS", "")
    assert list(plugin_manifests(make_plugin_manager())) == ["core"]


def test_an_installed_plugin_that_cannot_be_imported_is_named(site: Site) -> None:
    site.install(
        "xrm-broken",
        modules={"xrm_broken_plugin": "import xrm_no_such_module\n"},
        plugins={"broken": "xrm_broken_plugin"},
    )
    with pytest.raises(PluginError) as caught:
        make_plugin_manager()
    assert caught.value.message.startswith(
        "plugin 'broken' (installed by xrm-broken) cannot be loaded: ModuleNotFoundError("
    )
    assert caught.value.details == {"plugins": ["broken"]}


def test_an_installed_plugin_with_a_misspelled_hook_is_refused(site: Site) -> None:
    site.install(
        "xrm-typo",
        modules={
            "xrm_typo_plugin": plugin_module("typo", "\n@hookimpl\ndef xrm_role():\n    pass\n")
        },
        plugins={"typo": "xrm_typo_plugin"},
    )
    with pytest.raises(InvalidHook, match="'xrm_role', which is not an xRM hook"):
        make_plugin_manager()


def test_two_packages_installing_one_plugin_name_are_refused(site: Site) -> None:
    site.install("xrm-crm", modules={"crm_a": plugin_module("crm")}, plugins={"crm": "crm_a"})
    site.install("other-crm", modules={"crm_b": plugin_module("crm")}, plugins={"crm": "crm_b"})
    with pytest.raises(DuplicatePlugin) as caught:
        make_plugin_manager()
    assert caught.value.message == "two plugins are called 'crm' (installed by other-crm, xrm-crm)"


def test_an_installed_plugin_cannot_take_a_registered_name(site: Site) -> None:
    site.install(
        "xrm-contacts",
        modules={"contacts_ep": plugin_module("contacts")},
        plugins={"contacts": "contacts_ep"},
    )
    pm = make_plugin_manager(load_entrypoints=False, plugins=[Contacts()])
    assert pm.get_plugin("contacts") is not sys.modules.get("contacts_ep")
    # The extra plugins are registered after the installed ones, so the clash is loud.
    with pytest.raises(DuplicatePlugin, match="two plugins are called 'contacts'"):
        make_plugin_manager(plugins=[Contacts()])


def test_an_entry_point_must_have_the_plugin_s_name(site: Site) -> None:
    site.install(
        "xrm-sales", modules={"sales_ep": plugin_module("sales")}, plugins={"crm_sales": "sales_ep"}
    )
    with pytest.raises(InvalidManifest) as caught:
        plugin_manifests(make_plugin_manager())
    assert caught.value.message == (
        "plugin 'crm_sales' (completed from package 'xrm-sales') calls itself 'sales' in its "
        "manifest; a plugin's entry point must have the plugin's name"
    )
