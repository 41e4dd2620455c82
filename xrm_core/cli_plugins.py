"""``xrm plugins``: the plugin lifecycle on the command line, plan first."""

from __future__ import annotations

import json
from pathlib import Path

import click

from xrm_core.cli_common import database_option, opened
from xrm_core.plugins.lifecycle import DATA_CHOICES, PluginPlan

_data_option = click.option(
    "--data",
    type=click.Choice(DATA_CHOICES),
    required=True,
    help="What to do with the plugin's data: keep it (it becomes the administrator's), "
    "export it and drop it, or drop it.",
)
_confirm_option = click.option(
    "--confirm", is_flag=True, help="Allow steps that drop data (dropped data is exported first)."
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")


plugins_group: click.Group = click.Group(
    "plugins", help="Install, upgrade and remove plugins (each shows its plan; see `plan`)."
)


@plugins_group.command("list")
@database_option
def plugins_list(url: str) -> None:
    """List the plugins available to this process and what the database has installed."""
    with opened(url) as xrm:
        available = xrm.plugins.available()
        installed = xrm.plugins.installed()
        for name in sorted({*available, *installed}):
            manifest, present = available.get(name), installed.get(name)
            version = str(manifest.version) if manifest else "-"
            state = "not installed"
            if present is not None:
                state = f"installed {present.version}" + ("" if present.enabled else " (disabled)")
            needs = ", ".join(
                f"{d} {s}".strip() for d, s in (manifest.dependencies.items() if manifest else ())
            )
            click.echo(f"{name}\t{version}\t{state}" + (f"\tneeds {needs}" if needs else ""))


@plugins_group.command("plan")
@database_option
@click.argument("operation", type=click.Choice(["install", "upgrade", "uninstall"]))
@click.argument("name")
@click.option(
    "--data", type=click.Choice(DATA_CHOICES), help="For uninstall: keep, export or drop."
)
@_json_option
def plugins_plan(url: str, operation: str, name: str, data: str | None, as_json: bool) -> None:
    """Show what installing, upgrading or uninstalling NAME would do; change nothing."""
    with opened(url) as xrm:
        if operation == "install":
            plan = xrm.plugins.plan_install(name)
        elif operation == "upgrade":
            plan = xrm.plugins.plan_upgrade(name)
        else:
            if data is None:
                raise click.UsageError("uninstall needs --data keep|export|drop")
            plan = xrm.plugins.plan_uninstall(name, data=data)  # type: ignore[arg-type]
        _show(plan, as_json)


@plugins_group.command("install")
@database_option
@click.argument("name")
@_confirm_option
@_json_option
def plugins_install(url: str, name: str, confirm: bool, as_json: bool) -> None:
    """Install NAME and the plugins it needs, all or nothing."""
    with opened(url) as xrm:
        _show(xrm.plugins.install(name, confirm=confirm), as_json)


@plugins_group.command("upgrade")
@database_option
@click.argument("name")
@_confirm_option
@_json_option
def plugins_upgrade(url: str, name: str, confirm: bool, as_json: bool) -> None:
    """Upgrade NAME to the version installed in Python, keeping administrators' changes."""
    with opened(url) as xrm:
        _show(xrm.plugins.upgrade(name, confirm=confirm), as_json)


@plugins_group.command("uninstall")
@database_option
@click.argument("name")
@_data_option
@click.option(
    "--export-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where --data export writes the records (default: the export folder).",
)
@_confirm_option
@_json_option
def plugins_uninstall(
    url: str, name: str, data: str, export_dir: Path | None, confirm: bool, as_json: bool
) -> None:
    """Uninstall NAME (refused while an installed plugin needs it)."""
    with opened(url) as xrm:
        plan = xrm.plugins.uninstall(
            name,
            data=data,  # type: ignore[arg-type]
            confirm=confirm,
            export_dir=export_dir,
        )
        _show(plan, as_json)


@plugins_group.command("enable")
@database_option
@click.argument("name")
def plugins_enable(url: str, name: str) -> None:
    """Let NAME's handlers, rules and actions run again (in processes started after)."""
    with opened(url) as xrm:
        xrm.plugins.enable(name)
        click.echo(f"{name} is enabled; restart running servers and workers to apply it.")


@plugins_group.command("disable")
@database_option
@click.argument("name")
def plugins_disable(url: str, name: str) -> None:
    """Stop NAME's handlers, rules and actions (its data stays; processes started after)."""
    with opened(url) as xrm:
        xrm.plugins.disable(name)
        click.echo(f"{name} is disabled; restart running servers and workers to apply it.")


@plugins_group.command("ledger")
@database_option
@click.option("--owner", help="Only what this plugin (or 'custom') owns.")
def plugins_ledger(url: str, owner: str | None) -> None:
    """Show who owns each entity, field, relationship, role, subscriber and action."""
    with opened(url) as xrm:
        for part in xrm.plugins.ledger(owner):
            released = f"\t(released by {part.released_by})" if part.released_by else ""
            click.echo(f"{part.kind}\t{part.name}\t{part.owner}{released}")


def _show(plan: PluginPlan, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    click.echo(str(plan))
    if not plan.steps:
        click.echo("  (nothing to change)")
    if plan.applied:
        click.echo("done.")
    for path in plan.exports:
        click.echo(f"exported: {path}")
