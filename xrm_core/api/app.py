"""The ASGI application: the REST API (and, mounted beside it, GraphQL and the admin UI).

:func:`create_app` builds it around one :class:`~xrm_core.XRM` (unbound: every
request acts as the user of its API token). ``xrm serve`` runs it with uvicorn;
tests drive it with httpx. Each area of the API is a module with a ``routes()``
function, listed in :data:`ROUTE_MODULES`.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pluggy
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

import admin_ui
from xrm_core.api.endpoint import Call, endpoint
from xrm_core.api.problems import internal_error, problem
from xrm_core.api.ratelimit import RateLimiter, RateLimitMiddleware
from xrm_core.api.threads import ServiceThreads
from xrm_core.graphql.endpoint import routes as graphql_routes
from xrm_core.plugins.startup import start
from xrm_core.settings import Settings, load_settings
from xrm_core.version import __version__
from xrm_core.xrm import XRM

#: Modules adding routes under ``/api``; each has ``routes() -> list[BaseRoute]``.
ROUTE_MODULES: tuple[str, ...] = (
    # Records first: the busiest routes, tried before ~45 others (a tenth of a GET's
    # time). Their {entity} refuses the fixed first segments of the modules after it
    # (metadata, audit, imports, ...: RESERVED_ENTITY_NAMES), so order does not decide.
    "xrm_core.api.records",
    "xrm_core.api.openapi",
    "xrm_core.api.metadata",
    "xrm_core.api.operations",
    "xrm_core.api.transfer",
    "xrm_core.api.admin",
)


def create_app(
    xrm: XRM | None = None,
    *,
    settings: Settings | None = None,
    plugins: pluggy.PluginManager | None = None,
    start_plugins: bool = True,
) -> Starlette:
    """The xRM web application.

    ``xrm`` is the database to serve (opened from ``settings.database_url``
    when not given; an XRM given here is used unbound, whatever its caller).
    With ``start_plugins``, the plugins of ``plugins`` (default: the installed
    ones) are started on it (:func:`~xrm_core.plugins.start`).
    """
    settings = settings or load_settings()
    if xrm is None:
        xrm = XRM.from_url(settings.database_url, export_dir=settings.export_dir, plugins=plugins)
    served = _unbound(xrm)
    if start_plugins:
        start(served, served.plugin_manager, installed_only=True)
    app = Starlette(
        routes=_routes(settings),
        middleware=[
            Middleware(
                RateLimitMiddleware, limiter=RateLimiter(settings.rate_limit, settings.rate_burst)
            )
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=_lifespan,
    )
    app.state.xrm = served
    app.state.settings = settings
    app.state.api_threads = ServiceThreads(settings.api_threads)
    return app


def from_environment() -> Starlette:
    """The app as configured by the environment (uvicorn's factory for several workers)."""
    return create_app()


def _unbound(xrm: XRM) -> XRM:
    view = copy.copy(xrm)
    view.caller = None  # every request acts as its own user
    return view


def _routes(settings: Settings) -> list[BaseRoute]:
    api: list[BaseRoute] = []
    for module in ROUTE_MODULES:
        api += importlib.import_module(module).routes()
    api.append(Route("/v1/me", endpoint(me), methods=["GET"]))
    return [
        # First: nearly every request is an API call, and each route tried costs a match.
        Mount("/api", routes=api),
        Route("/", index, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        *graphql_routes(),
        admin_ui.mount(settings),
    ]


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    app.state.xrm.close()


_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>xRM</title></head>
<body><h1>xRM {version} is running</h1>
<p>Every API call needs an API token: <code>Authorization: Bearer &lt;token&gt;</code>
(<code>xrm user token USERNAME</code> makes one; <code>xrm serve --demo</code> prints one).</p>
<ul>
<li><a href="/admin/">/admin/</a>: the administrators' web application (sign in)</li>
<li><a href="/api/v1/me">/api/v1/</a>: the REST API</li>
<li><a href="/api/openapi.json">/api/openapi.json</a>: its OpenAPI document</li>
<li><a href="/graphql">/graphql</a>: GraphQL</li>
<li><a href="/health">/health</a>: whether the server reaches its database</li>
</ul></body></html>
"""


async def index(request: Request) -> Response:
    """Where things are, for whoever opens the server's address in a browser."""
    return HTMLResponse(_INDEX.format(version=__version__))


async def health(request: Request) -> Response:
    """Whether the server can reach its database (no authentication; no data)."""
    xrm: XRM = request.app.state.xrm
    try:
        await run_in_threadpool(xrm.metadata_service.refresh)
    except Exception:
        return problem(503, "unavailable", "the database cannot be reached")
    return JSONResponse({"status": "ok", "version": __version__})


def me(call: Call) -> dict[str, Any]:
    """Who the API token stands for."""
    user_id = call.xrm.caller.user_id if call.xrm.caller else None
    # One's own name, whatever one's roles allow reading (an administrator who
    # removed their own role still learns who they are).
    users = call.xrm.as_system(f"who is user {user_id}").records("user")
    user = users.get(user_id) if user_id else {}
    return {"id": str(user_id), "username": user.get("username"), "version": __version__}


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    codes = {404: "not_found", 405: "method_not_allowed"}
    detail = getattr(exc, "detail", "") or "error"
    headers = dict(getattr(exc, "headers", None) or {})  # Allow, on a 405
    code = codes.get(status, "http_error")
    return problem(status, code, str(detail), instance=request.url.path, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return internal_error(request, exc)
