"""Signing in and out.

Signing in checks the password with the security model's login (failed attempts
throttled per username and per client address) and makes an API token for the
session, kept in the signed, HttpOnly, SameSite session cookie: each page then
authenticates exactly as an API call does, so deactivating the user or revoking
the token ends the session at once. Signing out revokes the token.
"""

from __future__ import annotations

import datetime as dt
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from admin_ui.web import (
    MAX_FIELDS,
    SESSION_SECONDS,
    Page,
    admin_url,
    csrf_refused,
    csrf_valid,
    render,
    signed_in,
    view,
)
from xrm_core.context import correlated
from xrm_core.errors import AuthenticationFailed, TooManyAttempts

#: The name of the API tokens that stand for admin sessions.
SESSION_TOKEN_NAME = "admin UI session"


def routes() -> list[BaseRoute]:
    """Sign-in and sign-out."""
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", view(logout), methods=["POST"]),
    ]


async def login_form(request: Request) -> Response:
    """The sign-in page (or, when signed in already, where the user was going)."""
    if await run_in_threadpool(signed_in, request):
        return RedirectResponse(_next(request), status_code=303)
    return render(request, "login.html", {"next": _next(request)})


async def login(request: Request) -> Response:
    """Check the username and password; on success start a session."""
    form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    if not csrf_valid(request, form):
        return csrf_refused(request)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    client = request.client.host if request.client else ""
    return await run_in_threadpool(_login, request, username, password, client, target)


def _login(request: Request, username: str, password: str, client: str, target: str) -> Response:
    xrm = request.app.state.xrm
    with correlated():
        try:
            caller = xrm.auth.login(username, password, client=client)
        except TooManyAttempts as error:
            wait = error.details.get("retry_after", 60)
            message = f"Too many failed attempts. Try again in {wait} seconds."
            return _refused(request, username, target, message, 429)
        except AuthenticationFailed:
            return _refused(request, username, target, "Invalid username or password.", 401)
        assert caller.user_id is not None
        lifetime = dt.timedelta(seconds=SESSION_SECONDS)
        me = xrm.as_user(caller.user_id)
        new = me.auth.create_token(caller.user_id, name=SESSION_TOKEN_NAME, expires_in=lifetime)
    request.session.clear()  # a new session: a new CSRF token too
    request.session.update(token=new.token, token_id=str(new.info.id), username=username)
    return RedirectResponse(target, status_code=303)


def _refused(request: Request, username: str, target: str, message: str, status: int) -> Response:
    context = {"next": target, "username_given": username, "error": message}
    return render(request, "login.html", context, status)


def logout(page: Page) -> Response:
    """End the session: its API token is revoked, the cookie emptied."""
    token_id = page.request.session.get("token_id")
    if isinstance(token_id, str):
        page.xrm.auth.revoke(uuid.UUID(token_id))
    page.request.session.clear()
    return page.redirect("/login")


def _next(request: Request) -> str:
    return _safe_next(request.query_params.get("next", ""))


def _safe_next(target: str) -> str:
    # Only a path inside the admin UI: never an open redirect to another site.
    if target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return admin_url("/")
