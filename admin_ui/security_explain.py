"""A record's "who can see this and why": ``/admin/security/explain?entity=&id=``.

For each active user the page asks ``xrm.security.explain`` whether they may
read the record and shows every reason (role and scope, team, share, manager
hierarchy, plugin rule) or why not; naming a user (``&user=``) shows all five
privileges for that user. The answers are the security service's own: the
page only lays them out.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.security_forms import INPUT_ERRORS, failed, require_manager
from admin_ui.web import Page, view
from xrm_core.api.problems import status_of
from xrm_core.errors import UnknownEntity
from xrm_core.security.explain import Explanation
from xrm_core.security.principal import PRIVILEGES

#: Users explained on one page: each answer costs a few queries.
MAX_USERS = 200
#: The privileges an explanation answers for (create concerns no existing record).
EXPLAINED = tuple(p for p in PRIVILEGES if p != "create")


def routes() -> list[BaseRoute]:
    """The explain page."""
    return [Route("/security/explain", view(explain_page), methods=["GET"])]


def explain_page(page: Page) -> Response:
    """The form (entity, record id, user); with a record, who can read it and why."""
    require_manager(page)
    query = page.request.query_params
    values = {"entity": query.get("entity", ""), "id": query.get("id", "").strip()}
    values["user"] = query.get("user", "")
    users = page.xrm.records("user").query(
        filter={"is_active": True}, order=["username"], limit=MAX_USERS
    )
    context: dict[str, Any] = {
        "values": values,
        "entities": sorted(d.name for d in page.xrm.metadata.entities()),
        "users": users.records,
        "more_users": users.next_cursor is not None,
        "errors": {},
    }
    if not (values["entity"] and values["id"]):
        return page.render("security/explain.html", context)
    try:
        context.update(_answers(page, values, users.records))
    except (*INPUT_ERRORS, UnknownEntity) as error:
        context.update(failed(error))
        return page.render("security/explain.html", context, status=status_of(error))
    return page.render("security/explain.html", context)


def _answers(page: Page, values: dict[str, str], users: list[dict[str, Any]]) -> dict[str, Any]:
    entity, record_id = values["entity"], values["id"]
    record = page.xrm.records(entity).get(record_id)
    security = page.xrm.security
    readers = [(user, security.explain(user["id"], entity, record_id, "read")) for user in users]
    chosen: list[Explanation] = []
    if values["user"]:
        chosen = [
            security.explain(values["user"], entity, record_id, privilege)
            for privilege in EXPLAINED
        ]
    return {"record": record, "title": _title(record), "readers": readers, "chosen": chosen}


def _title(record: dict[str, Any]) -> str:
    for name in ("name", "full_name", "username", "subject", "title"):
        if record.get(name):
            return str(record[name])
    return str(record["id"])
