"""The permission matrix: roles x scopes x operations, on user-owned and organization-owned data.

Every test runs once per *profile* — the built-in roles, a custom role at each
scope, two mixed roles and a role held through a team — on SQLite and
PostgreSQL. Each profile has its own copy of this organization, all built once
per database (``people``); each test gets fresh records (``world``)::

    root
    ├── Sales ........ actor (holds the profile), peer
    │   └── East ..... sub
    └── Service ...... outsider; team "crew" (actor is a member)

Contacts (user-owned): ``mine`` (the actor's), ``team_owned`` (crew's),
``same_unit`` (peer's), ``below`` (sub's), ``elsewhere`` (outsider's).
Countries (organization-owned): ``France``, ``Japan``.

A scope is cumulative: ``own`` is the actor's records and their teams';
``business_unit`` adds the records of the actor's unit; ``subtree`` those of
the units below; ``organization`` every record. Organization-owned records
have no owner, so only ``organization`` reaches them. A refused call raises
RecordNotFound when the actor cannot even read the record, AccessDenied
otherwise, and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest

from xrm_core import XRM, BulkError, RecordNotFound, RecordValidationError, XRMError
from xrm_core.errors import AccessDenied
from xrm_core.security.principal import PRIVILEGES
from xrm_core.security.service import ADMINISTRATOR, BASIC_USER, CUSTOMIZER

if TYPE_CHECKING:
    from tests.security.conftest import Org

CONTACTS = ("mine", "team_owned", "same_unit", "below", "elsewhere")
COUNTRIES = ("France", "Japan")
#: The contacts each scope reaches (cumulative: a wider scope includes the narrower).
CONTACT_REACH = {
    "none": set(),
    "own": {"mine", "team_owned"},
    "business_unit": {"mine", "team_owned", "same_unit"},
    "subtree": {"mine", "team_owned", "same_unit", "below"},
    "organization": set(CONTACTS),
}
#: The owners (of a new or assigned record) each scope reaches.
OWNER_REACH = {
    "none": set(),
    "own": {"actor", "crew"},
    "business_unit": {"actor", "crew", "peer"},
    "subtree": {"actor", "crew", "peer", "sub"},
    "organization": {"actor", "crew", "peer", "sub", "outsider"},
}


@dataclass(frozen=True)
class Profile:
    """What the actor holds: a built-in role, or a custom role (its scope per privilege)."""

    scopes: dict[str, str]
    builtin: str | None = None
    through_team: bool = False


def uniform(scope: str) -> dict[str, str]:
    return dict.fromkeys(PRIVILEGES, scope)


PROFILES = {
    "administrator": Profile(uniform("organization"), ADMINISTRATOR),
    "customizer": Profile(uniform("none"), CUSTOMIZER),
    "basic_user": Profile(uniform("own"), BASIC_USER),
    "own": Profile(uniform("own")),
    "business_unit": Profile(uniform("business_unit")),
    "subtree": Profile(uniform("subtree")),
    "organization": Profile(uniform("organization")),
    # Reads everything, changes only their own.
    "reader": Profile({**uniform("own"), "read": "organization"}),
    # May share what they see, but only the privileges they hold.
    "sharer": Profile({**uniform("own"), "read": "organization", "share": "organization"}),
    # A subtree role held through a team in another unit: measured from the actor.
    "team_subtree": Profile(uniform("subtree"), through_team=True),
}


@dataclass(frozen=True)
class People:
    """One profile's corner of the organization: its units, users and team."""

    units: dict[str, uuid.UUID]
    users: dict[str, uuid.UUID]  # actor, peer, sub, outsider, and the team crew


@pytest.fixture(scope="module")
def people(module_org: Org) -> dict[str, People]:
    """For each profile, the organization of the module docstring (built once per database)."""
    org = module_org
    found = {}
    for key, profile in PROFILES.items():
        sales = org.unit(f"Sales {key}")
        units = {"Sales": sales, "East": org.unit(f"East {key}", sales)}
        units["Service"] = org.unit(f"Service {key}")
        users = {
            "actor": org.user(f"actor_{key}", sales),
            "peer": org.user(f"peer_{key}", sales, roles=[BASIC_USER]),
            "sub": org.user(f"sub_{key}", units["East"], roles=[BASIC_USER]),
            "outsider": org.user(f"outsider_{key}", units["Service"], roles=[BASIC_USER]),
        }
        users["crew"] = org.team(f"crew {key}", units["Service"], members=[users["actor"]])
        role: str | uuid.UUID = profile.builtin or org.role(
            f"under test {key}",
            [
                *(("contact", privilege, scope) for privilege, scope in profile.scopes.items()),
                # Reference data takes none or organization (see the test below).
                *(
                    ("country", privilege, scope)
                    for privilege, scope in profile.scopes.items()
                    if scope == "organization"
                ),
            ],
        )
        if profile.through_team:
            org.xrm.records("team").link(users["crew"], "roles", org.role_id(role))
        else:
            org.give(users["actor"], role)
        found[key] = People(units, users)
    return found


OWNERS = {
    "mine": "actor",
    "team_owned": "crew",
    "same_unit": "peer",
    "below": "sub",
    "elsewhere": "outsider",
}


@dataclass
class World:
    """One profile's people, and fresh records of both entities."""

    org: Org
    profile: Profile
    units: dict[str, uuid.UUID]
    users: dict[str, uuid.UUID]
    contacts: dict[str, uuid.UUID]
    countries: dict[str, uuid.UUID]

    @property
    def actor(self) -> XRM:
        return self.org.as_user(self.users["actor"])

    def scope(self, privilege: str) -> str:
        return self.profile.scopes[privilege]

    def reach(self, entity: str, privilege: str) -> set[str]:
        """Names of the records ``privilege`` reaches."""
        scope = self.scope(privilege)
        if entity == "country":
            return set(COUNTRIES) if scope == "organization" else set()
        return CONTACT_REACH[scope]

    def ids(self, entity: str) -> dict[str, uuid.UUID]:
        return self.contacts if entity == "contact" else self.countries

    def refusal(self, entity: str, name: str) -> type[XRMError]:
        """The error of a refused call on a record: not found when it is not even readable."""
        return AccessDenied if name in self.reach(entity, "read") else RecordNotFound

    def refused(self, entity: str, call: Callable[[], object], error: type[XRMError]) -> XRMError:
        """Run a call that must fail with ``error`` and change nothing."""
        before = self.org.state(entity)
        with pytest.raises(error) as caught:
            call()
        assert self.org.state(entity) == before
        return caught.value


@pytest.fixture(params=list(PROFILES))
def world(
    request: pytest.FixtureRequest, module_org: Org, people: dict[str, People]
) -> Iterator[World]:
    org, mine = module_org, people[request.param]
    owned = org.xrm.records("contact").create_many(
        [
            {
                "name": name,
                "owner_id": mine.users[owner],
                "owner_type": "team" if owner == "crew" else "user",
            }
            for name, owner in OWNERS.items()
        ]
    )
    reference = org.xrm.records("country").create_many([{"name": n} for n in COUNTRIES])
    contacts = {r.record["name"]: r.record["id"] for r in owned.rows if r.record}
    countries = {r.record["name"]: r.record["id"] for r in reference.rows if r.record}
    try:
        yield World(org, PROFILES[request.param], mine.units, mine.users, contacts, countries)
    finally:
        org.clear("contact", "country")


ENTITIES = pytest.mark.parametrize("entity", ["contact", "country"])


# -- read ---------------------------------------------------------------------


@ENTITIES
def test_get_finds_exactly_the_records_in_read_scope(world: World, entity: str) -> None:
    records = world.actor.records(entity)
    visible = world.reach(entity, "read")
    for name, rid in world.ids(entity).items():
        if name in visible:
            assert records.get(rid)["name"] == name
        else:
            with pytest.raises(RecordNotFound):
                records.get(rid)


@ENTITIES
def test_query_count_and_aggregate_see_exactly_the_records_in_read_scope(
    world: World, entity: str
) -> None:
    records = world.actor.records(entity)
    visible = world.reach(entity, "read")
    assert {r["name"] for r in records.query(limit=1000)} == visible
    # Paging: cursors carry on inside the same scope.
    seen, cursor = [], None
    while True:
        page = records.query(order=["name"], limit=1, cursor=cursor)
        seen += [r["name"] for r in page]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(visible)
    assert {r["name"] for r in records.query(filter={"name": {"ne": "nobody"}})} == visible
    assert records.count() == len(visible)
    assert records.count(filter={"name": {"in": ["mine", "France"]}}) == len(
        visible & {"mine", "France"}
    )
    assert records.query(limit=1000, count=True).total == len(visible)
    assert records.aggregate(measures={"n": "count"}) == [{"n": len(visible)}]
    groups = records.aggregate(group_by=["name"], measures={"n": "count"})
    assert {g["name"]: g["n"] for g in groups} == dict.fromkeys(visible, 1)


# -- update and delete --------------------------------------------------------


@ENTITIES
def test_update_succeeds_in_scope_and_is_refused_elsewhere(world: World, entity: str) -> None:
    records = world.actor.records(entity)
    allowed = world.reach(entity, "update")
    for name, rid in world.ids(entity).items():
        if name in allowed:
            updated = records.update(rid, {"name": f"{name}!"})
            assert (updated["name"], updated["version"]) == (f"{name}!", 2)
            assert updated["updated_by"] == world.users["actor"]
        else:
            world.refused(
                entity,
                partial(records.update, rid, {"name": "x"}),
                world.refusal(entity, name),
            )


@ENTITIES
def test_delete_succeeds_in_scope_and_is_refused_elsewhere(world: World, entity: str) -> None:
    records = world.actor.records(entity)
    allowed = world.reach(entity, "delete")
    for name, rid in world.ids(entity).items():
        if name in allowed:
            records.delete(rid)
            with pytest.raises(RecordNotFound):
                world.org.xrm.records(entity).get(rid)
        else:
            world.refused(entity, partial(records.delete, rid), world.refusal(entity, name))


# -- create -------------------------------------------------------------------


@pytest.mark.parametrize("owner", ["default", "actor", "crew", "peer", "sub", "outsider"])
def test_create_contact_for_an_owner_within_the_create_scope(world: World, owner: str) -> None:
    """A new record belongs to the caller unless it names an owner the create scope reaches."""
    records = world.actor.records("contact")
    data: dict[str, Any] = {"name": "new"}
    if owner != "default":
        data["owner_id"] = world.users[owner]
        data["owner_type"] = "team" if owner == "crew" else "user"
    owner = "actor" if owner == "default" else owner
    if owner in OWNER_REACH[world.scope("create")]:
        created = records.create(data)
        assert (created["owner_id"], created["owner_type"]) == (
            world.users[owner],
            "team" if owner == "crew" else "user",
        )
        assert created["created_by"] == world.users["actor"]
    else:
        world.refused("contact", lambda: records.create(data), AccessDenied)


def test_create_country_needs_organization_scope(world: World) -> None:
    records = world.actor.records("country")
    if world.scope("create") == "organization":
        assert records.create({"name": "Peru"})["name"] == "Peru"
    else:
        error = world.refused("country", lambda: records.create({"name": "Peru"}), AccessDenied)
        assert error.details == {"entity": "country", "privilege": "create"}


def test_bulk_create_checks_the_owner_of_each_row(world: World) -> None:
    records = world.actor.records("contact")
    rows: list[dict[str, Any]] = [
        {"name": "a"},
        {"name": "b", "owner_id": world.users["outsider"], "owner_type": "user"},
    ]
    scope = world.scope("create")
    if scope == "organization":
        assert len(records.create_many(rows).succeeded) == 2
    elif scope == "none":
        world.refused("contact", lambda: records.create_many(rows), AccessDenied)
    else:
        error = world.refused("contact", lambda: records.create_many(rows), BulkError)
        assert [p.pointer for p in error.problems] == ["/1/owner_id"]
        outcome = records.create_many(rows, mode="per_row")
        assert [r.ok for r in outcome.rows] == [True, False]
        assert isinstance(outcome.rows[1].error, AccessDenied)


# -- assign -------------------------------------------------------------------


def test_assign_to_oneself_needs_assign_on_the_record(world: World) -> None:
    records = world.actor.records("contact")
    allowed = world.reach("contact", "assign")
    actor = world.users["actor"]
    for name, rid in world.contacts.items():
        if name in allowed:
            assigned = records.assign(rid, actor)
            assert (assigned["owner_id"], assigned["owner_type"]) == (actor, "user")
            assert assigned["business_unit_id"] == world.units["Sales"]
        else:
            world.refused(
                "contact",
                partial(records.assign, rid, actor),
                world.refusal("contact", name),
            )


@pytest.mark.parametrize("owner", ["crew", "peer", "sub", "outsider"])
def test_assign_gives_only_to_owners_within_the_assign_scope(world: World, owner: str) -> None:
    records = world.actor.records("contact")
    rid = world.contacts["mine"]
    kind = "team" if owner == "crew" else "user"
    if "mine" not in world.reach("contact", "assign"):
        error = world.refusal("contact", "mine")
        world.refused("contact", lambda: records.assign(rid, world.users[owner], kind), error)
    elif owner in OWNER_REACH[world.scope("assign")]:
        assigned = records.assign(rid, world.users[owner], kind)
        assert (assigned["owner_id"], assigned["owner_type"]) == (world.users[owner], kind)
    else:
        world.refused(
            "contact", lambda: records.assign(rid, world.users[owner], kind), AccessDenied
        )


# -- share --------------------------------------------------------------------


@pytest.mark.parametrize("privileges", [["read"], ["read", "update"]])
def test_share_needs_share_and_every_privilege_shared(world: World, privileges: list[str]) -> None:
    records = world.actor.records("contact")
    peer = world.users["peer"]
    needed = ["share", *privileges]
    for name, rid in world.contacts.items():
        if all(name in world.reach("contact", p) for p in needed):
            shared = records.share(rid, peer, "user", privileges)
            assert shared == {
                "principal_type": "user",
                "principal_id": peer,
                "privileges": privileges,
            }
            assert world.org.as_user(peer).records("contact").get(rid)["name"] == name
            assert records.unshare(rid, peer) is True
        else:
            world.refused(
                "contact",
                partial(records.share, rid, peer, "user", privileges),
                world.refusal("contact", name),
            )
        if name in world.reach("contact", "share"):
            assert records.unshare(rid, peer) is False
        else:
            world.refused(
                "contact",
                partial(records.unshare, rid, peer),
                world.refusal("contact", name),
            )


@pytest.mark.parametrize("operation", ["assign", "share", "unshare"])
def test_organization_owned_records_are_never_assigned_or_shared(
    world: World, operation: str
) -> None:
    records = world.actor.records("country")
    rid, peer = world.countries["France"], world.users["peer"]
    calls = {
        "assign": lambda: records.assign(rid, peer),
        "share": lambda: records.share(rid, peer),
        "unshare": lambda: records.unshare(rid, peer),
    }
    world.refused("country", calls[operation], RecordValidationError)


@pytest.mark.parametrize("scope", ["own", "business_unit", "subtree"])
def test_a_role_cell_on_reference_data_takes_only_none_or_organization(
    module_org: Org, scope: str
) -> None:
    roles = module_org.xrm.records("role_privilege")
    role = module_org.role(module_org.unique("reference"))
    before = module_org.rows("role_privilege")
    cell = {"role": role, "entity": "country", "privilege": "read"}
    with pytest.raises(RecordValidationError) as caught:
        roles.create({**cell, "scope": scope})
    assert [p.pointer for p in caught.value.problems] == ["/scope"]
    assert module_org.rows("role_privilege") == before
    for allowed in ("none", "organization"):
        roles.create(
            {**cell, "privilege": "read" if allowed == "none" else "update", "scope": allowed}
        )


def test_a_role_cell_names_a_defined_entity(module_org: Org) -> None:
    role = module_org.role(module_org.unique("unknown"))
    before = module_org.rows("role_privilege")
    with pytest.raises(RecordValidationError) as caught:
        module_org.xrm.records("role_privilege").create(
            {"role": role, "entity": "no_such_entity", "privilege": "read", "scope": "own"}
        )
    assert [p.pointer for p in caught.value.problems] == ["/entity"]
    assert module_org.rows("role_privilege") == before


# -- metadata -----------------------------------------------------------------

VEHICLE = {"x-xrm": {"name": "vehicle"}, "properties": {"plate": {"type": "string"}}}


def test_a_customizer_defines_entities_but_reads_no_business_data(crm: Org) -> None:
    org = crm
    org.xrm.records("contact").create({"name": "Ada"})
    customizer = org.as_user(org.user("custo", roles=[CUSTOMIZER]))
    customizer.metadata.define(VEHICLE)
    assert customizer.metadata.exists("vehicle")
    assert customizer.records("contact").count() == 0
    assert len(customizer.records("contact").query()) == 0
    with pytest.raises(AccessDenied):
        customizer.records("vehicle").create({"plate": "XR-1"})
    # Security entities are readable, to build roles against them.
    assert customizer.records("role").count() == org.xrm.records("role").count()


def test_a_customizer_may_not_drop_core_entities(org: Org) -> None:
    customizer = org.as_user(org.user("custo", roles=[CUSTOMIZER]))
    with pytest.raises(AccessDenied):
        customizer.metadata.drop("user", confirm=True)
    assert org.xrm.metadata.exists("user")


@pytest.mark.parametrize("role", [BASIC_USER, None])
def test_only_customizers_change_metadata(crm: Org, role: str | None) -> None:
    org = crm
    user = org.as_user(org.user("basic", roles=[role] if role else []))
    version = org.xrm.metadata.version
    with pytest.raises(AccessDenied):
        user.metadata.define(VEHICLE)
    with pytest.raises(AccessDenied):
        user.metadata.define(
            {"x-xrm": {"name": "contact"}, "properties": {"n": {"type": "string"}}}
        )
    with pytest.raises(AccessDenied):
        user.metadata.drop("contact", confirm=True)
    assert not org.xrm.metadata.exists("vehicle")
    assert org.xrm.metadata.version == version


def test_an_administrator_changes_metadata(org: Org) -> None:
    admin = org.as_user(org.user("admin", roles=[ADMINISTRATOR]))
    admin.metadata.define(VEHICLE)
    assert admin.records("vehicle").create({"plate": "XR-1"})["plate"] == "XR-1"
