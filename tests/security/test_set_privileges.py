"""``security.set_privileges``: editing cells of a role's matrix, all or none (both DBs)."""

from __future__ import annotations

import uuid

import pytest

from tests.security.conftest import Org
from xrm_core.errors import AccessDenied, RecordNotFound, RecordValidationError


def cells(org: Org, role: uuid.UUID) -> dict[tuple[str, str], str]:
    return {
        (r["entity"], r["privilege"]): r["scope"]
        for r in org.rows("role_privilege")
        if r["role"] == role
    }


def test_cells_are_created_changed_and_removed_and_apply_at_once(crm: Org) -> None:
    role = crm.role("Reader", [("contact", "update", "own")])
    user = crm.user("reader", roles=["Basic User", role])
    crm.xrm.records("contact").create({"name": "Ada"})  # owned by nobody the user knows
    assert crm.as_user(user).records("contact").count() == 0
    crm.xrm.security.set_privileges(
        role, [("contact", "read", "organization"), ("contact", "update", "none")]
    )
    assert cells(crm, role) == {("contact", "read"): "organization"}
    assert crm.as_user(user).records("contact").count() == 1
    crm.xrm.security.set_privileges(role, [("contact", "read", "business_unit")])
    assert cells(crm, role) == {("contact", "read"): "business_unit"}


def test_bad_cells_are_each_named_and_nothing_changes(crm: Org) -> None:
    role = crm.role("Clerk", [("contact", "read", "own")])
    before = crm.state("role_privilege")
    with pytest.raises(RecordValidationError) as raised:
        crm.xrm.security.set_privileges(
            role,
            [
                ("contact", "read", "organization"),  # valid, yet not applied
                ("contact", "update", "galaxy"),
                ("country", "read", "own"),  # organization-owned
                ("nothing", "read", "own"),
                ("contact", "fly", "own"),
            ],
        )
    pointers = [p.pointer for p in raised.value.problems]
    assert pointers == ["/contact/update", "/country/read", "/nothing/read", "/contact/fly"]
    assert "galaxy" in raised.value.problems[0].message
    assert crm.state("role_privilege") == before


def test_an_unknown_role_and_a_non_administrator_are_refused(crm: Org) -> None:
    with pytest.raises(RecordNotFound):
        crm.xrm.security.set_privileges(uuid.uuid4(), [("contact", "read", "own")])
    role = crm.role("Other", [])
    clerk = crm.user("clerk", roles=["Basic User"])
    with pytest.raises(AccessDenied):
        crm.as_user(clerk).security.set_privileges(role, [("contact", "read", "organization")])
    assert cells(crm, role) == {}
