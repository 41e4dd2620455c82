"""What the role page lets one do with a role's name and the role itself, and why not.

Renaming and deleting a role are plain writes to its record (``role`` is a core
entity). Two kinds of reason stop them, and the page names them up front:

- the name is fixed, and the role stays, when the core says so
  (:meth:`~xrm_core.security.service.SecurityService.role_protection`: a built-in
  role, which the core also refuses to rename or delete) or when a plugin declared
  the role (``xrm.plugins.owner_of``): plugins find their roles by name, so an
  upgrade would make it again. Its description may change;
- UI policy, not a core rule: a role held by a user or a team is not deleted here
  (its holders would lose their rights without a word): the page names them, to
  take the role from them first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from admin_ui.web import Page
from xrm_core.plugins.ledger import CUSTOM
from xrm_core.records.results import Record


@dataclass(frozen=True)
class RoleGuards:
    """Why a role's name cannot change, and who holds the role."""

    #: Why the name cannot change and the role cannot go ("" when they can).
    name_fixed: str
    #: The users and teams holding the role ("user ann", "team Sales"): the UI's own
    #: policy keeps a held role from being deleted.
    holders: tuple[str, ...]

    @property
    def deletable(self) -> bool:
        """True when the role may be deleted: nothing finds it by name, nobody holds it."""
        return not self.name_fixed and not self.holders

    @property
    def refusal(self) -> str:
        """Why the role may not be deleted ("" when it may)."""
        if self.name_fixed:
            return self.name_fixed
        if self.holders:  # UI policy, see the module's docstring
            return f"It is held by {', '.join(self.holders)}: take it from them first."
        return ""


def guards(page: Page, role: Record) -> RoleGuards:
    """The guards of ``role``, as the signed-in administrator sees them."""
    fixed = page.xrm.security.role_protection(role)
    if not fixed:
        owner = page.xrm.plugins.owner_of("role", str(role["name"]))
        if owner != CUSTOM:
            fixed = f"The plugin {owner} declared it and finds it by its name."
    return RoleGuards(fixed, _holders(page, role["id"]))


def _holders(page: Page, role_id: uuid.UUID) -> tuple[str, ...]:
    found: list[str] = []
    for entity, name in (("user", "username"), ("team", "name")):
        records = page.xrm.records(entity)
        links = records.links_of([role_id], "roles", by="target")[role_id]
        ids = [str(link["source_id"]) for link in links]
        if ids:
            held = records.query(filter={"id": {"in": ids}}, order=[name], limit=len(ids))
            found += [f"{entity} {r[name]}" for r in held]
    return tuple(found)
