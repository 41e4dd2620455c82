"""Where the entity designer shows a problem: next to the input its JSON pointer concerns.

Problems come from the meta-schema and the plan (``DefinitionError.problems``),
each located by a JSON pointer into the draft's document; the editor's inputs
have ids made by the rows (:meth:`FieldRow.id` and the like).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from admin_ui.designer_form import Draft, Errors, FieldRow, RelationRow
from xrm_core.errors import Problem

# -- problems → inputs ------------------------------------------------------

#: A field's sub-path (first key, or the key under ``x-xrm``) → the input it concerns.
_FIELD_INPUTS = {
    "kind": "kind",
    "type": "kind",
    "format": "kind",
    "title": "label",
    "label": "label",
    "description": "description",
    "maxLength": "max_length",
    "minLength": "min_length",
    "pattern": "pattern",
    "default": "default",
    "secured": "secured",
    "audit": "audited",
    "enum": "choices",
    "items": "choices",
    "target": "target",
    "targets": "targets",
    "on_delete": "on_delete",
    "minimum": "minimum",
    "maximum": "maximum",
    "precision": "precision",
    "scale": "scale",
    "unique": "unique",
    "indexed": "indexed",
}
_ENTITY_INPUTS = {
    "name": "e-name",
    "label": "e-label",
    "title": "e-label",
    "plural": "e-plural",
    "ownership": "e-ownership",
    "audit": "e-audit",
}
_RELATION_INPUTS = {"name": "name", "target": "target", "label": "label"}


def place(
    problems: Sequence[Problem], draft: Draft, doc: Mapping[str, Any]
) -> tuple[Errors, list[str]]:
    """Each problem next to its input (by id); those that concern no input, apart."""
    errors: Errors = {}
    general: list[str] = []
    for problem in problems:
        where = input_for(problem.pointer, draft, doc)
        if where is None:
            general.append(str(problem))
        else:
            errors.setdefault(where, []).append(problem.message)
    return errors, general


def input_for(pointer: str, draft: Draft, doc: Mapping[str, Any]) -> str | None:
    """The id of the input a JSON pointer into the draft's document concerns, if any."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    head, rest = (parts[0], parts[1:]) if parts else ("", [])
    if head == "properties" and rest:
        return _field_input(draft.fields, rest[0], rest[1:])
    if head == "required" and rest and rest[0].isdigit():
        names = doc.get("required", [])
        index = int(rest[0])
        return (
            _field_input(draft.fields, names[index], ["required"]) if index < len(names) else None
        )
    if head == "renames" and rest:  # a field's or a relationship's old name
        renamed = [r.id("name") for r in draft.fields if r.orig == rest[0]]
        renamed += [r.id("name") for r in draft.relations if r.orig == rest[0]]
        return renamed[0] if renamed else None
    if head == "description":
        return "e-description"
    if head == "title":
        return "e-label"
    if head == "x-xrm" and rest:
        return _entity_input(draft, rest)
    return None


def _field_input(rows: Sequence[FieldRow], name: str, sub: list[str]) -> str | None:
    row = next((r for r in rows if r.name == name), None)
    if row is None:
        return None
    if sub[:1] == ["required"]:
        return row.id("required")
    if not sub and row.pattern:  # "its rules cannot be applied": the pattern, most likely
        return row.id("pattern")
    if sub == ["x-xrm"]:  # a lookup's missing target(s), said of its x-xrm
        return row.id({"lookup": "target", "polymorphic_lookup": "targets"}.get(row.kind, "kind"))
    key = sub[1] if sub[:1] == ["x-xrm"] and len(sub) > 1 else (sub[0] if sub else "")
    return row.id(_FIELD_INPUTS.get(key, "name"))


def _entity_input(draft: Draft, rest: list[str]) -> str | None:
    if rest[0] in _ENTITY_INPUTS:
        return _ENTITY_INPUTS[rest[0]]
    if len(rest) < 2 or not rest[1].isdigit():
        return None
    index = int(rest[1])
    if rest[0] == "relationships" and index < len(draft.relations):
        return _relation_input(draft.relations[index], rest[2:])
    kind = {"alternate_keys": "ak", "indexes": "ix"}.get(rest[0])
    rows = [k for k in draft.keys if k.kind == kind]
    return rows[index].id("fields") if kind and index < len(rows) else None


def _relation_input(relation: RelationRow, sub: list[str]) -> str | None:
    """The input a pointer under ``/x-xrm/relationships/<i>`` concerns."""
    attributes = relation.attributes
    if sub[:1] == ["attributes"] and len(sub) > 1:
        return _field_input(attributes, sub[1], sub[2:]) or relation.id("name")
    if sub[:1] == ["required"] and len(sub) > 1 and sub[1].isdigit():
        required = [a.name for a in attributes if a.required]
        index = int(sub[1])
        return (
            _field_input(attributes, required[index], ["required"])
            if index < len(required)
            else None
        )
    return relation.id(_RELATION_INPUTS.get(sub[0] if sub else "", "name"))


#: Each input's name in the error summary.
_INPUT_NAMES = {
    "name": "name",
    "kind": "kind",
    "label": "label",
    "description": "description",
    "required": "required",
    "unique": "unique",
    "indexed": "indexed",
    "max_length": "maximum length",
    "min_length": "minimum length",
    "pattern": "pattern",
    "default": "default",
    "secured": "secured",
    "audited": "audited",
    "choices": "choices",
    "target": "target",
    "targets": "targets",
    "on_delete": "delete behaviour",
    "minimum": "minimum",
    "maximum": "maximum",
    "precision": "digits in all",
    "scale": "digits after the point",
    "fields": "fields",
}


def where(errors: Errors, draft: Draft) -> dict[str, str]:
    """What each input with an error is, for the summary: ``field 'plate', maximum length``."""
    named: dict[str, str] = {}
    for input_id in errors:
        kind, _, rest = input_id.partition("-")
        row_token, _, attr = rest.partition("-")
        what = _INPUT_NAMES.get(attr, attr)
        if kind in ("f", "a"):
            row = draft.row(row_token)
            named[input_id] = f"{_row_name(draft, row)}, {what}" if row else what
        elif kind == "r":
            found = next((r for r in draft.relations if r.token == row_token), None)
            named[input_id] = f"relationship {found.name!r}, {what}" if found else what
        elif kind in ("ak", "ix"):
            named[input_id] = "alternate key" if kind == "ak" else "index"
        else:
            named[input_id] = {
                "e-name": "name",
                "e-label": "label",
                "e-plural": "plural label",
                "e-ownership": "records owned by",
                "e-audit": "audited",
            }.get(input_id, input_id.removeprefix("e-"))
    return {k: v[:1].upper() + v[1:] for k, v in named.items()}


def _row_name(draft: Draft, row: FieldRow) -> str:
    """``field 'plate'``, or ``attribute 'weight' of relationship 'tags'``."""
    if not row.relation:
        return f"field {row.name or '(new)'!r}"
    relation = draft.relation(row.relation)
    of = f" of relationship {relation.name or '(new)'!r}" if relation else ""
    return f"attribute {row.name or '(new)'!r}{of}"
