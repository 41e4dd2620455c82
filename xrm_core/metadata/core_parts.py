"""What the core declares on its entities stays: administrators extend them, never cut them.

Security reads the core entities' fields and relationships by name (a user's
roles, a team's members, a role's privileges), so a change that removes or
renames one would break every permission check after it. Fields and
relationships an administrator added to a core entity change like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from xrm_core.errors import DefinitionError, Problem, pointer

Parts = dict[str, tuple[frozenset[str], frozenset[str]]]


@cache
def _declared() -> Parts:
    # Imported here: the core plugin imports the security service, which imports metadata.
    from xrm_core.plugins.core import xrm_entity_schemas

    return {
        s["x-xrm"]["name"]: (frozenset(s.get("properties", {})), _links(s))
        for s in xrm_entity_schemas()
    }


def _links(doc: Mapping[str, Any]) -> frozenset[str]:
    found = doc.get("x-xrm", {}).get("relationships", [])
    if not isinstance(found, list):
        return frozenset()
    return frozenset(r["name"] for r in found if isinstance(r, Mapping) and "name" in r)


def check_core_parts(
    schemas: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    renames: Mapping[str, Mapping[str, str]] | None,
    is_core: Callable[[str], bool],
) -> None:
    """Raise :class:`DefinitionError` when ``schemas`` or ``renames`` drop a core part.

    ``is_core(name)`` says whether ``name`` is a core entity of this database.
    A malformed document is left to the meta-schema, which reports it better.
    """
    declared = _declared()
    problems: list[Problem] = []
    for entity, names in renames.items() if isinstance(renames, Mapping) else ():
        if entity in declared and is_core(entity) and isinstance(names, Mapping):
            fields, links = declared[entity]
            problems += [
                Problem(
                    pointer("renames", old),
                    f"{entity}.{old} is part of the core: it keeps its name",
                )
                for old in names
                if old in fields | links
            ]
    docs = [schemas] if isinstance(schemas, Mapping) else schemas
    if not isinstance(docs, list | tuple):
        docs = []  # not definitions at all: the meta-schema says so
    for doc in docs:
        meta = doc.get("x-xrm") if isinstance(doc, Mapping) else None
        named = meta.get("name") if isinstance(meta, Mapping) else None
        if not isinstance(named, str) or named not in declared or not is_core(named):
            continue
        props = doc.get("properties")
        kept = set(props) if isinstance(props, Mapping) else set()
        fields, links = declared[named]
        problems += [
            Problem(pointer("properties", name), f"{named}.{name} is part of the core: it stays")
            for name in sorted(fields - kept)
        ]
        problems += [
            Problem(
                pointer("x-xrm", "relationships"),
                f"{named}.{name} is part of the core: it stays",
            )
            for name in sorted(links - _links(doc))
        ]
    if problems:
        raise DefinitionError("the core's own fields and relationships cannot change", problems)
