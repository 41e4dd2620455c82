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
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from xrm_core.api.endpoint import Call, endpoint
from xrm_core.api.problems import internal_error, problem
from xrm_core.api.ratelimit import RateLimiter, RateLimitMiddleware
from xrm_core.plugins.startup import start
from xrm_core.settings import Settings, load_settings
from xrm_core.version import __version__
from xrm_core.xrm import XRM

#: Modules adding routes under ``/api``; each has ``routes() -> list[BaseRoute]``.
ROUTE_MODULES: tuple[str, ...] = ()


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
        start(served, served.plugin_manager)
    app = Starlette(
        routes=_routes(),
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
    return app


def from_environment() -> Starlette:
    """The app as configured by the environment (uvicorn's factory for several workers)."""
    return create_app()


def _unbound(xrm: XRM) -> XRM:
    view = copy.copy(xrm)
    view.caller = None  # every request acts as its own user
    return view


def _routes() -> list[BaseRoute]:
    api: list[BaseRoute] = [Route("/v1/me", endpoint(me), methods=["GET"])]
    for module in ROUTE_MODULES:
        api += importlib.import_module(module).routes()
    return [Route("/health", health, methods=["GET"]), Mount("/api", routes=api)]


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    app.state.xrm.close()


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
    user = call.xrm.records("user").get(user_id) if user_id else {}
    return {"id": str(user_id), "username": user.get("username"), "version": __version__}


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    codes = {404: "not_found", 405: "method_not_allowed"}
    detail = getattr(exc, "detail", "") or "error"
    return problem(status, codes.get(status, "http_error"), str(detail), instance=request.url.path)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return internal_error(request, exc)
