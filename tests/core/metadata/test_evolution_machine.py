"""Property: any sequence of evolutions keeps table, stored definition and data in agreement.

A state machine changes one small entity that holds records — fields added,
removed, renamed and converted, indexes, keys and relationships added and
removed, a second entity pointing at it defined and dropped — and after every
step compares the real database (read with ``sqlalchemy.inspect``) with the
definition, and each record with what it should hold now.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pydantic_core import to_jsonable_python

from xrm_core import XRM, DefinitionError, XRMError
from xrm_core.metadata.definition import (
    SYSTEM_COLUMNS,
    EntityDefinition,
    FieldDefinition,
    Kind,
    parse,
)
from xrm_core.metadata.models import convert_value
from xrm_core.metadata.plan import SAFE_CONVERSIONS, Plan
from xrm_core.storage.tables import entity_table

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView

NAMES = ["alpha", "beta", "gamma", "delta", "omega"]
INDEX_NAMES = ["by_one", "by_two"]
KINDS = list(Kind)
# Sample values for each kind but lookups: strings that look like numbers, dates and
# choices, so that conversions both keep and lose values, and sometimes collide.
VALUES: dict[Kind, list[Any]] = {
    Kind.STRING: ["12", "abc", "2024-01-05", "a", "true", "012"],
    Kind.TEXT: ["7", "long text"],
    Kind.INTEGER: [12, -3, 0],
    Kind.DECIMAL: ["1.5", "12", "-0.25", "12.0"],
    Kind.MONEY: ["2.25", "3"],
    Kind.BOOLEAN: [True, False],
    Kind.DATE: ["2024-01-05", "1999-12-31"],
    Kind.DATETIME: ["2024-01-02T03:04:05Z", "2024-01-05T00:00:00Z", "2024-01-05T00:00:00+01:00"],
    Kind.EMAIL: ["a@x.org", "b@x.org"],
    Kind.PHONE: ["+44 20 7946 0000"],
    Kind.URL: ["https://x.org/1"],
    Kind.CHOICE: ["a", "abc", "12"],
    Kind.MULTI_CHOICE: [["a"], ["a", "b"]],
    Kind.JSON: [{"k": 1}, "12", [1]],
}
_runs = itertools.count()


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(to_jsonable_python(value), sort_keys=True))


def as_columns(field: FieldDefinition, value: Any) -> dict[str, Any]:
    """A field's value as the columns that store it (an export holds columns)."""
    if field.kind is Kind.POLYMORPHIC_LOOKUP:
        return dict(zip(field.columns, (value["entity"], value["id"]), strict=True))
    return {field.name: value}


def read_exports(paths: tuple[str, ...], part: str) -> dict[str, Any]:
    """``{id: value}`` from the export files of one field or relationship."""
    found = {}
    for path in paths:
        if f"-{part}-" in Path(path).name:
            for line in Path(path).read_text().splitlines():
                row = json.loads(line)
                found[row.get("id") or row.get("source_id")] = row
    return found


class Evolution(RuleBasedStateMachine):
    """One entity evolving under random changes; ``xrm`` and ``database`` set by the test."""

    xrm: XRM
    database: DatabaseView

    def __init__(self) -> None:
        super().__init__()
        run = next(_runs)
        self.entity, self.tag, self.referrer = f"ev_{run}", f"tg_{run}", f"rf_{run}"
        self.fields: dict[str, dict[str, Any]] = {"alpha": {"type": "string"}}
        self.required: set[str] = set()
        self.indexes: list[dict[str, Any]] = []
        self.keys: list[dict[str, Any]] = []
        self.relationships: list[dict[str, Any]] = []
        self.links: dict[str, set[str]] = {}
        self.has_referrer = False
        self.xrm.metadata.define(
            [{"x-xrm": {"name": self.tag}, "properties": {"name": {"type": "string"}}}, self.doc()]
        )
        self.tag_id = str(self.xrm.records(self.tag).create({"name": "t"})["id"])
        self.records: dict[str, dict[str, Any]] = {}
        for value in ("12", "abc", None):
            self.create({"alpha": value})

    # -- the model ----------------------------------------------------------

    def doc(self, **changes: Any) -> dict[str, Any]:
        fields = changes.get("fields", self.fields)
        indexes = changes.get("indexes", self.indexes)
        keys = changes.get("keys", self.keys)
        used = set(fields)
        return {
            "x-xrm": {
                "name": self.entity,
                "indexes": [i for i in indexes if set(i["fields"]) <= used],
                "alternate_keys": [k for k in keys if set(k["fields"]) <= used],
                "relationships": changes.get("relationships", self.relationships),
            },
            "properties": fields,
            "required": sorted(changes.get("required", self.required) & used),
        }

    def field_schema(self, data: st.DataObject, kind: Kind) -> dict[str, Any]:
        """A field of ``kind``, maybe unique, indexed or with a default (not all allowed)."""
        prop: dict[str, Any] = {"x-xrm": {"kind": kind.value}}
        if kind in (Kind.CHOICE, Kind.MULTI_CHOICE):
            choices = {"enum": ["a", "b", "abc", "12"]}
            prop |= choices if kind is Kind.CHOICE else {"items": choices}
        if kind is Kind.LOOKUP:
            prop["x-xrm"]["target"] = data.draw(st.sampled_from([self.tag, self.entity]))
        if kind is Kind.POLYMORPHIC_LOOKUP:
            prop["x-xrm"]["targets"] = data.draw(st.sampled_from([[self.tag], [self.entity]]))
        for flag in ("unique", "indexed"):
            if data.draw(st.integers(0, 3)) == 0:
                prop["x-xrm"][flag] = True
        if kind in VALUES and data.draw(st.integers(0, 3)) == 0:
            prop["default"] = VALUES[kind][0]
        return prop

    def sample(self, field: FieldDefinition, i: int) -> Any:
        """A value for ``field``; lookups point at the tag or at a record of the entity."""
        target = field.target or (field.targets or ("",))[0]
        if field.is_reference:
            ids = [self.tag_id] if target == self.tag else list(self.records)
            if not ids:
                return None
            found = ids[i % len(ids)]
            return found if field.kind is Kind.LOOKUP else {"entity": target, "id": found}
        return VALUES[field.kind][i % len(VALUES[field.kind])]

    def create(self, values: Mapping[str, Any]) -> None:
        try:
            record = self.xrm.records(self.entity).create(values)
        except XRMError:
            return  # a duplicate, a missing required value: the record service's business
        self.records[str(record["id"])] = {f: record.get(f) for f in self.fields}

    def evolve(
        self,
        doc: dict[str, Any],
        *,
        renames: Mapping[str, str] | None = None,
        confirm: bool = False,
    ) -> Plan | None:
        """Plan, then define; return the applied plan, or None when it was refused."""
        names = {self.entity: dict(renames)} if renames else None
        before_definition = self.xrm.metadata.get(self.entity)
        before = self.database.snapshot()
        try:
            planned = self.xrm.metadata.plan(doc, renames=names)
            applied = self.xrm.metadata.define(doc, renames=names, confirm=confirm)
        except XRMError as refused:
            # ConfirmationRequired, DefinitionError and DuplicateRecord say what is wrong;
            # a plain XRMError is the database refusing what no plan can foresee (a
            # converted value now duplicating another under a unique key).
            assert refused.problems or type(refused) is XRMError, refused
            assert self.database.snapshot() == before, f"refused ({refused}) yet changed"
            assert self.xrm.metadata.get(self.entity) == before_definition
            event(f"refused: {type(refused).__name__}")
            return None
        event(f"applied: {', '.join(sorted({s.action for s in applied.steps}))}")
        assert [s.to_dict() for s in applied.steps] == [s.to_dict() for s in planned.steps]
        self.check_values(before_definition, applied, dict(renames or {}))
        return applied

    def check_values(self, old: EntityDefinition, applied: Plan, renames: dict[str, str]) -> None:
        """Bring the model's records up to date, checking the conversions and the exports."""
        new = self.xrm.metadata.get(self.entity)
        for record in self.records.values():
            for src, dst in renames.items():
                if src in record:  # a field: a relationship's links are not in the record
                    record[dst] = record.pop(src)
        for step in applied.steps:
            if step.action == "remove_field" and step.field:
                field = old.field(step.field)
                exported = read_exports(applied.exports, step.field)
                assert {
                    i: jsonable({k: v for k, v in row.items() if k != "id"})
                    for i, row in exported.items()
                } == {
                    i: jsonable(as_columns(field, r[step.field]))
                    for i, r in self.records.items()
                    if r[step.field] is not None
                }
            if step.action == "convert_field" and step.field:
                before = old.field(step.details.get("from", step.field))
                after = new.field(step.field)
                lost = read_exports(applied.exports, step.field)
                for record_id, record in self.records.items():
                    ok, value = convert_value(record[step.field], before, after)
                    if (before.kind, after.kind) in SAFE_CONVERSIONS and before.kind != after.kind:
                        assert ok, (before.kind, after.kind, record[step.field])
                    if not ok:
                        assert jsonable(lost[record_id]["value"]) == jsonable(record[step.field])
                    record[step.field] = value if ok else None
        for record in self.records.values():
            for name in set(record) - set(new.field_names):
                del record[name]
            for name in set(new.field_names) - set(record):
                record[name] = None

    # -- the rules ----------------------------------------------------------

    @rule(data=st.data(), kind=st.sampled_from(KINDS), required=st.booleans())
    def add_field(self, data: st.DataObject, kind: Kind, required: bool) -> None:
        free = [n for n in NAMES if n not in self.fields]
        if not free:
            return
        name = data.draw(st.sampled_from(free))
        fields = {**self.fields, name: self.field_schema(data, kind)}
        wanted = self.required | {name} if required else self.required
        if self.evolve(self.doc(fields=fields, required=wanted)):
            self.fields, self.required = fields, wanted

    @precondition(lambda self: self.fields)
    @rule(data=st.data(), confirm=st.booleans())
    def remove_field(self, data: st.DataObject, confirm: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.fields)))
        fields = {k: v for k, v in self.fields.items() if k != name}
        if self.evolve(self.doc(fields=fields), confirm=confirm):
            self.fields = fields
            self.indexes = [i for i in self.indexes if name not in i["fields"]]
            self.keys = [k for k in self.keys if name not in k["fields"]]

    @precondition(lambda self: self.fields)
    @rule(data=st.data())
    def rename_field(self, data: st.DataObject) -> None:
        """Rename a field, sometimes changing its kind too, sometimes onto a taken name."""
        old = data.draw(st.sampled_from(sorted(self.fields)))
        new = data.draw(st.sampled_from([n for n in NAMES if n != old]))
        fields = {new if k == old else k: v for k, v in self.fields.items() if k != new}
        if data.draw(st.booleans()):
            fields[new] = self.field_schema(data, data.draw(st.sampled_from(KINDS)))

        def renamed(indexes: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**i, "fields": [new if f == old else f for f in i["fields"]]} for i in indexes]

        required = {new if f == old else f for f in self.required}
        doc = self.doc(
            fields=fields, indexes=renamed(self.indexes), keys=renamed(self.keys), required=required
        )
        if self.evolve(doc, renames={old: new}, confirm=data.draw(st.booleans())):
            self.fields, self.required = fields, required
            self.indexes, self.keys = renamed(self.indexes), renamed(self.keys)

    @precondition(lambda self: self.fields)
    @rule(data=st.data(), kind=st.sampled_from(KINDS), confirm=st.booleans())
    def change_kind(self, data: st.DataObject, kind: Kind, confirm: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.fields)))
        fields = {**self.fields, name: self.field_schema(data, kind)}
        if self.evolve(self.doc(fields=fields), confirm=confirm):
            self.fields = fields

    @precondition(lambda self: self.fields)
    @rule(data=st.data(), flag=st.sampled_from(["unique", "indexed", "required"]))
    def toggle_rule(self, data: st.DataObject, flag: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.fields)))
        if flag == "required":
            required = self.required ^ {name}
            if self.evolve(self.doc(required=required)):
                self.required = required
            return
        xrm = dict(self.fields[name].get("x-xrm", {}))
        xrm[flag] = not xrm.get(flag, False)
        fields = {**self.fields, name: {**self.fields[name], "x-xrm": xrm}}
        if self.evolve(self.doc(fields=fields)):
            self.fields = fields

    @precondition(lambda self: self.fields)
    @rule(data=st.data(), key=st.booleans(), name=st.sampled_from(INDEX_NAMES))
    def add_index(self, data: st.DataObject, key: bool, name: str) -> None:
        fields = data.draw(
            st.lists(st.sampled_from(sorted(self.fields)), min_size=1, max_size=2, unique=True)
        )
        found = self.keys if key else self.indexes
        added = [*(i for i in found if i["name"] != name), {"name": name, "fields": fields}]
        if self.evolve(self.doc(**{"keys" if key else "indexes": added})):
            found[:] = added

    @precondition(lambda self: self.indexes or self.keys)
    @rule(data=st.data())
    def remove_index(self, data: st.DataObject) -> None:
        found = data.draw(st.sampled_from([x for x in (self.indexes, self.keys) if x]))
        gone = data.draw(st.sampled_from(found))
        kept = [i for i in found if i is not gone]
        if self.evolve(self.doc(**{"keys" if found is self.keys else "indexes": kept})):
            found[:] = kept

    @rule(name=st.sampled_from(["tags", "peers"]), to_self=st.booleans(), weighted=st.booleans())
    def add_relationship(self, name: str, to_self: bool, weighted: bool) -> None:
        rel: dict[str, Any] = {"name": name, "target": self.entity if to_self else self.tag}
        if weighted:
            rel["attributes"] = {"weight": {"type": "integer"}}
        rels = [*self.relationships, rel]
        if self.evolve(self.doc(relationships=rels)):
            self.relationships = rels
            target = next(iter(self.records)) if to_self and self.records else self.tag_id
            for record_id in list(self.records)[:2]:
                self.xrm.records(self.entity).link(record_id, name, target)
            self.links[name] = set(list(self.records)[:2])

    @precondition(lambda self: self.relationships)
    @rule(data=st.data(), name=st.sampled_from(["tags", "peers", "labels"]), weighted=st.booleans())
    def rename_relationship(self, data: st.DataObject, name: str, weighted: bool) -> None:
        """Rename a relationship (its attribute added or removed too), maybe onto a taken name."""
        old = data.draw(st.sampled_from(self.relationships))
        rel: dict[str, Any] = {"name": name, "target": old["target"]}
        if weighted:
            rel["attributes"] = {"weight": {"type": "integer"}}
        rels = [rel if r is old else r for r in self.relationships]
        renames, confirm = {old["name"]: name}, data.draw(st.booleans())
        if self.evolve(self.doc(relationships=rels), renames=renames, confirm=confirm):
            self.relationships = rels
            self.links[name] = self.links.pop(old["name"])
            found = self.xrm.records(self.entity).links_of(list(self.records), name)
            assert {str(i) for i, links in found.items() if links} == self.links[name]

    @precondition(lambda self: self.relationships)
    @rule(data=st.data(), confirm=st.booleans())
    def remove_relationship(self, data: st.DataObject, confirm: bool) -> None:
        gone = data.draw(st.sampled_from(self.relationships))
        rels = [r for r in self.relationships if r is not gone]
        applied = self.evolve(self.doc(relationships=rels), confirm=confirm)
        if applied:
            self.relationships = rels
            assert set(read_exports(applied.exports, gone["name"])) == self.links.pop(gone["name"])

    @precondition(lambda self: not self.has_referrer)
    @rule()
    def define_referrer(self) -> None:
        lookup = {"x-xrm": {"kind": "lookup", "target": self.entity}}
        self.xrm.metadata.define(
            {"x-xrm": {"name": self.referrer}, "properties": {"about": lookup}}
        )
        self.xrm.records(self.referrer).create({"about": next(iter(self.records), None)})
        self.has_referrer = True

    @precondition(lambda self: self.has_referrer)
    @rule()
    def drop_referred_entity(self) -> None:
        before = self.database.snapshot()
        try:
            self.xrm.metadata.drop(self.entity, confirm=True)
        except DefinitionError as refused:
            assert refused.problems
        else:
            raise AssertionError("dropped an entity another one still refers to")
        assert self.database.snapshot() == before

    @precondition(lambda self: self.has_referrer)
    @rule()
    def drop_referrer(self) -> None:
        self.xrm.metadata.drop(self.referrer, confirm=True)
        self.has_referrer = False

    @rule(data=st.data())
    def create_record(self, data: st.DataObject) -> None:
        definition = self.xrm.metadata.get(self.entity)
        i = data.draw(st.integers(0, 4))
        self.create({f.name: self.sample(f, i) for f in definition.fields})

    # -- what must always hold ------------------------------------------------

    @invariant()
    def database_matches_the_definition(self) -> None:
        definition = self.xrm.metadata.get(self.entity)
        assert definition.field_names == tuple(self.fields)
        with self.xrm.db.engine.connect() as conn:
            stored = conn.execute(
                sa.select(entity_table.c.definition).where(entity_table.c.name == self.entity)
            ).scalar_one()
        assert parse(stored) == definition
        db = self.database
        columns = {c for f in definition.fields for c in f.columns}
        assert set(db.columns(self.entity)) == {*SYSTEM_COLUMNS, *columns}
        expected = {
            (tuple(c for n in i.fields for c in definition.field(n).columns), i.unique)
            for i in definition.all_indexes()
            if not i.name.startswith("xrm_")  # permission indexes: DatabaseView leaves them out
        }
        assert {(i.columns, i.unique) for i in db.indexes(self.entity)} == expected
        lookups = {(f.name, f.target, "id") for f in definition.fields if f.kind is Kind.LOOKUP}
        assert db.foreign_keys(self.entity) == lookups
        links = {t for t in db.tables() if t.startswith(f"{self.entity}__")}
        assert links == {f"{self.entity}__{r['name']}" for r in self.relationships}
        assert (self.referrer in db.tables()) == self.has_referrer

    @invariant()
    def records_read_back(self) -> None:
        records = self.xrm.records(self.entity)
        assert records.count() == len(self.records)
        for record_id, expected in self.records.items():
            found = records.get(record_id)
            assert {f: jsonable(found[f]) for f in self.fields} == {
                f: jsonable(v) for f, v in expected.items()
            }, record_id

    def teardown(self) -> None:
        if self.has_referrer:
            self.xrm.metadata.drop(self.referrer, confirm=True)
        self.xrm.metadata.drop(self.entity, confirm=True)
        self.xrm.metadata.drop(self.tag, confirm=True)


def test_evolutions_keep_the_database_the_definition_and_the_data_consistent(
    xrm: XRM, database: DatabaseView
) -> None:
    machine = type("EvolutionOn" + xrm.db.dialect, (Evolution,), {"xrm": xrm, "database": database})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
