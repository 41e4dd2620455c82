"""A graphql-core executor that completes records' fields without a resolver call each.

graphql-core completes every field of every object the same way: a resolve
info, the field's resolver (Strawberry's wrapper around the default
resolver), then the coercion of the value by its type. For a list of records
that is a few microseconds per value, and a page of 100 records with a lookup
holds thousands of values. Most of them are plain fields of a record (a dict):
a string, a number, an id, a date, a choice.

:class:`Executor` (decision 0037) completes those directly: the value is the
record's key of the field's name, coerced as the field's type coerces it (an
id's UUID becomes its string, a choice its enum name). With
``native_values`` in the context (the endpoint sets it: its encoder writes
them exactly so) UUIDs, datetimes, dates and decimals are left for the
encoder. A lookup whose record was read with its page (lists and single
records expand the lookups their query selects) is completed in place,
without its resolver. Anything else — a field with a resolver or arguments, a value of
an unexpected type, a missing value of a non-null field, a source that is not
a dict, a Strawberry extension resolving fields — goes the usual way, so
errors and nulls are exactly graphql-core's (``tests/graphql/test_executor.py``
compares the two).
"""

from __future__ import annotations

import datetime as dt
import decimal
import operator
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, cast

from graphql import (
    GraphQLEnumType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

#: A value the fast path does not handle: the field goes the usual way.
_SLOW: Any = object()
_INT32 = (-(2**31), 2**31 - 1)
#: Where Strawberry keeps, on a graphql-core field, the Strawberry field it was made from.
_BACKREF = "strawberry-definition"
#: The attribute marking a resolver that reads a lookup: the record's key of the lookup.
LOOKUP = "xrm_lookup"


class _Lookup(NamedTuple):
    record_type: GraphQLObjectType
    field_type: GraphQLOutputType


class _Field(NamedTuple):
    """How one selected field of a record is completed."""

    response_name: str
    details: FieldDetailsList
    #: The record's key holding the value; None: the usual way, always.
    key: str | None = None
    #: A value of exactly this type is the answer as it is.
    same: type | None = None
    #: Else this coerces it (``_SLOW`` when it cannot).
    coerce: Callable[[Any], Any] | None = None
    non_null: bool = False
    #: A lookup: the record read with its page (expanded) is completed in place.
    lookup: _Lookup | None = None


class _Plan(NamedTuple):
    """How the selected fields of one record type are completed."""

    #: Every response name, in the query's order.
    order: tuple[str, ...]
    #: Plain fields of a leaf type: (name, key, same type, coercion, non-null, field).
    leaves: list[tuple[str, str | None, type | None, Callable[[Any], Any] | None, bool, _Field]]
    #: The others: lookups, and fields completed as usual.
    other: list[_Field]


class Executor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with plain fields and expanded lookups completed directly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per grouped field set (graphql-core memoizes them per selection and type).
        self._plans: dict[int, tuple[GroupedFieldSet, _Plan]] = {}
        # Per record type and selection (the field details of a list or a lookup).
        self._completers: dict[tuple[str, int], tuple[FieldDetailsList, Completer | None]] = {}
        self._record_types: dict[int, GraphQLObjectType | None] = {}
        self._kept: list[GraphQLOutputType] = []
        # Field middleware (a Strawberry extension resolving fields) sees every field.
        manager = self.middleware_manager
        self._fast = manager is None or manager._middleware_resolvers is None
        #: Leave UUIDs, dates and decimals as they are: the response's encoder writes
        #: them as their coercion would (RecordsResponse: orjson, decimals as strings).
        self._native: bool = getattr(self.context_value, "native_values", False)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """Execute the fields of one object: plain fields directly, the rest as usual."""
        if not self._fast or type(source_value) is not dict:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plan = self._plan(parent_type, grouped_field_set)
        # Every value of every record goes through this loop, so it calls little but
        # dict.get (and a coercion for ints and choices); the dict has every response
        # name already, in the query's order.
        results = dict.fromkeys(plan.order)
        get = source_value.get
        rest = plan.other
        for name, key, same, coerce, non_null, field in plan.leaves:
            value = get(key)
            if type(value) is same:
                results[name] = value
            elif value is None:
                if non_null:
                    rest = [*rest, field]  # graphql-core's error for a missing value
            elif coerce is not None and (value := coerce(value)) is not _SLOW:
                results[name] = value
            else:
                rest = [*rest, field]  # rare: a value of another type
        if not rest:
            return results
        return self._complete(parent_type, source_value, path, rest, results, position_context)

    def _record_fields(
        self,
        record_type: GraphQLObjectType,
        details: FieldDetailsList,
        path: Path,
        record: dict[str, Any],
        position_context: Any,
    ) -> Any:
        """The selected fields of ``record``, as ``collect_and_execute_subfields`` answers them."""
        grouped, deferred, _ = self.collect_subfields(record_type, details)
        if deferred or position_context is not None:  # @defer: graphql-core's own way
            return self.collect_and_execute_subfields(
                record_type, details, path, record, position_context
            )
        return self.execute_fields(record_type, record, path, grouped, position_context)

    def _complete(
        self,
        parent_type: GraphQLObjectType,
        source_value: dict[str, Any],
        path: Path | None,
        fields: list[_Field],
        results: dict[str, Any],
        position_context: Any,
    ) -> Any:
        """Complete ``fields`` into ``results``: expanded lookups directly, the rest as usual."""
        awaitable: list[str] = []
        try:
            for name, details, key, _, _, _, lookup in fields:
                record = source_value.get(key) if lookup is not None and key else None
                if lookup is not None and type(record) is dict:  # expanded with its page
                    value = self._record(
                        parent_type, name, details, lookup, path, record, position_context
                    )
                    results[name] = value
                    if self.is_awaitable(value):
                        awaitable.append(name)
                    continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, name, parent_type.name),
                    position_context,
                )
                if result is Undefined:
                    del results[name]
                    continue
                results[name] = result
                if self.is_awaitable(result):
                    awaitable.append(name)
        except Exception:
            if awaitable:
                self.settle_in_background([results[name] for name in awaitable])
            raise
        if not awaitable:
            return results
        return _gather(results, awaitable)

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """A list of records completed by their compiled completer in one pass, if it can;
        else item by item (all of them, when any record is unusual)."""
        record_type = self._record_type(return_type.of_type)
        if (
            record_type is not None
            and type(result) is list
            and self._fast
            and position_context is None
            and self.get_stream_usage(field_details_list, path) is None
        ):
            completer = self._completer(record_type, field_details_list)
            if completer is not None:
                done = [completer(item) if type(item) is dict else None for item in result]
                if None not in done:
                    return done
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        item_path: Path,
        position_context: Any,
    ) -> bool:
        """Complete one item of a list: a record's fields directly, anything else as usual."""
        record_type = self._record_type(item_type)
        if record_type is None or type(item) is not dict or not self._fast:
            return super().complete_list_item_value(
                item,
                complete_results,
                item_type,
                field_details_list,
                info,
                item_path,
                position_context,
            )
        if position_context is None:
            completer = self._completer(record_type, field_details_list)
            done = None if completer is None else completer(item)
            if done is not None:
                complete_results.append(done)
                return False
        try:
            completed = self._record_fields(
                record_type, field_details_list, item_path, item, position_context
            )
        except Exception as error:
            self.handle_field_error(error, item_type, field_details_list, item_path)
            complete_results.append(None)
            return False
        if self.is_awaitable(completed):
            complete_results.append(
                self._awaited(completed, item_type, field_details_list, item_path)
            )
            return True
        complete_results.append(completed)
        return False

    def _record_type(self, item_type: GraphQLOutputType) -> GraphQLObjectType | None:
        """The object type of list items of ``item_type`` completed without checks, or None.

        A dict completed as an object type without ``is_type_of`` (ours have none)
        is only its fields: graphql-core's steps before them check nothing else.
        """
        key = id(item_type)
        if key not in self._record_types:
            inner = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
            record = isinstance(inner, GraphQLObjectType) and not inner.is_type_of
            self._record_types[key] = cast(GraphQLObjectType, inner) if record else None
            self._kept.append(item_type)  # ids stay unique while the executor lives
        return self._record_types[key]

    def _record(
        self,
        parent_type: GraphQLObjectType,
        response_name: str,
        details: FieldDetailsList,
        lookup: _Lookup,
        path: Path | None,
        record: Any,
        position_context: Any,
    ) -> Any:
        """A lookup's record, read with its page, completed as graphql-core would complete it."""
        if position_context is None:
            completer = self._completer(lookup.record_type, details)
            done = None if completer is None else completer(record)
            if done is not None:
                return done
        field_path = Path(path, response_name, parent_type.name)
        try:
            completed = self._record_fields(
                lookup.record_type, details, field_path, record, position_context
            )
        except Exception as error:
            self.handle_field_error(error, lookup.field_type, details, field_path)
            return None
        if self.is_awaitable(completed):
            return self._awaited(completed, lookup.field_type, details, field_path)
        return completed

    async def _awaited(
        self,
        completed: Awaitable[Any],
        field_type: GraphQLOutputType,
        details: FieldDetailsList,
        field_path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, field_type, details, field_path)
            return None

    def _completer(
        self, record_type: GraphQLObjectType, details: FieldDetailsList
    ) -> Completer | None:
        """The compiled completer of ``record_type``'s fields selected by ``details``, if any."""
        key = (record_type.name, id(details))
        cached = self._completers.get(key)
        if cached is not None and cached[0] is details:
            return cached[1]
        grouped, deferred, _ = self.collect_subfields(record_type, details)
        completer = None
        if not deferred:
            plan = self._plan(record_type, grouped)
            nested: dict[str, Completer | None] = {
                f.response_name: self._completer(f.lookup.record_type, f.details)
                for f in plan.other
                if f.lookup is not None
            }
            completer = compile_completer(plan, nested)
        self._completers[key] = (details, completer)
        return completer

    def _plan(self, parent_type: GraphQLObjectType, fields: GroupedFieldSet) -> _Plan:
        """How each of ``fields`` of ``parent_type`` is completed."""
        cached = self._plans.get(id(fields))
        if cached is not None and cached[0] is fields:
            return cached[1]
        every = [
            _field(parent_type, name, details, self._native) for name, details in fields.items()
        ]
        leaves = [f for f in every if f.key is not None and f.lookup is None]
        plan = _Plan(
            order=tuple(fields),
            leaves=[(f.response_name, f.key, f.same, f.coerce, f.non_null, f) for f in leaves],
            other=[f for f in every if f.key is None or f.lookup is not None],
        )
        self._plans[id(fields)] = (fields, plan)
        return plan


#: A record's selected fields completed at once: the answer, or None to go field by field.
Completer = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def compile_completer(plan: _Plan, nested: dict[str, Completer | None]) -> Completer | None:
    """One function answering what :meth:`Executor.execute_fields` answers for a record
    whose values are all as usual (``nested``: the completers of its lookups' records).

    Straight-line Python, one block per field, with no loop and no call but one
    to read every value at once and the coercions: a page of records is completed
    about three times faster. Anything unusual — a value of another type, a missing value of
    a non-null field, a lookup not read with its page — answers None, and the
    record goes the field-by-field way, where errors are graphql-core's. None
    also when a selected field is neither plain nor a lookup with a completer.

    The text is generated once per shape (which fields are plain, coerced,
    non-null, lookups) and holds only names made here: keys, response names (a
    client's aliases), types and coercions are bound to it as arguments.
    """
    leaves = {entry[0]: entry for entry in plan.leaves}
    lookups = {f.response_name: f for f in plan.other if f.lookup is not None}
    shape: list[tuple[Any, ...]] = []
    values: list[Any] = []
    for name in plan.order:
        if name in leaves:
            _, key, same, coerce, non_null, _ = leaves[name]
            if same is None and (coerce is None or coerce is _slow):
                return None
            shape.append(("leaf", same is not None, coerce is not None, non_null))
            values += [key, name, same, coerce]
        elif name in lookups and nested.get(name) is not None:
            shape.append(("lookup", lookups[name].non_null))
            values += [lookups[name].key, name, None, nested[name]]
        else:
            return None
    make = _MAKERS.get(tuple(shape))
    if make is None:
        make = _maker(shape)
        if len(_MAKERS) >= _MAX_MAKERS:
            _MAKERS.clear()
        _MAKERS[tuple(shape)] = make
    keys = values[0::4]
    # One C call reads every value; a record without some key (a secured field hidden
    # from the caller) is read as dict.get reads it: None.
    read = operator.itemgetter(*keys) if len(keys) > 1 else lambda record: (record[keys[0]],)

    def read_some(record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(map(record.get, keys))

    return make(read, read_some, *values, _SLOW)


#: Compiled completer factories, by shape (see :func:`compile_completer`).
_MAKERS: dict[tuple[tuple[Any, ...], ...], Callable[..., Completer]] = {}
_MAX_MAKERS = 1000


def _maker(shape: list[tuple[Any, ...]]) -> Callable[..., Completer]:
    """``make(read, read_some, K0, N0, S0, C0, K1, ..., SLOW)``: a completer for records
    of ``shape``. ``read(record)`` answers the values of the keys ``K0, K1, ...`` in
    order (KeyError if one is missing), ``read_some(record)`` the same with None for those.
    """
    arguments = ", ".join(f"K{i}, N{i}, S{i}, C{i}" for i in range(len(shape)))
    names = "".join(f"v{i}, " for i in range(len(shape)))
    lines = [f"def make(read, read_some, {arguments}, SLOW):", "    def complete(source):"]
    lines += ["        try:", f"            {names}= read(source)", "        except KeyError:"]
    lines += [f"            {names}= read_some(source)"]
    for i, (kind, *flags) in enumerate(shape):
        block = _leaf(i, *flags) if kind == "leaf" else _lookup(i, *flags)
        lines += [f"        {line}" for line in block]
    answer = ", ".join(f"N{i}: v{i}" for i in range(len(shape)))
    lines += [f"        return {{{answer}}}", "    return complete"]
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<xrm record completer>", "exec"), namespace)
    return cast(Callable[..., Completer], namespace["make"])


def _leaf(i: int, same: bool, coerce: bool, non_null: bool) -> list[str]:
    none = "return None" if non_null else "pass"
    convert = [f"v{i} = C{i}(v{i})", f"if v{i} is SLOW:", "    return None"]
    if not coerce:
        convert = ["return None"]
    if same:
        body = [f"if type(v{i}) is not S{i}:", f"    if v{i} is None:", f"        {none}"]
        body += ["    else:", *(f"        {line}" for line in convert)]
    else:
        body = [f"if v{i} is None:", f"    {none}", "else:", *(f"    {line}" for line in convert)]
    return body


def _lookup(i: int, non_null: bool) -> list[str]:
    # C is the completer of the lookup's record.
    none = "return None" if non_null else "pass"
    body = [f"if type(v{i}) is dict:", f"    v{i} = C{i}(v{i})", f"    if v{i} is None:"]
    body += ["        return None", f"elif v{i} is None:", f"    {none}"]
    body += ["else:", "    return None"]
    return body


def _field(
    parent_type: GraphQLObjectType, response_name: str, details: FieldDetailsList, native: bool
) -> _Field:
    node = details[0].node
    name = node.name.value
    field = parent_type.fields.get(name)
    usual = _Field(response_name, details)
    if field is None or field.args or node.arguments:
        return usual
    kind = field.type
    non_null = isinstance(kind, GraphQLNonNull)
    if non_null:
        kind = kind.of_type
    if is_leaf_type(kind) and _default(field.resolve):
        same, coerce = coercion(kind, native)
        return usual._replace(key=name, same=same, coerce=coerce, non_null=non_null)
    strawberry_field = field.extensions.get(_BACKREF)
    resolver = getattr(strawberry_field, "base_resolver", None)
    marked = getattr(getattr(resolver, "wrapped_func", None), LOOKUP, None)
    if marked is not None and isinstance(kind, GraphQLObjectType) and not kind.is_type_of:
        lookup = _Lookup(kind, field.type)
        return usual._replace(key=marked, non_null=non_null, lookup=lookup)
    return usual


def _default(resolve: Any) -> bool:
    # Strawberry marks the resolvers it makes for fields without one of ours; they
    # read the record's key of the field's name (schema.read).
    return resolve is not None and getattr(resolve, "_is_default", False) is True


async def _gather(results: dict[str, Any], awaitable: list[str]) -> dict[str, Any]:
    if len(awaitable) == 1:
        results[awaitable[0]] = await results[awaitable[0]]
    else:
        found = await gather_with_cancel(*(results[name] for name in awaitable))
        results.update(zip(awaitable, found, strict=True))
    return results


def coercion(
    kind: GraphQLLeafType, native: bool = False
) -> tuple[type | None, Callable[[Any], Any] | None]:
    """How a value of the leaf type ``kind`` is coerced when it has the usual Python type.

    A type whose values are their own answer, and a function answering what
    ``kind.coerce_output_value`` answers for a value of the usual type (and
    ``_SLOW`` for any other value: the field is then completed as usual).
    With ``native``, UUIDs, datetimes, dates and decimals are their own answer
    (for an encoder that writes them as the coercion would).
    """
    if isinstance(kind, GraphQLEnumType):
        names = {v.value: n for n, v in kind.values.items() if type(v.value) is str}
        return None, lambda value: names.get(value, _SLOW) if type(value) is str else _SLOW
    same = _SAME.get(kind.name) or (_NATIVE.get(kind.name) if native else None)
    return same, _SCALARS.get(kind.name, None if same else _slow)


def _slow(value: Any) -> Any:
    return _SLOW


def _int32(value: Any) -> Any:
    return value if type(value) is int and _INT32[0] <= value <= _INT32[1] else _SLOW


def _id(value: Any) -> Any:
    if type(value) is uuid.UUID:
        return str(value)
    return value if type(value) is str else _SLOW


def _iso(python_type: type[dt.date]) -> Callable[[Any], Any]:
    return lambda value: python_type.isoformat(value) if type(value) is python_type else _SLOW


def _decimal(value: Any) -> Any:
    return str(value) if type(value) is decimal.Decimal else _SLOW


#: Scalars whose values of these Python types are their own answer, by name.
_SAME: dict[str, type] = {"String": str, "Boolean": bool, "BigInt": int}
#: Scalars whose values of these Python types an encoder of records writes as they coerce.
_NATIVE: dict[str, type] = {
    "ID": uuid.UUID,
    "DateTime": dt.datetime,
    "Date": dt.date,
    "Decimal": decimal.Decimal,
}
#: The other scalars of our schemas (graphql-core's, Strawberry's), by name.
_SCALARS: dict[str, Callable[[Any], Any]] = {
    "Int": _int32,
    "ID": _id,
    "DateTime": _iso(dt.datetime),
    "Date": _iso(dt.date),
    "Decimal": _decimal,
}
