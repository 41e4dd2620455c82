"""Entity definitions: the typed, frozen form of an entity's JSON Schema document.

A definition arrives as a JSON Schema 2020-12 document with ``x-xrm``
annotations. :func:`normalize` fills in what can be inferred (each field's kind,
the JSON Schema ``type`` that goes with it) so that what is stored is complete;
:func:`parse` turns the normalized document into an :class:`EntityDefinition`.
Both assume the document passed :func:`xrm_core.metadata.validation.check`.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: Longest entity, field, index or relationship name (the meta-schema says the same).
MAX_NAME = 40

#: ``x-xrm.targets`` of a polymorphic lookup that may point at a record of any entity.
ANY_ENTITY = "*"


class Kind(StrEnum):
    """How a field is stored and validated."""

    STRING = "string"
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    JSON = "json"
    LOOKUP = "lookup"
    POLYMORPHIC_LOOKUP = "polymorphic_lookup"


class OnDelete(StrEnum):
    """What happens to referring records when the referenced record is deleted."""

    RESTRICT = "restrict"
    CASCADE = "cascade"
    SET_NULL = "set_null"


class Ownership(StrEnum):
    """User-owned records have an owner; organization-owned ones are reference data."""

    USER = "user"
    ORGANIZATION = "organization"


#: Columns every entity table has; no field may use these names.
SYSTEM_COLUMNS = (
    "id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "owner_id",
    "owner_type",
    "business_unit_id",
    "version",
)

#: Kinds compared as text: ``contains`` and ``starts_with`` apply to them.
TEXT_KINDS = frozenset({Kind.STRING, Kind.TEXT, Kind.EMAIL, Kind.PHONE, Kind.URL, Kind.CHOICE})
NUMBER_KINDS = frozenset({Kind.INTEGER, Kind.DECIMAL, Kind.MONEY})
TEMPORAL_KINDS = frozenset({Kind.DATE, Kind.DATETIME})

# The JSON Schema that goes with each kind; merged under what the author wrote.
_KIND_SCHEMA: dict[Kind, dict[str, Any]] = {
    Kind.STRING: {"type": "string"},
    Kind.TEXT: {"type": "string"},
    Kind.INTEGER: {"type": "integer"},
    Kind.DECIMAL: {"type": "number"},
    Kind.MONEY: {"type": "number"},
    Kind.BOOLEAN: {"type": "boolean"},
    Kind.DATE: {"type": "string", "format": "date"},
    Kind.DATETIME: {"type": "string", "format": "date-time"},
    Kind.EMAIL: {"type": "string", "format": "email"},
    Kind.PHONE: {"type": "string"},
    Kind.URL: {"type": "string", "format": "uri"},
    Kind.CHOICE: {"type": "string"},
    Kind.MULTI_CHOICE: {"type": "array", "uniqueItems": True},
    Kind.JSON: {},
    Kind.LOOKUP: {"type": "string", "format": "uuid"},
    Kind.POLYMORPHIC_LOOKUP: {"type": "object"},
}

_FORMAT_KINDS = {
    "date": Kind.DATE,
    "date-time": Kind.DATETIME,
    "email": Kind.EMAIL,
    "uri": Kind.URL,
}
_TYPE_KINDS = {
    "string": Kind.STRING,
    "integer": Kind.INTEGER,
    "number": Kind.DECIMAL,
    "boolean": Kind.BOOLEAN,
    "object": Kind.JSON,
}
#: Digits of decimal and money columns when the definition does not say.
DEFAULT_SCALE = {Kind.DECIMAL: 6, Kind.MONEY: 2}
DEFAULT_PRECISION = {Kind.DECIMAL: 24, Kind.MONEY: 19}


def infer_kind(prop: Mapping[str, Any]) -> Kind | None:
    """The kind a property declares or implies, or None when nothing says."""
    xrm = prop.get("x-xrm", {})
    if isinstance(xrm, Mapping) and "kind" in xrm:
        try:
            return Kind(xrm["kind"])
        except ValueError:
            return None
    if "enum" in prop:
        return Kind.CHOICE
    fmt = prop.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_KINDS:
        return _FORMAT_KINDS[fmt]
    type_ = prop.get("type")
    if type_ == "array" and isinstance(prop.get("items"), Mapping) and "enum" in prop["items"]:
        return Kind.MULTI_CHOICE
    if isinstance(type_, str):
        return _TYPE_KINDS.get(type_)
    return None


def humanize(name: str) -> str:
    """``parking_violation`` → ``Parking violation``."""
    return name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class FieldDefinition:
    """One field of an entity; ``schema`` is its normalized JSON Schema."""

    name: str
    kind: Kind
    label: str
    required: bool = False
    default: Any = None
    has_default: bool = False
    unique: bool = False
    indexed: bool = False
    max_length: int | None = None
    min_length: int | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    target: str | None = None
    targets: tuple[str, ...] = ()
    #: A polymorphic lookup declared with ``"targets": "*"``: any entity, now or later.
    any_entity: bool = False
    on_delete: OnDelete = OnDelete.SET_NULL
    precision: int | None = None
    scale: int | None = None
    #: Field-level security: only field security profiles grant read and write.
    secured: bool = False
    #: Changes of this field go to the audit log (when the entity's do).
    audited: bool = True
    schema: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def columns(self) -> tuple[str, ...]:
        """The table columns that store this field."""
        if self.kind is Kind.POLYMORPHIC_LOOKUP:
            return (f"{self.name}_entity", f"{self.name}_id")
        return (self.name,)

    @property
    def is_reference(self) -> bool:
        """True for lookups of either kind."""
        return self.kind in (Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP)

    def refers_to(self, entity: str) -> bool:
        """True when this field can point at records of ``entity`` (any, for ``"*"``)."""
        return self.any_entity or self.target == entity or entity in self.targets


@dataclass(frozen=True)
class Index:
    """A secondary index, optionally unique (alternate keys are unique indexes)."""

    name: str
    fields: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class ManyToMany:
    """A many-to-many relationship, stored in a generated link table."""

    name: str
    target: str
    attributes: tuple[FieldDefinition, ...] = ()
    label: str = ""

    def link_table(self, entity: str) -> str:
        """The link table's name."""
        return f"{entity}__{self.name}"


@dataclass(frozen=True)
class EntityDefinition:
    """A validated, normalized entity definition."""

    name: str
    label: str
    plural: str
    ownership: Ownership
    fields: tuple[FieldDefinition, ...]
    alternate_keys: tuple[Index, ...] = ()
    indexes: tuple[Index, ...] = ()
    relationships: tuple[ManyToMany, ...] = ()
    #: Changes of this entity's records go to the audit log.
    audited: bool = True
    #: ``x-xrm.title_field``: the fields whose values, joined by a space, name a
    #: record (empty: not declared; interfaces then choose for themselves).
    title_fields: tuple[str, ...] = ()
    schema: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def field(self, name: str) -> FieldDefinition:
        """The field called ``name``; raises KeyError when there is none."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def has_field(self, name: str) -> bool:
        """True when the entity has a field called ``name``."""
        return any(f.name == name for f in self.fields)

    def relationship(self, name: str) -> ManyToMany:
        """The many-to-many relationship called ``name``; raises KeyError."""
        for r in self.relationships:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        """Field names in declaration order."""
        return tuple(f.name for f in self.fields)

    def all_indexes(self) -> tuple[Index, ...]:
        """Every index the table carries: unique fields, indexed fields, lookups, keys."""
        found: dict[str, Index] = {}
        for f in self.fields:
            if f.unique:
                found.setdefault(f"uq_{f.name}", Index(f"uq_{f.name}", (f.name,), unique=True))
            elif f.indexed or f.kind is Kind.LOOKUP:
                found.setdefault(f"ix_{f.name}", Index(f"ix_{f.name}", (f.name,)))
            if f.kind is Kind.POLYMORPHIC_LOOKUP:
                found.setdefault(f"ix_{f.name}", Index(f"ix_{f.name}", (f.name,)))
        for index in (*self.alternate_keys, *self.indexes):
            found.setdefault(index.name, index)
        if self.ownership is Ownership.USER:
            # Permission predicates select by owner and by business unit.
            for column in ("owner_id", "business_unit_id"):
                found.setdefault(f"xrm_{column}", Index(f"xrm_{column}", (column,)))
        return tuple(found.values())


def default_index_name(prefix: str, fields: Sequence[str]) -> str:
    """``ak_first_last``; shortened with a hash so it stays a valid name (40 chars)."""
    name = "_".join((prefix, *fields))
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def normalize(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A complete copy of a checked definition: kinds and types made explicit.

    The copy shares nothing with ``schema``, nor one part with another: a dict
    the caller used for two properties becomes two, each normalized on its own.
    """
    doc: dict[str, Any] = _tree_copy(schema)
    doc.setdefault("$schema", JSON_SCHEMA_DIALECT)
    doc.setdefault("type", "object")
    doc.setdefault("additionalProperties", False)
    xrm = doc.setdefault("x-xrm", {})
    doc.setdefault("title", humanize(xrm["name"]))
    xrm.setdefault("ownership", Ownership.USER.value)
    for name, prop in doc.get("properties", {}).items():
        _normalize_field(name, prop)
    # Index names are made explicit so that the stored document says what the
    # database objects are called, whatever the naming rule becomes later.
    for key, prefix in (("alternate_keys", "ak"), ("indexes", "ix")):
        for index in xrm.get(key, []):
            index.setdefault("name", default_index_name(prefix, index["fields"]))
    for rel in xrm.get("relationships", []):
        rel.setdefault("kind", "many_to_many")
        for name, prop in rel.get("attributes", {}).items():
            _normalize_field(name, prop)
    return doc


def _tree_copy(value: Any) -> Any:
    """A deep copy in which no two places hold the same dict or list.

    ``copy.deepcopy`` keeps one object used twice as one object, so defaults
    filled in for one property (its title) would show on the other.
    """
    if isinstance(value, Mapping):
        return {key: _tree_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tree_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_tree_copy(item) for item in value)
    return copy.deepcopy(value)


def _normalize_field(name: str, prop: dict[str, Any]) -> None:
    kind = infer_kind(prop)
    if kind is None:  # the checker reports it; keep the document as written
        return
    xrm = prop.setdefault("x-xrm", {})
    xrm["kind"] = kind.value
    for key, value in _KIND_SCHEMA[kind].items():
        prop.setdefault(key, copy.deepcopy(value))
    prop.setdefault("title", humanize(name))
    if kind in DEFAULT_SCALE:
        xrm.setdefault("precision", DEFAULT_PRECISION[kind])
        xrm.setdefault("scale", DEFAULT_SCALE[kind])
    if kind is Kind.POLYMORPHIC_LOOKUP:
        # Derived from the targets, so a change of targets carries over.
        targets = xrm.get("targets", [])
        entity = (
            {"type": "string", "description": "the name of any entity"}
            if targets == ANY_ENTITY
            else {"enum": list(targets)}
        )
        prop["properties"] = {"entity": entity, "id": {"type": "string", "format": "uuid"}}
        prop.setdefault("required", ["entity", "id"])
    if kind in (Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP):
        xrm.setdefault("on_delete", OnDelete.SET_NULL.value)


def parse(doc: Mapping[str, Any]) -> EntityDefinition:
    """Turn a normalized, checked document into an :class:`EntityDefinition`."""
    xrm = doc["x-xrm"]
    name = xrm["name"]
    required = set(doc.get("required", []))
    fields = tuple(
        parse_field(fname, prop, fname in required)
        for fname, prop in doc.get("properties", {}).items()
    )
    keys = tuple(
        Index(
            k.get("name") or default_index_name("ak", k["fields"]),
            tuple(k["fields"]),
            unique=True,
        )
        for k in xrm.get("alternate_keys", [])
    )
    indexes = tuple(
        Index(
            i.get("name") or default_index_name("ix", i["fields"]),
            tuple(i["fields"]),
            unique=bool(i.get("unique", False)),
        )
        for i in xrm.get("indexes", [])
    )
    relationships = tuple(
        ManyToMany(
            name=r["name"],
            target=r["target"],
            label=r.get("label") or humanize(r["name"]),
            attributes=tuple(
                parse_field(an, ap, an in set(r.get("required", [])))
                for an, ap in r.get("attributes", {}).items()
            ),
        )
        for r in xrm.get("relationships", [])
    )
    return EntityDefinition(
        name=name,
        label=xrm.get("label") or doc.get("title") or humanize(name),
        plural=xrm.get("plural") or (xrm.get("label") or doc.get("title") or humanize(name)) + "s",
        ownership=Ownership(xrm.get("ownership", Ownership.USER.value)),
        fields=fields,
        alternate_keys=keys,
        indexes=indexes,
        relationships=relationships,
        audited=bool(xrm.get("audit", True)),
        title_fields=title_field_names(xrm.get("title_field")),
        schema=doc,
    )


def title_field_names(value: Any) -> tuple[str, ...]:
    """``x-xrm.title_field`` (a field name, or a list of them) as a tuple of names."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def titles_after_renames(schemas: Any, renames: Mapping[str, Mapping[str, str]] | None) -> Any:
    """``schemas`` (one definition or a list) with each ``x-xrm.title_field`` following
    its entity's ``renames`` (``{entity: {old: new}}``).

    A title field renamed in the same change keeps naming the records: the
    author need not repeat the rename there. Nothing given is changed; anything
    but a definition naming a renamed field comes back as it was (the checker
    reports what is wrong with it).
    """
    if not renames:
        return schemas
    if isinstance(schemas, list | tuple):
        return [_title_after_renames(s, renames) for s in schemas]
    return _title_after_renames(schemas, renames)


def _title_after_renames(schema: Any, renames: Mapping[str, Mapping[str, str]]) -> Any:
    xrm = schema.get("x-xrm") if isinstance(schema, Mapping) else None
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(xrm, Mapping) or not isinstance(props, Mapping):
        return schema
    entity_renames = renames.get(xrm["name"]) if isinstance(xrm.get("name"), str) else None
    title = xrm.get("title_field")
    names = [title] if isinstance(title, str) else title
    if not isinstance(entity_renames, Mapping) or not isinstance(names, list):
        return schema
    moved = [
        entity_renames.get(n, n) if isinstance(n, str) and n not in props else n for n in names
    ]
    if moved == names:
        return schema
    followed = moved[0] if isinstance(title, str) else moved
    return {**schema, "x-xrm": {**xrm, "title_field": followed}}


def parse_field(name: str, prop: Mapping[str, Any], required: bool) -> FieldDefinition:
    """Turn one normalized property schema into a :class:`FieldDefinition`."""
    xrm = prop.get("x-xrm", {})
    kind = Kind(xrm["kind"])
    choices = prop.get("enum") or (prop.get("items") or {}).get("enum") or ()
    targets = xrm.get("targets", ())
    any_entity = targets == ANY_ENTITY
    return FieldDefinition(
        name=name,
        kind=kind,
        label=xrm.get("label") or prop.get("title") or humanize(name),
        required=required,
        default=prop.get("default"),
        has_default="default" in prop,
        unique=bool(xrm.get("unique", False)),
        indexed=bool(xrm.get("indexed", False)),
        max_length=prop.get("maxLength"),
        min_length=prop.get("minLength"),
        pattern=prop.get("pattern"),
        minimum=prop.get("minimum"),
        maximum=prop.get("maximum"),
        choices=tuple(choices),
        target=xrm.get("target"),
        targets=() if any_entity else tuple(targets),
        any_entity=any_entity,
        on_delete=OnDelete(xrm.get("on_delete", OnDelete.SET_NULL.value)),
        precision=xrm.get("precision"),
        scale=xrm.get("scale"),
        secured=bool(xrm.get("secured", False)),
        audited=bool(xrm.get("audit", True)),
        schema=prop,
    )
