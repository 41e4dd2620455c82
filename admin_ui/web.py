"""How every admin page runs: the session's user, CSRF, the services in a thread, errors.

A page handler gets a :class:`Page` — the request, the XRM acting as the signed-in
user and, for a POST, the form already checked against the session's CSRF token —
and returns a response (usually :meth:`Page.render` or :meth:`Page.redirect`). It
runs in the thread pool under the request's correlation id, like an API endpoint.
An :class:`~xrm_core.errors.XRMError` a handler lets through becomes an error page
with the status the REST API gives it; anything else is a bug: a 500 page naming
the correlation id, the trace only in the log.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from xrm_core.api.endpoint import notice_metadata_changes
from xrm_core.api.problems import status_of
from xrm_core.context import correlated
from xrm_core.errors import AuthenticationFailed, XRMError
from xrm_core.xrm import XRM

logger = logging.getLogger("xrm.admin")

#: The form field and the header (for htmx requests) that carry the CSRF token.
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
#: How long a sign-in lasts (the session's API token expires with it).
SESSION_SECONDS = 12 * 3600
#: Bounds on a submitted form: the admin UI takes no files and no huge forms.
MAX_FIELDS = 2000

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass
class Page:
    """One request to an admin page, as its handler sees it."""

    request: Request
    #: The services, acting as the signed-in user (the system context never).
    xrm: XRM
    username: str
    #: The submitted form of a POST, its CSRF token already checked.
    form: FormData | None = None

    def value(self, name: str, default: str = "") -> str:
        """A submitted form field as text (``default`` when absent or a file)."""
        got = self.form.get(name) if self.form is not None else None
        return got if isinstance(got, str) else default

    def values(self, name: str) -> list[str]:
        """Every value of a repeated form field (checkboxes, multi-selects)."""
        if self.form is None:
            return []
        return [v for v in self.form.getlist(name) if isinstance(v, str)]

    @property
    def htmx(self) -> bool:
        """Whether htmx sent the request (answer with a fragment, not a whole page)."""
        return self.request.headers.get("hx-request") == "true"

    def render(
        self, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200
    ) -> Response:
        """``template`` rendered with ``context`` and what every page shows."""
        return render(
            self.request, template, {"username": self.username, **(context or {})}, status
        )

    def redirect(self, path: str) -> Response:
        """See other: ``path`` (under /admin); htmx follows it as a whole page."""
        url = admin_url(path)
        if self.htmx:
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)


PageHandler = Callable[[Page], Response]


def view(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """An admin page for a signed-in user; others are sent to the sign-in page."""

    async def run(request: Request) -> Response:
        form = None
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=MAX_FIELDS)
            if not csrf_valid(request, form):
                return csrf_refused(request)
        return await run_in_threadpool(_serve, request, form, handler)

    run.__name__ = run.__qualname__ = getattr(handler, "__name__", "page")
    run.__doc__ = handler.__doc__
    return run


def _serve(request: Request, form: FormData | None, handler: PageHandler) -> Response:
    with correlated() as request_id:
        try:
            notice_metadata_changes(request)
            acting = signed_in(request)
            if acting is None:
                return _to_sign_in(request)
            xrm, username = acting
            response = handler(Page(request, xrm, username, form))
        except XRMError as error:
            response = error_page(request, error)
        except Exception:
            logger.exception("admin page %s failed (request %s)", request.url.path, request_id)
            message = f"Something went wrong on our side. Quote request id {request_id}."
            response = render(request, "error.html", {"message": message}, 500)
        response.headers["X-Request-Id"] = request_id
        return response


def signed_in(request: Request) -> tuple[XRM, str] | None:
    """The app's XRM acting as the session's user, and their username; None when signed out."""
    token = request.session.get("token")
    if not isinstance(token, str):
        return None
    xrm: XRM = request.app.state.xrm
    try:
        caller = xrm.auth.authenticate(token)
    except AuthenticationFailed:  # expired, revoked, or the user was deactivated
        request.session.pop("token", None)
        return None
    assert caller.user_id is not None  # tokens stand for users
    username = request.session.get("username")
    return xrm.as_user(caller.user_id), str(username or "")


def _to_sign_in(request: Request) -> Response:
    target = request.url.path
    url = admin_url("/login") + (f"?next={quote(target)}" if request.method == "GET" else "")
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, error: XRMError) -> Response:
    """``error`` as a page: its message and each problem, with the REST API's status."""
    context = {"message": error.message, "problems": error.problems}
    return render(request, "error.html", context, status_of(error))


def render(
    request: Request, template: str, context: Mapping[str, Any], status: int = 200
) -> Response:
    """``template`` with the request, the CSRF token and ``context``."""
    full = {"request": request, "csrf_token": csrf_token(request), **context}
    html = templates.get_template(template).render(full)
    return HTMLResponse(html, status_code=status)


def admin_url(path: str) -> str:
    """The URL of ``path`` within the admin UI."""
    return "/admin" + (path if path.startswith("/") else "/" + path)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (signed in or not: sign-in is a form too)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_valid(request: Request, form: FormData) -> bool:
    """Whether the form (or the htmx header) carries the session's CSRF token."""
    expected = request.session.get("csrf")
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(expected, str) or not isinstance(sent, str):
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


def csrf_refused(request: Request) -> Response:
    """The answer to a form without the session's CSRF token: nothing was done."""
    message = (
        "This form has expired or did not come from this site, so nothing was changed. "
        "Go back, reload the page and try again."
    )
    return render(request, "error.html", {"message": message}, 403)
