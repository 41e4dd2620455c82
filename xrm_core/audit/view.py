"""Reading the audit log as a caller: only what that caller may see."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from xrm_core.audit.log import AuditEntry, AuditLog
from xrm_core.errors import AccessDenied, Problem, QueryError, UnknownEntity
from xrm_core.security.caller import Caller


class Security(Protocol):
    """What the view asks the security service."""

    def is_administrator(self, caller: Caller) -> bool:
        """True for the system context and administrators."""
        ...

    def can(self, caller: Caller, entity: str, record_id: uuid.UUID, privilege: str) -> bool:
        """True when ``caller`` may ``privilege`` the record."""
        ...

    def unreadable_fields(self, caller: Caller, entity: str) -> frozenset[str]:
        """Secured fields of ``entity`` that ``caller`` may not read."""
        ...


class AuditView:
    """The audit log as one caller may read it.

    - a record's history: whoever may read the record; once it is deleted,
      administrators (and the system context) only;
    - a definition's changes: anyone (definitions are not secret);
    - a user's actions: administrators, and the user themself;
    - a unit of work (correlation id): administrators only;
    - the changes made while bypassing handlers: administrators only;

    and in every entry, the changes of secured fields the caller may not read
    are left out.
    """

    def __init__(self, log: AuditLog, security: Security, caller: Caller) -> None:
        self.log = log
        self.security = security
        self.caller = caller

    def for_record(
        self,
        entity: str,
        record_id: uuid.UUID | str,
        *,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[AuditEntry]:
        """The record's entries, newest first; raises AccessDenied if the caller may not read it."""
        rid = _as_uuid(record_id)
        if not self._administrator() and not self._can_read(entity, rid):
            raise AccessDenied(
                f"you may not read the history of {entity} {rid}",
                details={"entity": entity, "id": str(rid)},
            )
        return self._readable(self.log.for_record(entity, rid, limit=limit, cursor=cursor))

    def for_definition(
        self, entity: str, *, limit: int = 100, cursor: str | None = None
    ) -> list[AuditEntry]:
        """Changes of ``entity``'s definition, newest first; definitions are no secret."""
        return self.log.for_definition(entity, limit=limit, cursor=cursor)

    def by_user(
        self,
        user_id: uuid.UUID | str,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[AuditEntry]:
        """What one user did, newest first; administrators, or the user themself."""
        uid = _as_uuid(user_id, "/user_id")
        if uid != self.caller.user_id and not self._administrator():
            raise AccessDenied(
                "only administrators may read what another user did",
                details={"user_id": str(uid)},
            )
        entries = self.log.by_user(uid, since=since, until=until, limit=limit, cursor=cursor)
        return self._readable(entries)

    def bypassed(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[AuditEntry]:
        """Changes made while handlers were bypassed, newest first; administrators only."""
        if not self._administrator():
            raise AccessDenied("only administrators may list the changes that bypassed handlers")
        entries = self.log.bypassed(since=since, until=until, limit=limit, cursor=cursor)
        return self._readable(entries)

    def search(
        self,
        *,
        entity: str | None = None,
        record_id: uuid.UUID | str | None = None,
        actor_id: uuid.UUID | str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[AuditEntry]:
        """Entries matching every filter given, newest first; administrators only.

        See :meth:`AuditLog.search` (``since`` inclusive, ``until`` exclusive).
        """
        if not self._administrator():
            raise AccessDenied("only administrators may search the whole audit log")
        entries = self.log.search(
            entity=entity,
            record_id=record_id,
            actor_id=actor_id,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
        return self._readable(entries)

    def by_correlation(self, correlation_id: str) -> list[AuditEntry]:
        """Everything one unit of work did, oldest first; administrators only."""
        if not self._administrator():
            raise AccessDenied("only administrators may read a unit of work's entries")
        return self._readable(self.log.by_correlation(correlation_id))

    def _administrator(self) -> bool:
        return self.security.is_administrator(self.caller)

    def _can_read(self, entity: str, rid: uuid.UUID) -> bool:
        try:
            return self.security.can(self.caller, entity, rid, "read")
        except UnknownEntity:
            return False  # a dropped entity: its records are all deleted

    def _readable(self, entries: list[AuditEntry]) -> list[AuditEntry]:
        hidden: dict[str, frozenset[str]] = {}
        out = []
        for entry in entries:
            if entry.entity not in hidden:
                try:
                    hidden[entry.entity] = self.security.unreadable_fields(
                        self.caller, entry.entity
                    )
                except UnknownEntity:
                    hidden[entry.entity] = frozenset()
            unreadable = hidden[entry.entity]
            if unreadable and any(k in unreadable for k in entry.changes):
                entry = replace(entry, changes=_without(entry.changes, unreadable))
            out.append(entry)
        return out


def _without(changes: Mapping[str, object], keys: frozenset[str]) -> dict[str, object]:
    return {k: v for k, v in changes.items() if k not in keys}


def _as_uuid(value: uuid.UUID | str, at: str = "/record_id") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise QueryError("the audit query is not valid", [Problem(at, "not a valid id")]) from None
