"""Duplicate detection: the same email or phone, or a similar name.

Candidates are found by one SQL query (the email, the last digits of a phone,
the first three characters of the last name or company name), so the check
stays cheap on a large table; the finer comparison (normalized names, digits
of phones) runs on those few candidates in Python.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from xrm_core import XRM, DuplicateRecord, Problem, Proposal

#: How alike two normalized names must be (difflib's ratio) to count as similar.
SIMILAR_NAME = 0.88
#: The input key that creates a record although it looks like a duplicate.
ALLOW_DUPLICATE = "allow_duplicate"
#: Words that do not tell two companies apart ("Acme Ltd" is "Acme").
_LEGAL_FORMS = frozenset(
    {"ltd", "limited", "inc", "llc", "plc", "gmbh", "ag", "sa", "sas", "sarl", "bv", "co", "corp"}
)
_EMAILS = {"account": ("email",), "contact": ("email", "email2")}
_PHONES = {"account": ("phone",), "contact": ("phone", "mobile")}


class Duplicate(BaseModel):
    """A record that looks like the one checked, and why."""

    entity: str
    id: uuid.UUID
    name: str
    reasons: list[str]


def normalize(text: str) -> str:
    """Lower case, no accents, punctuation or extra spaces: ``Zoë  O'Neil`` → ``zoe o neil``."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain.lower()).split())


def company_name(text: str) -> str:
    """A company's name normalized, without its legal form (``ACME Ltd.`` → ``acme``)."""
    return " ".join(w for w in normalize(text).split() if w not in _LEGAL_FORMS)


def phone_digits(text: str) -> str:
    """The last nine digits of a phone number: ``+44 20 7946 0123`` and ``020 7946 0123`` agree."""
    return re.sub(r"\D", "", text)[-9:]


def display_name(entity: str, record: Mapping[str, Any]) -> str:
    """How a contact or account is named in messages."""
    if entity == "contact":
        return " ".join(p for p in (record.get("first_name"), record.get("last_name")) if p)
    return str(record.get("name") or "")


def find_duplicates(
    xrm: XRM,
    entity: str,
    data: Mapping[str, Any],
    *,
    exclude: uuid.UUID | None = None,
    limit: int = 10,
) -> list[Duplicate]:
    """Records of ``entity`` (account or contact) like ``data``, as ``xrm``'s caller sees them.

    A record matches on the same email (any of its email fields, case ignored),
    the same phone (any phone field, formatting ignored) or a similar name.
    ``exclude`` leaves one record out (the record itself). Best matches first.
    """
    records = xrm.records(entity)
    emails = {v.casefold() for v in _values(data, _EMAILS[entity])}
    phones = {phone_digits(v) for v in _values(data, _PHONES[entity]) if len(phone_digits(v)) >= 6}
    name = _name_key(entity, data)
    conditions: list[dict[str, Any]] = []
    conditions += [{f: {"starts_with": e}} for f in _EMAILS[entity] for e in emails]
    conditions += [{f: {"contains": p[-4:]}} for f in _PHONES[entity] for p in phones]
    if name:
        field = "last_name" if entity == "contact" else "name"
        # Candidates share the name's first three characters as written (case
        # ignored): a prefix the database's index can serve.
        prefix = str(data.get(field) or "").strip()[:3]
        if prefix:
            conditions.append({field: {"starts_with": prefix}})
    if not conditions:
        return []
    found: list[Duplicate] = []
    for record in records.query(filter={"or": conditions}, limit=200, order=["id"]):
        if record["id"] == exclude:
            continue
        reasons = _reasons(entity, record, emails, phones, name)
        if reasons:
            found.append(
                Duplicate(
                    entity=entity,
                    id=record["id"],
                    name=display_name(entity, record),
                    reasons=reasons,
                )
            )
    found.sort(key=lambda d: (-len(d.reasons), d.name, str(d.id)))
    return found[:limit]


def refuse_duplicates(xrm: XRM, proposal: Proposal) -> None:
    """``validate`` handler: refuse a new account or contact that looks like an existing one.

    The input key ``allow_duplicate: true`` creates it anyway (the key is
    removed either way). The check runs as the user who creates the record, so
    the error names only records they may read.
    """
    allowed = proposal.data.pop(ALLOW_DUPLICATE, False)
    if allowed is True or proposal.operation != "create":
        return
    caller = xrm if proposal.actor_id is None else xrm.as_user(proposal.actor_id)
    duplicates = find_duplicates(caller, proposal.entity, proposal.data, limit=5)
    if not duplicates:
        return
    first = duplicates[0]
    raise DuplicateRecord(
        f"this {proposal.entity} looks like {first.name!r} ({', '.join(first.reasons)}); "
        f"merge them with {proposal.entity}.merge, or create it with {ALLOW_DUPLICATE}: true",
        # One problem per duplicate: the interfaces show problems (REST's
        # ``errors``), so a caller learns which records to merge with.
        [
            Problem(f"/{ALLOW_DUPLICATE}", f"{d.entity} {d.id} {d.name!r}: {', '.join(d.reasons)}")
            for d in duplicates
        ],
        {"duplicates": [d.model_dump(mode="json") for d in duplicates]},
    )


def _values(data: Mapping[str, Any], fields: Iterable[str]) -> list[str]:
    return [
        str(data[f]).strip() for f in fields if isinstance(data.get(f), str) and data[f].strip()
    ]


def _name_key(entity: str, data: Mapping[str, Any]) -> str:
    if entity == "contact":
        return normalize(display_name(entity, data))
    return company_name(str(data.get("name") or ""))


def _reasons(
    entity: str, record: Mapping[str, Any], emails: set[str], phones: set[str], name: str
) -> list[str]:
    reasons = []
    if emails & {v.casefold() for v in _values(record, _EMAILS[entity])}:
        reasons.append("same email")
    if phones & {phone_digits(v) for v in _values(record, _PHONES[entity])}:
        reasons.append("same phone")
    other = _name_key(entity, record)
    if name and other and difflib.SequenceMatcher(None, name, other).ratio() >= SIMILAR_NAME:
        reasons.append("similar name")
    return reasons
