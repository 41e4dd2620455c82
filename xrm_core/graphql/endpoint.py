"""GraphQL over HTTP at ``/graphql``: authenticate, pick the cached schema, execute.

A request is ``POST`` with a JSON body ``{"query", "variables", "operationName"}``
(or ``GET`` with those as query parameters, for queries only), authenticated
with an API token as ``Authorization: Bearer <token>``, as everywhere in the API.
The whole request — the token, the schema, the operation — is worked out in one
trip to an API thread, as a REST call is (the core is synchronous): the
operation runs on the worker thread's own event loop and makes its service
calls directly, and data loaders gather the nested reads of one level into one
call each.

Answers are GraphQL responses, ``{"data": ..., "errors": [...]}``. Each error
of ours carries ``extensions.code`` (the stable code the REST API's problems
have), ``extensions.problems`` (JSON pointers into the input, as in problem
details) and ``extensions.details``; a bug answers ``internal_error`` with a
correlation id to quote, never a trace. A missing or bad token answers 401,
a body that is not a GraphQL request 400 (413 over the ``max_body`` setting),
a mutation sent by GET 405; any other error of ours before execution (reading
changed definitions, say) the status and ``Retry-After`` the REST API gives
it, and a bug 500 — always with ``X-Request-Id``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from xrm_core.api.endpoint import (
    BodyTooLarge,
    authenticated,
    notice_metadata_changes,
    read_body,
    sent_request_id,
)
from xrm_core.api.problems import retry_after, status_of
from xrm_core.api.responses import RecordsResponse
from xrm_core.api.threads import run_call
from xrm_core.context import correlated, correlation_id
from xrm_core.errors import AuthenticationFailed, XRMError
from xrm_core.graphql.loaders import Loaders, run_here
from xrm_core.graphql.schema import SchemaCache
from xrm_core.xrm import XRM

logger = logging.getLogger("xrm.graphql")

#: What a GET may run: queries only (a mutation by GET could be a forged link).
_BY_GET = frozenset({OperationType.QUERY})


@dataclass(frozen=True)
class Context:
    """What every resolver of one request gets as ``info.context``."""

    #: The database, acting as the API token's user.
    xrm: XRM
    loaders: Loaders
    #: The answer is encoded by RecordsResponse, which writes UUIDs, datetimes, dates
    #: and decimals as GraphQL coerces them: the executor may leave them as they are.
    native_values: bool = False


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GraphQLEndpoint:
    """The ``/graphql`` endpoint of one app, with its schema cache."""

    def __init__(self) -> None:
        self.schemas = SchemaCache()

    async def handle(self, request: Request) -> Response:
        """Answer one GraphQL request; whatever happens, under its request id."""
        with correlated(sent_request_id(request)) as request_id:
            try:
                response = await self._answer(request)
            except _BadRequest as bad:
                response = _refusal(bad.status, bad.code, bad.message)
            except XRMError as error:  # before execution: the token, definitions, the schema
                response = _refusal(status_of(error), error.code, error.message, error)
            except Exception:
                logger.exception("unexpected error in GraphQL [%s]", request_id)
                message = f"an unexpected error occurred; quote {request_id} when reporting it"
                response = _refusal(500, "internal_error", message)
            response.headers["X-Request-Id"] = request_id
            return response

    async def _answer(self, request: Request) -> Response:
        query, variables, operation = await _operation(request)
        return await run_call(request, self._answer_here, request, query, variables, operation)

    def _answer_here(
        self, request: Request, query: str, variables: dict[str, Any] | None, operation: str | None
    ) -> Response:
        """The answer, worked out on a worker thread: the token, the schema, the execution."""
        xrm = _user(request)
        schema = self.schemas.get(xrm)
        try:
            result = run_here(
                schema.execute(
                    query,
                    variable_values=variables,
                    context_value=Context(xrm, Loaders(xrm), native_values=True),
                    operation_name=operation,
                    allowed_operation_types=_BY_GET if request.method == "GET" else None,
                )
            )
        except InvalidOperationTypeError:
            raise _BadRequest(405, "method_not_allowed", "send mutations with POST") from None
        except CannotGetOperationTypeError:
            message = "name the operation to run ('operationName'), one the document holds"
            raise _BadRequest(400, "invalid_graphql", message) from None
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [error_entry(e) for e in result.errors]
        body["data"] = result.data
        return RecordsResponse(body)


def routes() -> list[BaseRoute]:
    """The ``/graphql`` route (mounted at the app's root, beside ``/api``)."""
    return [Route("/graphql", GraphQLEndpoint().handle, methods=["GET", "POST"])]


def _user(request: Request) -> XRM:
    """The app's XRM as the token's user, with definitions other processes changed loaded.

    Only a refused token is a 401: an error reading the definitions is told as itself.
    """
    notice_metadata_changes(request)  # at most once a second, as REST does
    try:
        return authenticated(request)
    except AuthenticationFailed as refused:
        raise _BadRequest(401, refused.code, refused.message) from None


def _refusal(status: int, code: str, message: str, error: XRMError | None = None) -> Response:
    """An answer without data: one error with our code (and the error's pointers)."""
    extensions: dict[str, Any] = {"code": code}
    if error is not None:
        extensions.update(_extensions(error))
    if code == "internal_error":
        extensions["correlation_id"] = correlation_id()
    headers = {"WWW-Authenticate": 'Bearer realm="xrm"'} if status == 401 else {}
    wait = None if error is None else retry_after(error)
    if wait is not None:  # as REST answers it: a throttled client knows when to come back
        headers["Retry-After"] = wait
    body = {"errors": [{"message": message, "extensions": extensions}]}
    return RecordsResponse(body, status_code=status, headers=headers)


def error_entry(error: GraphQLError) -> dict[str, Any]:
    """One GraphQL error as the response carries it: our code, pointers, never a trace."""
    entry: dict[str, Any] = error.formatted  # type: ignore[assignment]
    original = error.original_error
    if isinstance(original, XRMError):
        entry["message"] = original.message
        entry["extensions"] = _extensions(original)
    elif original is not None and error.path:
        ref = correlation_id()
        entry["message"] = f"an unexpected error occurred; quote {ref} when reporting it"
        entry["extensions"] = {"code": "internal_error", "correlation_id": ref}
    else:  # the document or its variables: a client's mistake, told as GraphQL tells it
        entry["extensions"] = {"code": "invalid_graphql"}
    return entry


def _extensions(error: XRMError) -> dict[str, Any]:
    extensions: dict[str, Any] = {
        "code": error.code,
        "problems": [{"pointer": p.pointer, "message": p.message} for p in error.problems],
    }
    if error.details:
        extensions["details"] = error.details
    return extensions


async def _operation(request: Request) -> tuple[str, dict[str, Any] | None, str | None]:
    if request.method == "GET":
        raw: Any = dict(request.query_params)
        if "variables" in raw:
            raw["variables"] = _json(raw["variables"], "variables")
    else:
        try:
            body = await read_body(request)
        except BodyTooLarge as too_large:
            raise _BadRequest(413, "body_too_large", str(too_large)) from None
        raw = _json(body, "the request body")
    if not isinstance(raw, dict) or not isinstance(raw.get("query"), str) or not raw["query"]:
        raise _BadRequest(400, "invalid_graphql", "send a JSON object with a 'query' string")
    variables, operation = raw.get("variables"), raw.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        raise _BadRequest(400, "invalid_graphql", "'variables' is a JSON object")
    if operation is not None and not isinstance(operation, str):
        raise _BadRequest(400, "invalid_graphql", "'operationName' is a string")
    return raw["query"], variables, operation


def _json(raw: str | bytearray, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise _BadRequest(400, "invalid_json", f"{what} is not valid JSON") from None
