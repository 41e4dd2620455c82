"""Planning many-to-many relationships: added, removed, renamed, their attributes changed.

A relationship's links live in its link table (``<entity>__<name>``), one row a
link, one column a link attribute. Renaming a relationship renames that table,
so every link is kept. Attributes change as fields do, and are classified by the
same rules (:func:`~xrm_core.metadata.plan.change_steps`): adding an optional
one is safe, a required one breaking, removing one destructive, a conversion
safe, breaking or destructive by what it may lose. A relationship keeps its
target: pointing it elsewhere would leave every link pointing at the wrong kind
of record, so that is a removal and an addition.

Attribute steps name the relationship (by its new name) in ``field`` and the
attribute in ``details["attribute"]``; when the same change renames the
relationship, ``details["from"]`` says the name its link table still has.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from xrm_core.errors import DefinitionError, Problem, pointer
from xrm_core.metadata.definition import EntityDefinition, ManyToMany, humanize
from xrm_core.metadata.plan import Safety, Step, change_steps

#: Field-change actions and what they are called for a link attribute.
_ATTRIBUTE_ACTIONS = {"convert_field": "convert_attribute", "change_field": "change_attribute"}


def relationship_steps(
    old: EntityDefinition, new: EntityDefinition, renames: Mapping[str, str]
) -> list[Step]:
    """Steps turning ``old``'s relationships into ``new``'s (``renames``: checked, old → new)."""
    renamed = {a: b for a, b in renames.items() if any(r.name == a for r in old.relationships)}
    before = {renamed.get(r.name, r.name): r for r in old.relationships}
    after = {r.name: r for r in new.relationships}
    steps = []
    for name, rel in before.items():
        if name not in after:
            steps.append(
                Step(
                    "remove_relationship",
                    new.name,
                    Safety.DESTRUCTIVE,
                    f"remove relationship {new.name}.{rel.name} and its links",
                    field=rel.name,
                )
            )
    for name, rel in after.items():
        if name not in before:
            steps.append(
                Step(
                    "add_relationship",
                    new.name,
                    Safety.SAFE,
                    f"add relationship {new.name}.{name} to {rel.target!r}",
                    field=name,
                )
            )
        else:
            steps.extend(_changed(new, before[name], rel))
    return steps


def _changed(new: EntityDefinition, old: ManyToMany, rel: ManyToMany) -> Iterator[Step]:
    """Steps changing ``old`` into ``rel`` (the same relationship, maybe renamed)."""
    at = _at(new, rel.name)
    if old.target != rel.target:
        raise DefinitionError(
            f"cannot change the target of relationship {new.name}.{rel.name}",
            [
                Problem(
                    pointer(*at, "target"),
                    "a relationship keeps its target: remove it and add a new one",
                )
            ],
        )
    moved = {"from": old.name} if old.name != rel.name else {}
    if moved:
        yield Step(
            "rename_relationship",
            new.name,
            Safety.SAFE,
            f"rename relationship {new.name}.{old.name} to {rel.name!r}; links kept",
            field=rel.name,
            details=moved,
        )
    if old.label != rel.label and not _derived_label(old, rel):
        yield Step(
            "change_relationship",
            new.name,
            Safety.SAFE,
            f"change label of relationship {new.name}.{rel.name}",
            field=rel.name,
        )
    yield from _attribute_steps(new, old, rel, moved)


def _derived_label(old: ManyToMany, rel: ManyToMany) -> bool:
    """True when neither label was written: each is made from its name (a rename says it)."""
    return old.label == humanize(old.name) and rel.label == humanize(rel.name)


def _attribute_steps(
    new: EntityDefinition, old: ManyToMany, rel: ManyToMany, moved: Mapping[str, Any]
) -> Iterator[Step]:
    where = f"{new.name}.{rel.name}"
    before = {a.name: a for a in old.attributes}
    after = {a.name: a for a in rel.attributes}
    for name in [n for n in before if n not in after]:
        yield Step(
            "remove_attribute",
            new.name,
            Safety.DESTRUCTIVE,
            f"remove attribute {where}.{name} and its values",
            field=rel.name,
            details={"attribute": name, **moved},
        )
    for name, attribute in after.items():
        if name not in before:
            yield Step(
                "add_attribute",
                new.name,
                Safety.BREAKING if attribute.required else Safety.SAFE,
                f"add attribute {where}.{name}",
                field=rel.name,
                details={"attribute": name, **moved},
            )
            continue
        at = (*_at(new, rel.name), "attributes", name)
        for step in change_steps(
            new.name, before[name], attribute, where=f"{where}.{name}", at=at, noun="attribute"
        ):
            yield Step(
                _ATTRIBUTE_ACTIONS[step.action],
                new.name,
                step.safety,
                step.description,
                field=rel.name,
                details={**step.details, "attribute": name, **moved},
            )


def _at(definition: EntityDefinition, name: str) -> tuple[str | int, ...]:
    """Where relationship ``name`` is declared in ``definition``'s document."""
    names = [r.name for r in definition.relationships]
    return ("x-xrm", "relationships", names.index(name))
