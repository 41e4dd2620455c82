"""The entity designer's draft: an entity's JSON Schema document as form rows.

A draft is what the editor shows: the entity's settings, one row per field,
relationship (with a row per link attribute), alternate key and index.
:func:`draft_from_doc` makes the rows of a document; :func:`read_draft` reads
them back from a submitted form. :mod:`admin_ui.designer_doc` turns a draft
back into a document, merged over the definition in force.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xrm_core.metadata.definition import ANY_ENTITY, Kind, humanize, infer_kind

#: Input id → the messages shown next to it.
Errors = dict[str, list[str]]
#: The kinds whose default the editor offers, by how it is typed.
TEXT_DEFAULT_KINDS = frozenset({"string", "text", "email", "phone", "url", "choice"})
NUMBER_DEFAULT_KINDS = frozenset({"integer", "decimal", "money"})
DEFAULT_KINDS = TEXT_DEFAULT_KINDS | NUMBER_DEFAULT_KINDS | {"boolean", "date"}
#: The kinds with a pattern and a minimum length in the editor.
PATTERN_KINDS = frozenset({"string", "text", "email", "phone", "url"})


def token() -> str:
    """A new row's key in the form (rows are not numbered: htmx adds them anywhere)."""
    return "n" + secrets.token_hex(4)


@dataclass
class FieldRow:
    """One field (or link attribute) as the form shows it; numbers are kept as typed."""

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
    min_length: str = ""
    pattern: str = ""
    #: The default as typed ("" for none; booleans "true" / "false").
    default: str = ""
    choices: str = ""
    target: str = ""
    targets: list[str] = field(default_factory=list)
    any_entity: bool = False
    on_delete: str = "set_null"
    minimum: str = ""
    maximum: str = ""
    precision: str = ""
    scale: str = ""
    secured: bool = False
    audited: bool = True
    #: The token of the relationship this row is a link attribute of ("" for a field).
    relation: str = ""

    @property
    def prefix(self) -> str:
        """What this row's input names and ids begin with: ``f`` field, ``a`` attribute."""
        return "a" if self.relation else "f"

    @property
    def list_name(self) -> str:
        """The form input listing the tokens of this row and its siblings."""
        return f"r.{self.relation}.attribute" if self.relation else "field"

    def id(self, attr: str) -> str:
        """The HTML id of this row's input ``attr``."""
        return f"{self.prefix}-{self.token}-{attr}"

    def input(self, attr: str) -> str:
        """The form name of this row's input ``attr``."""
        return f"{self.prefix}.{self.token}.{attr}"


@dataclass
class RelationRow:
    """A many-to-many relationship and its link attributes."""

    token: str
    name: str = ""
    orig: str = ""
    target: str = ""
    label: str = ""
    attributes: list[FieldRow] = field(default_factory=list)

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
    audited: bool = True
    #: The entity's version when editing began (0 for a new entity).
    version: int = 0
    fields: list[FieldRow] = field(default_factory=list)
    relations: list[RelationRow] = field(default_factory=list)
    keys: list[KeyRow] = field(default_factory=list)

    def row(self, token: str) -> FieldRow | None:
        """The field or link attribute row keyed ``token``."""
        rows = self.fields + [a for r in self.relations for a in r.attributes]
        return next((r for r in rows if r.token == token), None)

    def relation(self, token: str) -> RelationRow | None:
        """The relationship row keyed ``token``."""
        return next((r for r in self.relations if r.token == token), None)


# -- document → draft ------------------------------------------------------


def draft_from_doc(
    doc: Mapping[str, Any], base: Mapping[str, Any] | None, version: int, renames: Mapping[str, str]
) -> Draft:
    """The rows of ``doc``; ``base`` is the document in force (None for a new entity).

    ``renames`` (old name → new, of fields and relationships) say which rows
    were renamed from a stored one.
    """
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
    base_rels = {r.get("name"): r for r in (base or {}).get("x-xrm", {}).get("relationships", [])}
    relations = [
        _relation_row(
            r, old_name.get(r["name"], r["name"] if r["name"] in base_rels else ""), base_rels
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
        audited=xrm.get("audit", True) is not False,
        version=version,
        fields=rows,
        relations=relations,
        keys=keys,
    )


def _relation_row(
    rel: Mapping[str, Any], orig: str, base_rels: Mapping[str, Mapping[str, Any]]
) -> RelationRow:
    row = RelationRow(token(), rel["name"], orig, rel["target"], rel.get("label", ""))
    stored = base_rels.get(orig, {}).get("attributes", {}) if orig else {}
    required = set(rel.get("required", []))
    for name, prop in rel.get("attributes", {}).items():
        attribute = _field_row(name, prop, name in required, name if name in stored else "")
        attribute.relation = row.token
        row.attributes.append(attribute)
    return row


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
        min_length=_text(prop.get("minLength")),
        pattern=_text(prop.get("pattern")),
        default=_default_text(prop),
        choices="\n".join(choices),
        target=xrm.get("target", ""),
        targets=[] if targets == ANY_ENTITY else list(targets),
        any_entity=targets == ANY_ENTITY,
        on_delete=xrm.get("on_delete", "set_null"),
        minimum=_text(prop.get("minimum")),
        maximum=_text(prop.get("maximum")),
        precision=_text(xrm.get("precision")),
        scale=_text(xrm.get("scale")),
        secured=bool(xrm.get("secured")),
        audited=xrm.get("audit", True) is not False,
    )


def _default_text(prop: Mapping[str, Any]) -> str:
    """The stored default as the form shows it (JSON for booleans: ``true``, ``false``)."""
    if "default" not in prop:
        return ""
    value = prop["default"]
    return json.dumps(value) if isinstance(value, bool) or value is None else _text(value)


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
        audited=value("e.audit") == "on",
        version=int(version) if version.isdigit() else 0,
    )
    draft.fields = [_read_field(value, values, "f", t) for t in values("field")]
    for t in values("relation"):
        get = _reader(value, f"r.{t}.")
        relation = RelationRow(t, get("name"), get("orig"), get("target"), get("label"))
        for a in values(f"r.{t}.attribute"):
            attribute = _read_field(value, values, "a", a)
            attribute.relation = t
            relation.attributes.append(attribute)
        draft.relations.append(relation)
    for t in values("key"):
        get = _reader(value, f"k.{t}.")
        kind = "ix" if get("kind") == "ix" else "ak"
        unique = get("unique") == "on"
        draft.keys.append(
            KeyRow(t, kind, get("fields"), unique, get("orig_name"), get("orig_fields"))
        )
    return draft


def _read_field(
    value: Callable[[str], str], values: Callable[[str], list[str]], prefix: str, t: str
) -> FieldRow:
    get = _reader(value, f"{prefix}.{t}.")
    return FieldRow(
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
        min_length=get("min_length"),
        # A pattern's spaces are part of it.
        pattern=value(f"{prefix}.{t}.pattern"),
        default=get("default"),
        choices=get("choices"),
        target=get("target"),
        targets=values(f"{prefix}.{t}.targets"),
        any_entity=get("any_entity") == "on",
        on_delete=get("on_delete") or "set_null",
        minimum=get("minimum"),
        maximum=get("maximum"),
        precision=get("precision"),
        scale=get("scale"),
        secured=get("secured") == "on",
        audited=get("audited") == "on",
    )


def _reader(value: Callable[[str], str], prefix: str) -> Callable[[str], str]:
    def get(attr: str) -> str:
        return value(prefix + attr).strip()

    return get


def new_field(kind: str = Kind.STRING.value, relation: str = "") -> FieldRow:
    """A blank field row (a link attribute of relationship row ``relation`` when given)."""
    return FieldRow(token(), kind=kind, relation=relation)


def placeholder_label(row: FieldRow) -> str:
    """What the field is called when its label is left empty."""
    return humanize(row.name) if row.name else ""
