"""Permissions as SQL: a user's scope on an entity compiled to one WHERE predicate.

The predicate is built from bound parameters only (the user's id, teams,
business units), so a statement built for one user serves every user whose
rights have the same shape; :attr:`Access.key` says what that shape is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from xrm_core.metadata.definition import EntityDefinition, Ownership
from xrm_core.security.principal import Principal, Scope
from xrm_core.security.tables import SHARE_PRIVILEGES, share_table

#: Builds a rule's predicate for a user over an entity's table (None: no effect).
RuleBuilder = Callable[[Principal, sa.FromClause], "sa.ColumnElement[bool] | None"]


@dataclass(frozen=True)
class Rule:
    """A predicate a plugin adds to an entity's permissions.

    A ``grant`` rule widens access (OR-ed with roles and shares: "a partner user
    sees the deals of their partner"); a ``restrict`` rule narrows it (AND-ed:
    "nobody outside legal sees sealed cases"). Neither applies to administrators
    or to the system context.
    """

    name: str
    entity: str
    build: RuleBuilder
    mode: Literal["grant", "restrict"] = "grant"
    privileges: frozenset[str] = frozenset({"read"})


@dataclass(frozen=True)
class Access:
    """The predicate for one user, entity and privilege.

    ``where`` is None when every record is allowed. ``key`` identifies the
    predicate's shape for statement caches; None when it holds values of its own
    (a plugin rule), so that a statement built with it must not be reused.
    """

    where: sa.ColumnElement[bool] | None
    params: dict[str, Any]
    key: tuple[Any, ...] | None

    @property
    def everything(self) -> bool:
        """True when no record is filtered out."""
        return self.where is None


ALL = Access(None, {}, ("all",))
NOTHING = Access(sa.false(), {}, ("nothing",))


def access(
    principal: Principal,
    definition: EntityDefinition,
    table: sa.FromClause,
    privilege: str,
    rules: Sequence[Rule] = (),
) -> Access:
    """The records of ``definition`` (in ``table``, or an alias of it) ``principal`` may
    ``privilege``."""
    if principal.administrator:
        return ALL
    if not principal.active:
        return NOTHING
    rules = [r for r in rules if privilege in r.privileges]
    grant = principal.grant(definition.name, privilege)
    params: dict[str, Any] = {}
    if definition.ownership is Ownership.ORGANIZATION or grant.scope is Scope.ORGANIZATION:
        base: list[sa.ColumnElement[bool]] | None = (
            None if grant.scope is Scope.ORGANIZATION else []
        )
    else:
        base = _owned(principal, definition.name, table, privilege, grant.scope, params)
    grants = [
        b for b in (r.build(principal, table) for r in rules if r.mode == "grant") if b is not None
    ]
    limits = [
        b
        for b in (r.build(principal, table) for r in rules if r.mode == "restrict")
        if b is not None
    ]
    if base is None:
        where = None
    else:
        parts = [*base, *grants]
        where = sa.or_(*parts) if parts else sa.false()
    if limits:
        where = sa.and_(*([] if where is None else [where]), *limits)
    if rules:
        return Access(where, params, None)
    if where is None:
        return ALL
    return Access(where, params, (privilege, grant.scope, tuple(sorted(params))))


def _owned(
    principal: Principal,
    entity: str,
    table: sa.FromClause,
    privilege: str,
    scope: Scope,
    params: dict[str, Any],
) -> list[sa.ColumnElement[bool]]:
    """The OR-ed parts for a user-owned entity below organization scope."""
    parts: list[sa.ColumnElement[bool]] = []
    owners: sa.BindParameter[Any] = sa.bindparam("sec_owners", expanding=True)
    if scope is Scope.SUBTREE and principal.subtree:
        params["sec_units"] = sorted(principal.subtree)
        parts.append(table.c.business_unit_id.in_(sa.bindparam("sec_units", expanding=True)))
    elif scope is Scope.BUSINESS_UNIT and principal.business_unit_id is not None:
        params["sec_unit"] = principal.business_unit_id
        parts.append(table.c.business_unit_id == sa.bindparam("sec_unit"))
    if scope >= Scope.OWN:
        # Every scope includes "own": records of the user's teams sit in the teams'
        # units, and records stay in a unit their owner has left.
        params["sec_owners"] = principal.owners
        parts.append(table.c.owner_id.in_(owners))
    hierarchy = principal.hierarchy
    if (
        principal.subordinates
        and (privilege == "read" or (privilege == "update" and hierarchy.update))
        and scope < Scope.ORGANIZATION
    ):
        params["sec_reports"] = sorted(principal.subordinates)
        parts.append(table.c.owner_id.in_(sa.bindparam("sec_reports", expanding=True)))
    if privilege in SHARE_PRIVILEGES:
        params["sec_owners"] = principal.owners
        shared = sa.select(share_table.c.record_id).where(
            share_table.c.entity == entity,
            share_table.c.principal_id.in_(owners),
            share_table.c[f"can_{privilege}"] == sa.true(),
        )
        parts.append(table.c.id.in_(shared))
    return parts
