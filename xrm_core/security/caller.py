"""Who is acting: a user, or the system context that bypasses permission checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from xrm_core.errors import AccessDenied, Problem, shown


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

    def __post_init__(self) -> None:
        if self.user_id is None and not self.reason.strip():
            raise ValueError("the system context needs a reason (it is audited)")

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

    @property
    def is_system(self) -> bool:
        """True for the system context."""
        return self.user_id is None

    def __str__(self) -> str:
        return f"system ({self.reason})" if self.user_id is None else f"user {self.user_id}"
