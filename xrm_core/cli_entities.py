"""``xrm entity``: entity definitions on the command line, plan first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from xrm_core.cli_common import database_option, opened
from xrm_core.metadata.plan import Plan

entity_group: click.Group = click.Group(
    "entity", help="Entity definitions: list, show, plan, apply, export and drop them."
)

_files_argument = click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
_renames_option = click.option(
    "--rename",
    "renames",
    multiple=True,
    metavar="ENTITY.OLD=NEW",
    help="Rename a field or relationship, keeping its values (repeat for several).",
)
_confirm_option = click.option(
    "--confirm", is_flag=True, help="Allow destructive steps (dropped values are exported first)."
)


@entity_group.command("list")
@database_option
def entity_list(url: str) -> None:
    """List entities with their owner and version."""
    with opened(url) as xrm:
        for definition in xrm.metadata.entities():
            name = definition.name
            owner = xrm.metadata.owner(name)
            click.echo(f"{name}\t{owner}\tv{xrm.metadata.entity_version(name)}")


@entity_group.command("show")
@database_option
@click.argument("name")
def entity_show(url: str, name: str) -> None:
    """Print an entity's stored (normalized) JSON Schema."""
    with opened(url) as xrm:
        click.echo(json.dumps(xrm.metadata.get(name).schema, indent=2))


@entity_group.command("plan")
@database_option
@_files_argument
@_renames_option
@_json_option
def entity_plan(url: str, files: tuple[Path, ...], renames: tuple[str, ...], as_json: bool) -> None:
    """Show what applying the JSON Schema FILES would change; change nothing.

    Each file holds one entity definition, or a list of them (as `entity export`
    writes). The plan's steps are safe, breaking or destructive.
    """
    schemas = read_schemas(files)
    with opened(url) as xrm:
        show_plan(xrm.metadata.plan(schemas, renames=_parse_renames(renames)), as_json)


@entity_group.command("apply")
@database_option
@_files_argument
@_renames_option
@_confirm_option
@_json_option
def entity_apply(
    url: str, files: tuple[Path, ...], renames: tuple[str, ...], confirm: bool, as_json: bool
) -> None:
    """Create or change entities to match the JSON Schema FILES, all or nothing.

    A destructive plan is refused (exit 1) unless --confirm is given; the values
    it drops are exported first.
    """
    _apply(url, files, renames, confirm, dry_run=False, as_json=as_json)


@entity_group.command("define")
@database_option
@_files_argument
@click.option("--dry-run", is_flag=True, help="Show the plan without applying it.")
@_renames_option
@_confirm_option
def entity_define(
    url: str, files: tuple[Path, ...], dry_run: bool, renames: tuple[str, ...], confirm: bool
) -> None:
    """Same as `entity apply` (with --dry-run: `entity plan`); kept for older scripts."""
    _apply(url, files, renames, confirm, dry_run=dry_run, as_json=False)


@entity_group.command("export")
@database_option
@click.argument("names", nargs=-1)
@click.option("--owner", help="Every entity this plugin (or 'custom', the administrators) owns.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default="-",
    help="Where to write (default: standard output).",
)
def entity_export(url: str, names: tuple[str, ...], owner: str | None, output: Path) -> None:
    """Write the definitions of NAMES (or of --owner's entities) as JSON.

    One name writes one definition; several, or --owner, write a list. Either
    form is what `entity plan` and `entity apply` read, in this database or
    another one.
    """
    if not names and owner is None:
        raise click.UsageError("name at least one entity, or give --owner")
    with opened(url) as xrm:
        wanted = list(names)
        if owner is not None:
            owned = [d.name for d in xrm.metadata.entities() if xrm.metadata.owner(d.name) == owner]
            if not owned:
                raise click.ClickException(f"{owner!r} owns no entity")
            wanted += [n for n in owned if n not in wanted]
        schemas = [xrm.metadata.get(name).schema for name in wanted]
    document: Any = schemas[0] if len(schemas) == 1 and owner is None else schemas
    text = json.dumps(document, indent=2) + "\n"
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"exported {len(schemas)} definition(s) to {output}")


@entity_group.command("drop")
@database_option
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show the plan without applying it.")
@click.option("--confirm", is_flag=True, help="Really drop the entity and its records.")
def entity_drop(url: str, name: str, dry_run: bool, confirm: bool) -> None:
    """Drop an entity and its records (exported first); needs --confirm."""
    with opened(url) as xrm:
        show_plan(xrm.metadata.plan_drop(name), as_json=False)
        if not dry_run:
            applied = xrm.metadata.drop(name, confirm=confirm)
            for path in applied.exports:
                click.echo(f"exported records to {path}")
            click.echo("dropped.")


def _apply(
    url: str,
    files: tuple[Path, ...],
    renames: tuple[str, ...],
    confirm: bool,
    *,
    dry_run: bool,
    as_json: bool,
) -> None:
    schemas = read_schemas(files)
    renamed = _parse_renames(renames)
    with opened(url) as xrm:
        plan = xrm.metadata.plan(schemas, renames=renamed)
        if dry_run or plan.is_empty:
            show_plan(plan, as_json)
            return
        if not as_json:
            show_plan(plan, as_json=False)
        applied = xrm.metadata.define(schemas, renames=renamed, confirm=confirm)
        if as_json:
            show_plan(applied, as_json=True)
            return
        for path in applied.exports:
            click.echo(f"exported dropped values to {path}")
        click.echo("applied.")


def read_schemas(files: tuple[Path, ...]) -> list[Any]:
    """The definitions in ``files``: each holds one (a JSON object) or a list of them."""
    schemas: list[Any] = []
    for path in files:
        found = read_json(path)
        schemas += found if isinstance(found, list) else [found]
    return schemas


def read_json(path: Path) -> Any:
    """The JSON document in ``path``; a clear error (exit 1) when it is not one."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: not a readable JSON file ({exc})") from None


def show_plan(plan: Plan, as_json: bool) -> None:
    """Print a plan: its safety and one line per step, or its JSON form."""
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    click.echo(f"plan ({plan.safety}):")
    click.echo("\n".join(f"  {line}" for line in str(plan).splitlines()))


def _parse_renames(renames: tuple[str, ...]) -> dict[str, dict[str, str]]:
    parsed: dict[str, dict[str, str]] = {}
    for item in renames:
        entity, dot, rest = item.partition(".")
        old, equals, new = rest.partition("=")
        if not (dot and equals and entity and old and new):
            raise click.BadParameter(f"{item!r}: write ENTITY.OLD=NEW", param_hint="--rename")
        parsed.setdefault(entity, {})[old] = new
    return parsed
