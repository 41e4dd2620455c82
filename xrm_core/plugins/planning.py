"""What installing or upgrading plugins would change: target definitions, roles, migrations.

:func:`target` asks each plugin for its declarations and merges them over the
database (:mod:`xrm_core.plugins.merge`), checking ownership against the ledger:
a plugin may create its own entities, extend its dependencies' ones, and take
back what it released when uninstalled keeping its data — nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from xrm_core.errors import DefinitionError, OwnershipConflict, Problem, pointer
from xrm_core.metadata.definition import normalize
from xrm_core.metadata.service import MetadataService
from xrm_core.metadata.validation import check
from xrm_core.plugins.declarations import EntityExtension, Migration, RoleSpec
from xrm_core.plugins.ledger import InstalledPlugin, Part
from xrm_core.plugins.manager import contributions
from xrm_core.plugins.manifest import Manifest
from xrm_core.plugins.merge import extend_entity, merge_entity, merge_named

Doc = dict[str, Any]


@dataclass
class Declared:
    """What one plugin declares at the version being installed."""

    manifest: Manifest
    installed: InstalledPlugin | None
    entities: dict[str, Doc] = field(default_factory=dict)
    extensions: dict[str, Doc] = field(default_factory=dict)
    roles: dict[str, Doc] = field(default_factory=dict)
    migrations: list[Migration] = field(default_factory=list)
    subscribers: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.manifest.name

    @property
    def shipped(self) -> dict[str, Any]:
        """What the ledger keeps as the base of the next upgrade's merge."""
        return {"entities": self.entities, "extensions": self.extensions, "roles": self.roles}

    def base(self, kind: str) -> Mapping[str, Any]:
        """What the plugin shipped last time (empty for a first install)."""
        shipped = self.installed.shipped if self.installed else {}
        found: Mapping[str, Any] = shipped.get(kind, {})
        return found

    def parts(self) -> dict[str, set[str]]:
        """The ledger's lines for this plugin: kind → names."""
        fields, relationships = set(), set()
        for entity, doc in [*self.entities.items(), *self.extensions.items()]:
            fields |= {f"{entity}.{name}" for name in doc.get("properties", {})}
            rels = doc.get("relationships") or doc.get("x-xrm", {}).get("relationships", ())
            relationships |= {f"{entity}.{r['name']}" for r in rels}
        return {
            "entity": set(self.entities),
            "field": fields,
            "relationship": relationships,
            "role": set(self.roles),
            "subscriber": self.subscribers,
            "action": self.actions,
        }


def declared(
    pm: pluggy.PluginManager, manifest: Manifest, installed: InstalledPlugin | None
) -> Declared:
    """Ask plugin ``manifest.name`` for everything it declares (normalized)."""
    name = manifest.name
    found = Declared(manifest, installed)

    def ask(hook: str) -> list[Any]:
        return contributions(pm, hook, [name]).get(name, [])

    for doc in ask("xrm_entity_schemas"):
        entity = doc.get("x-xrm", {}).get("name") if isinstance(doc.get("x-xrm"), Mapping) else None
        if not isinstance(entity, str):
            raise DefinitionError(
                f"plugin {name!r} declares an entity without a name",
                [Problem(pointer(name, "x-xrm", "name"), "required")],
            )
        found.entities[entity] = dict(doc)
    for ext in ask("xrm_entity_extensions"):
        found.extensions[ext.entity] = _extension_doc(ext)
    for role in ask("xrm_roles"):
        found.roles[role.name] = role_doc(role)
    found.migrations = list(ask("xrm_migrations"))
    found.subscribers = {s.name for s in ask("xrm_subscribers")}
    found.actions = {a.qualified_name for a in ask("xrm_actions")}
    return found


def role_doc(role: RoleSpec) -> Doc:
    """A role as the ledger keeps it: description and privilege cells."""
    cells = {f"{c.entity}/{c.privilege}": c.scope for c in role.privileges}
    return {"description": role.description, "privileges": cells}


def _extension_doc(ext: EntityExtension) -> Doc:
    doc: Doc = {"properties": {k: dict(v) for k, v in ext.properties.items()}}
    if ext.required:
        doc["required"] = list(ext.required)
    if ext.relationships:
        doc["relationships"] = [dict(r) for r in ext.relationships]
    return doc


@dataclass(frozen=True)
class Target:
    """The definitions a batch of plugins wants, and which plugin changes each.

    The plugin changing an entity it creates owns it; an extension's plugin
    changes its dependency's entity but does not own it.
    """

    definitions: dict[str, Doc]
    owners: dict[str, str]
    #: Entities the batch's plugins stop shipping (an upgrade): dropped after the sync.
    dropped: tuple[str, ...] = ()
    #: Entities the batch creates, by creating plugin.
    created: Mapping[str, str] = field(default_factory=dict)


def target(
    metadata: MetadataService,
    batch: Sequence[Declared],
    ledger: Sequence[Part],
    dependencies: Mapping[str, set[str]],
) -> Target:
    """Merge the batch's declarations over the database, in dependency order.

    ``dependencies`` gives every plugin of the batch its dependencies,
    transitively. Raises :class:`OwnershipConflict` when a plugin declares what
    another owns, and :class:`DefinitionError` (naming the plugin) when its
    definitions are not valid.
    """
    owner_of = {(p.kind, p.name): p for p in ledger}
    docs: dict[str, Doc] = {}
    owners: dict[str, str] = {}
    created: dict[str, str] = {}
    dropped: list[str] = []
    known = {d.name for d in metadata.entities()} | {e for p in batch for e in p.entities}
    for plugin in batch:
        _normalize_entities(plugin, known)
        for entity, new in plugin.entities.items():
            _check_entity_owner(metadata, plugin.name, entity, owner_of)
            current = docs.get(entity) or _current(metadata, entity)
            base = plugin.base("entities").get(entity)
            docs[entity] = merge_entity(base, current, new)
            owners[entity] = plugin.name
            if current is None:
                created[entity] = plugin.name
        for entity in plugin.base("entities"):
            if entity not in plugin.entities and metadata.exists(entity):
                dropped.append(entity)
        gone: dict[str, Doc] = {
            e: {} for e in plugin.base("extensions") if e not in plugin.extensions
        }
        for entity, ext in {**gone, **plugin.extensions}.items():
            current = docs.get(entity) or _current(metadata, entity)
            if current is None:
                if ext:
                    raise OwnershipConflict(
                        f"plugin {plugin.name!r} extends entity {entity!r}, which does not exist",
                        [Problem(pointer(plugin.name, "extensions", entity), "unknown entity")],
                        {"plugins": [plugin.name]},
                    )
                continue
            holder = created.get(entity) or metadata.owner(entity)
            if ext and holder not in dependencies.get(plugin.name, set()):
                raise OwnershipConflict(
                    f"plugin {plugin.name!r} extends entity {entity!r} of {holder!r}, which is "
                    "not one of its dependencies",
                    [Problem(pointer(plugin.name, "extensions", entity), f"owned by {holder!r}")],
                    {"plugins": [plugin.name, holder]},
                )
            base = plugin.base("extensions").get(entity)
            _check_extension_parts(plugin.name, entity, ext, base, current, owner_of)
            docs[entity] = extend_entity(base, current, ext)
            owners.setdefault(entity, plugin.name)  # the history's author, unless created here
    changed = {
        name: doc for name, doc in docs.items() if _current(metadata, name) != normalize(doc)
    }
    return Target(changed, owners, tuple(dropped), created)


def _normalize_entities(plugin: Declared, known: set[str]) -> None:
    problems = []
    for entity, doc in plugin.entities.items():
        found = check(doc, known)
        problems += [Problem(pointer(plugin.name, entity) + p.pointer, p.message) for p in found]
    if problems:
        raise DefinitionError(
            f"plugin {plugin.name!r} declares entity definitions that are not valid", problems
        )
    plugin.entities = {entity: normalize(doc) for entity, doc in plugin.entities.items()}
    for entity, ext in plugin.extensions.items():
        whole = normalize(
            {
                "x-xrm": {"name": entity, "relationships": ext.get("relationships", [])},
                "properties": ext.get("properties", {}),
            }
        )
        ext["properties"] = whole["properties"]
        if ext.get("relationships"):
            ext["relationships"] = whole["x-xrm"]["relationships"]


def _current(metadata: MetadataService, entity: str) -> Doc | None:
    return dict(metadata.get(entity).schema) if metadata.exists(entity) else None


def _check_entity_owner(
    metadata: MetadataService, plugin: str, entity: str, owner_of: Mapping[tuple[Any, str], Part]
) -> None:
    if not metadata.exists(entity):
        return
    part = owner_of.get(("entity", entity))
    if part is not None and plugin in (part.owner, part.released_by):
        return
    if part is None and metadata.owner(entity) == plugin:
        return  # defined for the plugin before the ledger knew it (the core's, in old databases)
    holder = part.owner if part is not None else metadata.owner(entity)
    raise OwnershipConflict(
        f"plugin {plugin!r} declares entity {entity!r}, which exists already and belongs to "
        f"{holder!r}",
        [Problem(pointer(plugin, "entities", entity), f"owned by {holder!r}")],
        {"plugins": [plugin, holder]},
    )


def _check_extension_parts(
    plugin: str,
    entity: str,
    ext: Doc,
    base: Doc | None,
    current: Doc,
    owner_of: Mapping[tuple[Any, str], Part],
) -> None:
    """An extension may add only fields and relationships nobody else has."""
    had = set((base or {}).get("properties", {}))
    had |= {r["name"] for r in (base or {}).get("relationships", ())}
    existing = set(current.get("properties", {}))
    existing |= {r["name"] for r in current.get("x-xrm", {}).get("relationships", ())}
    problems = []
    for kind, names in (
        ("field", ext.get("properties", {})),
        ("relationship", merge_named({}, {}, {r["name"]: r for r in ext.get("relationships", ())})),
    ):
        for name in names:
            part = owner_of.get((kind, f"{entity}.{name}"))
            mine = name in had or (part is not None and plugin in (part.owner, part.released_by))
            if name in existing and not mine:
                holder = part.owner if part is not None else "custom"
                problems.append(
                    Problem(
                        pointer(plugin, "extensions", entity, name),
                        f"{entity}.{name} exists already and belongs to {holder!r}",
                    )
                )
    if problems:
        raise OwnershipConflict(
            f"plugin {plugin!r} adds to entity {entity!r} what exists already",
            problems,
            {"plugins": [plugin]},
        )
