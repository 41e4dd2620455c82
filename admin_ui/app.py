"""The ``/admin`` mount: sessions, static files and the routes of each section."""

from __future__ import annotations

import importlib
import logging
import secrets

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from admin_ui.web import SESSION_SECONDS, Page, view
from xrm_core.settings import Settings

logger = logging.getLogger("xrm.admin")

#: Modules adding pages; each has ``routes() -> list[BaseRoute]`` (paths under ``/admin``).
SECTION_MODULES: tuple[str, ...] = (
    "admin_ui.session",
    "admin_ui.dashboard",
    "admin_ui.plugins_page",
    "admin_ui.audit_page",
    "admin_ui.webhooks_page",
    "admin_ui.designer",
    "admin_ui.records_list",
    "admin_ui.record_page",
    "admin_ui.security",
)


def mount(settings: Settings) -> Mount:
    """The admin UI as a Starlette mount at ``/admin``."""
    routes: list[BaseRoute] = [
        Mount("/static", StaticFiles(packages=[("admin_ui", "static")]), name="static")
    ]
    for module in SECTION_MODULES:
        routes += importlib.import_module(module).routes()
    routes.append(Route("/{path:path}", view(not_found), methods=["GET"]))
    session = Middleware(
        SessionMiddleware,
        secret_key=_secret(settings),
        session_cookie="xrm_admin",
        max_age=SESSION_SECONDS,
        path="/admin",
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    return Mount("/admin", routes=routes, middleware=[session])


def _secret(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    # Sessions then end when the process does, and several workers would not
    # accept each other's cookies: ``xrm serve`` sets one for its workers.
    logger.warning("XRM_SECRET_KEY is not set: admin sessions last only as long as this process")
    return secrets.token_urlsafe(32)


def not_found(page: Page) -> Response:
    """Any other path under /admin."""
    return page.render("error.html", {"message": "There is no such page."}, status=404)
