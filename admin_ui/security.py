"""The security section, ``/admin/security``: users, teams, business units, roles with
their permission matrix, field security profiles, and "who can see this and why".

Every page needs an administrator (see :func:`admin_ui.security_forms.require_manager`)
and works through ``xrm.security`` and the records of the core entities; the
pages themselves are in the ``security_*`` modules, one area each.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui import security_explain, security_fields, security_org, security_roles, security_users
from admin_ui.security_forms import require_manager
from admin_ui.web import Page, view


def routes() -> list[BaseRoute]:
    """Every page of the security section."""
    return [
        Route("/security", view(index), methods=["GET"]),
        *security_users.routes(),
        *security_org.routes(),
        *security_roles.routes(),
        *security_fields.routes(),
        *security_explain.routes(),
    ]


def index(page: Page) -> Response:
    """The section's home: what each page is for."""
    require_manager(page)
    return page.render("security/index.html")
