"""Who is acting: a user, or the system context that bypasses permission checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from xrm_core.errors import AccessDenied, Problem, shown

#: How an audit entry (and an event's ``reason``) made while bypassing handlers starts.
BYPASS_MARK = "bypassed handlers: "


@dataclass(frozen=True)
class Caller:
    """The actor of every record and metadata call.

    A user caller is checked against the user's roles, teams, shares and field
    permissions. The system context (``user_id`` is None) is checked against
    nothing, so it is only ever made on purpose, with a reason that the audit
    log keeps: ``Caller.system("nightly import")``.
    """

    user_id: uuid.UUID | None
    reason: str = ""
    #: Why plugins' synchronous handlers are skipped for this caller's writes
    #: (empty: they run). Only ``XRM.bypassing_handlers`` sets it, after checking
    #: the privilege; the record service checks it again.
    bypass: str = ""

    def __post_init__(self) -> None:
        if self.user_id is None and not self.reason.strip():
            raise ValueError("the system context needs a reason (it is audited)")
        if self.reason.startswith(BYPASS_MARK):
            # The mark tells auditors a change skipped handlers: it is not a reason to give.
            raise ValueError(f"a reason may not start with {BYPASS_MARK!r}")

    @classmethod
    def system(cls, reason: str) -> Caller:
        """The system context, for ``reason``."""
        return cls(None, reason)

    @classmethod
    def user(cls, user_id: uuid.UUID | str) -> Caller:
        """A user caller."""
        if isinstance(user_id, uuid.UUID):
            return cls(user_id)
        try:
            return cls(uuid.UUID(str(user_id)))
        except ValueError:
            raise AccessDenied(
                f"{shown(user_id)} is not a user id", [Problem("/user_id", "not a valid id")]
            ) from None

    def bypassing(self, reason: str) -> Caller:
        """This caller with plugins' handlers bypassed for ``reason`` (no privilege check here).

        Raises :class:`AccessDenied` for a blank reason: bypassing is audited.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise AccessDenied(
                "bypassing handlers needs a reason (it is audited)",
                [Problem("/reason", "give a reason, such as 'import of 2024 leads'")],
            )
        return replace(self, bypass=reason.strip())

    @property
    def audit_reason(self) -> str | None:
        """The reason the audit log and events keep: the system context's, and any bypass.

        A change made while bypassing handlers starts with :data:`BYPASS_MARK`.
        """
        reason = self.reason if self.user_id is None else ""
        if not self.bypass:
            return reason or None
        return f"{BYPASS_MARK}{self.bypass}" + (f" (system: {reason})" if reason else "")

    @property
    def is_system(self) -> bool:
        """True for the system context."""
        return self.user_id is None

    def __str__(self) -> str:
        return f"system ({self.reason})" if self.user_id is None else f"user {self.user_id}"
