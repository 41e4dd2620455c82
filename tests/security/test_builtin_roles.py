"""The built-in roles keep their names and stay: the core finds them by name (both databases)."""

from __future__ import annotations

import pytest

from xrm_core import XRM
from xrm_core.errors import DeleteRestricted, RecordValidationError


def _role(xrm: XRM, name: str) -> dict[str, object]:
    [role] = xrm.records("role").query(filter={"name": name}).records
    return role


def test_a_built_in_role_keeps_its_name_but_its_description_may_change(xrm: XRM) -> None:
    xrm.security.install()
    roles = xrm.records("role")
    admin = _role(xrm, "System Administrator")
    assert "built-in" in xrm.security.role_protection(admin)  # pages say it before trying
    with pytest.raises(RecordValidationError) as refused:
        roles.update(admin["id"], {"name": "Root"})
    assert [p.pointer for p in refused.value.problems] == ["/name"]
    with pytest.raises(RecordValidationError):
        roles.update(admin["id"], {"builtin": False})
    roles.update(admin["id"], {"description": "Ours to describe"})
    assert _role(xrm, "System Administrator")["description"] == "Ours to describe"


def test_a_built_in_role_cannot_be_deleted_and_a_custom_one_can(xrm: XRM) -> None:
    xrm.security.install()
    roles = xrm.records("role")
    basic = _role(xrm, "Basic User")
    assert xrm.security.role_protection(basic) == (
        "It is a built-in role: the core finds it by its name."
    )
    with pytest.raises(DeleteRestricted):
        roles.delete(basic["id"])
    assert roles.count(filter={"name": "Basic User"}) == 1

    xrm.security.create_role("Auditor", [("user", "read", "organization")])
    auditor = _role(xrm, "Auditor")
    assert xrm.security.role_protection(auditor) == ""
    with pytest.raises(RecordValidationError):  # only the core makes built-in roles
        roles.update(auditor["id"], {"builtin": True})
    roles.update(auditor["id"], {"name": "Reviewer"})
    roles.delete(auditor["id"])
    assert roles.count(filter={"name": "Reviewer"}) == 0
