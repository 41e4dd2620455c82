"""Property: any document gets a clear answer — never a crash — and a refusal changes nothing.

Documents are arbitrary JSON values, or a valid definition with a few random
mutations (keys dropped, replaced or inserted at any depth, deep nesting).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm_core import XRM, DefinitionError, XRMError
from xrm_core.metadata.definition import Kind, normalize, parse
from xrm_core.metadata.validation import check

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView

TAG = {"x-xrm": {"name": "tag"}, "properties": {"label": {"type": "string"}}}
EXTRA = {"x-xrm": {"name": "extra"}, "properties": {"label": {"type": "string"}}}

VALID: dict[str, Any] = {
    "title": "Sample",
    "x-xrm": {
        "name": "sample",
        "label": "Sample",
        "ownership": "user",
        "alternate_keys": [{"name": "by_code", "fields": ["code"]}],
        "indexes": [{"fields": ["status", "day"]}],
        "relationships": [
            {"name": "tags", "target": "tag", "attributes": {"weight": {"type": "integer"}}}
        ],
    },
    "properties": {
        "code": {"type": "string", "maxLength": 20, "pattern": "^[A-Z]+$"},
        "body": {"x-xrm": {"kind": "text"}},
        "size": {"type": "integer", "minimum": 0, "default": 1},
        "price": {"x-xrm": {"kind": "money"}},
        "ratio": {"type": "number", "x-xrm": {"precision": 10, "scale": 4}},
        "flag": {"type": "boolean"},
        "day": {"format": "date"},
        "at": {"format": "date-time"},
        "mail": {"format": "email", "x-xrm": {"unique": True}},
        "phone": {"x-xrm": {"kind": "phone"}},
        "site": {"format": "uri"},
        "status": {"enum": ["open", "done"], "default": "open"},
        "topics": {"type": "array", "items": {"enum": ["a", "b"]}},
        "data": {"type": "object"},
        "parent": {"x-xrm": {"kind": "lookup", "target": "sample", "on_delete": "cascade"}},
        "tag": {"x-xrm": {"kind": "lookup", "target": "tag", "indexed": True}},
        "about": {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["sample", "tag"]}},
    },
    "required": ["code"],
}

# Words the checker looks for, so that mutations often produce almost-valid documents.
WORDS = [
    *(k for k in VALID["x-xrm"]),
    *("properties", "required", "type", "enum", "items", "default", "format", "pattern"),
    *("kind", "target", "targets", "fields", "name", "unique", "indexed", "on_delete"),
    *("precision", "scale", "minimum", "maximum", "maxLength", "attributes", "x-xrm"),
    *("id", "xmin", "sqlite_x", "xrm_x", "tag", "sample", "a__b", "ok\n", "a\x00b", "é/~"),
    *(k.value for k in Kind),
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(WORDS)
)
keys = st.sampled_from(WORDS) | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location inside ``value``, the root included."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


# Names chosen so that tables and indexes of different entities can collide:
# entity sample's index "tags" would be sample_tags, the table of entity sample_tags.
ENTITIES = ["sample", "sample_ix", "sample_tags"]
INDEX_NAMES = ["by_code", "ix_code", "uq_code", "pkey", "tags", "ix_ix_code", "tags_target"]
FIELDS = ["code", "size", "price", "day", "mail", "status", "topics", "data", "parent", "about"]


@st.composite
def field_schema(draw: st.DrawFn) -> dict[str, Any]:
    """A field of a random kind, with random options (not all of them allowed)."""
    kind = draw(st.sampled_from(list(Kind)))
    prop: dict[str, Any] = {"x-xrm": {"kind": kind.value}}
    if kind is Kind.CHOICE:
        prop["enum"] = ["a", "b"]
    elif kind is Kind.MULTI_CHOICE:
        prop["items"] = {"enum": ["a", "b"]}
    elif kind is Kind.LOOKUP:
        prop["x-xrm"]["target"] = draw(st.sampled_from(["tag", *ENTITIES]))
    elif kind is Kind.POLYMORPHIC_LOOKUP:
        prop["x-xrm"]["targets"] = ["tag"]
    elif kind in (Kind.DECIMAL, Kind.MONEY) and draw(st.booleans()):
        prop["x-xrm"] |= {"precision": draw(st.integers(1, 38)), "scale": draw(st.integers(0, 18))}
    for flag in ("unique", "indexed"):
        if draw(st.integers(0, 3)) == 0:
            prop["x-xrm"][flag] = True
    return prop


@st.composite
def plausible(draw: st.DrawFn) -> dict[str, Any]:
    """A definition built from valid parts: often valid, sometimes clashing."""
    props = draw(st.dictionaries(st.sampled_from(FIELDS), field_schema(), max_size=5))
    names = sorted(props)

    def indexes() -> st.SearchStrategy[list[dict[str, Any]]]:
        index = st.fixed_dictionaries(
            {"fields": st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)},
            optional={"name": st.sampled_from(INDEX_NAMES)},
        )
        return st.lists(index, max_size=2) if names else st.just([])

    relationship = st.fixed_dictionaries(
        {"name": st.sampled_from(["tags", "links"]), "target": st.sampled_from(["tag", "sample"])}
    )
    xrm = draw(
        st.fixed_dictionaries(
            {"name": st.sampled_from(ENTITIES)},
            optional={
                "alternate_keys": indexes(),
                "indexes": indexes(),
                "relationships": st.lists(relationship, max_size=2),
                "ownership": st.sampled_from(["user", "organization"]),
            },
        )
    )
    required = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    return {"x-xrm": xrm, "properties": props, "required": required}


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid or plausible definition, with up to four random changes anywhere in it."""
    doc: Any = draw(st.just(VALID).map(copy.deepcopy) | plausible())
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(list(paths(doc))))
        if not path:
            continue
        parent, last = at(doc, path[:-1]), path[-1]
        change = draw(st.sampled_from(["drop", "replace", "insert", "nest"]))
        if change == "drop":
            del parent[last]
        elif change == "replace":
            parent[last] = draw(json_values)
        elif change == "nest":
            value = draw(json_values)
            for _ in range(draw(st.integers(1, 60))):
                value = draw(st.sampled_from([[value], {"x-xrm": value}, {"default": value}]))
            parent[last] = value
        else:
            target = at(doc, path)
            if isinstance(target, dict):
                target[draw(keys)] = draw(json_values)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(json_values))
    return doc


documents = st.one_of(plausible(), plausible(), mutated(), json_values)


def resolves(doc: Any, pointer: str) -> bool:
    """True when the JSON pointer leads to a value, or to the object or array missing it."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    for i, part in enumerate(parts):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return i == len(parts) - 1 and isinstance(doc, dict | list)
    return True


@settings(max_examples=300, deadline=None)
@given(doc=documents)
def test_check_never_raises_and_every_problem_points_into_the_document(doc: Any) -> None:
    problems = check(doc, ("tag",))

    assert all(resolves(doc, p.pointer) for p in problems), problems
    assert all(p.message for p in problems)
    if not problems:
        parse(normalize(doc))


def snapshot(xrm: XRM, database: DatabaseView) -> dict[str, Any]:
    """Everything a refused change must leave alone: the database and the definitions."""
    return {
        "database": database.snapshot(),
        "entities": [json.dumps(d.schema, sort_keys=True) for d in xrm.metadata.entities()],
    }


@settings(
    max_examples=25,
    deadline=None,
    # One database per test; each example changes it further, on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(doc=documents, confirm=st.booleans(), together=st.booleans())
def test_define_applies_or_refuses_cleanly_and_a_refusal_changes_nothing(
    xrm: XRM, database: DatabaseView, doc: Any, confirm: bool, together: bool
) -> None:
    if not xrm.metadata.exists("tag"):
        xrm.metadata.define(TAG)
    # Defined with a valid entity, a bad document must keep that one from being created too.
    given = [EXTRA, doc] if together else doc
    before = snapshot(xrm, database)
    try:
        planned = xrm.metadata.plan(given)
    except DefinitionError as error:
        assert error.problems
        assert all(resolves(given, p.pointer) for p in error.problems), error.problems
    except XRMError:
        pass  # UnknownEntity and the like: refusals that point at no document
    else:
        assert snapshot(xrm, database) == before, "a dry run changed something"
        try:
            applied = xrm.metadata.define(given, confirm=confirm)
        except XRMError as error:
            assert not isinstance(error, DefinitionError), "plan() accepted what define() refused"
            assert error.problems
        else:
            assert [s.to_dict() for s in applied.steps] == [s.to_dict() for s in planned.steps]
            return
    assert snapshot(xrm, database) == before
