"""The ``xrm`` command line: a thin adapter over the metadata and record services."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from xrm_core import demo
from xrm_core.cli_common import database_option
from xrm_core.cli_common import opened as _opened
from xrm_core.cli_entities import entity_group, read_json

# The database option and error handling every ``xrm`` command shares.
from xrm_core.cli_users import find_user
from xrm_core.demo.plugins import load_plugins
from xrm_core.events.worker import Worker
from xrm_core.plugins.manager import make_plugin_manager
from xrm_core.plugins.startup import start
from xrm_core.xrm import XRM


@click.group()
@click.version_option(package_name="xrm")
def main() -> None:
    """xRM: manage relationships of any kind."""


@main.command("demo")
@database_option
@click.option(
    "--size",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many people (and, for plugins, main records such as accounts) to create.",
)
def demo_command(url: str, size: int) -> None:
    """Create the demo entities and data, then show what the database holds."""
    with _opened(url) as xrm:
        xrm.security.install()
        added = demo.load(xrm, size=size)
        if added:
            click.echo(f"Added {sum(added.values())} demo records to {url}.\n")
        else:
            click.echo(f"The demo data is already in {url}.\n")
        # Then every available plugin, installed if need be, with its own demo data.
        for line in load_plugins(xrm, size):
            click.echo(line)
        _summary(xrm)


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
@database_option
def db_upgrade(url: str) -> None:
    """Create the core tables and entities (users, teams, roles) if missing (safe to rerun)."""
    with _opened(url) as xrm:
        xrm.security.install()
        click.echo(f"{url} is ready.")


@db.command("info")
@database_option
def db_info(url: str) -> None:
    """Show the entities and how many records each holds."""
    with _opened(url) as xrm:
        _summary(xrm)


@main.group("action")
def action_group() -> None:
    """Plugins' actions (lead.qualify): list and run them."""


@action_group.command("list")
@database_option
@click.option("--entity", help="Only the actions of this entity.")
@click.option("--json", "as_json", is_flag=True, help="JSON, with input and output schemas.")
def action_list(url: str, entity: str | None, as_json: bool) -> None:
    """List the actions of the installed plugins."""
    with _opened(url) as xrm:
        start(xrm, make_plugin_manager(), installed_only=True)
        found = xrm.actions.list(entity)
        if as_json:
            click.echo(json.dumps([a.to_dict() for a in found], indent=2))
            return
        if not found:
            click.echo("No actions.")
        for a in found:
            described = a.action.description or "-"
            click.echo(f"{a.qualified_name}\t{a.on}\t{a.action.privilege}\t{a.owner}\t{described}")


@action_group.command("run")
@database_option
@click.argument("name", metavar="ENTITY.NAME")
@click.argument("record_id", required=False)
@click.option(
    "--data", default="{}", metavar="JSON", help="The input: a JSON object, or @FILE holding one."
)
@click.option(
    "--as-user",
    "user",
    metavar="USER",
    help="Act as this user (username or id), with their permissions. Default: the system.",
)
def action_run(url: str, name: str, record_id: str | None, data: str, user: str | None) -> None:
    """Run an action (on the record RECORD_ID, for a record action); print its output as JSON."""
    given = _action_input(data)
    with _opened(url) as xrm:
        start(xrm, make_plugin_manager(), installed_only=True)
        caller = xrm if user is None else xrm.as_user(find_user(xrm, url, user))
        click.echo(caller.actions.run(name, record_id, given).model_dump_json(indent=2))


def _action_input(data: str) -> Any:
    if data.startswith("@"):
        return read_json(Path(data[1:]))
    try:
        return json.loads(data)
    except ValueError as exc:
        raise click.ClickException(f"--data is not JSON ({exc})") from None


@main.command("worker")
@database_option
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--batch",
    default=100,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Deliveries claimed at a time.",
)
@click.option(
    "--poll",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait when nothing is due.",
)
def worker_command(url: str, once: bool, batch: int, poll: float) -> None:
    """Deliver committed events from the outbox to their subscribers.

    Several workers may run at once, on any machines. SIGTERM or Ctrl-C stops
    the worker once the delivery under way is done; a second Ctrl-C quits at
    once (that delivery is then made again by a worker later).
    """
    with _opened(url) as xrm:
        start(xrm, make_plugin_manager(), installed_only=True)
        worker = Worker(
            xrm.db,
            xrm.events,
            name=f"{socket.gethostname()}:{os.getpid()}",
            batch=batch,
            refresh=xrm.webhook_registry.refresh,
        )
        if worker.subscribers:
            click.echo(f"worker {worker.name} delivers to: {', '.join(worker.subscribers)}")
        else:
            click.echo(
                f"worker {worker.name}: no committed subscribers in this process; "
                "deliveries wait for a worker that has them."
            )
        if once:
            total = 0
            while claims := worker.claim():
                total += worker.deliver(claims)
                if len(claims) < batch:
                    break
            click.echo(f"delivered {total}.")
            return
        stop = threading.Event()
        with _stopping_on_signals(stop):
            click.echo(f"delivering from {url}; Ctrl-C or SIGTERM stops.")
            total = worker.run(stop, poll)
        click.echo(f"stopped; delivered {total}.")


@contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _summary(xrm: XRM) -> None:
    definitions = xrm.metadata.entities()
    if not definitions:
        click.echo("No entities yet: try `xrm demo`.")
        return
    click.echo(f"{'entity':<24}{'owner':<12}{'fields':>7}{'records':>10}")
    for definition in definitions:
        count = xrm.records(definition.name).count()
        owner = xrm.metadata.owner(definition.name)
        click.echo(f"{definition.name:<24}{owner:<12}{len(definition.fields):>7}{count:>10}")


# Registered last: the plugins commands use this module's option and error handling.
from xrm_core.cli_plugins import plugins_group  # noqa: E402

main.add_command(plugins_group)

from xrm_core.cli_transfer import export_command, import_command  # noqa: E402

main.add_command(import_command)
main.add_command(export_command)

from xrm_core.cli_serve import serve_command  # noqa: E402

main.add_command(serve_command)

main.add_command(entity_group)

from xrm_core.cli_users import user_group  # noqa: E402

main.add_command(user_group)

from xrm_core.cli_audit import audit_command  # noqa: E402

main.add_command(audit_command)
