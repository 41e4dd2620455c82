"""Webhook signatures: how xRM signs a request, and how a receiver checks one.

Each webhook request carries the event's id, a timestamp (whole seconds since
the Unix epoch, when the request was signed) and the signature of both with
the body::

    X-XRM-Event-Id:   0190f0e4-8b7a-7c41-9d2e-5b1a2c3d4e5f
    X-XRM-Timestamp:  1767225600
    X-XRM-Signature:  sha256=<hex HMAC-SHA256(secret, "{event id}.{timestamp}.{body}")>

The signed message is the bytes of the event id (as in the header), a dot,
the timestamp (as in the header), a dot, and the raw request body exactly as
received. The secret's UTF-8 bytes are the key. Only the standard library is
used here, so a receiver can copy this module's :func:`verify_signature` if
it does not install xRM.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Protocol

EVENT_ID_HEADER = "X-XRM-Event-Id"
EVENT_HEADER = "X-XRM-Event"
TIMESTAMP_HEADER = "X-XRM-Timestamp"
SIGNATURE_HEADER = "X-XRM-Signature"
WEBHOOK_HEADER = "X-XRM-Webhook"
#: Seconds a receiver accepts between signing and checking, by default.
TOLERANCE = 300
_SCHEME = "sha256="


class Headers(Protocol):
    """Anything with ``items()`` of header names and values (a dict, Starlette's, stdlib's)."""

    def items(self) -> Iterable[tuple[str, str]]:
        """Each header as ``(name, value)``."""
        ...


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The ``X-XRM-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of the message."""
    message = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return _SCHEME + digest


def verify_signature(
    secret: str | Iterable[str],
    headers: Headers,
    body: bytes,
    tolerance: float = TOLERANCE,
    *,
    now: float | None = None,
) -> bool:
    """True when a webhook request is signed with ``secret`` and fresh enough.

    ``headers`` are the request's headers (names in any case); ``body`` the
    raw bytes received, before any JSON parsing. The timestamp must lie within
    ``tolerance`` seconds of ``now`` (default: the current time), so that a
    captured request cannot be played again later. Several secrets may be
    given while one is being rotated: any of them will do. Never raises for
    a malformed request: it is simply not verified.
    """
    found = {name.lower(): value for name, value in headers.items()}
    event_id = found.get(EVENT_ID_HEADER.lower(), "")
    stamp = found.get(TIMESTAMP_HEADER.lower(), "")
    given = found.get(SIGNATURE_HEADER.lower(), "")
    if not (event_id and stamp.isascii() and stamp.isdigit() and given.startswith(_SCHEME)):
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    secrets = [secret] if isinstance(secret, str) else list(secret)
    expected = given.strip().encode()
    # compare_digest: how long the comparison takes says nothing about the signature.
    return any(
        hmac.compare_digest(sign(s, event_id, int(stamp), body).encode(), expected) for s in secrets
    )


__all__ = [
    "EVENT_HEADER",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE",
    "WEBHOOK_HEADER",
    "sign",
    "verify_signature",
]
