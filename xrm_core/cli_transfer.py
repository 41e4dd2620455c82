"""``xrm import`` and ``xrm export``: streamed records to and from CSV and JSON Lines files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn

import click

from xrm_core.cli_common import EXIT_REFUSED, database_option, opened
from xrm_core.cli_users import find_user
from xrm_core.errors import ImportRejected, XRMError
from xrm_core.plugins import make_plugin_manager, start
from xrm_core.transfer import DEFAULT_BATCH, FORMATS, ImportJob, Progress
from xrm_core.xrm import XRM

_as_user_option = click.option(
    "--as-user",
    "user",
    metavar="USER",
    help="Act as this user (username or id), with their permissions. Default: the system.",
)
_format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="csv or jsonl (default: the suffix)."
)


@click.command("import")
@database_option
@click.argument("entity")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_format_option
@click.option(
    "--key",
    metavar="KEY",
    help="An alternate key (its name, or fields joined by commas): a row matching a record "
    "updates it, the others create records. Default: every row creates a record.",
)
@click.option(
    "--all-or-nothing",
    "atomic",
    is_flag=True,
    help="Write nothing if any row is bad (default: write the good rows, report the bad).",
)
@click.option(
    "--batch",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Rows written per transaction.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the rejected rows (default: FILE.rejected.csv or .jsonl beside FILE).",
)
@click.option("--resume", is_flag=True, help="Continue the interrupted import of this file.")
@click.option(
    "--restart", is_flag=True, help="Give up the interrupted import of this file and start over."
)
@_as_user_option
def import_command(
    url: str,
    entity: str,
    file: Path,
    fmt: str | None,
    key: str | None,
    atomic: bool,
    batch: int,
    report: Path | None,
    resume: bool,
    restart: bool,
    user: str | None,
) -> None:
    """Import records into ENTITY from FILE (CSV with a header row, or JSON Lines).

    Exit code 0 when every row was imported, 1 when rows were rejected (see the
    report) or the import was refused.
    """
    if resume and restart:
        raise click.UsageError("--resume and --restart exclude each other")
    with _transfer(url, user) as xrm:
        unfinished = xrm.imports.unfinished(entity, file)
        if unfinished is not None and not (resume or restart):
            _fail(
                f"import {unfinished.id} of {file} stopped after {unfinished.rows_done} rows: "
                "add --resume to continue it, or --restart to start over"
            )
        if resume and unfinished is None:
            _fail(f"no interrupted import of {file} into {entity!r} to resume")
        with _bar(file) as progress:
            if resume and unfinished is not None:
                job = xrm.imports.resume(unfinished.id, file, on_progress=progress)
            else:
                if unfinished is not None:
                    xrm.imports.abandon(unfinished.id)
                job = xrm.imports.run(
                    entity,
                    file,
                    format=fmt,
                    mode="all_or_nothing" if atomic else "skip_bad_rows",
                    key=_key(key),
                    batch_size=batch,
                    report=report or _report_path(file, fmt),
                    on_progress=progress,
                )
        click.echo(_summary(job, file))
        if job.rejected:
            sys.exit(EXIT_REFUSED)


@click.command("export")
@database_option
@click.argument("entity")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@_format_option
@click.option("--filter", "filter_", metavar="JSON", help="A filter (docs/queries.md), or @FILE.")
@click.option("--order", metavar="FIELDS", help="Sort fields joined by commas; -field descends.")
@click.option(
    "--fields",
    metavar="FIELDS",
    help="Columns joined by commas (lookup.key writes a lookup by a unique field of its "
    "target). Default: id and every field you may read.",
)
@_as_user_option
def export_command(
    url: str,
    entity: str,
    file: Path,
    fmt: str | None,
    filter_: str | None,
    order: str | None,
    fields: str | None,
    user: str | None,
) -> None:
    """Export the records of ENTITY to FILE (CSV or JSON Lines; - for standard output)."""
    to_stdout = str(file) == "-"
    wanted = _filter(filter_)
    with _transfer(url, user) as xrm:
        total = xrm.records(entity).count(filter=wanted)
        target: Path | IO[str] = sys.stdout if to_stdout else file
        with click.progressbar(length=total, label=f"exporting {entity}", file=sys.stderr) as bar:
            shown = [0]

            def advance(rows: int) -> None:
                bar.update(rows - shown[0])
                shown[0] = rows

            result = xrm.exports.run(
                entity,
                target,
                format=fmt or ("csv" if to_stdout else None),
                filter=wanted,
                order=_names(order),
                fields=_names(fields),
                on_progress=advance,
            )
        left_out = f" (left out secured fields: {', '.join(result.omitted)})"
        click.echo(
            f"exported {result.rows} {entity} records to {file}"
            + (left_out if result.omitted else ""),
            err=to_stdout,
        )


@contextmanager
def _transfer(url: str, user: str | None) -> Iterator[XRM]:
    """The database as the system or ``--as-user``; any core error is one line and exit 1."""
    with opened(url) as xrm:
        # The installed plugins' handlers run for imported rows as for any other write.
        start(xrm, make_plugin_manager(), installed_only=True)
        try:
            yield xrm if user is None else xrm.as_user(find_user(xrm, url, user))
        except ImportRejected as exc:
            rejected, path = exc.details["rejected"], exc.details.get("report")
            where = f"; report: {path}" if path else ""
            _fail(f"nothing written: {rejected} rows are not valid{where}")
        except XRMError as exc:
            problems = "; ".join(str(p) for p in exc.problems[:3])
            more = f" (+{len(exc.problems) - 3} more)" if len(exc.problems) > 3 else ""
            _fail(
                f"error [{exc.code}]: {exc.message}" + (f": {problems}{more}" if problems else "")
            )


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(EXIT_REFUSED)


@contextmanager
def _bar(file: Path) -> Iterator[Callable[[Progress], None]]:
    """A progress bar over the bytes of ``file``, shown from the first batch on.

    Yields the importer's progress handler. Not before: a file refused at
    once (its header, the caller's rights) gets its one line of error alone.
    """
    with ExitStack() as stack:
        bars: list[Any] = []
        state = {"bytes": 0, "rows": 0}

        def progress(now: Progress) -> None:
            if not bars:
                bar: Any = click.progressbar(
                    length=now.bytes_total or 0,
                    label=f"importing {file.name}",
                    file=sys.stderr,
                    item_show_func=lambda _: f"{state['rows']} rows",
                )
                bars.append(stack.enter_context(bar))
            state["rows"] = now.rows
            bars[0].update(now.bytes_read - state["bytes"])
            state["bytes"] = now.bytes_read

        yield progress


def _summary(job: ImportJob, file: Path) -> str:
    text = (
        f"imported {file} into {job.entity}: {job.created} created, {job.updated} updated, "
        f"{job.rejected} rejected"
    )
    if job.rejected and job.report:
        text += f"; report: {job.report}"
    return text + f" (import {job.id})"


def _report_path(file: Path, fmt: str | None) -> Path:
    suffix = ".jsonl" if (fmt or file.suffix.lstrip(".").lower()) in ("jsonl", "ndjson") else ".csv"
    return file.with_name(f"{file.stem}.rejected{suffix}")


def _key(key: str | None) -> str | list[str] | None:
    if key is None or "," not in key:
        return key
    return [part.strip() for part in key.split(",")]


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def _filter(text: str | None) -> Any:
    if text is None:
        return None
    try:
        if text.startswith("@"):
            return json.loads(Path(text[1:]).read_text(encoding="utf-8"))
        return json.loads(text)
    except (OSError, ValueError) as exc:
        _fail(f"--filter is not readable JSON ({exc})")
