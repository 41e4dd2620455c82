"""Run-time DDL: carrying out a plan's steps with Alembic operations.

SQLite cannot alter most things in place, so there every table change goes
through Alembic's batch mode (which uses plain ALTER where SQLite can, and
rebuilds the table where it cannot). PostgreSQL alters in place; adding a
nullable column without a default is a catalog-only change there, so it never
rewrites the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection

from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind
from xrm_core.metadata.plan import Step
from xrm_core.storage.tables import (
    build_link_table,
    build_table,
    field_columns,
    foreign_key_name,
    index_name,
    primary_key_name,
)

#: The order in which step actions run: removals before additions, so a name
#: freed by one step can be taken by another.
PHASES = (
    "drop_index",
    "remove_relationship",
    "drop_entity",
    "remove_field",
    "rename_field",
    "convert_field",
    "rename_relationship",
    "remove_attribute",
    "convert_attribute",
    "create_entity",
    "add_field",
    "change_field",
    "change_entity",
    "add_relationship",
    "add_attribute",
    "change_attribute",
    "change_relationship",
    "add_index",
)


class Catalog:
    """Tables for a set of definitions, built into one SQLAlchemy MetaData."""

    def __init__(self, definitions: Mapping[str, EntityDefinition], dialect: str) -> None:
        self.definitions = dict(definitions)
        self.dialect = dialect
        self.metadata = sa.MetaData()
        self.tables: dict[str, sa.Table] = {}
        self.link_tables: dict[tuple[str, str], sa.Table] = {}
        for definition in self.definitions.values():
            self.tables[definition.name] = build_table(definition, self.metadata, dialect)
        for definition in self.definitions.values():
            for rel in definition.relationships:
                self.link_tables[definition.name, rel.name] = build_link_table(
                    definition.name, rel, self.metadata
                )

    def table(self, entity: str) -> sa.Table:
        """The table of ``entity``."""
        return self.tables[entity]

    def index(self, entity: str, name: str) -> sa.Index:
        """The SQL index called ``name`` (the definition's name) on ``entity``."""
        for index in self.definitions[entity].all_indexes():
            if index.name == name:
                sql_name = index_name(entity, index)
                return next(i for i in self.tables[entity].indexes if i.name == sql_name)
        raise KeyError(name)


class SchemaChanger:
    """Applies plan steps on one connection, inside the caller's transaction."""

    def __init__(self, conn: Connection, old: Catalog, new: Catalog) -> None:
        self.conn = conn
        self.old = old
        self.new = new
        self.sqlite = conn.dialect.name == "sqlite"
        self.ops = Operations(MigrationContext.configure(connection=conn))

    def apply(self, steps: list[Step]) -> None:
        """Carry out ``steps`` in phase order."""
        ordered = sorted(steps, key=lambda s: PHASES.index(s.action))
        created = [s.entity for s in ordered if s.action == "create_entity"]
        for step in ordered:
            if step.action == "create_entity":
                if step.entity == created[0]:
                    self.create_entities(created)
            else:
                getattr(self, step.action)(step)

    @contextmanager
    def _alter(self, entity: str) -> Iterator[Any]:
        if self.sqlite:
            with self.ops.batch_alter_table(entity, recreate="auto") as batch:
                yield batch
        else:
            yield _Direct(self.ops, entity)

    def create_entities(self, entities: list[str]) -> None:
        """Create entities together: they may refer to each other.

        ``create_all`` orders the tables by their foreign keys and adds the
        constraints of a cycle afterwards (on PostgreSQL).
        """
        tables = [self.new.table(e) for e in entities]
        tables += [t for (e, _), t in self.new.link_tables.items() if e in entities]
        self.new.metadata.create_all(self.conn, tables=tables, checkfirst=False)

    def drop_entity(self, step: Step) -> None:
        for (entity, _), link in self.old.link_tables.items():
            if entity == step.entity:
                link.drop(self.conn)
        self.old.table(step.entity).drop(self.conn)

    def add_field(self, step: Step) -> None:
        field = self._field(self.new, step)
        with self._alter(step.entity) as alter:
            for column in field_columns(field):
                alter.add_column(column)

    def remove_field(self, step: Step) -> None:
        field = self._field(self.old, step)
        with self._alter(step.entity) as alter:
            for column in field.columns:
                alter.drop_column(column)

    def rename_field(self, step: Step) -> None:
        old = self.old.definitions[step.entity].field(step.details["from"])
        new = self._field(self.new, step)
        # The foreign key is named after the field; renaming it too keeps the old
        # name free for a field that may take it later.
        old_fk, new_fk = foreign_key_name(old), foreign_key_name(new)
        renames_fk = new.kind is Kind.LOOKUP and new.target is not None and old_fk != new_fk
        with self._alter(step.entity) as alter:
            for before, after in zip(old.columns, new.columns, strict=True):
                alter.alter_column(before, new_column_name=after)
        if renames_fk and self.sqlite:
            # A second batch: the first one's copy still knows the column by its old name.
            with self._alter(step.entity) as alter:
                alter.drop_constraint(old_fk, type_="foreignkey")
                alter.create_foreign_key(new_fk, new.target, [new.name], ["id"])
        elif renames_fk:
            quote = self.conn.dialect.identifier_preparer.quote
            self.conn.exec_driver_sql(
                f"ALTER TABLE {quote(step.entity)} RENAME CONSTRAINT {quote(old_fk)}"
                f" TO {quote(new_fk)}"
            )

    def convert_field(self, step: Step) -> None:
        """Change the column type; the metadata service rewrites the values after."""
        field = self._field(self.new, step)
        (column,) = field_columns(field)
        if self.sqlite:
            # The table copy would CAST the old values ("12" and "012" both to 12),
            # which may break a unique index; they are rewritten afterwards anyway,
            # as PostgreSQL's USING NULL does.
            bare = sa.table(step.entity, sa.column(field.name))
            self.conn.execute(bare.update().values({field.name: None}))
        with self._alter(step.entity) as alter:
            alter.alter_column(
                field.name, type_=column.type, postgresql_using="NULL", existing_nullable=True
            )

    def change_field(self, step: Step) -> None:
        """Rules live in the record service; indexes are their own steps."""

    def change_entity(self, step: Step) -> None:
        """Labels are metadata only."""

    def add_index(self, step: Step) -> None:
        self.new.index(step.entity, step.details["index"]).create(self.conn)

    def drop_index(self, step: Step) -> None:
        self.old.index(step.entity, step.details["index"]).drop(self.conn)

    def add_relationship(self, step: Step) -> None:
        assert step.field is not None
        self.new.link_tables[step.entity, step.field].create(self.conn)

    def remove_relationship(self, step: Step) -> None:
        assert step.field is not None
        self.old.link_tables[step.entity, step.field].drop(self.conn)

    def rename_relationship(self, step: Step) -> None:
        """Rename the link table, its primary key and its index: the links stay.

        The old names are freed, so a relationship may take the old name later.
        """
        assert step.field is not None
        before = self.old.link_tables[step.entity, step.details["from"]]
        after = self.new.link_tables[step.entity, step.field]
        (old_index,), (new_index,) = before.indexes, after.indexes
        if self.sqlite:
            # SQLite has no ALTER INDEX; index names are file-wide, so it goes too.
            old_index.drop(self.conn)
            self.ops.rename_table(before.name, after.name)
            new_index.create(self.conn)
            return
        self.ops.rename_table(before.name, after.name)
        quote = self.conn.dialect.identifier_preparer.quote
        for old, new in (
            (primary_key_name(before.name), primary_key_name(after.name)),
            (str(old_index.name), str(new_index.name)),
        ):
            # Renaming the primary key constraint renames its index, the other index directly.
            self.conn.exec_driver_sql(f"ALTER INDEX {quote(old)} RENAME TO {quote(new)}")

    def add_attribute(self, step: Step) -> None:
        attribute = self._attribute(self.new, step)
        with self._alter(self._link(step)) as alter:
            for column in field_columns(attribute):
                alter.add_column(column)

    def remove_attribute(self, step: Step) -> None:
        name = step.details["attribute"]
        with self._alter(self._link(step)) as alter:
            alter.drop_column(name)

    def convert_attribute(self, step: Step) -> None:
        """Change the column type; the metadata service rewrites the values after.

        As for a field (:meth:`convert_field`): the old values are cleared first.
        """
        attribute = self._attribute(self.new, step)
        (column,) = field_columns(attribute)
        link = self._link(step)
        if self.sqlite:
            bare = sa.table(link, sa.column(attribute.name))
            self.conn.execute(bare.update().values({attribute.name: None}))
        with self._alter(link) as alter:
            alter.alter_column(
                attribute.name, type_=column.type, postgresql_using="NULL", existing_nullable=True
            )

    def change_attribute(self, step: Step) -> None:
        """Rules live in the record service (link attributes are all nullable columns)."""

    def change_relationship(self, step: Step) -> None:
        """Labels are metadata only."""

    def _link(self, step: Step) -> str:
        """The name of the link table an attribute step changes (renamed by then)."""
        assert step.field is not None
        return self.new.link_tables[step.entity, step.field].name

    @staticmethod
    def _attribute(catalog: Catalog, step: Step) -> FieldDefinition:
        assert step.field is not None
        rel = catalog.definitions[step.entity].relationship(step.field)
        return next(a for a in rel.attributes if a.name == step.details["attribute"])

    @staticmethod
    def _field(catalog: Catalog, step: Step) -> FieldDefinition:
        assert step.field is not None
        return catalog.definitions[step.entity].field(step.field)


class _Direct:
    """The batch-operations interface, applied straight to PostgreSQL."""

    def __init__(self, ops: Operations, table: str) -> None:
        self.ops = ops
        self.table = table

    def add_column(self, column: sa.Column[Any]) -> None:
        self.ops.add_column(self.table, column)

    def drop_column(self, name: str) -> None:
        self.ops.drop_column(self.table, name)

    def alter_column(self, name: str, **kw: Any) -> None:
        self.ops.alter_column(self.table, name, **kw)
