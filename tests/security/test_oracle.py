"""Property test: what each user may see and do agrees with a brute-force oracle.

Hypothesis draws a whole organization as plain data (:class:`Plan`): a
business-unit tree, roles with random privilege cells (on the entity under
test, on ``*`` and on another entity), users (some inactive, some with a
manager — cycles allowed), teams with members and roles, the built-in roles
handed out at random, records owned by users and teams, shares and unshares
with random privileges, and the manager hierarchy setting. The test builds it
through the public API, then for every user compares with :class:`Oracle` —
the rules of the security guide spelled out over the plan, sharing no code
with ``xrm_core.security``:

- the records ``query`` returns (followed page by page) and ``count()``;
- ``security.can`` for read, update, delete, assign and share on every record;
- ``explain``: granted or not, and the kinds of reason it gives;
- then real updates and deletes, allowed or refused with the right error.

Examples share one database: each starts by removing the records (and shares)
of the one before, and makes principals of its own (unique names), so that
examples never see each other's data.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm_core import RecordNotFound
from xrm_core.errors import AccessDenied
from xrm_core.security.caller import Caller
from xrm_core.security.service import ADMINISTRATOR, BASIC_USER, CUSTOMIZER

if TYPE_CHECKING:
    from tests.security.conftest import Org

PRIVILEGES = ("create", "read", "update", "delete", "assign", "share")
#: The privileges a record has (create is not one of them): checked, and shared.
CHECKED = ("read", "update", "delete", "assign", "share")
SCOPES = ("none", "own", "business_unit", "subtree", "organization")
RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
#: A role cell's entity: the entity under test ("E"), every entity, or another one.
CELL_ENTITIES = ("E", "*", "other")
#: The entity under test, and another one whose cells must not leak onto it (both user-owned).
ENTITY = "oracle_item"
ITEM = {"x-xrm": {"name": ENTITY}, "properties": {"label": {"type": "string"}}}
OTHER = {"x-xrm": {"name": "oracle_other"}, "properties": {"label": {"type": "string"}}}
BUILTINS = {"admin": ADMINISTRATOR, "basic": BASIC_USER, "customizer": CUSTOMIZER}

#: An owner or share principal: ("user", index) or ("team", index).
Who = tuple[str, int]
#: A role held: the index of a drawn role, or a built-in's key.
RoleRef = int | str


@dataclass(frozen=True)
class UserPlan:
    unit: int
    manager: int | None
    active: bool
    roles: frozenset[RoleRef]


@dataclass(frozen=True)
class TeamPlan:
    unit: int
    members: frozenset[int]
    roles: frozenset[RoleRef]


@dataclass(frozen=True)
class Try:
    """A write one user attempts at the end: update or delete a record."""

    user: int
    record: int
    operation: str


@dataclass(frozen=True)
class Plan:
    """An organization, as plain data."""

    #: Parent of each unit (an earlier unit), or None: directly below the root.
    units: list[int | None]
    #: Each role's cells: (cell entity, privilege) -> scope.
    roles: list[dict[tuple[str, str], str]]
    users: list[UserPlan]
    teams: list[TeamPlan]
    #: Each record's owner.
    records: list[Who]
    #: Users and teams moved to another unit once their records exist (records stay put).
    moves: list[tuple[Who, int]]
    #: (record, principal, privileges), in order; no privileges: unshare.
    shares: list[tuple[int, Who, tuple[str, ...]]]
    #: (depth, managers may update), or None when the hierarchy is off.
    hierarchy: tuple[int, bool] | None
    page_size: int
    tries: list[Try]


@st.composite
def role_cells(draw: st.DrawFn) -> dict[tuple[str, str], str]:
    """A role's cells: often one scope for every privilege (as most roles are), then a few more."""
    cells: dict[tuple[str, str], str] = {}
    if draw(st.sampled_from([True, True, True, False])):
        entity, scope = draw(st.sampled_from(("E", "*"))), draw(st.sampled_from(SCOPES[1:]))
        cells.update({(entity, privilege): scope for privilege in PRIVILEGES})
    cell = st.tuples(st.sampled_from(CELL_ENTITIES), st.sampled_from(PRIVILEGES))
    cells.update(draw(st.dictionaries(cell, st.sampled_from(SCOPES), max_size=4)))
    return cells


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    """An organization; the weights favour cases where the rules tell records apart."""
    n_units = draw(st.sampled_from([1, 2, 3, 4, 4, 5, 5]))
    # Mostly one deep tree, sometimes a second one beside it.
    units = [
        None,
        *(draw(st.sampled_from([None, *range(i), *range(i)])) for i in range(1, n_units)),
    ]
    # sampled_from spreads people over the units (integers favour the first).
    unit = st.sampled_from(range(n_units))
    roles = draw(st.lists(role_cells(), min_size=2, max_size=4))
    # Drawn roles more often than built-in ones (an administrator sees everything).
    held = st.frozensets(
        st.sampled_from([*range(len(roles)), *range(len(roles)), *sorted(BUILTINS)]), max_size=2
    )
    n_users = draw(st.integers(2, 5))
    user = st.sampled_from(range(n_users))
    users = [
        UserPlan(
            draw(unit),
            draw(st.none() | user),
            draw(st.sampled_from([True, True, True, True, True, False])),
            draw(held),
        )
        for _ in range(n_users)
    ]
    teams = draw(
        st.lists(st.builds(TeamPlan, unit, st.frozensets(user, max_size=n_users), held), max_size=3)
    )
    who = st.tuples(st.just("user"), user)
    if teams:
        who = who | st.tuples(st.just("team"), st.sampled_from(range(len(teams))))
    records = draw(st.lists(who, min_size=1, max_size=10))
    moves = draw(st.lists(st.tuples(who, unit), max_size=2))
    record = st.sampled_from(range(len(records)))
    privileges = st.lists(st.sampled_from(CHECKED), unique=True, max_size=3).map(tuple)
    shares = draw(st.lists(st.tuples(record, who, privileges), max_size=8))
    operation = st.sampled_from(["update", "delete"])
    tries = draw(st.lists(st.builds(Try, user, record, operation), max_size=4))
    hierarchy = draw(st.none() | st.tuples(st.integers(1, 3), st.booleans()))
    page_size = draw(st.integers(1, 4))
    return Plan(units, roles, users, teams, records, moves, shares, hierarchy, page_size, tries)


# -- the oracle -----------------------------------------------------------------


@dataclass
class Oracle:
    """The security rules, over a plan: scopes, teams, shares, the hierarchy."""

    plan: Plan
    #: Records deleted by the tries so far.
    deleted: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        plan = self.plan
        self.shared: dict[tuple[int, Who], frozenset[str]] = {}
        for record, principal, privileges in plan.shares:
            if privileges:
                self.shared[record, principal] = frozenset(privileges)
            else:
                self.shared.pop((record, principal), None)
        self.homes = [u.unit for u in plan.users]
        for (kind, index), unit in plan.moves:
            if kind == "user":
                self.homes[index] = unit
        children: dict[int | None, list[int]] = defaultdict(list)
        for unit, parent in enumerate(plan.units):
            children[parent].append(unit)
        self.below: dict[int, set[int]] = {}
        for unit in range(len(plan.units)):
            found, todo = {unit}, [unit]
            while todo:
                for child in children[todo.pop()]:
                    found.add(child)
                    todo.append(child)
            self.below[unit] = found

    def teams_of(self, user: int) -> set[int]:
        return {t for t, team in enumerate(self.plan.teams) if user in team.members}

    def roles_of(self, user: int) -> set[RoleRef]:
        if not self.plan.users[user].active:
            return set()  # an inactive user holds no role
        held = set(self.plan.users[user].roles)
        for t in self.teams_of(user):
            held |= self.plan.teams[t].roles
        return held

    def administrator(self, user: int) -> bool:
        return "admin" in self.roles_of(user)

    def scope(self, user: int, privilege: str) -> str:
        """The widest scope of ``privilege`` on the entity under test over every role held."""
        best = "none"
        for role in self.roles_of(user):
            if role == "basic":
                found = ["own"]  # Basic User: every privilege at own scope on "*"
            elif isinstance(role, int):
                cells = self.plan.roles[role]
                found = [cells.get(("E", privilege), "none"), cells.get(("*", privilege), "none")]
            else:
                found = []
            best = max([best, *found], key=RANK.__getitem__)
        return best

    def unit_of(self, who: Who) -> int:
        kind, index = who
        return self.plan.users[index].unit if kind == "user" else self.plan.teams[index].unit

    def subordinates(self, user: int) -> set[int]:
        """Users below ``user`` in the manager chain, down to the configured depth."""
        if self.plan.hierarchy is None:
            return set()
        found: set[int] = set()
        level = {user}
        for _ in range(self.plan.hierarchy[0]):
            level = {
                u
                for u, plan in enumerate(self.plan.users)
                if plan.manager in level and u != user and u not in found
            }
            found |= level
        return found

    def reasons(self, user: int, record: int, privilege: str) -> set[str]:
        """The kinds of reason that grant ``privilege`` on ``record`` (empty: refused)."""
        if record in self.deleted or not self.plan.users[user].active:
            return set()
        if self.administrator(user):
            return {"administrator"}
        owner = self.plan.records[record]
        mine: set[Who] = {("user", user), *(("team", t) for t in self.teams_of(user))}
        unit = self.unit_of(owner)  # where the owner was when the record was made
        home = self.homes[user]
        scope = RANK[self.scope(user, privilege)]
        found = set()
        # Scopes are cumulative: each includes the narrower ones.
        if (
            (scope >= RANK["own"] and owner in mine)
            or (scope >= RANK["business_unit"] and unit == home)
            or (scope >= RANK["subtree"] and unit in self.below[home])
            or scope >= RANK["organization"]
        ):
            found.add("role")
        if any(privilege in self.shared.get((record, who), ()) for who in mine):
            found.add("share")
        hierarchy = self.plan.hierarchy
        if (
            hierarchy is not None
            and (privilege == "read" or (privilege == "update" and hierarchy[1]))
            and owner[0] == "user"
            and owner[1] in self.subordinates(user)
        ):
            found.add("hierarchy")
        return found

    def allows(self, user: int, record: int, privilege: str) -> bool:
        return bool(self.reasons(user, record, privilege))


# -- building the plan ------------------------------------------------------------


@dataclass
class Built:
    entity: str
    users: list[uuid.UUID]
    teams: list[uuid.UUID]
    records: list[uuid.UUID]


def build(org: Org, plan: Plan) -> Built:
    """Create the plan's organization and records through the public API."""
    xrm, entity = org.xrm, ENTITY
    if not xrm.metadata.exists(entity):
        xrm.metadata.define([ITEM, OTHER])
    # Principals of earlier examples stay (they are never checked again); their records go.
    org.clear(entity)
    # One unit of work: the record calls inside join it, and it commits once.
    with xrm.transaction():
        return populate(org, plan, entity)


def populate(org: Org, plan: Plan, entity: str) -> Built:
    xrm = org.xrm
    units: list[uuid.UUID] = []
    for parent in plan.units:
        units.append(org.unit(org.unique("unit"), None if parent is None else units[parent]))
    roles = [
        org.role(
            org.unique("role"),
            [
                ({"E": entity, "other": "oracle_other"}.get(e, e), privilege, scope)
                for (e, privilege), scope in cells.items()
            ],
        )
        for cells in plan.roles
    ]

    def role_ids(held: frozenset[RoleRef]) -> list[str | uuid.UUID]:
        return [roles[r] if isinstance(r, int) else BUILTINS[r] for r in sorted(held, key=str)]

    users = [
        org.user(org.unique("user"), units[u.unit], roles=role_ids(u.roles), active=u.active)
        for u in plan.users
    ]
    for u, user in zip(plan.users, users, strict=True):
        if u.manager is not None:
            xrm.records("user").update(user, {"manager": users[u.manager]})
    teams = [
        org.team(
            org.unique("team"),
            units[t.unit],
            members=[users[m] for m in sorted(t.members)],
            roles=role_ids(t.roles),
        )
        for t in plan.teams
    ]
    depth, update = plan.hierarchy or (1, False)
    xrm.security.configure_hierarchy(enabled=plan.hierarchy is not None, depth=depth, update=update)

    def principal(who: Who) -> uuid.UUID:
        return users[who[1]] if who[0] == "user" else teams[who[1]]

    created = xrm.records(entity).create_many(
        [
            {"label": f"r{n}", "owner_id": principal(who), "owner_type": who[0]}
            for n, who in enumerate(plan.records)
        ]
    )
    records = [row.record["id"] for row in created.rows if row.record is not None]
    for who, unit in plan.moves:
        xrm.records(who[0]).update(principal(who), {"business_unit": units[unit]})
    service = xrm.records(entity)
    for record, who, privileges in plan.shares:
        if privileges:
            service.share(records[record], principal(who), who[0], list(privileges))
        else:
            service.unshare(records[record], principal(who))
    return Built(entity, users, teams, records)


def pages(org: Org, user: uuid.UUID, entity: str, size: int) -> Iterator[uuid.UUID]:
    """Every record id the user's query returns, following the cursor."""
    records = org.as_user(user).records(entity)
    cursor = None
    while True:
        page = records.query(order=["label"], limit=size, cursor=cursor)
        yield from (r["id"] for r in page)
        cursor = page.next_cursor
        if cursor is None:
            return


# -- the property -----------------------------------------------------------------


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans())
def test_every_user_sees_and_may_do_exactly_what_the_oracle_allows(org: Org, plan: Plan) -> None:
    built = build(org, plan)
    oracle = Oracle(plan)
    security = org.xrm.security
    for u, user in enumerate(built.users):
        readable = {r for n, r in enumerate(built.records) if oracle.allows(u, n, "read")}
        listed = list(pages(org, user, built.entity, plan.page_size))
        assert len(listed) == len(set(listed)), "a record came back on two pages"
        assert set(listed) == readable, f"user {u}: query"
        assert org.as_user(user).records(built.entity).count() == len(readable)
        caller = Caller.user(user)
        for n, record in enumerate(built.records):
            for privilege in CHECKED:
                expected = oracle.reasons(u, n, privilege)
                where = f"user {u}, record {n}, {privilege}"
                allowed = security.can(caller, built.entity, record, privilege)
                assert allowed == bool(expected), where
                explanation = security.explain(user, built.entity, record, privilege)
                assert explanation.granted == bool(expected), where
                assert {r.kind for r in explanation.reasons} == expected, where
    for attempt in plan.tries:
        attempt_write(org, built, oracle, attempt)


def attempt_write(org: Org, built: Built, oracle: Oracle, attempt: Try) -> None:
    """Update or delete as a user: done if the oracle allows it, else refused, changing nothing."""
    records = org.as_user(built.users[attempt.user]).records(built.entity)
    rid = built.records[attempt.record]
    before = org.state(built.entity)
    call: Any = (
        (lambda: records.update(rid, {"label": "changed"}))
        if attempt.operation == "update"
        else (lambda: records.delete(rid))
    )
    if oracle.allows(attempt.user, attempt.record, attempt.operation):
        call()
        if attempt.operation == "delete":
            oracle.deleted.add(attempt.record)
        return
    readable = oracle.allows(attempt.user, attempt.record, "read")
    with pytest.raises(AccessDenied if readable else RecordNotFound):
        call()
    assert org.state(built.entity) == before
