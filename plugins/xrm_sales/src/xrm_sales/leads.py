"""Leads: assignment rules on create, and ``lead.qualify``."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from xrm_core import XRM, ActionContext, Event, Problem, RecordValidationError


def assign_new_lead(system: XRM, event: Event) -> None:
    """``after`` stage of ``lead.created``: the first matching active rule assigns the lead.

    Rules are tried by ascending ``priority`` (then name); a rule with a
    ``territory`` matches leads of that territory, one without matches any lead.
    ``user`` rules give the lead to their user; ``round_robin`` rules to the next
    active member of their team after ``last_user``, by username. The rule's
    ``last_user`` is updated under its version, so two leads created at once never
    go to the same member (the later one fails with ``VersionConflict`` and can be
    sent again). A lead created with an owner named in its input keeps it.
    """
    lead = event.after or {}
    if event.record_id is None or _owner_given(event):
        return
    rules = system.records("assignment_rule").query(
        filter={"active": True}, order=["priority", "name"], limit=200
    )
    territory = lead.get("territory")
    for rule in rules:
        if rule["territory"] and rule["territory"] != territory:
            continue
        owner = _pick(system, rule)
        if owner is not None:
            system.records("lead").assign(event.record_id, owner)
            return


def _owner_given(event: Event) -> bool:
    """True when the creator named an owner other than themselves."""
    after = event.after or {}
    owner = after.get("owner_id")
    return owner is not None and owner != event.actor_id


def _pick(system: XRM, rule: Mapping[str, Any]) -> uuid.UUID | None:
    """The user ``rule`` gives the next lead to (None when it has nobody to give it to)."""
    if rule["method"] == "user":
        user: uuid.UUID | None = rule["user"]
        return user
    if rule["team"] is None:
        return None
    links = system.records("team").links(rule["team"], "members")
    members = [str(link["target_id"]) for link in links]
    if not members:
        return None
    active = system.records("user").query(
        filter={"id": {"in": members}, "is_active": True}, order=["username"], limit=1000
    )
    ids = [m["id"] for m in active]
    if not ids:
        return None
    last = rule["last_user"]
    chosen: uuid.UUID = ids[(ids.index(last) + 1) % len(ids)] if last in ids else ids[0]
    system.records("assignment_rule").update(
        rule["id"], {"last_user": chosen}, if_version=rule["version"]
    )
    return chosen


# -- lead.qualify -----------------------------------------------------------


class QualifyInput(BaseModel):
    """How to qualify a lead; by default accounts and contacts are matched, else created."""

    account_id: uuid.UUID | None = Field(
        None, description="Use this account instead of matching the lead's company by name."
    )
    contact_id: uuid.UUID | None = Field(
        None, description="Use this contact instead of matching the lead's email."
    )
    create_opportunity: bool = Field(True, description="Open an opportunity for the lead.")
    opportunity_name: str | None = Field(None, min_length=1, max_length=200)
    expected_close: dt.date | None = None


class QualifyOutput(BaseModel):
    """What qualifying made or found."""

    account_id: uuid.UUID | None
    account_created: bool
    contact_id: uuid.UUID
    contact_created: bool
    opportunity_id: uuid.UUID | None


def qualify(context: ActionContext, record_id: uuid.UUID, data: QualifyInput) -> QualifyOutput:
    """``lead.qualify``: account, contact and opportunity from a lead, in one transaction.

    The account is ``account_id``, else the account named like the lead's
    company, else a new one (none when the lead has no company); the contact is
    ``contact_id``, else one with the lead's email, else a new one. Everything
    is read and written as the caller. Raises ``RecordValidationError`` for a
    lead qualified or disqualified already.
    """
    lead = context.record()
    if lead["status"] in ("qualified", "disqualified"):
        raise RecordValidationError(
            f"the lead is {lead['status']} already",
            [Problem("/status", f"is {lead['status']}; only new or working leads qualify")],
        )
    account_id, account_created = _account(context, lead, data.account_id)
    contact_id, contact_created = _contact(context, lead, data.contact_id, account_id)
    opportunity_id = None
    if data.create_opportunity:
        name = data.opportunity_name or f"{lead['company'] or _full_name(lead)}: new business"
        opportunity = context.records("opportunity").create(
            {
                "name": name,
                "account": account_id,
                "contact": contact_id,
                "lead": record_id,
                "amount": lead["estimated_amount"],
                "currency": lead["currency"],
                "expected_close": data.expected_close,
                "description": lead["description"],
            }
        )
        opportunity_id = opportunity["id"]
    context.records().update(
        record_id,
        {
            "status": "qualified",
            "account": account_id,
            "contact": contact_id,
            "opportunity": opportunity_id,
            "qualified_at": dt.datetime.now(dt.UTC),
        },
    )
    return QualifyOutput(
        account_id=account_id,
        account_created=account_created,
        contact_id=contact_id,
        contact_created=contact_created,
        opportunity_id=opportunity_id,
    )


def _account(
    context: ActionContext, lead: Mapping[str, Any], given: uuid.UUID | None
) -> tuple[uuid.UUID | None, bool]:
    accounts = context.records("account")
    if given is not None:
        return accounts.get(given, fields=["id"])["id"], False
    company = (lead["company"] or "").strip()
    if not company:
        return None, False
    found = accounts.query(filter={"name": company}, order=["created_at"], limit=1)
    if found:
        return found.records[0]["id"], False
    made = accounts.create({"name": company})
    return made["id"], True


def _contact(
    context: ActionContext,
    lead: Mapping[str, Any],
    given: uuid.UUID | None,
    account_id: uuid.UUID | None,
) -> tuple[uuid.UUID, bool]:
    contacts = context.records("contact")
    if given is not None:
        return contacts.get(given, fields=["id"])["id"], False
    if lead["email"]:
        found = contacts.query(filter={"email": lead["email"]}, order=["created_at"], limit=1)
        if found:
            return found.records[0]["id"], False
    made = contacts.create(
        {
            "first_name": lead["first_name"],
            "last_name": lead["last_name"],
            "email": lead["email"],
            "phone": lead["phone"],
            "account": account_id,
        }
    )
    return made["id"], True


def _full_name(lead: Mapping[str, Any]) -> str:
    return " ".join(p for p in (lead["first_name"], lead["last_name"]) if p)
