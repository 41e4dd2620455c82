"""Column types for each field kind, the same meaning on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from xrm_core.metadata.definition import FieldDefinition, Kind


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out.

    SQLite stores them as naive UTC text so that ``strftime`` grouping and text
    ordering agree with time order; PostgreSQL uses ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from an aggregate
            value = dt.datetime.fromisoformat(value)
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


#: Field values: JSONB on PostgreSQL (indexable, ``@>``); Python None is SQL NULL,
#: so "empty" means the same thing for JSON fields as for any other.
JSONType = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)

#: Documents the core stores (definitions, plans): plain JSON keeps the author's key
#: order on PostgreSQL, where JSONB would sort keys (and so reorder fields).
DocumentType = sa.JSON()


def column_type(field: FieldDefinition) -> sa.types.TypeEngine[Any]:
    """The SQL type of a (non-polymorphic) field's column."""
    kind = field.kind
    if kind in (Kind.DECIMAL, Kind.MONEY):
        return sa.Numeric(field.precision, field.scale, asdecimal=True)
    return _SIMPLE_TYPES[kind]


_SIMPLE_TYPES: dict[Kind, sa.types.TypeEngine[Any]] = {
    # Strings carry no length in SQL: maxLength is a validation rule, so changing
    # it never needs DDL (VARCHAR and TEXT perform the same on PostgreSQL).
    Kind.STRING: sa.String(),
    Kind.TEXT: sa.Text(),
    Kind.EMAIL: sa.String(),
    Kind.PHONE: sa.String(),
    Kind.URL: sa.String(),
    Kind.CHOICE: sa.String(),
    Kind.INTEGER: sa.BigInteger(),
    Kind.BOOLEAN: sa.Boolean(),
    Kind.DATE: sa.Date(),
    Kind.DATETIME: UTCDateTime(),
    Kind.MULTI_CHOICE: JSONType,
    Kind.JSON: JSONType,
    Kind.LOOKUP: sa.Uuid(),
}
