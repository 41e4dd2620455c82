"""How every API endpoint runs: read the body, authenticate, call the services in a thread.

The service layer is synchronous (decision: "core is synchronous"), so an
endpoint reads the request body on the event loop and then does everything
else — authentication, the service calls, turning errors into problem details —
in one of the app's API threads (:mod:`xrm_core.api.threads`), under the
request's correlation id (the ``X-Request-Id`` header when the client sends a
sane one, else a new id), which the audit log, events and the response all carry.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from xrm_core.api.inputs import only_parameters
from xrm_core.api.problems import from_error, problem
from xrm_core.api.responses import RecordsResponse
from xrm_core.api.streams import RequestBody
from xrm_core.api.threads import run_call
from xrm_core.context import correlated
from xrm_core.errors import AuthenticationFailed
from xrm_core.xrm import XRM

#: Seconds between two looks for metadata changes made by other processes (one small query).
METADATA_REFRESH = 1.0
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Call:
    """One API call: the request, the XRM acting as its user, and the JSON body (if any)."""

    request: Request
    xrm: XRM
    body: Any = None
    #: Response headers the handler wants added (``ETag``, ``Location``).
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, str]:
        """The path parameters."""
        return dict(self.request.path_params)


Handler = Callable[[Call], Any]


def endpoint(
    handler: Handler, *, status: int = 200, query: Collection[str] | None = ()
) -> Callable[[Request], Awaitable[Response]]:
    """An authenticated JSON endpoint around ``handler``.

    ``handler`` gets a :class:`Call` and returns a JSON-ready value (sent with
    ``status``) or a :class:`Response`. Every error becomes a problem response.
    ``query`` names the query parameters the handler reads: any other is refused
    (400 at its pointer) before the handler runs. None leaves the check to a
    handler that reads its parameters with the same rule (the record endpoints).
    """
    taken = None if query is None else frozenset(query)

    async def run(request: Request) -> Response:
        try:
            body = await _json_body(request)
        except _BadBody as bad:
            return bad.response
        return await run_call(request, _serve, request, body, handler, status, taken)

    run.__name__ = run.__qualname__ = getattr(handler, "__name__", "endpoint")
    run.__doc__ = handler.__doc__
    return run


def upload_endpoint(
    handler: Handler, *, status: int = 200, query: Collection[str] = ()
) -> Callable[[Request], Awaitable[Response]]:
    """An authenticated endpoint whose body is streamed, not read as JSON.

    ``call.body`` is a blocking binary stream of the request body
    (:class:`~xrm_core.api.streams.RequestBody`): nothing is read before the
    token and the ``query`` parameters (as for :func:`endpoint`) are checked,
    and the handler reads the body as the client sends it, so an upload of any
    size takes the memory of one chunk. It runs in Starlette's thread pool,
    not in the API threads (:mod:`~xrm_core.api.threads`): it waits on the client.
    """
    taken = frozenset(query)

    async def run(request: Request) -> Response:
        body = RequestBody(request)
        return await run_in_threadpool(_serve, request, body, handler, status, taken)

    run.__name__ = run.__qualname__ = getattr(handler, "__name__", "endpoint")
    run.__doc__ = handler.__doc__
    return run


def _serve(
    request: Request, body: Any, handler: Handler, status: int, query: frozenset[str] | None
) -> Response:
    with correlated(sent_request_id(request)) as request_id:
        try:
            notice_metadata_changes(request)
            call = Call(request, authenticated(request), body)
            # Most calls have no query string: not parsing one is measurably faster.
            if query is not None and request.scope.get("query_string"):
                only_parameters(request.query_params, query)
            result = handler(call)
            if isinstance(result, Response):
                response = result
            else:
                # Given at construction: a header added afterwards rescans the others.
                call.headers["X-Request-Id"] = request_id
                return RecordsResponse(result, status_code=status, headers=call.headers)
        except Exception as exc:
            response = from_error(request, exc)
        response.headers["X-Request-Id"] = request_id
        return response


def sent_request_id(request: Request) -> str | None:
    """The client's ``X-Request-Id`` if sane (1 to 100 of ``A-Za-z0-9._:-``), else None."""
    sent = request.headers.get("x-request-id", "")
    return sent if _REQUEST_ID.fullmatch(sent) else None


def notice_metadata_changes(request: Request) -> None:
    """Re-read definitions another process changed, looking at most once a second."""
    state = request.app.state
    now = time.monotonic()
    if now - getattr(state, "metadata_checked_at", float("-inf")) >= METADATA_REFRESH:
        state.metadata_checked_at = now
        state.xrm.metadata_service.refresh()


def authenticated(request: Request) -> XRM:
    """The app's XRM acting as the user of the request's API token.

    Raises :class:`AuthenticationFailed` without a valid ``Authorization: Bearer``.
    """
    xrm: XRM = request.app.state.xrm
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "authentication required: send an API token as 'Authorization: Bearer <token>'"
        )
    caller = xrm.auth.authenticate(token.strip())
    if caller.user_id is None:  # tokens always stand for users; defensive
        raise AuthenticationFailed("invalid API token")
    return xrm.as_user(caller.user_id)


class _BadBody(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class BodyTooLarge(Exception):
    """A request body over the ``max_body`` setting (answered 413, ``body_too_large``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over {limit} bytes")
        self.limit = limit


async def read_body(request: Request) -> bytearray:
    """The whole request body, at most ``settings.max_body`` bytes.

    Raises :class:`BodyTooLarge` when the declared ``Content-Length`` is over
    the limit (before reading anything) or when the body read grows over it.
    """
    limit: int = request.app.state.settings.max_body
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise BodyTooLarge(limit)
    return raw


async def _json_body(request: Request) -> Any:
    if request.method not in _BODY_METHODS:
        return None
    try:
        raw = await read_body(request)
    except BodyTooLarge as too_large:
        raise _BadBody(_too_large(request, too_large.limit)) from None
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        detail = f"the request body is not valid JSON: {exc}"[:200]
        raise _BadBody(problem(400, "invalid_json", detail, instance=request.url.path)) from None


def _too_large(request: Request, limit: int) -> Response:
    return problem(
        413, "body_too_large", f"the request body is over {limit} bytes", instance=request.url.path
    )
