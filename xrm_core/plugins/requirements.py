"""Which plugins an operation involves, and whether their installed versions fit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from xrm_core.errors import PluginVersionConflict
from xrm_core.plugins import ledger
from xrm_core.plugins.manifest import Manifest


def closure(name: str, manifests: Mapping[str, Manifest]) -> list[Manifest]:
    """``name`` and the plugins it needs, transitively (missing ones are resolve's to report)."""
    seen: dict[str, Manifest] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in manifests:
            continue
        seen[current] = manifests[current]
        todo += list(manifests[current].dependencies)
    return list(seen.values())


def dependencies_of(name: str, manifests: Mapping[str, Manifest]) -> set[str]:
    return {m.name for m in closure(name, manifests)} - {name}


def parse_version(text: str) -> Version:
    """A version as the ledger stores it."""
    return Version(text)


def satisfies(version: Version, spec: str) -> bool:
    """Whether ``version`` is in the range ``spec`` (prereleases count)."""
    return SpecifierSet(spec).contains(version, prereleases=True)


def check_installed_dependency(
    manifest: Manifest, installed: ledger.InstalledPlugin, wanted_by: str, spec: Any = None
) -> None:
    """An installed dependency must already be at the version the installer's plugin has."""
    if spec is not None:
        ok = spec.contains(parse_version(installed.version), prereleases=True)
    else:
        ok = parse_version(installed.version) == manifest.version
    if not ok:
        raise PluginVersionConflict(
            f"{wanted_by!r} needs {manifest.name} {spec or manifest.version}, but the database "
            f"has {manifest.name} {installed.version}; upgrade {manifest.name!r} first",
            details={"plugins": [wanted_by, manifest.name]},
        )


def unknown_message(name: str, manifests: Mapping[str, Manifest]) -> str:
    known = ", ".join(sorted(manifests)) or "none"
    return f"no plugin called {name!r} is available (available: {known})"
