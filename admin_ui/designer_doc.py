"""The entity designer's draft back to a JSON Schema document, merged over the one in force.

Whatever the form does not show (a multiple choice's default, a JSON field's
schema) is kept from the definition in force; what it shows is put over it,
an emptied input removing its key so that the default applies.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from admin_ui.designer_form import (
    DEFAULT_KINDS,
    NUMBER_DEFAULT_KINDS,
    PATTERN_KINDS,
    Draft,
    Errors,
    FieldRow,
    KeyRow,
)
from xrm_core.metadata.definition import (
    ANY_ENTITY,
    DEFAULT_PRECISION,
    NUMBER_KINDS,
    TEXT_KINDS,
    Kind,
)

Doc = dict[str, Any]


def doc_from_draft(
    draft: Draft, base: Mapping[str, Any] | None
) -> tuple[Doc, dict[str, str], Errors]:
    """The document ``draft`` stands for, merged over ``base``; its renames; form errors.

    Renames (old name → new) are of fields and relationships alike, as
    ``xrm.metadata.plan(renames={entity: ...})`` takes them. Form errors (a
    missing or repeated name, a number that is not one) are the form's own:
    when there are any the document is not worth checking.
    """
    errors: Errors = {}
    doc: Doc = copy.deepcopy(dict(base)) if base else {"x-xrm": {"name": draft.name}}
    xrm = doc.setdefault("x-xrm", {})
    # The form shows the title when no label is set: written out only when it changed,
    # or reviewing an unchanged entity would plan a change of its document.
    if base is None or draft.label != (xrm.get("label") or doc.get("title", "")):
        _put(xrm, "label", draft.label)
    _put(xrm, "plural", draft.plural)
    _put(doc, "description", draft.description)
    # Sent as chosen: for an existing entity the plan says whether it may change.
    xrm["ownership"] = draft.ownership
    _switch(xrm, "audit", draft.audited)
    renames: dict[str, str] = {}
    props, required = _properties(draft.fields, doc.get("properties", {}), renames, errors)
    doc["properties"] = props
    _put(doc, "required", required)
    field_renames = dict(renames)
    _put_list(xrm, "relationships", _relationships(draft, xrm, renames, errors))
    for kind, key in (("ak", "alternate_keys"), ("ix", "indexes")):
        rows = [k for k in draft.keys if k.kind == kind]
        _put_list(xrm, key, [_index(k, field_renames) for k in rows])
    return doc, renames, errors


def _properties(
    rows: list[FieldRow], stored: Mapping[str, Any], renames: dict[str, str], errors: Errors
) -> tuple[Doc, list[str]]:
    """The properties of ``rows`` over the ``stored`` ones, and the required names."""
    props: Doc = {}
    for row in rows:
        what = "attribute" if row.relation else "field"
        if not row.name:
            errors.setdefault(row.id("name"), []).append(f"give the {what} a name")
            continue
        if row.name in props:
            errors.setdefault(row.id("name"), []).append(
                f"another {what} is already called {row.name!r}"
            )
            continue
        base_prop = stored.get(row.orig) if row.orig else None
        props[row.name] = _field_schema(row, base_prop, errors)
        if row.orig and row.orig != row.name and base_prop is not None:
            renames[row.orig] = row.name
    required = [r.name for r in rows if r.required and r.name]
    return props, list(dict.fromkeys(required))


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``, or remove it when ``value`` is empty (the default applies then)."""
    if value is None or value is False or (isinstance(value, str | list) and not value):
        target.pop(key, None)
    else:
        target[key] = value


def _switch(target: dict[str, Any], key: str, on: bool) -> None:
    """A switch that is on unless said otherwise: only ``false`` is written."""
    if on:
        target.pop(key, None)
    else:
        target[key] = False


def _put_list(target: dict[str, Any], key: str, value: list[Any]) -> None:
    if value:
        target[key] = value
    else:
        target.pop(key, None)


def _field_schema(row: FieldRow, base: Mapping[str, Any] | None, errors: Errors) -> Doc:
    """One property: the stored one (same kind) with what the form shows put over it."""
    same_kind = base is not None and base.get("x-xrm", {}).get("kind") == row.kind
    prop: Doc = copy.deepcopy(dict(base)) if same_kind and base is not None else {}
    xrm = prop.setdefault("x-xrm", {})
    xrm["kind"] = row.kind
    if "label" in xrm:
        _put(xrm, "label", row.label)
    else:
        _put(prop, "title", row.label)
    _put(prop, "description", row.description)
    if not row.relation:  # link tables have no indexes of their own, nor field security
        _put(xrm, "unique", row.unique)
        _put(xrm, "indexed", row.indexed)
        _put(xrm, "secured", row.secured)
        _switch(xrm, "audit", row.audited)

    def number(attr: str, value: str, whole: bool = True) -> int | float | None:
        return _number(row, attr, value, whole, errors)

    if row.kind in TEXT_KINDS:
        _put(prop, "maxLength", number("max_length", row.max_length))
    if row.kind in PATTERN_KINDS:
        _put(prop, "minLength", number("min_length", row.min_length))
        _put(prop, "pattern", row.pattern)
    _choices(row, prop)
    _references(row, xrm)
    if row.kind in NUMBER_KINDS:
        whole = row.kind == Kind.INTEGER  # an integer's bounds are whole numbers
        _put(prop, "minimum", number("minimum", row.minimum, whole))
        _put(prop, "maximum", number("maximum", row.maximum, whole))
    if row.kind in DEFAULT_PRECISION:
        _put(xrm, "precision", number("precision", row.precision))
        _put(xrm, "scale", number("scale", row.scale))
    if row.kind in DEFAULT_KINDS:
        default = _default(row, errors)
        if default is None:
            prop.pop("default", None)
        else:
            prop["default"] = default
    return prop


def _choices(row: FieldRow, prop: Doc) -> None:
    choices = [c.strip() for c in row.choices.splitlines() if c.strip()]
    if row.kind == Kind.CHOICE:
        _put(prop, "enum", choices)
    elif row.kind == Kind.MULTI_CHOICE:
        prop["items"] = {**prop.get("items", {}), "enum": choices}
        if not choices:
            del prop["items"]["enum"]


def _references(row: FieldRow, xrm: Doc) -> None:
    if row.kind == Kind.LOOKUP:
        _put(xrm, "target", row.target)
    if row.kind == Kind.POLYMORPHIC_LOOKUP:
        xrm["targets"] = ANY_ENTITY if row.any_entity else list(row.targets)
    if row.kind in (Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP):
        xrm["on_delete"] = row.on_delete


def _default(row: FieldRow, errors: Errors) -> Any:
    """The default the row's input says (None for none); the core checks it fits the field."""
    text = row.default
    if not text:
        return None
    if row.kind == Kind.BOOLEAN:
        if text in ("true", "false"):
            return json.loads(text)
        errors.setdefault(row.id("default"), []).append("choose yes, no or no default")
        return None
    if row.kind in NUMBER_DEFAULT_KINDS:
        return _number(row, "default", text, row.kind == Kind.INTEGER, errors)
    return text


def _number(row: FieldRow, attr: str, text: str, whole: bool, errors: Errors) -> int | float | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    if not whole:
        try:
            return float(text)
        except ValueError:
            pass
    what = "a whole number" if whole else "a number"
    errors.setdefault(row.id(attr), []).append(f"{text!r} is not {what}")
    return None


def _relationships(
    draft: Draft, xrm: Mapping[str, Any], renames: dict[str, str], errors: Errors
) -> list[Doc]:
    stored = {r.get("name"): r for r in xrm.get("relationships", [])}
    found = []
    for row in draft.relations:
        rel: Doc = copy.deepcopy(dict(stored.get(row.orig, {}))) if row.orig else {}
        rel["name"] = row.name
        rel["target"] = row.target
        _put(rel, "label", row.label)
        # A link attribute renamed is removed and added: renames name fields and relationships.
        attributes, required = _properties(row.attributes, rel.get("attributes", {}), {}, errors)
        _put(rel, "attributes", attributes or None)
        _put(rel, "required", required)
        if row.orig and row.orig != row.name and row.orig in stored:
            renames[row.orig] = row.name
        found.append(rel)
    return found


def _index(row: KeyRow, renames: Mapping[str, str]) -> Doc:
    # A renamed field is renamed in the keys that name it, too.
    fields = [renames.get(f.strip(), f.strip()) for f in row.fields.split(",") if f.strip()]
    index: Doc = {"fields": fields}
    if row.orig_name and row.fields == row.orig_fields:
        index["name"] = row.orig_name
    if row.kind == "ix" and row.unique:
        index["unique"] = True
    return index
