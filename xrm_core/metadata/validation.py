"""Checking entity definitions: the meta-schema first, then what it cannot express.

Every problem is collected (never just the first) and located with a JSON
pointer into the document the author wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Generator, Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

# jsonschema ships no type information and no stubs package is installed.
import jsonschema  # type: ignore[import-untyped]
import pydantic
import pydantic_core
from jsonschema.exceptions import ValidationError as SchemaError  # type: ignore[import-untyped]
from pydantic import TypeAdapter

from xrm_core.errors import Problem, pointer
from xrm_core.metadata.definition import (
    DEFAULT_PRECISION,
    DEFAULT_SCALE,
    NUMBER_KINDS,
    SYSTEM_COLUMNS,
    TEXT_KINDS,
    EntityDefinition,
    FieldDefinition,
    Kind,
    default_index_name,
    infer_kind,
)
from xrm_core.metadata.models import field_type

_KIND_TYPES = {
    Kind.INTEGER: "integer",
    Kind.DECIMAL: "number",
    Kind.MONEY: "number",
    Kind.BOOLEAN: "boolean",
    Kind.MULTI_CHOICE: "array",
    Kind.POLYMORPHIC_LOOKUP: "object",
}
_LINK_COLUMNS = ("source_id", "target_id")
_MAX_TABLE_NAME = 63  # PostgreSQL's identifier limit
_UNINDEXABLE = frozenset({Kind.JSON, Kind.MULTI_CHOICE, Kind.POLYMORPHIC_LOOKUP, Kind.TEXT})
# PostgreSQL's hidden columns: every table has them, so no field may take their names.
_DATABASE_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"})
#: First path segments of the REST API (``/api/v1/<segment>/...``) that are not
#: entities: an entity of one of these names could not be reached at ``/api/v1/{entity}``.
RESERVED_ENTITY_NAMES = frozenset(
    {"metadata", "plugins", "webhooks", "imports", "exports", "audit", "me"}
)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Far deeper than any entity definition needs, and shallow enough that copying
# and storing the document never meets Python's recursion limit.
MAX_DEPTH = 32


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is an object, else an empty one (the meta-schema reports it)."""
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    """``value`` when it is an array, else an empty one (the meta-schema reports it)."""
    return value if isinstance(value, list) else []


def check_record_rules(definition: EntityDefinition) -> list[Problem]:
    """Problems the record validator finds with a checked, parsed definition.

    The meta-schema takes Python's regular expressions and any JSON number, but
    records are validated by pydantic (no look-around or backreferences in
    patterns, whole-number bounds for integers): a rule it cannot build, or a
    default it would refuse, would break every record of the entity.
    """
    fields: list[tuple[tuple[str | int, ...], FieldDefinition]] = [
        (("properties", f.name), f) for f in definition.fields
    ]
    for i, rel in enumerate(definition.relationships):
        at = ("x-xrm", "relationships", i, "attributes")
        fields += [((*at, a.name), a) for a in rel.attributes]
    problems = []
    for path, field in fields:
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(field_type(field, nullable=True))
        except pydantic_core.SchemaError as exc:
            reason = str(exc).strip().splitlines()[-1].strip().removeprefix("error: ")
            problems.append(Problem(pointer(*path), f"its rules cannot be applied: {reason}"))
            continue
        if field.has_default:
            try:
                adapter.validate_python(field.default)
            except pydantic.ValidationError as exc:
                why = f"default is not valid: {exc.errors()[0]['msg']}"
                problems.append(Problem(pointer(*path, "default"), why))
    return problems


def meta_schema_path() -> Path:
    """Where ``entity.schema.json`` lives (the repository's ``schemas/`` folder)."""
    bundled = resources.files("xrm_core").joinpath("schemas/entity.schema.json")
    if bundled.is_file():
        return Path(str(bundled))
    return Path(__file__).resolve().parents[2] / "schemas" / "entity.schema.json"


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(meta_schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def check(doc: Any, known_entities: Collection[str]) -> list[Problem]:
    """Every problem with one definition; empty when it is valid.

    ``known_entities`` are the entities lookups may point at (already defined,
    or defined together with this one).
    """
    if not isinstance(doc, Mapping):
        return [Problem("", "an entity definition must be a JSON object")]
    too_deep = _too_deep(doc)
    if too_deep is not None:
        return [Problem(too_deep, f"nested more than {MAX_DEPTH} levels deep")]
    problems = [p for e in _validator().iter_errors(doc) for p in _plain(e)]
    problems.extend(_check_semantics(doc, known_entities))
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: p.pointer)


def _too_deep(doc: Any) -> str | None:
    """A pointer to a value nested deeper than :data:`MAX_DEPTH`, or None."""
    # Iterative on purpose: the document may be too deep to walk recursively.
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(doc, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return pointer(*path)
        if isinstance(value, Mapping):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return None


def _plain(error: SchemaError) -> list[Problem]:
    """Rephrase a meta-schema error for a person, pointing at the culprit."""
    path = [str(p) for p in error.absolute_path]
    where = pointer(*path)
    value = error.instance
    if error.validator == "additionalProperties" and isinstance(value, Mapping):
        # One problem per unknown key, each pointing at the key itself.
        extra = sorted(set(value) - set(error.schema.get("properties", {})))
        return [Problem(pointer(*path, key), f"unknown key {key!r}") for key in extra]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [Problem(where, f"missing required key '{missing}'")]
    if error.validator == "enum" and path[-1:] == ["kind"]:
        return [Problem(where, f"unknown kind {value!r}; the kinds are: {', '.join(Kind)}")]
    if error.validator == "format" and error.validator_value == "regex":
        return [_bad_regex(where, value)]
    if error.validator == "const" and path[-1:] == ["targets"]:
        return [Problem(where, f'{value!r}: targets are a list of entities, or "*" for any')]
    if error.validator == "minItems" and error.validator_value == 1:
        return [Problem(where, "must not be empty")]
    # A bad property name is reported on the object holding it; point at the name.
    if "propertyNames" in error.relative_schema_path and isinstance(value, str):
        where = pointer(*path, value)
    if error.validator == "pattern" and isinstance(value, str):
        return [
            Problem(
                where,
                f"bad name {value!r}: use lower snake_case, starting with a letter (a-z, 0-9, _)",
            )
        ]
    if error.validator == "not" and isinstance(value, str):
        return [
            Problem(
                where, f"bad name {value!r}: names starting with 'xrm_' or 'sqlite_' are reserved"
            )
        ]
    if error.validator == "maxLength" and isinstance(value, str):
        return [Problem(where, f"name {value!r} is too long (at most {error.validator_value})")]
    return [Problem(where, error.message)]


def _bad_regex(where: str, pattern: Any) -> Problem:
    try:
        re.compile(pattern)
    except (re.error, TypeError) as exc:
        return Problem(where, f"pattern is not a valid regular expression: {exc}")
    return Problem(where, "pattern is not a valid regular expression")


def _check_semantics(doc: Mapping[str, Any], known: Collection[str]) -> Iterator[Problem]:
    xrm = doc.get("x-xrm")
    props = doc.get("properties")
    if not isinstance(xrm, Mapping) or not isinstance(props, Mapping):
        return
    if isinstance(xrm.get("name"), str):
        known = {*known, xrm["name"]}  # a lookup may point at its own entity
    if isinstance(xrm.get("name"), str) and "__" in xrm["name"]:
        yield Problem(
            pointer("x-xrm", "name"),
            f"bad name {xrm['name']!r}: '__' is reserved for many-to-many link tables",
        )
    if isinstance(xrm.get("name"), str) and xrm["name"] in RESERVED_ENTITY_NAMES:
        yield Problem(
            pointer("x-xrm", "name"),
            f"bad name {xrm['name']!r}: it is reserved for the REST API's "
            f"/api/v1/{xrm['name']} endpoints; choose another name",
        )
    kinds: dict[str, Kind] = {}
    for name, prop in props.items():
        if isinstance(prop, Mapping):
            kind = yield from _check_field(name, prop, ("properties", name), known)
            if kind is not None:
                kinds[name] = kind
    yield from _check_columns(kinds, xrm)
    for i, name in enumerate(_list(doc.get("required"))):
        if isinstance(name, str) and name not in props:
            yield Problem(pointer("required", i), f"required field {name!r} is not defined")
    for key in ("alternate_keys", "indexes"):
        for i, index in enumerate(_list(xrm.get(key))):
            yield from _check_index(index, kinds, ("x-xrm", key, i))
    yield from _check_index_names(xrm, kinds, props)
    yield from _check_relationships(xrm, kinds, known)
    yield from _check_title_field(xrm, kinds)


def _check_columns(kinds: Mapping[str, Kind], xrm: Mapping[str, Any]) -> Iterator[Problem]:
    taken = {*kinds}
    for name, kind in kinds.items():
        where = pointer("properties", name)
        if name in SYSTEM_COLUMNS:
            yield Problem(where, f"field {name!r} clashes with the system column of that name")
        if name in _DATABASE_COLUMNS:
            yield Problem(where, f"field {name!r} clashes with a column the database reserves")
        if kind is Kind.POLYMORPHIC_LOOKUP:
            for column in (f"{name}_entity", f"{name}_id"):
                if column in taken or column in SYSTEM_COLUMNS:
                    yield Problem(where, f"field {name!r} needs column {column!r}, already used")
    rels = _list(xrm.get("relationships"))
    names = [r.get("name") if isinstance(r, Mapping) else None for r in rels]
    for i, rel in enumerate(names):
        if not isinstance(rel, str):
            continue  # the meta-schema reports it
        if rel in taken or names.index(rel) != i:
            yield Problem(
                pointer("x-xrm", "relationships", i, "name"),
                f"relationship name {rel!r} is already used by a field or relationship",
            )


def _check_field(
    name: str, prop: Mapping[str, Any], path: tuple[str | int, ...], known: Collection[str]
) -> Generator[Problem, None, Kind | None]:
    """Yield the field's problems; return its kind (or None when it has none)."""
    where = pointer(*path)
    kind = infer_kind(prop)
    xrm = _mapping(prop.get("x-xrm"))
    if kind is None:
        if "kind" not in xrm:
            yield Problem(where, f"cannot tell the kind of field {name!r}: add x-xrm.kind")
        return None
    declared = prop.get("type")
    if declared is not None and _KIND_TYPES.get(kind, "string") != declared and kind != Kind.JSON:
        yield Problem(pointer(*path, "type"), f"type {declared!r} does not fit kind {kind.value!r}")
    yield from _check_reference(kind, xrm, path, known)
    yield from _check_constraints(kind, prop, xrm, path)
    if "default" in prop:
        yield from _check_default(prop, path)
    return kind


def _check_reference(
    kind: Kind, xrm: Mapping[str, Any], path: tuple[str | int, ...], known: Collection[str]
) -> Iterator[Problem]:
    def at(*p: str | int) -> str:
        return pointer(*path, "x-xrm", *p)

    if kind is Kind.LOOKUP:
        target = xrm.get("target")
        if target is None:
            yield Problem(at(), "a lookup needs x-xrm.target: the entity it points at")
        elif isinstance(target, str) and target not in known:
            yield Problem(at("target"), f"lookup to unknown entity {target!r}")
    elif "target" in xrm:
        yield Problem(at("target"), "only a lookup has a target")
    if kind is Kind.POLYMORPHIC_LOOKUP:
        targets = xrm.get("targets")
        if "targets" not in xrm:  # an empty list is the meta-schema's to report
            yield Problem(
                at(), "a polymorphic lookup needs x-xrm.targets: the entities it may point at"
            )
        # "*" (any entity) names none; another string is the meta-schema's to report.
        for i, target in enumerate(_list(targets)):
            if isinstance(target, str) and target not in known:
                yield Problem(at("targets", i), f"lookup to unknown entity {target!r}")
    elif "targets" in xrm:
        yield Problem(at("targets"), "only a polymorphic lookup has targets")
    if "on_delete" in xrm and kind not in (Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP):
        yield Problem(at("on_delete"), "only lookups have a delete behaviour")


def _check_constraints(
    kind: Kind, prop: Mapping[str, Any], xrm: Mapping[str, Any], path: tuple[str | int, ...]
) -> Iterator[Problem]:
    def bad(key: str, why: str) -> Problem:
        return Problem(pointer(*path, key), why)

    if kind is Kind.CHOICE and "enum" not in prop:
        yield bad("enum", "a choice field needs enum: its list of values")
    if "enum" in prop and kind is not Kind.CHOICE:
        yield bad("enum", f"enum goes with kind 'choice', not {kind.value!r}")
    items = prop.get("items")
    if kind is Kind.MULTI_CHOICE and not (isinstance(items, Mapping) and items.get("enum")):
        yield bad("items", "a multi_choice field needs items.enum: its list of values")
    for key in ("maxLength", "minLength", "pattern"):
        if key in prop and kind not in TEXT_KINDS:
            yield bad(key, f"{key} applies to text kinds, not {kind.value!r}")
    if "pattern" in prop and isinstance(prop["pattern"], str):
        try:
            re.compile(prop["pattern"])
        except re.error:
            yield _bad_regex(pointer(*path, "pattern"), prop["pattern"])
    for key in ("minimum", "maximum"):
        if key in prop and kind not in NUMBER_KINDS:
            yield bad(key, f"{key} applies to number kinds, not {kind.value!r}")
    for key in ("precision", "scale"):
        if key in xrm and kind not in (Kind.DECIMAL, Kind.MONEY):
            yield Problem(pointer(*path, "x-xrm", key), f"{key} applies to decimal and money")
    if kind in DEFAULT_PRECISION:
        # Compared as the column will have them: a precision below the default scale
        # would leave no digit before the decimal point.
        precision = xrm.get("precision", DEFAULT_PRECISION[kind])
        scale = xrm.get("scale", DEFAULT_SCALE[kind])
        if _is_int(precision) and _is_int(scale) and scale > precision:
            at = "scale" if "scale" in xrm else "precision"
            yield Problem(
                pointer(*path, "x-xrm", at),
                f"scale ({scale}) cannot exceed precision ({precision})",
            )
    for key in ("unique", "indexed"):
        if xrm.get(key) and kind in _UNINDEXABLE:
            yield Problem(pointer(*path, "x-xrm", key), f"a {kind.value} field cannot be {key}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_default(prop: Mapping[str, Any], path: tuple[str | int, ...]) -> Iterator[Problem]:
    schema = {k: v for k, v in prop.items() if k not in ("default", "x-xrm")}
    cls = jsonschema.Draft202012Validator
    try:
        cls.check_schema(schema, format_checker=cls.FORMAT_CHECKER)
    except jsonschema.SchemaError:
        return  # the meta-schema already reported the broken field schema
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    for error in validator.iter_errors(prop["default"]):
        yield Problem(pointer(*path, "default"), f"default is not valid: {error.message}")


def _check_index(
    index: Any, kinds: Mapping[str, Kind], path: tuple[str | int, ...]
) -> Iterator[Problem]:
    if not isinstance(index, Mapping):
        return
    for i, name in enumerate(_list(index.get("fields"))):
        if not isinstance(name, str):
            continue  # the meta-schema reports it
        kind = kinds.get(name)
        if kind is None and name not in SYSTEM_COLUMNS:
            yield Problem(pointer(*path, "fields", i), f"index on unknown field {name!r}")
        elif kind in _UNINDEXABLE:
            yield Problem(pointer(*path, "fields", i), f"a {kind} field cannot be indexed")


def _check_index_names(
    xrm: Mapping[str, Any], kinds: Mapping[str, Kind], props: Mapping[str, Any]
) -> Iterator[Problem]:
    """Two different indexes may not share a name (fields' own indexes included)."""
    seen: dict[str, tuple[tuple[str, ...], bool]] = {}
    for name, kind in kinds.items():
        xrm_field = _mapping(props[name].get("x-xrm"))
        if xrm_field.get("unique"):
            seen[f"uq_{name}"] = ((name,), True)
        elif xrm_field.get("indexed") or kind in (Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP):
            seen[f"ix_{name}"] = ((name,), False)
    for key, prefix in (("alternate_keys", "ak"), ("indexes", "ix")):
        for i, index in enumerate(_list(xrm.get(key))):
            fields = index.get("fields") if isinstance(index, Mapping) else None
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                continue  # the meta-schema reports it
            unique = key == "alternate_keys" or bool(index.get("unique", False))
            name = index.get("name")
            if not isinstance(name, str) or not name:
                name = default_index_name(prefix, fields)
            if seen.setdefault(name, (tuple(fields), unique)) != (tuple(fields), unique):
                at = "name" if "name" in index else "fields"
                yield Problem(
                    pointer("x-xrm", key, i, at), f"another index is already called {name!r}"
                )


def _check_relationships(
    xrm: Mapping[str, Any], kinds: Mapping[str, Kind], known: Collection[str]
) -> Iterator[Problem]:
    for i, rel in enumerate(_list(xrm.get("relationships"))):
        if not isinstance(rel, Mapping):
            continue
        path: tuple[str | int, ...] = ("x-xrm", "relationships", i)
        link = f"{xrm.get('name')}__{rel.get('name')}"
        if len(link) > _MAX_TABLE_NAME:
            # PostgreSQL would silently cut the link table's name short.
            yield Problem(
                pointer(*path, "name"),
                f"the link table {link!r} would be longer than {_MAX_TABLE_NAME} characters: "
                "use a shorter relationship name",
            )
        target = rel.get("target")
        if isinstance(target, str) and target not in known:
            yield Problem(
                pointer(*path, "target"), f"relationship to unknown entity {rel.get('target')!r}"
            )
        for name, prop in _mapping(rel.get("attributes")).items():
            if not isinstance(prop, Mapping):
                continue
            kind = yield from _check_field(name, prop, (*path, "attributes", name), known)
            if kind in (Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP):
                yield Problem(
                    pointer(*path, "attributes", name), "link attributes cannot be lookups"
                )
            if name in SYSTEM_COLUMNS or name in _DATABASE_COLUMNS or name in _LINK_COLUMNS:
                yield Problem(
                    pointer(*path, "attributes", name), f"attribute name {name!r} is reserved"
                )
            for flag in ("unique", "indexed"):
                # Link tables carry no indexes on attributes: the flag would be ignored.
                if _mapping(prop.get("x-xrm")).get(flag):
                    yield Problem(
                        pointer(*path, "attributes", name, "x-xrm", flag),
                        f"link attributes cannot be {flag}",
                    )


def _check_title_field(xrm: Mapping[str, Any], kinds: Mapping[str, Kind]) -> Iterator[Problem]:
    """``x-xrm.title_field`` names fields of the entity that hold text."""
    title = xrm.get("title_field")
    names = [title] if isinstance(title, str) else _list(title)
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            continue  # the meta-schema reports it
        kind = kinds.get(name)
        if kind is None:
            why = (
                f"title field {name!r} is not a field of this entity "
                "(to remove the field that names the records, change title_field too)"
            )
        elif kind not in TEXT_KINDS:
            why = f"title field {name!r} is of kind {kind.value!r}; a title is made of text fields"
        else:
            continue
        yield Problem(pointer("x-xrm", "title_field"), why)
