"""SQLAlchemy tables: the core's metadata tables, and one table per entity."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Index, Kind, ManyToMany
from xrm_core.storage.types import DocumentType, UTCDateTime, column_type

#: Longest identifier PostgreSQL keeps (SQLite has no limit).
MAX_IDENTIFIER = 63

core_metadata = sa.MetaData()

entity_table = sa.Table(
    "xrm_entity",
    core_metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", DocumentType, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

entity_history_table = sa.Table(
    "xrm_entity_history",
    core_metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(128), nullable=False),
    # NULL when the entity was dropped.
    sa.Column("definition", DocumentType, nullable=True),
    sa.Column("plan", DocumentType, nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("changed_by", sa.Uuid, nullable=True),
)

state_table = sa.Table(
    "xrm_state",
    core_metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)


def identifier(*parts: str) -> str:
    """Join parts into a database identifier, shortened with a hash past 63 chars."""
    name = "_".join(parts)
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def system_columns() -> list[sa.Column[object]]:
    """Columns every entity table has, in order."""
    return [
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.Uuid, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.Uuid, nullable=True),
        sa.Column("owner_id", sa.Uuid, nullable=True),
        sa.Column("owner_type", sa.String(16), nullable=True),
        sa.Column("business_unit_id", sa.Uuid, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    ]


def field_columns(field: FieldDefinition) -> list[sa.Column[object]]:
    """The columns that store one field.

    Every field column is nullable: ``required`` is enforced by the record
    service, so making a field required or optional never needs DDL.
    Referential integrity is declared to the database (NO ACTION); the record
    service applies restrict / cascade / set null itself, so that each affected
    record passes through the one service path.
    """
    if field.kind is Kind.POLYMORPHIC_LOOKUP:
        entity_col, id_col = field.columns
        return [sa.Column(entity_col, sa.String(64)), sa.Column(id_col, sa.Uuid)]
    if field.kind is Kind.LOOKUP and field.target is not None:
        fk = sa.ForeignKey(f"{field.target}.id", name=foreign_key_name(field))
        return [sa.Column(field.name, sa.Uuid, fk)]
    return [sa.Column(field.name, column_type(field))]


def foreign_key_name(field: FieldDefinition) -> str:
    """The name of a lookup's foreign key: unique in its table, as field names are."""
    return identifier("fk", field.name)


def build_table(definition: EntityDefinition, metadata: sa.MetaData, dialect: str) -> sa.Table:
    """The table for an entity, with its indexes, added to ``metadata``."""
    columns = system_columns()
    for field in definition.fields:
        columns.extend(field_columns(field))
    table = sa.Table(definition.name, metadata, *columns)
    for index in definition.all_indexes():
        build_index(table, definition, index, dialect)
    return table


def index_name(table: str, index: Index) -> str:
    """The database-wide name of an entity index (PostgreSQL names are per schema)."""
    return identifier(table, index.name)


def build_index(
    table: sa.Table, definition: EntityDefinition, index: Index, dialect: str
) -> sa.Index:
    """Build (and attach to ``table``) the SQL index for ``index``."""
    columns: list[sa.ColumnElement[object]] = []
    for name in index.fields:
        if definition.has_field(name):
            columns.extend(table.c[c] for c in definition.field(name).columns)
        else:
            columns.append(table.c[name])
    if dialect == "postgresql":
        # The query language sorts NULL as the smallest value (SQLite's native
        # order); PostgreSQL indexes must store that order to serve such sorts.
        columns = [c.asc().nulls_first() if c.nullable else c for c in columns]
    return sa.Index(index_name(table.name, index), *columns, unique=index.unique)


def relation_names(definition: EntityDefinition) -> list[tuple[str, str]]:
    """``(database name, what it is)`` for each table and index an entity creates.

    Tables and indexes share one namespace (a schema on PostgreSQL, the file on
    SQLite), so these names must be unique across every entity. ``what`` is
    ``table``, ``index:<name>`` or ``relationship:<name>``.
    """
    names = [(definition.name, "table"), (primary_key_name(definition.name), "table")]
    for index in definition.all_indexes():
        names.append((index_name(definition.name, index), f"index:{index.name}"))
    for rel in definition.relationships:
        link = rel.link_table(definition.name)
        for name in (link, primary_key_name(link), link_index_name(link)):
            names.append((name, f"relationship:{rel.name}"))
    return names


def core_relation_names() -> set[str]:
    """Names of the core's own tables and their indexes."""
    names = set()
    for table in core_metadata.tables.values():
        names |= {table.name, primary_key_name(table.name)}
        names |= {str(index.name) for index in table.indexes}
    return names


def add_missing_indexes(conn: sa.Connection) -> list[str]:
    """Create the indexes of the core's tables that the database lacks; their names.

    ``create_all`` makes a missing table with its indexes but leaves a table
    that exists as it is, so an index a later version adds to a core table
    reaches databases made before it only through this (``xrm db upgrade``).
    """
    tables = list(core_metadata.sorted_tables)
    present = sa.inspect(conn).get_multi_indexes(filter_names=[t.name for t in tables])
    made = []
    for table in tables:
        names = {found["name"] for found in present.get((None, table.name), ())}
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if index.name not in names:
                index.create(conn, checkfirst=True)
                made.append(str(index.name))
    return made


def primary_key_name(table: str) -> str:
    """What PostgreSQL calls a table's primary key index: it keeps the suffix whole."""
    suffix = "_pkey"
    return table[: MAX_IDENTIFIER - len(suffix)] + suffix


def link_index_name(link_table: str) -> str:
    """The name of a link table's index on its target column."""
    return identifier(link_table, "target")


def build_link_table(entity: str, relationship: ManyToMany, metadata: sa.MetaData) -> sa.Table:
    """The link table of a many-to-many relationship, with its attributes."""
    name = relationship.link_table(entity)
    columns: list[sa.Column[object]] = [
        sa.Column("source_id", sa.Uuid, sa.ForeignKey(f"{entity}.id"), primary_key=True),
        sa.Column(
            "target_id", sa.Uuid, sa.ForeignKey(f"{relationship.target}.id"), primary_key=True
        ),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.Uuid, nullable=True),
    ]
    for attribute in relationship.attributes:
        columns.extend(field_columns(attribute))
    table = sa.Table(name, metadata, *columns)
    sa.Index(link_index_name(name), table.c.target_id)
    return table
