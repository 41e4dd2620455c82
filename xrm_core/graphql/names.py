"""GraphQL names for what metadata declares: one rule each, and no two things alike.

Entity, field and relationship names are lower snake_case (``[a-z][a-z0-9_]*``),
which are valid GraphQL names already, so record fields keep their names.
What the API adds is told apart by capital letters, which no declared name has:

- an entity's object type is its name in PascalCase (``work_order`` →
  ``WorkOrder``; an underscore stays where no letter follows it, so
  ``item_2`` → ``Item_2`` differs from ``item2`` → ``Item2``); a name a
  built-in type holds (``Query``, ``Date``, ``PageInfo``...) gets ``_Record``;
- the types made for an entity add ``_`` and a capitalized word
  (``WorkOrder_Filter``, ``Work_Order``): no entity type has ``_`` before a
  capital, so ``work`` and ``work_order`` never meet;
- root and relation fields are camelCase (``contactList``, ``createContact``,
  ``contactListByAccount``, ``leadQualify``), never a declared name.
"""

from __future__ import annotations

import keyword
import re

#: Types of every schema; an entity whose PascalCase name is one of these gets ``_Record``.
RESERVED_TYPES = frozenset(
    {
        "String",
        "Int",
        "Float",
        "Boolean",
        "ID",
        "Query",
        "Mutation",
        "Subscription",
        "JSON",
        "Date",
        "DateTime",
        "Decimal",
        "BigInt",
        "PageInfo",
        "SortDirection",
        "Reference",
        "ReferenceInput",
        "ReferenceFilter",
        "ReferenceOrder",
        "DeleteResult",
        "StringFilter",
        "IntFilter",
        "BigIntFilter",
        "DecimalFilter",
        "BooleanFilter",
        "DateFilter",
        "DateTimeFilter",
        "IDFilter",
        "JSONFilter",
        "MultiChoiceFilter",
    }
)

_ENUM_VALUE = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_NOT_ENUM_VALUES = frozenset({"true", "false", "null"})
#: Prefix of a Python attribute that stands for a GraphQL field named like a keyword.
ESCAPE = "X_"


def pascal(name: str) -> str:
    """``work_order`` → ``WorkOrder``; ``item_2`` → ``Item_2`` (one name, one result)."""
    out = []
    for i, part in enumerate(name.split("_")):
        if part[:1].isalpha():
            out.append(part[0].upper() + part[1:])
        else:  # empty, or a digit first: keep the underscore so the name stays distinct
            out.append(("_" if i else "") + part)
    return "".join(out)


def entity_type(entity: str) -> str:
    """The object type of ``entity``."""
    name = pascal(entity)
    return f"{name}_Record" if name in RESERVED_TYPES else name


def entity_part(entity: str, word: str) -> str:
    """A type made for ``entity``: ``Contact_Filter``."""
    return f"{pascal(entity)}_{word}"


def field_part(entity: str, field: str, word: str) -> str:
    """A type made for one field or relationship: ``Deal_Stage_Choice``."""
    return f"{pascal(entity)}_{pascal(field)}_{word}"


def list_field(entity: str) -> str:
    """The root field listing ``entity``: ``contactList``."""
    return f"{entity}List"


def reverse_field(entity: str, field: str, links: bool = False) -> str:
    """The field listing ``entity`` records that point here through ``field``.

    ``contactListByAccount`` (a lookup), ``contactLinksByTags`` (many-to-many).
    """
    return f"{entity}{'Links' if links else 'List'}By{pascal(field)}"


def mutation_field(verb: str, entity: str) -> str:
    """``createContact``, ``updateContact``, ``deleteContact``."""
    return f"{verb}{pascal(entity)}"


def action_field(entity: str, action: str) -> str:
    """The mutation running an action: ``lead.qualify`` → ``leadQualify``."""
    return f"{entity}{pascal(action)}"


def python_name(name: str) -> str:
    """A Python attribute for the GraphQL field ``name`` (keywords are escaped)."""
    return f"{ESCAPE}{name}" if keyword.iskeyword(name) else name


def unescape(attribute: str) -> str:
    """The GraphQL field name of a Python attribute made by :func:`python_name`."""
    return attribute[len(ESCAPE) :] if attribute.startswith(ESCAPE) else attribute


def enum_values(choices: tuple[str, ...]) -> bool:
    """True when every choice can be a GraphQL enum value (else the field is a String)."""
    return bool(choices) and all(
        _ENUM_VALUE.fullmatch(c) and c not in _NOT_ENUM_VALUES and not c.startswith("_")
        for c in choices
    )
