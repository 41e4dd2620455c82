"""Ownership, sharing, hierarchy, field security, rules and joins, through the record service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from xrm_core import XRM
from xrm_core.errors import (
    AccessDenied,
    BrokenReference,
    BulkError,
    RecordNotFound,
    RecordValidationError,
    XRMError,
)
from xrm_core.records.service import RecordService
from xrm_core.security.caller import Caller
from xrm_core.security.tables import share_table

ACCOUNT = {
    "x-xrm": {"name": "account"},
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "revenue": {"type": "integer", "x-xrm": {"secured": True}},
    },
    "required": ["name"],
}
CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "account": {"x-xrm": {"kind": "lookup", "target": "account"}},
    },
    "required": ["name"],
}
NOTE = {"x-xrm": {"name": "note"}, "properties": {"text": {"type": "string"}}}
COUNTRY = {
    "x-xrm": {"name": "country", "ownership": "organization"},
    "properties": {"name": {"type": "string"}},
}


@dataclass
class Org:
    """Root > Sales > East, and Service under root; a role per scope."""

    xrm: XRM
    root: uuid.UUID
    sales: uuid.UUID
    east: uuid.UUID
    service: uuid.UUID
    users: dict[str, uuid.UUID]

    def records(self, entity: str, user: str | None = None) -> RecordService:
        """A record service acting as ``user`` (None: the system context)."""
        if user is None:
            return self.xrm.records(entity)
        return self.xrm.as_user(self.users[user]).records(entity)

    def names(self, entity: str, user: str, **query: Any) -> list[str]:
        page = self.records(entity, user).query(order=["name"], limit=1000, **query)
        return [r["name"] for r in page]

    def role(self, name: str, cells: list[tuple[str, str, str]]) -> uuid.UUID:
        role = self.xrm.records("role").create({"name": name})["id"]
        self.xrm.records("role_privilege").create_many(
            [{"role": role, "entity": e, "privilege": p, "scope": s} for e, p, s in cells]
        )
        return role

    def give(self, user: str, role: uuid.UUID) -> None:
        self.xrm.records("user").link(self.users[user], "roles", role)


@pytest.fixture
def org(xrm: XRM) -> Org:
    root = xrm.security.install()
    xrm.metadata.define([ACCOUNT, CONTACT, COUNTRY])
    units = xrm.records("business_unit")
    sales = units.create({"name": "Sales", "parent": root})["id"]
    east = units.create({"name": "East", "parent": sales})["id"]
    service = units.create({"name": "Service", "parent": root})["id"]
    users = {
        "alice": xrm.security.create_user("alice", business_unit=sales),
        "bob": xrm.security.create_user("bob", business_unit=east),
        "carol": xrm.security.create_user("carol", business_unit=east),
        "dave": xrm.security.create_user("dave", business_unit=service),
    }
    o = Org(xrm, root, sales, east, service, users)
    for user, scope in (("alice", "subtree"), ("bob", "own"), ("carol", "own"), ("dave", "own")):
        o.give(
            user,
            o.role(
                f"{user} role",
                [(e, p, scope) for e in ("account", "contact") for p in ("create", "read")]
                + [("contact", "update", scope), ("contact", "share", scope)],
            ),
        )
    return o


def table_rows(xrm: XRM, entity: str) -> list[dict[str, Any]]:
    table = xrm.metadata.catalog.table(entity)
    with xrm.db.transaction(write=False) as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


# -- who acts --------------------------------------------------------------


def test_an_xrm_without_a_caller_refuses_to_read_or_write(org: Org, db_url: str) -> None:
    bare = XRM.from_url(db_url)
    try:
        with pytest.raises(AccessDenied, match="no caller"):
            bare.records("contact")
        with pytest.raises(AccessDenied, match="no caller"):
            bare.metadata.define(COUNTRY)
    finally:
        bare.close()


def test_the_system_context_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        Caller.system("  ")


def test_acting_as_an_unknown_user_is_refused(org: Org) -> None:
    with pytest.raises(AccessDenied, match="no user"):
        org.xrm.as_user(uuid.uuid4())
    with pytest.raises(AccessDenied, match="not a user id"):
        org.xrm.as_user("garbage")


# -- ownership -------------------------------------------------------------


def test_a_new_record_belongs_to_its_creator_and_their_business_unit(org: Org) -> None:
    record = org.records("contact", "bob").create({"name": "Zed"})

    assert record["owner_id"] == org.users["bob"]
    assert record["owner_type"] == "user"
    assert record["business_unit_id"] == org.east
    assert record["created_by"] == record["updated_by"] == org.users["bob"]


def test_each_user_sees_what_their_scope_reaches(org: Org) -> None:
    for user in ("alice", "bob", "carol", "dave"):
        org.records("contact", user).create({"name": f"{user}'s"})

    assert org.names("contact", "bob") == ["bob's"]
    assert org.names("contact", "alice") == ["alice's", "bob's", "carol's"]  # Sales subtree
    assert org.records("contact", "alice").count() == 3
    assert org.records("contact", "dave").count() == 1
    assert len(org.names("contact", "alice", filter={"name": {"starts_with": "d"}})) == 0


def test_a_record_out_of_reach_is_not_found_and_one_in_reach_without_the_privilege_is_denied(
    org: Org,
) -> None:
    bobs = org.records("account", "bob").create({"name": "Bob's account"})
    before = table_rows(org.xrm, "account")

    with pytest.raises(RecordNotFound):
        org.records("account", "carol").get(bobs["id"])
    with pytest.raises(RecordNotFound):
        org.records("account", "carol").update(bobs["id"], {"name": "Mine now"})
    with pytest.raises(AccessDenied, match="update privilege"):
        org.records("account", "bob").update(bobs["id"], {"name": "Renamed"})
    with pytest.raises(AccessDenied, match="delete privilege"):
        org.records("account", "bob").delete(bobs["id"])
    assert table_rows(org.xrm, "account") == before


def test_creating_for_another_owner_must_stay_within_the_create_scope(org: Org) -> None:
    contacts = org.records("contact", "alice")
    made = contacts.create({"name": "For Bob", "owner_id": org.users["bob"]})
    assert (made["owner_id"], made["business_unit_id"]) == (org.users["bob"], org.east)

    with pytest.raises(AccessDenied, match="create scope"):
        contacts.create({"name": "For Dave", "owner_id": org.users["dave"]})
    with pytest.raises(AccessDenied, match="create scope"):
        org.records("contact", "bob").create({"name": "For Carol", "owner_id": org.users["carol"]})
    assert org.names("contact", "dave") == []


def test_assign_moves_the_record_to_the_new_owner_and_their_business_unit(org: Org) -> None:
    record = org.records("contact").create({"name": "Moving", "owner_id": org.users["dave"]})
    org.give("alice", org.role("assigner", [("contact", "assign", "organization")]))

    moved = org.records("contact", "alice").assign(record["id"], org.users["bob"])

    assert (moved["owner_id"], moved["business_unit_id"]) == (org.users["bob"], org.east)
    assert moved["version"] == record["version"] + 1
    assert org.names("contact", "bob") == ["Moving"]
    assert org.names("contact", "dave") == []


def test_assign_needs_the_assign_privilege(org: Org) -> None:
    record = org.records("contact", "bob").create({"name": "Mine"})
    with pytest.raises(AccessDenied, match="assign privilege"):
        org.records("contact", "bob").assign(record["id"], org.users["carol"])
    assert org.records("contact").get(record["id"])["owner_id"] == org.users["bob"]


def test_records_owned_by_a_team_are_own_records_of_its_members(org: Org) -> None:
    team = org.records("team").create({"name": "Key accounts", "business_unit": org.service})
    org.records("team").link(team["id"], "members", org.users["bob"])
    org.records("contact").create({"name": "Team's", "owner_id": team["id"], "owner_type": "team"})

    assert org.names("contact", "bob") == ["Team's"]
    assert org.names("contact", "carol") == []
    assert org.names("contact", "dave") == []  # Service is the team's unit, not Dave's reach


def test_roles_held_by_a_team_are_inherited_by_its_members(org: Org) -> None:
    org.records("contact").create({"name": "Anywhere", "owner_id": org.users["dave"]})
    team = org.records("team").create({"name": "Readers", "business_unit": org.root})
    org.records("team").link(
        team["id"], "roles", org.role("all", [("contact", "read", "organization")])
    )
    assert org.names("contact", "carol") == []

    org.records("team").link(team["id"], "members", org.users["carol"])

    assert org.names("contact", "carol") == ["Anywhere"]


def test_organization_owned_entities_take_only_organization_scope(org: Org) -> None:
    org.records("country").create({"name": "Iceland"})
    with pytest.raises(BulkError) as refused:
        org.role("countries own", [("country", "read", "own")])
    assert [str(p) for p in refused.value.problems] == ["/0/scope: must be none or organization"]
    assert org.names("country", "bob") == []

    org.give("bob", org.role("countries", [("country", "read", "organization")]))
    assert org.names("country", "bob") == ["Iceland"]
    with pytest.raises(AccessDenied, match="create privilege"):
        org.records("country", "bob").create({"name": "Malta"})


def test_an_inactive_user_can_do_nothing(org: Org) -> None:
    org.records("contact", "bob").create({"name": "Bob's"})
    org.records("user").update(org.users["bob"], {"is_active": False})

    assert org.names("contact", "bob") == []
    with pytest.raises(AccessDenied):
        org.records("contact", "bob").create({"name": "More"})


def test_a_lookup_may_point_only_at_a_record_the_caller_can_read(org: Org) -> None:
    daves = org.records("account", "dave").create({"name": "Dave's account"})
    with pytest.raises(BrokenReference):
        org.records("contact", "bob").create({"name": "Zed", "account": daves["id"]})
    assert org.names("contact", "bob") == []


def test_paths_and_expansions_through_a_lookup_see_only_readable_records(org: Org) -> None:
    account = org.records("account", "dave").create({"name": "Hidden"})
    org.records("contact").create(
        {"name": "Zed", "account": account["id"], "owner_id": org.users["bob"]}
    )

    assert org.names("contact", "bob", filter={"account.name": "Hidden"}) == []
    assert org.names("contact", "bob", filter={"account.name": None}) == ["Zed"]
    assert org.names("contact", "dave", filter={"account.name": "Hidden"}) == []  # not his contact
    (zed,) = org.records("contact", "bob").query(expand=["account"])
    assert zed["account"] is None
    (seen,) = org.records("contact").query(expand=["account"])
    assert seen["account"]["name"] == "Hidden"


def test_granting_a_role_applies_here_at_once_and_in_another_process_within_a_second(
    org: Org, db_url: str
) -> None:
    other = XRM.from_url(db_url).as_system("other process")
    seconds = [100.0]
    other.security_service.configure_refresh(interval=1.0, clock=lambda: seconds[0])
    try:
        org.records("contact", "dave").create({"name": "Dave's"})
        assert other.as_user(org.users["bob"]).records("contact").count() == 0

        org.give("bob", org.role("everything", [("contact", "read", "organization")]))

        assert org.records("contact", "bob").count() == 1
        seconds[0] += 0.5
        assert other.as_user(org.users["bob"]).records("contact").count() == 0
        seconds[0] += 0.5
        assert other.as_user(org.users["bob"]).records("contact").count() == 1
    finally:
        other.close()


def test_a_role_privilege_names_an_existing_entity(org: Org) -> None:
    with pytest.raises(BulkError) as refused:
        org.role("ghosts", [("ghost", "read", "organization")])
    assert [str(p) for p in refused.value.problems] == ["/0/entity: unknown entity"]


def test_business_units_form_one_tree(org: Org) -> None:
    units = org.records("business_unit")
    with pytest.raises(RecordValidationError, match="cannot be below itself"):
        units.update(org.sales, {"parent": org.east})
    with pytest.raises(RecordValidationError, match="one root"):
        units.create({"name": "Second root"})
    assert units.get(org.sales)["parent"] == org.root


def test_managing_security_needs_an_administrator(org: Org) -> None:
    as_bob = org.xrm.as_user(org.users["bob"]).security
    with pytest.raises(AccessDenied, match="administrator"):
        as_bob.create_user("mallory", roles=["System Administrator"])
    with pytest.raises(AccessDenied, match="administrator"):
        as_bob.configure_hierarchy(enabled=True)
    org.give("bob", org.xrm.security.role_id("System Administrator"))

    mallory = org.xrm.as_user(org.users["bob"]).security.create_user("mallory")

    assert org.records("user").get(mallory)["created_by"] == org.users["bob"]


# -- sharing ---------------------------------------------------------------


def test_a_share_grants_exactly_its_privileges_until_it_is_withdrawn(org: Org) -> None:
    record = org.records("contact", "bob").create({"name": "Shared"})
    bob = org.records("contact", "bob")

    share = bob.share(record["id"], org.users["dave"], privileges=["read"])

    assert share == {
        "principal_type": "user",
        "principal_id": org.users["dave"],
        "privileges": ["read"],
    }
    assert org.names("contact", "dave") == ["Shared"]
    assert org.records("contact", "dave").get(record["id"])["name"] == "Shared"
    with pytest.raises(AccessDenied, match="update privilege"):
        org.records("contact", "dave").update(record["id"], {"name": "Changed"})

    bob.share(record["id"], org.users["dave"], privileges=["read", "update"])
    assert org.records("contact", "dave").update(record["id"], {"name": "Changed"})["version"] == 2
    assert bob.shares(record["id"])[0]["privileges"] == ["read", "update"]

    assert bob.unshare(record["id"], org.users["dave"]) is True
    assert org.names("contact", "dave") == []
    assert bob.unshare(record["id"], org.users["dave"]) is False


def test_a_share_with_a_team_reaches_its_members(org: Org) -> None:
    record = org.records("contact", "bob").create({"name": "For the team"})
    team = org.records("team").create({"name": "Support", "business_unit": org.service})
    org.records("team").link(team["id"], "members", org.users["dave"])

    org.records("contact", "bob").share(record["id"], team["id"], "team", ["read"])

    assert org.names("contact", "dave") == ["For the team"]
    assert org.names("contact", "carol") == []


def test_one_can_share_only_what_one_may_do(org: Org) -> None:
    record = org.records("contact", "bob").create({"name": "Mine"})
    with pytest.raises(AccessDenied, match="delete privilege"):
        org.records("contact", "bob").share(record["id"], org.users["dave"], privileges=["delete"])
    with pytest.raises(RecordNotFound):
        org.records("contact", "carol").share(record["id"], org.users["dave"])
    with pytest.raises(XRMError, match="a share grants only"):
        org.records("contact", "bob").share(record["id"], org.users["dave"], privileges=["fly"])
    assert org.records("contact", "bob").shares(record["id"]) == []


def test_organization_owned_records_are_not_shared(org: Org) -> None:
    country = org.records("country").create({"name": "Iceland"})
    with pytest.raises(XRMError, match="organization-owned"):
        org.records("country").share(country["id"], org.users["bob"])
    with pytest.raises(XRMError, match="organization-owned"):
        org.records("country").unshare(country["id"], org.users["bob"])


# -- manager hierarchy -----------------------------------------------------


def test_a_manager_reads_the_records_of_reports_to_the_configured_depth(org: Org) -> None:
    xrm = org.xrm
    xrm.records("user").update(org.users["carol"], {"manager": org.users["bob"]})
    xrm.records("user").update(org.users["dave"], {"manager": org.users["carol"]})
    for user in ("carol", "dave"):
        org.records("contact", user).create({"name": f"{user}'s"})
    assert org.names("contact", "bob") == []

    xrm.security.configure_hierarchy(enabled=True, depth=1)
    assert org.names("contact", "bob") == ["carol's"]
    with pytest.raises(AccessDenied):
        (carols,) = org.records("contact", "bob").query()
        org.records("contact", "bob").update(carols["id"], {"name": "Edited"})

    xrm.security.configure_hierarchy(enabled=True, depth=2, update=True)
    assert org.names("contact", "bob") == ["carol's", "dave's"]
    (carols, _) = org.records("contact", "bob").query(order=["name"])
    assert org.records("contact", "bob").update(carols["id"], {"name": "Edited"})["version"] == 2


# -- field security --------------------------------------------------------


def grant_field(org: Org, user: str, **flags: bool) -> None:
    profile = org.records("field_security_profile").create({"name": f"{user} revenue"})
    org.records("field_permission").create(
        {"profile": profile["id"], "entity": "account", "field": "revenue", **flags}
    )
    org.records("field_security_profile").link(profile["id"], "users", org.users[user])


def test_a_secured_field_is_omitted_from_reads_and_the_page_says_so(org: Org) -> None:
    account = org.records("account").create(
        {"name": "Acme", "revenue": 10, "owner_id": org.users["bob"]}
    )
    page = org.records("account", "bob").query()

    assert "revenue" not in page.records[0]
    assert page.omitted == ("revenue",)
    assert "revenue" not in org.records("account", "bob").get(account["id"])

    grant_field(org, "bob", can_read=True)
    page = org.records("account", "bob").query()
    assert page.records[0]["revenue"] == 10
    assert page.omitted == ()


def test_filtering_sorting_or_selecting_a_secured_field_is_refused(org: Org) -> None:
    accounts = org.records("account", "bob")
    with pytest.raises(AccessDenied, match="revenue"):
        accounts.query(filter={"revenue": {"gt": 5}})
    with pytest.raises(AccessDenied, match="revenue"):
        accounts.query(order=["-revenue"])
    with pytest.raises(AccessDenied, match="revenue"):
        accounts.query(fields=["revenue"])
    with pytest.raises(AccessDenied, match="revenue"):
        accounts.aggregate(measures={"total": "sum:revenue"})
    with pytest.raises(AccessDenied, match="revenue"):
        org.records("contact", "bob").query(filter={"account.revenue": 10})


def test_writing_a_secured_field_without_permission_is_refused_naming_it(org: Org) -> None:
    accounts = org.records("account", "bob")
    with pytest.raises(AccessDenied) as refused:
        accounts.create({"name": "Acme", "revenue": 10})
    assert [p.pointer for p in refused.value.problems] == ["/revenue"]
    assert table_rows(org.xrm, "account") == []

    grant_field(org, "bob", can_read=True, can_create=True)
    made = accounts.create({"name": "Acme", "revenue": 10})
    with pytest.raises(AccessDenied, match="update the secured field"):
        accounts.update(made["id"], {"revenue": 11})
    assert org.records("account").get(made["id"])["revenue"] == 10


def test_the_fields_a_write_would_refuse_are_known_beforehand(org: Org) -> None:
    security, bob = org.xrm.security, org.xrm.as_user(org.users["bob"]).caller
    assert bob is not None and org.xrm.caller is not None
    assert security.unwritable_fields(bob, "account", "update") == {"revenue"}
    assert security.unwritable_fields(bob, "account", "create") == {"revenue"}
    assert security.unwritable_fields(org.xrm.caller, "account", "update") == frozenset()

    grant_field(org, "bob", can_read=True, can_create=True)
    assert security.unwritable_fields(bob, "account", "create") == frozenset()
    assert security.unwritable_fields(bob, "account", "update") == {"revenue"}
    org.records("account", "bob").create({"name": "Acme", "revenue": 5})  # as it said
    assert security.unwritable_fields(bob, "contact", "update") == frozenset()  # none secured
    with pytest.raises(ValueError, match="'create' or 'update'"):
        security.unwritable_fields(bob, "account", "delete")  # type: ignore[arg-type]


def test_a_bulk_create_refuses_only_the_rows_that_write_a_secured_field(org: Org) -> None:
    result = org.records("account", "bob").create_many(
        [{"name": "A"}, {"name": "B", "revenue": 3}, {"name": "C"}], mode="per_row"
    )
    assert [r.ok for r in result.rows] == [True, False, True]
    assert isinstance(result.rows[1].error, AccessDenied)


# -- rules from plugins ----------------------------------------------------


def test_a_grant_rule_widens_and_a_restrict_rule_narrows_access(org: Org) -> None:
    for name in ("Acme", "Sealed"):
        org.records("account").create({"name": name, "owner_id": org.users["dave"]})
    security = org.xrm.security
    security.add_rule(
        "account", "partners see Acme", lambda principal, table: table.c.name == "Acme"
    )
    assert org.names("account", "bob") == ["Acme"]
    assert org.names("account", "dave") == ["Acme", "Sealed"]

    security.add_rule(
        "account",
        "nobody sees sealed",
        lambda principal, table: table.c.name != "Sealed",
        mode="restrict",
    )
    assert org.names("account", "dave") == ["Acme"]
    assert org.records("account").count() == 2  # the system context is not restricted
    explained = security.explain(org.users["bob"], "account", _id(org, "Acme"), "read")
    assert explained.granted
    assert [r.rule for r in explained.reasons] == ["partners see Acme"]


def _id(org: Org, name: str) -> uuid.UUID:
    (record,) = org.records("account").query(filter={"name": name})
    return uuid.UUID(str(record["id"]))


# -- explain ---------------------------------------------------------------


def test_explain_names_the_role_the_scope_the_share_and_the_hierarchy(org: Org) -> None:
    xrm = org.xrm
    record = org.records("contact", "bob").create({"name": "Bob's"})

    by_owner = xrm.security.explain(org.users["bob"], "contact", record["id"], "read")
    assert by_owner.granted
    assert [(r.kind, r.role, r.scope) for r in by_owner.reasons] == [("role", "bob role", "own")]

    by_subtree = xrm.security.explain(org.users["alice"], "contact", record["id"], "read")
    assert "business unit" in by_subtree.reasons[0].text

    refused = xrm.security.explain(org.users["dave"], "contact", record["id"], "read")
    assert not refused.granted
    assert "outside" in refused.refusal

    org.records("contact", "bob").share(record["id"], org.users["dave"])
    xrm.records("user").update(org.users["bob"], {"manager": org.users["dave"]})
    xrm.security.configure_hierarchy(enabled=True)
    shared = xrm.security.explain(org.users["dave"], "contact", record["id"], "read")
    assert shared.granted
    assert [r.kind for r in shared.reasons] == ["share", "hierarchy"]
    assert str(shared).splitlines()[1:] == [
        "  - the record is shared with the user",
        "  - the owner reports to the user (1 level below)",
    ]


def test_explain_agrees_with_the_per_record_check(org: Org) -> None:
    record = org.records("contact", "carol").create({"name": "Carol's"})
    for user in org.users:
        for privilege in ("read", "update", "delete", "share"):
            allowed = org.xrm.security.can(
                Caller.user(org.users[user]), "contact", record["id"], privilege
            )
            explained = org.xrm.security.explain(
                org.users[user], "contact", record["id"], privilege
            )
            assert explained.granted is allowed, (user, privilege)


# -- metadata --------------------------------------------------------------


def test_only_customizers_change_metadata_and_core_entities_cannot_be_dropped(org: Org) -> None:
    xrm = org.xrm
    with pytest.raises(AccessDenied, match="customize"):
        xrm.as_user(org.users["bob"]).metadata.define(NOTE)
    xrm.records("user").link(org.users["bob"], "roles", xrm.security.role_id("System Customizer"))

    xrm.as_user(org.users["bob"]).metadata.define(NOTE)

    assert xrm.metadata.history("note")[0].changed_by == org.users["bob"]
    with pytest.raises(AccessDenied, match="core entity"):
        xrm.metadata.drop("user", confirm=True)


def test_user_owned_tables_are_indexed_by_owner_and_business_unit(org: Org) -> None:
    inspector = sa.inspect(org.xrm.db.engine)
    indexed = {tuple(i["column_names"]) for i in inspector.get_indexes("contact")}
    assert {("owner_id",), ("business_unit_id",)} <= indexed
    assert not {("owner_id",), ("business_unit_id",)} & {
        tuple(i["column_names"]) for i in inspector.get_indexes("country")
    }


def test_a_version_check_says_nothing_about_a_record_one_cannot_see(org: Org) -> None:
    daves = org.records("contact", "dave").create({"name": "Dave's"})
    with pytest.raises(RecordNotFound):
        org.records("contact", "bob").delete(daves["id"], if_version=7)


def test_sharing_again_keeps_who_shared_first_and_when(org: Org) -> None:
    record = org.records("contact", "bob").create({"name": "Shared"})
    bob = org.records("contact", "bob")
    bob.share(record["id"], org.users["dave"])
    first = _share_row(org, record["id"])

    bob.share(record["id"], org.users["dave"], privileges=["read", "update"])

    again = _share_row(org, record["id"])
    assert (again["created_at"], again["created_by"]) == (first["created_at"], org.users["bob"])
    assert (again["can_read"], again["can_update"]) == (True, True)


def _share_row(org: Org, record_id: uuid.UUID) -> dict[str, Any]:
    with org.xrm.db.transaction(write=False) as conn:
        row = conn.execute(sa.select(share_table).where(share_table.c.record_id == record_id))
        return dict(row.mappings().one())


def test_an_id_of_no_record_is_not_found_even_for_a_reader_of_everything(org: Org) -> None:
    org.give("bob", org.role("reads all", [("contact", "read", "organization")]))
    gone = org.records("contact", "dave").create({"name": "Gone"})
    org.records("contact").delete(gone["id"])

    for attempt in (
        lambda: org.records("contact", "bob").update(gone["id"], {"name": "x"}),
        lambda: org.records("contact", "bob").delete(gone["id"]),
        lambda: org.records("contact", "bob").update(uuid.uuid4(), {"name": "x"}),
    ):
        with pytest.raises(RecordNotFound):
            attempt()


def test_a_user_asks_about_their_own_access_only_and_never_learns_of_unseen_records(
    org: Org,
) -> None:
    daves = org.records("contact", "dave").create({"name": "Dave's"})
    bobs = org.records("contact", "bob").create({"name": "Bob's"})
    as_bob = org.xrm.as_user(org.users["bob"]).security

    assert as_bob.explain(org.users["bob"], "contact", bobs["id"], "read").granted
    with pytest.raises(AccessDenied, match="administrator"):
        as_bob.explain(org.users["dave"], "contact", daves["id"], "read")
    with pytest.raises(AccessDenied, match="administrator"):
        as_bob.can(Caller.user(org.users["dave"]), "contact", daves["id"], "read")
    with pytest.raises(RecordNotFound):
        as_bob.explain(org.users["bob"], "contact", daves["id"], "read")
    with pytest.raises(RecordNotFound):
        org.xrm.security.explain(org.users["bob"], "contact", "not-an-id", "read")
    with pytest.raises(RecordNotFound):
        org.xrm.security.explain("nobody", "contact", bobs["id"], "read")
