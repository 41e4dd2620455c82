"""One batch of an import: rows converted, lookup keys resolved, written through the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xrm_core.errors import Problem, XRMError, pointer
from xrm_core.metadata.models import InvalidRecord
from xrm_core.records.service import RecordService
from xrm_core.transfer.formats import SourceRow
from xrm_core.transfer.jobs import BatchOutcome, ImportJob, Rejection
from xrm_core.transfer.values import Columns, KeyColumn, from_cells, resolve_keys


def write_batch(
    job: ImportJob,
    records: RecordService,
    columns: Columns,
    part: list[SourceRow],
    service_of: Callable[[str], RecordService],
) -> BatchOutcome:
    """Convert and write one batch in the open transaction; what it did."""
    rejections: list[Rejection] = []
    given: list[SourceRow] = []
    values: list[dict[str, Any]] = []
    early: list[list[Problem]] = []
    for row in part:
        if row.problem is not None:
            rejections.append(Rejection(row.line, row.raw, (Problem("", row.problem),)))
            continue
        converted, problems = (
            from_cells(records.definition, row.raw)
            if job.columns
            else (dict(row.raw), columns.given_twice(row.raw))
        )
        given.append(row)
        values.append(converted)
        early.append(problems)
    keys: dict[str, KeyColumn] = {k.column: k for v in values for k in columns.keys_in(v)}
    broken = resolve_keys(values, list(keys.values()), service_of)
    kept = []
    for n, row in enumerate(given):
        problems = early[n] + broken.get(n, [])
        if not problems:
            kept.append(n)
            continue
        # The row is refused already; its other fields are checked too, so that
        # one report names everything to fix in it.
        problems += _value_problems(records, values[n], {p.pointer for p in problems})
        rejections.append(Rejection(row.line, row.raw, _in_column_order(problems, row.raw)))
    written = [values[n] for n in kept]
    if job.key is None:
        result = records.create_many(written, mode="per_row")
    else:
        result = records.upsert_many(written, key=job.key, mode="per_row")
    created = updated = 0
    for outcome in result.rows:
        if outcome.ok:
            created, updated = created + outcome.created, updated + (not outcome.created)
            continue
        row = given[kept[outcome.index]]
        rejections.append(Rejection(row.line, row.raw, _problems(outcome.error)))
    rejections.sort(key=lambda r: r.line)
    return BatchOutcome(len(part), created, updated, rejections)


def _value_problems(
    records: RecordService, values: dict[str, Any], known: set[str]
) -> list[Problem]:
    """What the validator finds wrong with the fields of ``values`` not already reported."""
    definition = records.definition
    rest = {k: v for k, v in values.items() if definition.has_field(k) and pointer(k) not in known}
    try:
        records.metadata.validator(records.entity).validate_patch(rest)
    except InvalidRecord as exc:
        return list(exc.problems)
    return []


def _in_column_order(problems: list[Problem], raw: Any) -> tuple[Problem, ...]:
    order = {k: n for n, k in enumerate(raw)} if isinstance(raw, dict) else {}

    def column(problem: Problem) -> int:
        head = problem.pointer[1:].split("/", 1)[0].replace("~1", "/").replace("~0", "~")
        return order.get(head, len(order))

    return tuple(sorted(problems, key=column))


def _problems(error: XRMError | None) -> tuple[Problem, ...]:
    if error is None:
        return ()
    return error.problems or (Problem("", error.message),)
