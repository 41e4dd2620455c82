"""``xrm audit``: a record's history (or an entity definition's) from the audit log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import click

from xrm_core.audit import AuditEntry
from xrm_core.audit.values import plain
from xrm_core.cli_common import database_option, opened
from xrm_core.cli_users import find_user
from xrm_core.errors import RecordNotFound
from xrm_core.xrm import XRM

#: Entries read from the log at a time (its largest page).
_PAGE = 1000
#: A value longer than this is cut in the table (``--json`` has it whole).
_SHOWN = 60


@click.command("audit")
@database_option
@click.argument("entity")
@click.argument("record_id", required=False, type=click.UUID)
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="At most this many entries, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one entry per line, whole.")
@click.option(
    "--as-user",
    "user",
    metavar="USER",
    help="Read as this user (username or id), with their permissions. Default: the system.",
)
def audit_command(
    url: str,
    entity: str,
    record_id: uuid.UUID | None,
    limit: int,
    as_json: bool,
    user: str | None,
) -> None:
    """Show the audit trail of the record RECORD_ID of ENTITY, newest first.

    Without RECORD_ID: the changes of ENTITY's definition. Each entry says when,
    what operation, who (a user, or the system and why) and, per field, the old
    and the new value. Deleted records keep their trail.
    """
    with opened(url) as xrm:
        reader = xrm if user is None else xrm.as_user(find_user(xrm, url, user))
        entries = list(_entries(reader, entity, record_id, limit))
        if not entries:
            _explain_empty(xrm, entity, record_id)
            return
        names = _usernames(xrm, {e.actor_id for e in entries if e.actor_id})
        for entry in entries:
            if as_json:
                click.echo(json.dumps(_as_dict(entry, names), default=plain, ensure_ascii=False))
            else:
                _show(entry, names)


def _entries(
    xrm: XRM, entity: str, record_id: uuid.UUID | None, limit: int
) -> Iterator[AuditEntry]:
    cursor: str | None = None
    left = limit
    while left > 0:
        size = min(left, _PAGE)
        if record_id is None:
            page = xrm.audit.for_definition(entity, limit=size, cursor=cursor)
        else:
            page = xrm.audit.for_record(entity, record_id, limit=size, cursor=cursor)
        yield from page
        left -= len(page)
        if len(page) < size:
            return
        cursor = page[-1].cursor


def _explain_empty(xrm: XRM, entity: str, record_id: uuid.UUID | None) -> None:
    """Why nothing was found: a wrong name or id is an error, auditing switched off is not."""
    xrm.metadata.get(entity)  # UnknownEntity: one line, exit 1
    if record_id is None:
        click.echo(f"no audit entries for the definition of {entity}.")
        return
    try:
        xrm.records(entity).get(record_id, fields=["id"])
    except RecordNotFound:
        raise click.ClickException(
            f"no {entity} {record_id}, and no audit entries for it"
        ) from None
    click.echo(f"no audit entries for {entity} {record_id} (auditing is off for it).")


def _usernames(xrm: XRM, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids or not xrm.security.installed:
        return {}
    found = xrm.records("user").query(
        filter={"id": {"in": [str(i) for i in ids]}}, fields=["id", "username"], limit=len(ids)
    )
    return {uuid.UUID(str(u["id"])): u["username"] for u in found}


def _actor(entry: AuditEntry, names: dict[uuid.UUID, str]) -> str:
    if entry.actor_id is None:
        return f"system ({entry.reason})" if entry.reason else "system"
    who = names.get(entry.actor_id, str(entry.actor_id))
    return f"{who} ({entry.reason})" if entry.reason else who


def _show(entry: AuditEntry, names: dict[uuid.UUID, str]) -> None:
    at = entry.at.strftime("%Y-%m-%d %H:%M:%S")
    click.echo(f"{at}  {entry.operation:<9} {_actor(entry, names)}")
    for key, change in entry.changes.items():
        if key == "definition":
            click.echo("    definition changed (--json shows it)")
            continue
        old, new = _value(change.get("old")), _value(change.get("new"))
        click.echo(f"    {key}: {old} -> {new}")


def _value(value: Any) -> str:
    text = json.dumps(value, default=plain, ensure_ascii=False)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _as_dict(entry: AuditEntry, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "operation": entry.operation,
        "entity": entry.entity,
        "record_id": entry.record_id,
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "actor": names.get(entry.actor_id) if entry.actor_id else None,
        "reason": entry.reason,
        "correlation_id": entry.correlation_id,
        "changes": dict(entry.changes),
    }
