"""Resolving plugins: dependencies first, the same order everywhere, clear refusals."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xrm_core.errors import (
    DependencyCycle,
    DuplicatePlugin,
    MissingDependency,
    PluginVersionConflict,
    Problem,
)
from xrm_core.plugins import Manifest, resolve

CORE = "0.4.0"


def plugin(name: str, version: str = "1.0.0", core: str = "", **dependencies: str) -> Manifest:
    return Manifest.from_dict(
        {"name": name, "version": version, "core": core, "dependencies": dependencies}
    )


def names(manifests: list[Manifest]) -> list[str]:
    return [m.name for m in manifests]


def test_dependencies_come_first_and_the_rest_alphabetically() -> None:
    plugins = [
        plugin("service", contacts=">=1"),
        plugin("sales", contacts="~=1.4", relationships=""),
        plugin("relationships"),
        plugin("marketing", sales=">=1", contacts=""),
        plugin("contacts", "1.4.2"),
        plugin("audit_extras"),
    ]
    assert names(resolve(plugins, CORE)) == [
        "audit_extras",
        "contacts",
        "relationships",
        "sales",
        "marketing",
        "service",
    ]


def test_the_order_does_not_depend_on_the_order_plugins_were_found() -> None:
    plugins = [
        plugin("a"),
        plugin("b", a=""),
        plugin("c", a=""),
        plugin("d", c="", b=""),
        plugin("e"),
        plugin("f", e=""),
    ]
    expected = names(resolve(plugins, CORE))
    shuffler = random.Random(4)
    for _ in range(20):
        shuffler.shuffle(plugins)
        assert names(resolve(plugins, CORE)) == expected


@given(st.data())
def test_every_plugin_comes_after_all_it_depends_on(data: st.DataObject) -> None:
    count = data.draw(st.integers(0, 12))
    pool = [f"p{i:02d}" for i in range(count)]
    # Depending only on plugins with a smaller number keeps the graph acyclic.
    plugins = [
        plugin(name, **{dep: "" for dep in data.draw(st.sets(st.sampled_from(pool[:i])))})
        if i
        else plugin(name)
        for i, name in enumerate(pool)
    ]
    data.draw(st.randoms()).shuffle(plugins)
    order = names(resolve(plugins, CORE))
    assert sorted(order) == pool
    position = {name: i for i, name in enumerate(order)}
    for manifest in plugins:
        assert all(position[dep] < position[manifest.name] for dep in manifest.dependencies)


def test_an_installed_pre_release_satisfies_a_range_it_falls_in() -> None:
    found = resolve([plugin("contacts", "2.0.0-rc.1"), plugin("sales", contacts=">=1.4")], CORE)
    assert names(found) == ["contacts", "sales"]


def test_a_missing_dependency_names_both_plugins_and_the_range() -> None:
    with pytest.raises(MissingDependency) as caught:
        resolve([plugin("sales", contacts=">=1.0")], CORE)
    error = caught.value
    assert error.code == "missing_dependency"
    assert error.message == "'sales' needs 'contacts' (>=1.0), which is not installed"
    assert error.problems == (Problem("/sales/dependencies/contacts", error.message),)
    assert error.details == {"plugins": ["sales"]}


def test_every_missing_dependency_is_listed() -> None:
    with pytest.raises(MissingDependency) as caught:
        resolve(
            [plugin("sales", contacts="", relationships=">=0.2"), plugin("service", contacts="")],
            CORE,
        )
    assert caught.value.message == (
        "'sales' needs 'contacts', which is not installed; "
        "'sales' needs 'relationships' (>=0.2), which is not installed; "
        "'service' needs 'contacts', which is not installed"
    )
    assert caught.value.details == {"plugins": ["sales", "service"]}


def test_a_version_conflict_names_the_plugins_the_range_and_the_version() -> None:
    with pytest.raises(PluginVersionConflict) as caught:
        resolve([plugin("contacts", "1.4.0"), plugin("sales", contacts=">=2.0")], CORE)
    assert caught.value.code == "plugin_version_conflict"
    assert caught.value.message == "'sales' needs 'contacts' >=2.0 but 'contacts' is 1.4.0"
    assert [p.pointer for p in caught.value.problems] == ["/sales/dependencies/contacts"]


def test_a_core_version_conflict_names_the_plugin_and_both_versions() -> None:
    with pytest.raises(PluginVersionConflict) as caught:
        resolve([plugin("contacts", core=">=1.0,<2")], CORE)
    assert caught.value.message == "'contacts' needs the xRM core <2,>=1.0 but the core is 0.4.0"
    assert [p.pointer for p in caught.value.problems] == ["/contacts/core"]
    assert names(resolve([plugin("contacts", core=">=0.4,<1")], CORE)) == ["contacts"]


def test_missing_plugins_are_reported_before_version_conflicts() -> None:
    plugins = [plugin("contacts", "1.0.0"), plugin("sales", contacts=">=2", partner="")]
    with pytest.raises(MissingDependency, match="'sales' needs 'partner', which is not"):
        resolve(plugins, CORE)


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        ([plugin("a", b=""), plugin("b", c=""), plugin("c", a="")], "a -> b -> c -> a"),
        ([plugin("c", a=""), plugin("b", c=""), plugin("a", b="")], "a -> b -> c -> a"),
        ([plugin("z", y=""), plugin("y", z=""), plugin("x", y="")], "y -> z -> y"),
        ([plugin("a", b=""), plugin("b", a=""), plugin("c")], "a -> b -> a"),
    ],
)
def test_a_dependency_cycle_is_shown_as_a_path(plugins: list[Manifest], message: str) -> None:
    with pytest.raises(DependencyCycle) as caught:
        resolve(plugins, CORE)
    assert caught.value.code == "dependency_cycle"
    assert caught.value.message == f"plugins depend on each other in a circle: {message}"
    cycle = message.split(" -> ")
    assert caught.value.details == {"plugins": sorted(set(cycle))}
    assert [p.pointer for p in caught.value.problems] == [
        f"/{a}/dependencies/{b}" for a, b in itertools.pairwise(cycle)
    ]


def test_two_plugins_with_one_name_are_refused() -> None:
    with pytest.raises(DuplicatePlugin, match="two plugins are called 'contacts'"):
        resolve([plugin("contacts", "1.0.0"), plugin("contacts", "2.0.0")], CORE)
