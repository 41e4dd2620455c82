"""Why may (or may not) a user do something with a record — the answer, with its reasons.

This repeats in Python what :mod:`xrm_core.security.predicates` says in SQL,
for one record; the tests hold the two to the same answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xrm_core.metadata.definition import EntityDefinition, Ownership
from xrm_core.security.principal import Principal, Scope

if TYPE_CHECKING:
    from xrm_core.security.predicates import Rule


@dataclass(frozen=True)
class Reason:
    """One thing that grants access.

    ``kind`` is ``administrator``, ``role``, ``share``, ``hierarchy`` or ``rule``;
    ``role`` / ``team`` / ``scope`` / ``shared_with`` / ``rule`` say which.
    """

    kind: str
    text: str
    role: str | None = None
    team: str | None = None
    scope: str | None = None
    shared_with: str | None = None
    rule: str | None = None


@dataclass(frozen=True)
class Explanation:
    """The answer to "may this user do this to this record, and why?"."""

    user_id: uuid.UUID
    entity: str
    record_id: uuid.UUID
    privilege: str
    granted: bool
    reasons: tuple[Reason, ...] = ()
    #: When refused: what the user has, and what the record is.
    refusal: str = ""
    restrictions: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        head = f"{self.privilege} {self.entity} {self.record_id}: " + (
            "granted" if self.granted else "refused"
        )
        lines = [f"  - {r.text}" for r in self.reasons]
        if self.refusal:
            lines.append(f"  - {self.refusal}")
        lines += [f"  - restricted by rule {r!r}" for r in self.restrictions]
        return "\n".join([head, *lines])


def explain(
    principal: Principal,
    definition: EntityDefinition,
    row: Mapping[str, Any],
    shares: Sequence[Mapping[str, Any]],
    privilege: str,
    rules: Sequence[tuple[Rule, bool]] = (),
) -> Explanation:
    """Explain ``privilege`` on ``row`` for ``principal``; ``rules`` carry their SQL result."""
    base = Explanation(principal.user_id, definition.name, row["id"], privilege, False)
    if principal.administrator:
        reason = Reason("administrator", "holds an administrator role", scope="organization")
        return _with(base, True, [reason])
    if not principal.active:
        return _with(base, False, [], "the user is not active")
    reasons = _role_reasons(principal, definition, row, privilege)
    if definition.ownership is Ownership.USER:
        reasons += _share_reasons(principal, shares, privilege)
        reasons += _hierarchy_reasons(principal, row, privilege)
    reasons += [
        Reason("rule", f"rule {rule.name!r} grants it", rule=rule.name)
        for rule, hit in rules
        if rule.mode == "grant" and hit
    ]
    restrictions = tuple(rule.name for rule, hit in rules if rule.mode == "restrict" and not hit)
    granted = bool(reasons) and not restrictions
    refusal = "" if reasons else _refusal(principal, definition, privilege)
    return Explanation(
        principal.user_id,
        definition.name,
        row["id"],
        privilege,
        granted,
        tuple(reasons),
        refusal,
        restrictions,
    )


def _with(
    base: Explanation, granted: bool, reasons: list[Reason], refusal: str = ""
) -> Explanation:
    return Explanation(
        base.user_id, base.entity, base.record_id, base.privilege, granted, tuple(reasons), refusal
    )


def _role_reasons(
    principal: Principal, definition: EntityDefinition, row: Mapping[str, Any], privilege: str
) -> list[Reason]:
    grant = principal.grant(definition.name, privilege)
    if definition.ownership is Ownership.ORGANIZATION:
        why = "organization scope on reference data" if grant.scope is Scope.ORGANIZATION else ""
    else:
        why = _scope_match(principal, grant.scope, row)
    if not why:
        return []
    return [
        Reason(
            "role",
            f"{source} grants {privilege} at {grant.scope.label} scope: {why}",
            role=source.role,
            team=source.team,
            scope=grant.scope.label,
        )
        for source in grant.sources
    ]


def _scope_match(principal: Principal, scope: Scope, row: Mapping[str, Any]) -> str:
    owner: Any = row.get("owner_id")
    unit = row.get("business_unit_id")
    if scope is Scope.ORGANIZATION:
        return "every record"
    if scope is Scope.SUBTREE and unit in principal.subtree:
        return "the record's business unit is the user's or below it"
    if scope is Scope.BUSINESS_UNIT and unit is not None and unit == principal.business_unit_id:
        return "the record is in the user's business unit"
    if scope >= Scope.OWN and owner == principal.user_id:
        return "the user owns the record"
    if scope >= Scope.OWN and owner in principal.teams:
        team = principal.teams.get(owner, "?")
        return f"the record is owned by the user's team {team!r}"
    return ""


def _share_reasons(
    principal: Principal, shares: Sequence[Mapping[str, Any]], privilege: str
) -> list[Reason]:
    if privilege == "create":
        return []
    reasons = []
    for share in shares:
        if not share[f"can_{privilege}"]:
            continue
        if share["principal_id"] == principal.user_id:
            reasons.append(
                Reason("share", "the record is shared with the user", shared_with="user")
            )
        elif share["principal_id"] in principal.teams:
            team = principal.teams[uuid.UUID(str(share["principal_id"]))]
            reasons.append(
                Reason(
                    "share",
                    f"the record is shared with the user's team {team!r}",
                    team=team,
                    shared_with="team",
                )
            )
    return reasons


def _hierarchy_reasons(
    principal: Principal, row: Mapping[str, Any], privilege: str
) -> list[Reason]:
    owner = row.get("owner_id")
    allowed = privilege == "read" or (privilege == "update" and principal.hierarchy.update)
    depth = principal.subordinates.get(owner) if owner is not None else None
    if not allowed or depth is None:
        return []
    return [
        Reason(
            "hierarchy",
            f"the owner reports to the user ({depth} level{'s' if depth > 1 else ''} below)",
        )
    ]


def _refusal(principal: Principal, definition: EntityDefinition, privilege: str) -> str:
    grant = principal.grant(definition.name, privilege)
    if grant.scope is Scope.NONE:
        return f"no role of the user grants {privilege} on {definition.name!r}, and no share does"
    return (
        f"the user's {privilege} scope is {grant.scope.label}, the record is outside it, "
        "and no share, hierarchy link or rule grants it"
    )
