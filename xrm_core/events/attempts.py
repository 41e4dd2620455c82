"""The delivery log: one row per attempt a worker made to deliver an event.

A worker writes the row when it claims a delivery (the attempt's number,
itself, the time) and fills in the outcome when the handler returns or
raises: ``delivered`` or ``failed``, how long it took, the HTTP status of a
webhook, the error. A row left without an outcome is an attempt whose worker
stopped in the middle (killed, or the machine lost); the delivery is made
again once that worker's lease expires, as a new attempt.

Handlers say more than "it worked" through :class:`Receipt` (returned) and
:class:`DeliveryFailed` (raised); webhooks use both for the status code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from xrm_core.storage.tables import core_metadata
from xrm_core.storage.types import UTCDateTime

Outcome = Literal["delivered", "failed"]

attempt_table = sa.Table(
    "xrm_delivery_attempt",
    core_metadata,
    sa.Column(
        "delivery_id",
        sa.Uuid,
        sa.ForeignKey("xrm_delivery.id", name="fk_xrm_delivery_attempt", ondelete="CASCADE"),
        primary_key=True,
    ),
    # 1, 2, ... for each attempt at this delivery, across replays.
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("worker", sa.String(200), nullable=False),
    # When the handler was called (until then: when the worker claimed it).
    sa.Column("started_at", UTCDateTime, nullable=False),
    # NULL until the attempt ends; still NULL if its worker died during it.
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("duration", sa.Float, nullable=True),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)


@dataclass(frozen=True)
class Receipt:
    """What a handler may return to have its outcome described in the delivery log."""

    #: The HTTP status the receiver answered, for a webhook.
    status_code: int | None = None


class DeliveryFailed(Exception):
    """Raised by a handler whose delivery failed, with what the log should keep.

    The message is kept as the attempt's error as it is (other exceptions are
    kept as ``Type: message``); ``status_code`` is the receiver's HTTP status.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Attempt:
    """One try at delivering one event to one subscriber."""

    delivery_id: uuid.UUID
    event_id: uuid.UUID
    subscriber: str
    #: 1 for the first attempt at the delivery, counting on across replays.
    number: int
    #: The worker that made it (``host:pid`` for ``xrm worker``).
    worker: str
    started_at: dt.datetime
    #: None: the worker stopped during the attempt (or is still at it).
    outcome: Outcome | None
    #: Seconds the handler took.
    duration: float | None
    status_code: int | None
    error: str | None


__all__ = ["Attempt", "DeliveryFailed", "Outcome", "Receipt", "attempt_table"]
