"""Errors as HTTP problem details (RFC 9457): one status per error code, never a trace.

Every :class:`~xrm_core.errors.XRMError` becomes ``application/problem+json``
with its stable ``code``, its message as ``detail`` and, for bad input, every
problem as ``{"pointer", "detail"}`` in ``errors``. Anything else is a bug: the
client gets a 500 naming the correlation id to quote; the trace goes to the log.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from xrm_core import errors
from xrm_core.context import correlation_id

logger = logging.getLogger("xrm.api")

MEDIA_TYPE = "application/problem+json"

#: HTTP status per error class; the most specific class listed wins.
STATUS: dict[type[errors.XRMError], int] = {
    errors.XRMError: 400,
    errors.QueryError: 400,
    errors.DefinitionError: 422,
    errors.RecordValidationError: 422,
    errors.BrokenReference: 422,
    errors.BulkError: 422,
    errors.UnknownEntity: 404,
    errors.RecordNotFound: 404,
    errors.ConfirmationRequired: 409,
    errors.DuplicateRecord: 409,
    errors.DeleteRestricted: 409,
    errors.VersionConflict: 412,
    errors.AccessDenied: 403,
    errors.AuthenticationFailed: 401,
    errors.TooManyAttempts: 429,
    errors.PluginError: 409,
    errors.UnknownPlugin: 404,
    errors.UnknownAction: 404,
    errors.InvalidActionInput: 422,
    # A handler's output its own model refuses is the plugin's bug, not the client's.
    errors.InvalidActionOutput: 500,
    # A body that parses but is not what the endpoint takes (query parameters: QueryError).
    errors.InvalidRequest: 422,
    errors.InvalidFile: 422,
    errors.ImportRejected: 422,
    errors.ImportStateError: 409,
    errors.UploadInterrupted: 400,
}


def status_of(error: errors.XRMError) -> int:
    """The HTTP status of ``error``: that of the nearest class in its hierarchy."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors_: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem details response."""
    body: dict[str, Any] = {
        "type": f"urn:xrm:problem:{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if errors_:
        body["errors"] = errors_
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_error(request: Request, error: Exception, **extra: Any) -> JSONResponse:
    """The response for an error an endpoint raised; ``extra`` members join the body.

    ``extra`` carries what a client needs to act on this particular problem
    (the plan to confirm, the import holding the rejected rows); members of
    the problem itself (``code``, ``detail``, ...) cannot be overwritten.
    """
    if not isinstance(error, errors.XRMError):
        return internal_error(request, error)
    headers = {}
    if isinstance(error, errors.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="xrm"'
    retry = retry_after(error)
    if retry is not None:
        headers["Retry-After"] = retry
    return problem(
        status_of(error),
        error.code,
        error.message,
        instance=request.url.path,
        errors_=[{"pointer": p.pointer, "detail": p.message} for p in error.problems],
        headers=headers,
        **{k: v for k, v in extra.items() if k not in _MEMBERS},
    )


#: Members of every problem body, which extras do not replace.
_MEMBERS = frozenset({"type", "title", "status", "code", "detail", "instance", "errors"})


def retry_after(error: errors.XRMError) -> str | None:
    """The ``Retry-After`` header for ``error``: whole seconds to wait (at least 1).

    None when the error does not say (``details["retry_after"]``, a finite
    number) how long to wait: the answer then goes without the header.
    """
    details = error.details
    retry = details.get("retry_after") if isinstance(details, Mapping) else None
    if isinstance(retry, bool) or not isinstance(retry, int | float):
        return None
    if not math.isfinite(retry):
        return None
    return str(max(1, math.ceil(retry)))


def internal_error(request: Request, error: Exception) -> JSONResponse:
    """A 500 for a bug: the trace is logged under the correlation id, never sent."""
    ref = correlation_id()
    logger.exception("unexpected error in %s %s [%s]", request.method, request.url.path, ref)
    return problem(
        500,
        "internal_error",
        f"an unexpected error occurred; quote {ref} when reporting it",
        instance=request.url.path,
        correlation_id=ref,
    )
