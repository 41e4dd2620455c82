"""Plugin manifests: checking and parsing them, completing them from package metadata,
and putting a set of plugins in dependency order.

Versions are semantic versions, compared as Python packaging compares versions;
ranges are PEP 440 specifiers (``>=1.2,<2``, ``~=1.4``), the same language as
the package's own requirements (see ``docs/decisions/0014-...``).
"""

from __future__ import annotations

import heapq
import importlib.metadata as metadata
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

# jsonschema ships no type information and no stubs package is installed.
import jsonschema  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError as SchemaError  # type: ignore[import-untyped]
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from xrm_core.errors import (
    DependencyCycle,
    DuplicatePlugin,
    InvalidManifest,
    MissingDependency,
    PluginVersionConflict,
    Problem,
    pointer,
)

#: The distribution that carries the core: a plugin's requirement on it gives ``core``.
CORE_DISTRIBUTION = "xrm"
#: Where installed packages announce their plugins (``[project.entry-points."xrm.plugins"]``).
ENTRY_POINT_GROUP = "xrm.plugins"
_RANGE_HELP = "write PEP 440 specifiers such as '>=1.2,<2' or '~=1.4' (empty: any version)"
_PRE_RELEASES = {"a": "alpha", "b": "beta", "rc": "rc"}


@dataclass(frozen=True)
class Manifest:
    """Who a plugin is and what it needs, checked and parsed.

    ``core`` and each dependency's range are empty (any version) when not given.
    """

    name: str
    version: Version
    description: str = ""
    core: SpecifierSet = field(default_factory=SpecifierSet)
    dependencies: Mapping[str, SpecifierSet] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Read-only, and in name order whatever order they were given in.
        deps = MappingProxyType(dict(sorted(self.dependencies.items())))
        object.__setattr__(self, "dependencies", deps)

    @classmethod
    def from_dict(cls, doc: Any) -> Manifest:
        """Check ``doc`` against the manifest schema and parse it.

        Raises :class:`~xrm_core.errors.InvalidManifest` listing every problem,
        each pointing into ``doc``.
        """
        problems = check_manifest(doc)
        if problems:
            name = doc.get("name") if isinstance(doc, Mapping) else None
            who = f"of {name!r} " if isinstance(name, str) else ""
            raise InvalidManifest(f"the plugin manifest {who}is not valid", problems)
        return cls(
            name=doc["name"],
            version=Version(doc["version"]),
            description=doc.get("description", ""),
            core=SpecifierSet(doc.get("core", "")),
            dependencies={
                name: SpecifierSet(spec) for name, spec in doc.get("dependencies", {}).items()
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest's JSON form (what :meth:`from_dict` reads)."""
        return {
            "name": self.name,
            "version": semver(self.version),
            "description": self.description,
            "core": str(self.core),
            "dependencies": {name: str(spec) for name, spec in self.dependencies.items()},
        }


def manifest_schema_path() -> Path:
    """Where ``plugin-manifest.schema.json`` lives (the repository's ``schemas/`` folder)."""
    bundled = resources.files("xrm_core").joinpath("schemas/plugin-manifest.schema.json")
    if bundled.is_file():
        return Path(str(bundled))
    return Path(__file__).resolve().parents[2] / "schemas" / "plugin-manifest.schema.json"


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(manifest_schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def check_manifest(doc: Any) -> list[Problem]:
    """Every problem with a manifest, sorted by where it is; empty when it is valid."""
    if not isinstance(doc, Mapping):
        return [Problem("", "a plugin manifest must be a JSON object")]
    problems = [p for e in _validator().iter_errors(doc) for p in _plain(e)]
    if not problems:
        problems = list(_check_parsing(doc))
    return sorted(dict.fromkeys(problems), key=lambda p: p.pointer)


def _plain(error: SchemaError) -> list[Problem]:
    """Rephrase a schema error for a person, pointing at the culprit."""
    path = [str(p) for p in error.absolute_path]
    value = error.instance
    is_key = "propertyNames" in error.relative_schema_path
    if is_key:
        # A bad key is reported on the object holding it; point at the key.
        path.append(str(value))
    where = pointer(*path)
    if error.validator == "required":
        return [Problem(where, f"missing required key {error.message.split(chr(39))[1]!r}")]
    if error.validator == "additionalProperties" and isinstance(value, Mapping):
        extra = sorted(set(value) - set(error.schema.get("properties", {})))
        return [Problem(pointer(*path, key), f"unknown key {key!r}") for key in extra]
    if error.validator == "not" and path == ["name"]:
        return [Problem(where, f"{value!r} is reserved for an administrator's own customizations")]
    if error.validator == "not":
        why = "the core's version goes in 'core'" if value == "core" else "it is reserved"
        return [Problem(where, f"a plugin cannot be called {value!r}: {why}")]
    if error.validator in ("pattern", "maxLength") and isinstance(value, str):
        if path == ["version"]:
            why = "is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)"
        elif not is_key and path[0] in ("core", "dependencies"):
            why = f"is not a version range: {_RANGE_HELP}"
        else:
            why = (
                "is a bad name: use lower snake_case, starting with a letter, at most 40 characters"
            )
        return [Problem(where, f"{value!r} {why}")]
    return [Problem(where, error.message)]


def _check_parsing(doc: Mapping[str, Any]) -> Iterable[Problem]:
    """What the schema lets through but packaging cannot read."""
    try:
        Version(doc["version"])
    except InvalidVersion:
        yield Problem(
            "/version",
            f"{doc['version']!r}: xRM orders pre-releases named alpha, beta or rc "
            "(1.0.0-rc.1), not others",
        )
    ranges: list[tuple[tuple[str, ...], Any]] = [(("core",), doc.get("core", ""))]
    ranges += [(("dependencies", k), v) for k, v in doc.get("dependencies", {}).items()]
    for path, spec in ranges:
        try:
            SpecifierSet(spec)
        except InvalidSpecifier:
            yield Problem(pointer(*path), f"{spec!r} is not a version range: {_RANGE_HELP}")
    if doc["name"] in doc.get("dependencies", {}):
        yield Problem(pointer("dependencies", doc["name"]), "a plugin cannot depend on itself")


def semver(version: Version) -> str:
    """``version`` written as a semantic version (``2.0.0rc1`` → ``2.0.0-rc.1``).

    Versions semver cannot say (post-releases, epochs, four numbers) come back
    as packaging writes them, so that the manifest check reports them.
    """
    release = version.release + (0,) * (3 - len(version.release))
    if len(release) != 3 or version.epoch or version.post is not None:
        return str(version)
    text = ".".join(map(str, release))
    if version.pre is not None:
        text += f"-{_PRE_RELEASES[version.pre[0]]}.{version.pre[1]}"
    elif version.dev is not None:
        text += f"-dev.{version.dev}"
    if version.local is not None:
        text += f"+{version.local}"
    return text


def manifest_from_distribution(dist_name: str) -> dict[str, Any]:
    """What an installed package's metadata says of the plugin it carries.

    Returns a partial manifest (without ``name``): ``version`` (as semver),
    ``description`` (the package summary), ``core`` (the package's requirement on
    the ``xrm`` distribution, if any) and ``dependencies`` — the requirements on
    other plugins' packages: a required package declaring ``xrm.plugins`` entry
    points stands for those plugins; one not installed counts when it is named
    ``xrm-<plugin>``. Requirements for extras or other platforms are left out.
    """
    dist = metadata.distribution(dist_name)
    try:
        version: str = semver(Version(dist.version))
    except InvalidVersion:
        version = dist.version
    summary = dist.metadata.get_all("Summary", [""])[0]
    doc: dict[str, Any] = {"version": version, "description": summary or ""}
    dependencies: dict[str, str] = {}
    for text in dist.requires or ():
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue  # pip installed it, so its own tools read it; nothing for us here
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if canonicalize_name(req.name) == CORE_DISTRIBUTION:
            doc["core"] = str(req.specifier)
            continue
        for plugin in _plugins_of(req.name):
            dependencies[plugin] = str(req.specifier)
    doc["dependencies"] = dict(sorted(dependencies.items()))
    return doc


def _plugins_of(dist_name: str) -> list[str]:
    """The plugins a distribution carries (its ``xrm.plugins`` entry points)."""
    try:
        entry_points = metadata.distribution(dist_name).entry_points
    except metadata.PackageNotFoundError:
        prefix = f"{CORE_DISTRIBUTION}-"
        name = canonicalize_name(dist_name)
        return [name.removeprefix(prefix).replace("-", "_")] if name.startswith(prefix) else []
    return sorted(ep.name for ep in entry_points if ep.group == ENTRY_POINT_GROUP)


def resolve(manifests: Iterable[Manifest], core_version: str | Version) -> list[Manifest]:
    """The plugins in install order: each after the plugins it depends on.

    Plugins with no order between them come alphabetically, so the order is the
    same on every machine. Raises, naming the plugins involved:
    :class:`~xrm_core.errors.DuplicatePlugin`, :class:`~xrm_core.errors.MissingDependency`,
    :class:`~xrm_core.errors.PluginVersionConflict` (with another plugin or with
    the core), :class:`~xrm_core.errors.DependencyCycle`.
    """
    core = Version(str(core_version))
    by_name: dict[str, Manifest] = {}
    for manifest in manifests:
        if manifest.name in by_name:
            raise DuplicatePlugin(
                f"two plugins are called {manifest.name!r}",
                details={"plugins": [manifest.name]},
            )
        by_name[manifest.name] = manifest
    _check_needs(by_name, core)
    return _in_dependency_order(by_name)


def _check_needs(by_name: Mapping[str, Manifest], core: Version) -> None:
    missing, conflicts = [], []
    for name, manifest in sorted(by_name.items()):
        if not manifest.core.contains(core, prereleases=True):
            conflicts.append(
                Problem(
                    pointer(name, "core"),
                    f"{name!r} needs the xRM core {manifest.core} but the core is {core}",
                )
            )
        for dep, spec in manifest.dependencies.items():
            wanted = f" ({spec})" if str(spec) else ""
            if dep not in by_name:
                missing.append(
                    Problem(
                        pointer(name, "dependencies", dep),
                        f"{name!r} needs {dep!r}{wanted}, which is not installed",
                    )
                )
            elif not spec.contains(by_name[dep].version, prereleases=True):
                conflicts.append(
                    Problem(
                        pointer(name, "dependencies", dep),
                        f"{name!r} needs {dep!r} {spec} but {dep!r} is {by_name[dep].version}",
                    )
                )
    # Missing plugins first: installing them may well settle the version conflicts too.
    for error, problems in ((MissingDependency, missing), (PluginVersionConflict, conflicts)):
        if problems:
            plugins = sorted({p.pointer.split("/")[1] for p in problems})
            raise error("; ".join(p.message for p in problems), problems, {"plugins": plugins})


def _in_dependency_order(by_name: Mapping[str, Manifest]) -> list[Manifest]:
    """Kahn's algorithm, taking the alphabetically first ready plugin at each step."""
    waiting = {name: set(m.dependencies) for name, m in by_name.items()}
    needed_by: dict[str, list[str]] = {name: [] for name in by_name}
    for name, deps in waiting.items():
        for dep in deps:
            needed_by[dep].append(name)
    ready = [name for name, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[Manifest] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(by_name[name])
        for other in needed_by[name]:
            waiting[other].discard(name)
            if not waiting[other]:
                heapq.heappush(ready, other)
    if len(order) < len(by_name):
        cycle = _a_cycle({n: deps for n, deps in waiting.items() if deps})
        raise DependencyCycle(
            "plugins depend on each other in a circle: " + " -> ".join(cycle),
            [
                Problem(pointer(a, "dependencies", b), f"{a!r} needs {b!r}")
                for a, b in itertools.pairwise(cycle)
            ],
            {"plugins": sorted(set(cycle))},
        )
    return order


def _a_cycle(waiting: Mapping[str, set[str]]) -> list[str]:
    """One cycle among plugins that all still wait, as ``[a, b, c, a]``.

    Every plugin here waits for another that also waits, so walking from the
    first name, always to the first waited-for name, must come back to a name
    already seen; the cycle starts at its alphabetically first member.
    """
    path = [min(waiting)]
    while True:
        step = min(waiting[path[-1]])
        if step in path:
            cycle = path[path.index(step) :]
            start = cycle.index(min(cycle))
            cycle = cycle[start:] + cycle[:start]
            return [*cycle, cycle[0]]
        path.append(step)
