"""Renames: which old name of an entity's field or relationship becomes which new one.

A plan is told renames (``{old: new}`` per entity); otherwise a new name reads
as "remove one, add another", which drops data. Fields and many-to-many
relationships share one namespace (the meta-schema refuses a relationship named
as a field), so a rename may not take a name either held before the change.
"""

from __future__ import annotations

from collections.abc import Mapping

from xrm_core.errors import DefinitionError, Problem, pointer
from xrm_core.metadata.definition import EntityDefinition


def check_renames(old: EntityDefinition, new: EntityDefinition, renames: Mapping[str, str]) -> None:
    """Raise :class:`DefinitionError` unless each rename turns a field (or relationship)
    of ``old`` into a field (or relationship) of ``new`` under a name nothing held.

    Each problem points at ``/renames/<old name>``. A relationship keeps its target.
    """
    problems = []
    targets = list(renames.values())
    for src, dst in renames.items():
        sort = what(old, src)
        if sort is None:
            found: str | None = f"no field or relationship {src!r} to rename"
        elif what(new, dst) != sort:
            found = f"new name {dst!r} is not a {sort} of the new definition"
        else:
            found = _taken(old, new, src, dst)
        if found is None and sort == "relationship":
            found = _retargeted(old, new, src, dst)
        if found is None and targets.count(dst) > 1:
            found = f"several {sort}s are renamed to {dst!r}"
        if found is not None:
            problems.append(Problem(pointer("renames", src), found))
    if problems:
        raise DefinitionError(f"bad renames for entity {old.name!r}", problems)


def what(definition: EntityDefinition, name: str) -> str | None:
    """``"field"`` or ``"relationship"``: what ``name`` is in ``definition`` (None: nothing)."""
    if definition.has_field(name):
        return "field"
    return "relationship" if any(r.name == name for r in definition.relationships) else None


def _taken(old: EntityDefinition, new: EntityDefinition, src: str, dst: str) -> str | None:
    """Why ``src`` cannot become ``dst``: ``dst`` held before the change, or ``src`` still defined.

    A name held before is refused even when that part goes in the same change
    (swapping two names, a field's and a relationship's too): remove it first.
    """
    held = what(old, dst)
    if held is not None:
        return f"{dst!r} is already a {held}: remove it first"
    if what(new, src) is not None:
        return f"{src!r} is still defined"
    return None


def _retargeted(old: EntityDefinition, new: EntityDefinition, src: str, dst: str) -> str | None:
    """Why a renamed relationship cannot keep its links: it points elsewhere now."""
    before, after = old.relationship(src).target, new.relationship(dst).target
    if before == after:
        return None
    return (
        f"relationship {src!r} links to {before!r}, {dst!r} to {after!r}: a relationship "
        "keeps its target (remove it and add a new one)"
    )
