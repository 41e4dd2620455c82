"""Webhook signatures as a receiver checks them (no database needed)."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from xrm_core.events.signing import sign, verify_signature

SECRET = "whsec_test-secret-0123456789"
EVENT_ID = str(uuid.UUID(int=42))
STAMP = 1_767_225_600
BODY = b'{"id": "00000000-0000-0000-0000-00000000002a", "name": "contact.created"}'


def headers(signature: str | None = None, stamp: int = STAMP) -> dict[str, str]:
    return {
        "X-XRM-Event-Id": EVENT_ID,
        "X-XRM-Timestamp": str(stamp),
        "X-XRM-Signature": signature or sign(SECRET, EVENT_ID, stamp, BODY),
    }


def test_the_signature_is_the_documented_hmac_of_id_timestamp_and_body() -> None:
    message = f"{EVENT_ID}.{STAMP}.".encode() + BODY
    expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()

    assert sign(SECRET, EVENT_ID, STAMP, BODY) == f"sha256={expected}"
    assert verify_signature(SECRET, headers(), BODY, now=STAMP)


def test_a_tampered_body_a_wrong_secret_or_a_stale_timestamp_is_not_verified() -> None:
    assert not verify_signature(SECRET, headers(), BODY + b" ", now=STAMP)
    assert not verify_signature("whsec_another-secret-000", headers(), BODY, now=STAMP)
    assert verify_signature(SECRET, headers(), BODY, now=STAMP + 300)
    assert not verify_signature(SECRET, headers(), BODY, now=STAMP + 301)
    assert not verify_signature(SECRET, headers(), BODY, now=STAMP - 301)  # from the future
    assert verify_signature(SECRET, headers(), BODY, tolerance=3600, now=STAMP + 3000)
    # The timestamp is signed: moving it forward breaks the signature.
    moved = {**headers(), "X-XRM-Timestamp": str(STAMP + 1000)}
    assert not verify_signature(SECRET, moved, BODY, now=STAMP + 1000)


def test_malformed_requests_are_not_verified_and_never_raise() -> None:
    good = headers()
    for broken in (
        {},
        {k: v for k, v in good.items() if k != "X-XRM-Signature"},
        {**good, "X-XRM-Signature": good["X-XRM-Signature"].replace("sha256=", "md5=")},
        {**good, "X-XRM-Signature": "sha256=\u00e9t\u00e9"},
        {**good, "X-XRM-Timestamp": "soon"},
        {**good, "X-XRM-Timestamp": "\u00b2"},  # a digit, but not an ASCII one
        {**good, "X-XRM-Event-Id": str(uuid.UUID(int=43))},
    ):
        assert not verify_signature(SECRET, broken, BODY, now=STAMP), broken


def test_header_names_in_any_case_and_several_secrets_while_rotating() -> None:
    lower = {k.lower(): v for k, v in headers().items()}

    assert verify_signature(SECRET, lower, BODY, now=STAMP)
    assert verify_signature(["whsec_the-new-one-0000000", SECRET], lower, BODY, now=STAMP)
    assert not verify_signature([], lower, BODY, now=STAMP)
