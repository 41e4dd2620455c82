"""GraphQL over HTTP at ``/graphql``: authenticate, pick the cached schema, execute.

A request is ``POST`` with a JSON body ``{"query", "variables", "operationName"}``
(or ``GET`` with those as query parameters, for queries only), authenticated
with an API token as ``Authorization: Bearer <token>``, as everywhere in the API.
The operation runs on the event loop; every service call it makes runs in the
thread pool (the core is synchronous), and data loaders gather the nested
reads of one level into one call each.

Answers are GraphQL responses, ``{"data": ..., "errors": [...]}``. Each error
of ours carries ``extensions.code`` (the stable code the REST API's problems
have), ``extensions.problems`` (JSON pointers into the input, as in problem
details) and ``extensions.details``; a bug answers ``internal_error`` with a
correlation id to quote, never a trace. A missing or bad token answers 401,
a body that is not a GraphQL request 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, OperationType, parse
from graphql.utilities import get_operation_ast
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from xrm_core.api.endpoint import authenticated, notice_metadata_changes
from xrm_core.api.responses import RecordsResponse
from xrm_core.context import correlated, correlation_id
from xrm_core.errors import XRMError
from xrm_core.graphql.loaders import Loaders, call
from xrm_core.graphql.schema import SchemaCache
from xrm_core.xrm import XRM

_REQUEST_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


@dataclass(frozen=True)
class Context:
    """What every resolver of one request gets as ``info.context``."""

    #: The database, acting as the API token's user.
    xrm: XRM
    loaders: Loaders


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GraphQLEndpoint:
    """The ``/graphql`` endpoint of one app, with its schema cache."""

    def __init__(self) -> None:
        self.schemas = SchemaCache()

    async def handle(self, request: Request) -> Response:
        """Answer one GraphQL request."""
        sent = request.headers.get("x-request-id", "")
        usable = 0 < len(sent) <= 100 and set(sent) <= _REQUEST_ID_CHARS
        with correlated(sent if usable else None) as request_id:
            try:
                response = await self._answer(request)
            except _BadRequest as bad:
                headers = {}
                if bad.status == 401:
                    headers["WWW-Authenticate"] = 'Bearer realm="xrm"'
                body = {"errors": [{"message": bad.message, "extensions": {"code": bad.code}}]}
                response = RecordsResponse(body, status_code=bad.status, headers=headers)
            response.headers["X-Request-Id"] = request_id
            return response

    async def _answer(self, request: Request) -> Response:
        query, variables, operation = await _operation(request)
        try:
            xrm = await call(_user, request)
        except XRMError as error:
            raise _BadRequest(401, error.code, error.message) from None
        schema = await call(self.schemas.get, xrm)
        if request.method == "GET":
            _refuse_mutation_by_get(schema, query, operation)
        result = await schema.execute(
            query,
            variable_values=variables,
            context_value=Context(xrm, Loaders(xrm)),
            operation_name=operation,
        )
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [error_entry(e) for e in result.errors]
        body["data"] = result.data
        return RecordsResponse(body)


def routes() -> list[BaseRoute]:
    """The ``/graphql`` route (mounted at the app's root, beside ``/api``)."""
    return [Route("/graphql", GraphQLEndpoint().handle, methods=["GET", "POST"])]


def _user(request: Request) -> XRM:
    """The app's XRM as the token's user, with definitions other processes changed loaded."""
    notice_metadata_changes(request)  # at most once a second, as REST does
    return authenticated(request)


def error_entry(error: GraphQLError) -> dict[str, Any]:
    """One GraphQL error as the response carries it: our code, pointers, never a trace."""
    entry: dict[str, Any] = error.formatted  # type: ignore[assignment]
    original = error.original_error
    if isinstance(original, XRMError):
        entry["message"] = original.message
        extensions: dict[str, Any] = {
            "code": original.code,
            "problems": [{"pointer": p.pointer, "message": p.message} for p in original.problems],
        }
        if original.details:
            extensions["details"] = original.details
        entry["extensions"] = extensions
    elif original is not None and error.path:
        ref = correlation_id()
        entry["message"] = f"an unexpected error occurred; quote {ref} when reporting it"
        entry["extensions"] = {"code": "internal_error", "correlation_id": ref}
    else:  # the document or its variables: a client's mistake, told as GraphQL tells it
        entry["extensions"] = {"code": "invalid_graphql"}
    return entry


async def _operation(request: Request) -> tuple[str, dict[str, Any] | None, str | None]:
    if request.method == "GET":
        raw: Any = dict(request.query_params)
        if "variables" in raw:
            raw["variables"] = _json(raw["variables"], "variables")
    else:
        limit: int = request.app.state.settings.max_body
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _BadRequest(413, "body_too_large", f"the request body is over {limit} bytes")
        raw = _json(body, "the request body")
    if not isinstance(raw, dict) or not isinstance(raw.get("query"), str):
        raise _BadRequest(400, "invalid_graphql", "send a JSON object with a 'query' string")
    variables, operation = raw.get("variables"), raw.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        raise _BadRequest(400, "invalid_graphql", "'variables' is a JSON object")
    if operation is not None and not isinstance(operation, str):
        raise _BadRequest(400, "invalid_graphql", "'operationName' is a string")
    return raw["query"], variables, operation


def _json(raw: str | bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise _BadRequest(400, "invalid_json", f"{what} is not valid JSON") from None


def _refuse_mutation_by_get(schema: Any, query: str, operation: str | None) -> None:
    try:
        found = get_operation_ast(parse(query), operation)
    except GraphQLError:
        return  # execution reports the syntax error
    if found is not None and found.operation is not OperationType.QUERY:
        raise _BadRequest(405, "method_not_allowed", "send mutations with POST")
