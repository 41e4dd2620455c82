"""The entity designer's draft: an entity's JSON Schema document as form rows, and back.

A draft is what the editor shows: the entity's label and plural, one row per
field, relationship, alternate key and index. :func:`draft_from_doc` makes the
rows of a document; :func:`read_draft` reads them back from a submitted form;
:func:`doc_from_draft` merges them over the definition in force, so whatever
the form does not show (patterns, defaults, field security, link attributes)
is kept. Problems — the form's own and the meta-schema's, located by JSON
pointers — are placed next to the input they concern by :func:`place`.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xrm_core.metadata.definition import (
    ANY_ENTITY,
    DEFAULT_PRECISION,
    NUMBER_KINDS,
    TEXT_KINDS,
    Kind,
    humanize,
    infer_kind,
)

Doc = dict[str, Any]
#: Input id → the messages shown next to it.
Errors = dict[str, list[str]]


def token() -> str:
    """A new row's key in the form (rows are not numbered: htmx adds them anywhere)."""
    return "n" + secrets.token_hex(4)


@dataclass
class FieldRow:
    """One field as the form shows it; numbers are kept as typed."""

    token: str
    name: str = ""
    #: Its name in the definition in force ("" for a new field): a different name is a rename.
    orig: str = ""
    kind: str = Kind.STRING.value
    label: str = ""
    description: str = ""
    required: bool = False
    unique: bool = False
    indexed: bool = False
    max_length: str = ""
    choices: str = ""
    target: str = ""
    targets: list[str] = field(default_factory=list)
    any_entity: bool = False
    on_delete: str = "set_null"
    minimum: str = ""
    maximum: str = ""
    precision: str = ""
    scale: str = ""

    def id(self, attr: str) -> str:
        """The HTML id of this row's input ``attr``."""
        return f"f-{self.token}-{attr}"


@dataclass
class RelationRow:
    """A many-to-many relationship."""

    token: str
    name: str = ""
    orig: str = ""
    target: str = ""
    label: str = ""

    def id(self, attr: str) -> str:
        """The HTML id of this row's input ``attr``."""
        return f"r-{self.token}-{attr}"


@dataclass
class KeyRow:
    """An alternate key (``ak``) or an index (``ix``); ``fields`` comma-separated."""

    token: str
    kind: str
    fields: str = ""
    unique: bool = False
    #: The stored name and fields, kept while the fields stay the same.
    orig_name: str = ""
    orig_fields: str = ""

    def id(self, attr: str) -> str:
        """The HTML id of this row's input ``attr``."""
        return f"{self.kind}-{self.token}-{attr}"


@dataclass
class Draft:
    """An entity being edited."""

    name: str
    label: str = ""
    plural: str = ""
    description: str = ""
    ownership: str = "user"
    #: The entity's version when editing began (0 for a new entity).
    version: int = 0
    fields: list[FieldRow] = field(default_factory=list)
    relations: list[RelationRow] = field(default_factory=list)
    keys: list[KeyRow] = field(default_factory=list)

    def row(self, token: str) -> FieldRow | None:
        """The field row keyed ``token``."""
        return next((r for r in self.fields if r.token == token), None)


# -- document → draft ------------------------------------------------------


def draft_from_doc(
    doc: Mapping[str, Any], base: Mapping[str, Any] | None, version: int, renames: Mapping[str, str]
) -> Draft:
    """The rows of ``doc``; ``base`` is the document in force (None for a new entity)."""
    xrm = doc.get("x-xrm", {})
    base_props = (base or {}).get("properties", {})
    old_name = {new: old for old, new in renames.items()}
    required = set(doc.get("required", []))
    rows = [
        _field_row(
            name, prop, name in required, old_name.get(name, name if name in base_props else "")
        )
        for name, prop in doc.get("properties", {}).items()
    ]
    base_rels = {r.get("name") for r in (base or {}).get("x-xrm", {}).get("relationships", [])}
    relations = [
        RelationRow(
            token(),
            r["name"],
            r["name"] if r["name"] in base_rels else "",
            r["target"],
            r.get("label", ""),
        )
        for r in xrm.get("relationships", [])
    ]
    keys = [_key_row("ak", k) for k in xrm.get("alternate_keys", [])]
    keys += [_key_row("ix", k) for k in xrm.get("indexes", [])]
    return Draft(
        name=xrm.get("name", ""),
        label=xrm.get("label") or doc.get("title", ""),
        plural=xrm.get("plural", ""),
        description=doc.get("description", ""),
        ownership=xrm.get("ownership", "user"),
        version=version,
        fields=rows,
        relations=relations,
        keys=keys,
    )


def _field_row(name: str, prop: Mapping[str, Any], required: bool, orig: str) -> FieldRow:
    xrm = prop.get("x-xrm", {})
    kind = infer_kind(prop)
    choices = prop.get("enum") or (prop.get("items") or {}).get("enum") or []
    targets = xrm.get("targets", [])
    return FieldRow(
        token=token(),
        name=name,
        orig=orig,
        kind=kind.value if kind else str(xrm.get("kind", "")),
        label=xrm.get("label") or prop.get("title") or "",
        description=prop.get("description", ""),
        required=required,
        unique=bool(xrm.get("unique")),
        indexed=bool(xrm.get("indexed")),
        max_length=_text(prop.get("maxLength")),
        choices="\n".join(choices),
        target=xrm.get("target", ""),
        targets=[] if targets == ANY_ENTITY else list(targets),
        any_entity=targets == ANY_ENTITY,
        on_delete=xrm.get("on_delete", "set_null"),
        minimum=_text(prop.get("minimum")),
        maximum=_text(prop.get("maximum")),
        precision=_text(xrm.get("precision")),
        scale=_text(xrm.get("scale")),
    )


def _key_row(kind: str, index: Mapping[str, Any]) -> KeyRow:
    fields = ", ".join(index.get("fields", []))
    name = index.get("name", "")
    return KeyRow(token(), kind, fields, bool(index.get("unique")), name, fields)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# -- form → draft -----------------------------------------------------------


def read_draft(value: Callable[[str], str], values: Callable[[str], list[str]], name: str) -> Draft:
    """The draft a submitted editor form holds (``value``/``values`` read the form)."""
    version = value("version")
    draft = Draft(
        name=name,
        label=value("e.label").strip(),
        plural=value("e.plural").strip(),
        description=value("e.description").strip(),
        ownership=value("e.ownership") or "user",
        version=int(version) if version.isdigit() else 0,
    )
    for t in values("field"):
        get = _reader(value, f"f.{t}.")
        draft.fields.append(
            FieldRow(
                token=t,
                name=get("name"),
                orig=get("orig"),
                kind=get("kind"),
                label=get("label"),
                description=get("description"),
                required=get("required") == "on",
                unique=get("unique") == "on",
                indexed=get("indexed") == "on",
                max_length=get("max_length"),
                choices=get("choices"),
                target=get("target"),
                targets=values(f"f.{t}.targets"),
                any_entity=get("any_entity") == "on",
                on_delete=get("on_delete") or "set_null",
                minimum=get("minimum"),
                maximum=get("maximum"),
                precision=get("precision"),
                scale=get("scale"),
            )
        )
    for t in values("relation"):
        get = _reader(value, f"r.{t}.")
        draft.relations.append(
            RelationRow(t, get("name"), get("orig"), get("target"), get("label"))
        )
    for t in values("key"):
        get = _reader(value, f"k.{t}.")
        kind = "ix" if get("kind") == "ix" else "ak"
        unique = get("unique") == "on"
        draft.keys.append(
            KeyRow(t, kind, get("fields"), unique, get("orig_name"), get("orig_fields"))
        )
    return draft


def _reader(value: Callable[[str], str], prefix: str) -> Callable[[str], str]:
    def get(attr: str) -> str:
        return value(prefix + attr).strip()

    return get


# -- draft → document -------------------------------------------------------


def doc_from_draft(
    draft: Draft, base: Mapping[str, Any] | None
) -> tuple[Doc, dict[str, str], Errors]:
    """The document ``draft`` stands for, merged over ``base``; its renames; form errors.

    Form errors (a missing or repeated field name, a number that is not one) are
    the form's own: when there are any the document is not worth checking.
    """
    errors: Errors = {}
    doc: Doc = copy.deepcopy(dict(base)) if base else {"x-xrm": {"name": draft.name}}
    xrm = doc.setdefault("x-xrm", {})
    _put(xrm, "label", draft.label)
    _put(xrm, "plural", draft.plural)
    _put(doc, "description", draft.description)
    if base is None:
        xrm["ownership"] = draft.ownership
    base_props = (base or {}).get("properties", {})
    props: Doc = {}
    renames: dict[str, str] = {}
    for row in draft.fields:
        if not row.name:
            errors.setdefault(row.id("name"), []).append("give the field a name")
            continue
        if row.name in props:
            errors.setdefault(row.id("name"), []).append(
                f"another field is already called {row.name!r}"
            )
            continue
        base_prop = base_props.get(row.orig) if row.orig else None
        props[row.name] = _field_schema(row, base_prop, errors)
        if row.orig and row.orig != row.name and base_prop is not None:
            renames[row.orig] = row.name
    doc["properties"] = props
    required = [r.name for r in draft.fields if r.required and r.name]
    _put(doc, "required", list(dict.fromkeys(required)))
    _put_list(xrm, "relationships", _relationships(draft, xrm))
    for kind, key in (("ak", "alternate_keys"), ("ix", "indexes")):
        rows = [k for k in draft.keys if k.kind == kind]
        _put_list(xrm, key, [_index(k, renames) for k in rows])
    return doc, renames, errors


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``, or remove it when ``value`` is empty (the default applies then)."""
    if value is None or value is False or (isinstance(value, str | list) and not value):
        target.pop(key, None)
    else:
        target[key] = value


def _put_list(target: dict[str, Any], key: str, value: list[Any]) -> None:
    if value or key in target:
        target[key] = value
    if not value:
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
    _put(xrm, "unique", row.unique)
    _put(xrm, "indexed", row.indexed)

    def number(attr: str, value: str, whole: bool = True) -> int | float | None:
        return _number(row, attr, value, whole, errors)

    if row.kind in TEXT_KINDS:
        _put(prop, "maxLength", number("max_length", row.max_length))
    choices = [c.strip() for c in row.choices.splitlines() if c.strip()]
    if row.kind == Kind.CHOICE:
        _put(prop, "enum", choices)
    elif row.kind == Kind.MULTI_CHOICE:
        prop["items"] = {**prop.get("items", {}), "enum": choices}
        if not choices:
            del prop["items"]["enum"]
    if row.kind == Kind.LOOKUP:
        _put(xrm, "target", row.target)
    if row.kind == Kind.POLYMORPHIC_LOOKUP:
        xrm["targets"] = ANY_ENTITY if row.any_entity else list(row.targets)
    if row.kind in (Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP):
        xrm["on_delete"] = row.on_delete
    if row.kind in NUMBER_KINDS:
        _put(prop, "minimum", number("minimum", row.minimum, whole=False))
        _put(prop, "maximum", number("maximum", row.maximum, whole=False))
    if row.kind in DEFAULT_PRECISION:
        _put(xrm, "precision", number("precision", row.precision))
        _put(xrm, "scale", number("scale", row.scale))
    return prop


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


def _relationships(draft: Draft, xrm: Mapping[str, Any]) -> list[Doc]:
    stored = {r.get("name"): r for r in xrm.get("relationships", [])}
    found = []
    for row in draft.relations:
        rel: Doc = copy.deepcopy(dict(stored.get(row.orig, {}))) if row.orig else {}
        rel["name"] = row.name
        rel["target"] = row.target
        _put(rel, "label", row.label)
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


def new_field(kind: str = Kind.STRING.value) -> FieldRow:
    """A blank field row."""
    return FieldRow(token(), kind=kind)


def placeholder_label(row: FieldRow) -> str:
    """What the field is called when its label is left empty."""
    return humanize(row.name) if row.name else ""
