"""Plans: what changing the definitions will do, each step classified before anything runs.

:func:`diff` compares the definitions in force with the wanted ones and lists
the steps. Steps are *safe* (nothing breaks, nothing is lost), *breaking*
(callers or existing records may no longer fit, but no data is lost) or
*destructive* (data is dropped or converted with loss; needs confirmation).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from xrm_core.errors import DefinitionError, Problem, pointer
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind, humanize
from xrm_core.metadata.renames import check_renames

_TEXTUAL = frozenset({Kind.STRING, Kind.TEXT, Kind.EMAIL, Kind.PHONE, Kind.URL, Kind.CHOICE})
_NUMERIC = frozenset({Kind.INTEGER, Kind.DECIMAL, Kind.MONEY})

#: Kind changes that can never lose or reject a value.
SAFE_CONVERSIONS: frozenset[tuple[Kind, Kind]] = frozenset(
    {(a, b) for a in _TEXTUAL for b in (Kind.STRING, Kind.TEXT)}
    | {(a, b) for a in _NUMERIC for b in (Kind.STRING, Kind.TEXT)}
    | {(Kind.INTEGER, Kind.DECIMAL), (Kind.INTEGER, Kind.MONEY)}
    | {(Kind.DATE, Kind.DATETIME), (Kind.CHOICE, Kind.MULTI_CHOICE)}
    | {(a, Kind.JSON) for a in Kind if a not in (Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP)}
)

#: Ends the description of a conversion that may lose values.
LOSSY_NOTE = " (values that cannot be converted are dropped)"

#: Kinds whose values cannot be converted to or from anything else.
_UNCONVERTIBLE = frozenset({Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP})


class Safety(IntEnum):
    """How risky a step is; a plan is as risky as its riskiest step."""

    SAFE = 0
    BREAKING = 1
    DESTRUCTIVE = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Step:
    """One change. ``action`` is one of the names in :data:`ACTIONS`."""

    action: str
    entity: str
    safety: Safety
    description: str
    field: str | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "action": self.action,
            "entity": self.entity,
            "field": self.field,
            "safety": str(self.safety),
            "description": self.description,
            "details": dict(self.details),
        }


ACTIONS = (
    "create_entity",
    "drop_entity",
    "change_entity",
    "add_field",
    "remove_field",
    "rename_field",
    "change_field",
    "convert_field",
    "add_index",
    "drop_index",
    "add_relationship",
    "remove_relationship",
    "rename_relationship",
    "change_relationship",
    "add_attribute",
    "remove_attribute",
    "convert_attribute",
    "change_attribute",
    "clear_references",
)

#: Actions that change records, not the schema (the metadata service runs them).
DATA_ACTIONS = frozenset({"clear_references"})


@dataclass(frozen=True)
class Plan:
    """An ordered list of steps; ``applied`` says whether it has been carried out."""

    steps: tuple[Step, ...] = ()
    applied: bool = False
    exports: tuple[str, ...] = ()

    @property
    def safety(self) -> Safety:
        """The riskiest step's class (safe for an empty plan)."""
        return max((s.safety for s in self.steps), default=Safety.SAFE)

    @property
    def is_empty(self) -> bool:
        """True when nothing would change."""
        return not self.steps

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "safety": str(self.safety),
            "applied": self.applied,
            "steps": [s.to_dict() for s in self.steps],
            "exports": list(self.exports),
        }

    def __str__(self) -> str:
        if not self.steps:
            return "nothing to change"
        return "\n".join(f"[{s.safety}] {s.description}" for s in self.steps)


def diff(
    current: Mapping[str, EntityDefinition],
    wanted: Iterable[EntityDefinition],
    renames: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Step]:
    """Steps turning ``current`` into ``wanted`` (entities not named are untouched).

    ``renames`` maps an entity name to ``{old_name: new_name}``, each the name
    of a field or of a many-to-many relationship.
    """
    steps: list[Step] = []
    wanted = list(wanted)
    for i, new in enumerate(wanted):
        old = current.get(new.name)
        if old is None:
            steps.append(
                Step("create_entity", new.name, Safety.SAFE, f"create entity {new.name!r}")
            )
            continue
        entity_renames = (renames or {}).get(new.name, {})
        check_renames(old, new, entity_renames)
        try:
            steps.extend(_diff_entity(old, new, entity_renames))
        except DefinitionError as error:
            if len(wanted) == 1:
                raise
            # Several documents: point into the right one, as the checker's problems do.
            located = [Problem(pointer(i) + p.pointer, p.message) for p in error.problems]
            raise DefinitionError(error.message, located) from None
    return steps


def drop_steps(definition: EntityDefinition) -> list[Step]:
    """The single step that drops an entity and its data."""
    return [
        Step(
            "drop_entity",
            definition.name,
            Safety.DESTRUCTIVE,
            f"drop entity {definition.name!r} and all its records",
        )
    ]


def _diff_entity(
    old: EntityDefinition, new: EntityDefinition, renames: Mapping[str, str]
) -> list[Step]:
    if old.ownership != new.ownership:
        raise DefinitionError(
            f"cannot change the ownership of entity {old.name!r}",
            [Problem(pointer("x-xrm", "ownership"), "ownership cannot change once defined")],
        )
    # Relationship planning builds on this module's field classification.
    from xrm_core.metadata import relationship_plan

    fields = {a: b for a, b in renames.items() if old.has_field(a)}  # the rest: relationships
    steps: list[Step] = []
    labels = [k for k, v in _entity_labels(old).items() if _entity_labels(new)[k] != v]
    if labels:
        what = ", ".join(labels)
        steps.append(Step("change_entity", new.name, Safety.SAFE, f"change {new.name!r}: {what}"))
    # Metadata only (no DDL), like labels; a renamed title field is the same title.
    if tuple(renames.get(n, n) for n in old.title_fields) != new.title_fields:
        title = ", ".join(new.title_fields) or "none declared"
        steps.append(
            Step("change_entity", new.name, Safety.SAFE, f"name {new.name!r} records by: {title}")
        )
    steps.extend(_field_steps(old, new, fields))
    steps.extend(_index_steps(old, new, fields))
    steps.extend(relationship_plan.relationship_steps(old, new, renames))
    if not steps and _as_json(old.schema) != _as_json(new.schema):
        # Whatever else the document says differently (a default now written
        # out, say) is still stored: nothing the author wrote is dropped silently.
        steps.append(
            Step("change_entity", new.name, Safety.SAFE, f"change the document of {new.name!r}")
        )
    return steps


def _entity_labels(d: EntityDefinition) -> dict[str, Any]:
    """What names and describes an entity: metadata only, no DDL."""
    return {
        "label": d.label,
        "plural": d.plural,
        "description": d.schema.get("description"),
        "x-xrm.description": d.schema.get("x-xrm", {}).get("description"),
        "audit": d.audited,
    }


def _as_json(doc: Mapping[str, Any]) -> Any:
    """``doc`` as it reads back from the database (tuples become lists)."""
    return json.loads(json.dumps(doc, sort_keys=True, default=str))


def _field_steps(
    old: EntityDefinition, new: EntityDefinition, renames: Mapping[str, str]
) -> list[Step]:
    steps: list[Step] = []
    renamed_to = dict(renames)
    for f in old.fields:
        if f.name in renamed_to:
            dst = renamed_to[f.name]
            steps.append(
                Step(
                    "rename_field",
                    new.name,
                    Safety.BREAKING,
                    f"rename field {new.name}.{f.name} to {dst!r} (values kept)",
                    field=dst,
                    details={"from": f.name},
                )
            )
        elif not new.has_field(f.name):
            steps.append(
                Step(
                    "remove_field",
                    new.name,
                    Safety.DESTRUCTIVE,
                    f"remove field {new.name}.{f.name} and its values",
                    field=f.name,
                )
            )
    old_names = {renamed_to.get(f.name, f.name): f for f in old.fields}
    for f in new.fields:
        before = old_names.get(f.name)
        if before is None:
            safety = Safety.BREAKING if f.required else Safety.SAFE
            steps.append(
                Step("add_field", new.name, safety, f"add field {new.name}.{f.name}", field=f.name)
            )
        else:
            source = before.name
            if source != f.name:
                # A rename is its own step; a label derived from the name follows it.
                derived = before.label == humanize(before.name) and f.label == humanize(f.name)
                before = dataclasses.replace(
                    before, name=f.name, label=f.label if derived else before.label
                )
            for step in change_steps(new.name, before, f):
                if step.action == "convert_field" and source != f.name:
                    # The values to convert are read before the rename, under the old name.
                    step = dataclasses.replace(step, details={**step.details, "from": source})
                steps.append(step)
    return steps


def change_steps(
    entity: str,
    old: FieldDefinition,
    new: FieldDefinition,
    *,
    where: str | None = None,
    at: tuple[str | int, ...] | None = None,
    noun: str = "field",
) -> list[Step]:
    """The ``convert_field`` or ``change_field`` step (or none) of a field that changed.

    The one classification of a field's change, used for link attributes too:
    ``where`` names it in descriptions (``entity.field``), ``at`` points at it
    in the document (``/properties/field``), ``noun`` says what it is.
    Raises :class:`DefinitionError` for a change no data could follow.
    """
    where = where or f"{entity}.{new.name}"
    at = at or ("properties", new.name)
    if old.kind != new.kind or _storage(old) != _storage(new):
        if old.kind in _UNCONVERTIBLE or new.kind in _UNCONVERTIBLE:
            raise DefinitionError(
                f"cannot change {noun} {where} from {old.kind} to {new.kind}",
                [
                    Problem(
                        pointer(*at),
                        "lookups cannot change kind; add a new field and remove this one",
                    )
                ],
            )
        same_or_safe = old.kind == new.kind or (old.kind, new.kind) in SAFE_CONVERSIONS
        safe = same_or_safe and _fits(old, new)
        return [
            Step(
                "convert_field",
                entity,
                _conversion_safety(old, new, safe),
                f"convert {noun} {where} from {_describe(old)} to {_describe(new)}"
                + ("" if safe else LOSSY_NOTE),
                field=new.name,
                details={"from_kind": old.kind.value, "to_kind": new.kind.value},
            )
        ]
    if old.target != new.target or not _widens(old, new):
        raise DefinitionError(
            f"cannot change the target of lookup {where}",
            [Problem(pointer(*at, "x-xrm"), "add a new lookup instead")],
        )
    if old == new and _description(old) == _description(new):
        return []
    return [
        Step(
            "change_field",
            entity,
            _rule_safety(old, new),
            f"change {noun} {where}: {', '.join(_changed_rules(old, new))}",
            field=new.name,
        )
    ]


def _widens(old: FieldDefinition, new: FieldDefinition) -> bool:
    """True when every value ``old`` accepts ``new`` accepts too (same or more targets).

    Widening changes nothing stored; narrowing could strand existing references.
    """
    if new.any_entity:
        return True
    return not old.any_entity and set(old.targets) <= set(new.targets)


def _conversion_safety(old: FieldDefinition, new: FieldDefinition, safe: bool) -> Safety:
    """Wider digits of the same kind change nothing for callers; a new kind does."""
    if not safe:
        return Safety.DESTRUCTIVE
    return Safety.SAFE if old.kind == new.kind else Safety.BREAKING


def _storage(f: FieldDefinition) -> tuple[Kind, int, int]:
    return (f.kind, f.precision or 0, f.scale or 0)


def _fits(old: FieldDefinition, new: FieldDefinition) -> bool:
    """True unless a fixed-point value may not fit the new column's digits."""
    fixed = (Kind.DECIMAL, Kind.MONEY)
    if old.kind not in fixed or new.kind not in fixed:
        # Integers are measured against the data before applying, which catches
        # the rare value too large for the new column.
        return True
    old_scale, new_scale = old.scale or 0, new.scale or 0
    old_whole = (old.precision or 0) - old_scale
    new_whole = (new.precision or 0) - new_scale
    return new_scale >= old_scale and new_whole >= old_whole


def _describe(f: FieldDefinition) -> str:
    if f.kind in (Kind.DECIMAL, Kind.MONEY):
        return f"{f.kind}({f.precision},{f.scale})"
    return str(f.kind)


_RULES = (
    "required",
    "unique",
    "indexed",
    "max_length",
    "min_length",
    "pattern",
    "minimum",
    "maximum",
    "choices",
    "targets",
    "any_entity",
    "default",
    "label",
    "on_delete",
    "secured",
    "audited",
)


def _changed_rules(old: FieldDefinition, new: FieldDefinition) -> list[str]:
    changed = [r for r in _RULES if getattr(old, r) != getattr(new, r)]
    if old.has_default != new.has_default and "default" not in changed:
        changed.append("default")  # a default of null, written or taken away
    if _description(old) != _description(new):
        changed.append("description")  # words for people: stored, no DDL
    return changed


def _description(f: FieldDefinition) -> Any:
    return f.schema.get("description")


def _rule_safety(old: FieldDefinition, new: FieldDefinition) -> Safety:
    """Tightening a rule may leave existing records invalid; loosening is safe."""
    tighter = (
        (new.required and not old.required)
        or (new.unique and not old.unique)
        or _lower(new.max_length, old.max_length)
        or _higher(new.min_length, old.min_length)
        or (new.pattern is not None and new.pattern != old.pattern)
        or _higher(new.minimum, old.minimum)
        or _lower(new.maximum, old.maximum)
        or bool(set(old.choices) - set(new.choices))
    )
    return Safety.BREAKING if tighter else Safety.SAFE


def _lower(new: float | None, old: float | None) -> bool:
    return new is not None and (old is None or new < old)


def _higher(new: float | None, old: float | None) -> bool:
    return new is not None and (old is None or new > old)


def _index_steps(
    old: EntityDefinition, new: EntityDefinition, renames: Mapping[str, str]
) -> list[Step]:
    def keyed(d: EntityDefinition, names: Mapping[str, str]) -> dict[str, Any]:
        return {
            i.name: (tuple(names.get(f, f) for f in i.fields), i.unique) for i in d.all_indexes()
        }

    before = keyed(old, renames)
    after = keyed(new, {})
    # A renamed field's index is recreated under its new name.
    renamed = {f"uq_{a}": f"uq_{b}" for a, b in renames.items()} | {
        f"ix_{a}": f"ix_{b}" for a, b in renames.items()
    }
    steps = []
    for name, (fields, unique) in before.items():
        if after.get(name) != (fields, unique) or name in renamed:
            steps.append(
                Step(
                    "drop_index",
                    new.name,
                    Safety.BREAKING if unique else Safety.SAFE,
                    f"drop {'unique ' if unique else ''}index {name} on {new.name}",
                    details={"index": name},
                )
            )
    for name, (fields, unique) in after.items():
        if before.get(name) != (fields, unique) or name in renamed.values():
            steps.append(
                Step(
                    "add_index",
                    new.name,
                    Safety.BREAKING if unique else Safety.SAFE,
                    f"add {'unique ' if unique else ''}index {name} on {new.name}"
                    f"({', '.join(fields)})",
                    details={"index": name},
                )
            )
    return steps
