"""The HTTP side of /graphql: body limits, request ids, errors before execution, GET,
the loop a request runs on."""

from __future__ import annotations

import selectors
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from graphql.language.parser import Parser

from tests.graphql.conftest import Api
from xrm_core import XRM
from xrm_core.errors import PluginError, TooManyAttempts
from xrm_core.graphql.loaders import _Selector

_QUERY = "{ metadataVersion }"


def _headers(api: Api, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.admin_token}", **more}


def test_a_body_over_the_limit_is_refused_even_before_it_is_read(api: Api) -> None:
    api.app.state.settings = api.app.state.settings.model_copy(update={"max_body": 1024})
    small = b'{"query": "{ metadataVersion }"}'
    declared = api.client.post(
        "/graphql", content=small, headers=_headers(api, **{"Content-Length": "5000"})
    )
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"]["code"] == "body_too_large"
    assert declared.headers["x-request-id"]

    def chunks() -> Any:  # no Content-Length: the body is counted as it arrives
        yield b'{"query": "{ metadataVersion }", "variables": {"x": "'
        yield b"x" * 2000
        yield b'"}}'

    streamed = api.client.post("/graphql", content=chunks(), headers=_headers(api))
    assert streamed.status_code == 413

    fits = api.client.post("/graphql", content=small, headers=_headers(api))
    assert fits.status_code == 200 and fits.json()["data"]["metadataVersion"] >= 1


def _another_process_changes_definitions(api: Api, db_url: str, tmp_path: Path) -> None:
    other = XRM.from_url(db_url, export_dir=tmp_path / "other").as_system("another process")
    other.metadata.define({"x-xrm": {"name": "ticket"}, "properties": {"t": {"type": "string"}}})
    other.close()
    api.app.state.metadata_checked_at = float("-inf")  # as if a second had passed


def test_a_bug_before_execution_answers_500_with_the_request_id_to_quote(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    def broken_listener() -> None:  # a plugin's cache of definitions, with a bug
        raise RuntimeError("secret internals")

    api.xrm.metadata_service.on_change(broken_listener)
    _another_process_changes_definitions(api, db_url, tmp_path)

    response = api.client.post(
        "/graphql", json={"query": _QUERY}, headers=_headers(api, **{"X-Request-Id": "trace-42"})
    )

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-42"
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "internal_error", "correlation_id": "trace-42"}
    assert "trace-42" in error["message"] and "secret" not in response.text


def test_only_a_refused_token_is_a_401(api: Api, db_url: str, tmp_path: Path) -> None:
    def refusing_listener() -> None:
        raise PluginError("the search plugin could not reindex the definitions")

    api.xrm.metadata_service.on_change(refusing_listener)
    _another_process_changes_definitions(api, db_url, tmp_path)

    failed = api.client.post("/graphql", json={"query": _QUERY}, headers=_headers(api))

    assert failed.status_code == 409 and "www-authenticate" not in failed.headers
    (error,) = failed.json()["errors"]
    assert error["extensions"]["code"] == "plugin_error"
    assert error["message"] == "the search plugin could not reindex the definitions"
    # The definitions were read: the next request sees the new entity.
    again = api.client.post(
        "/graphql", json={"query": "{ ticketList { nodes { t } } }"}, headers=_headers(api)
    )
    assert again.status_code == 200 and again.json()["data"] == {"ticketList": {"nodes": []}}
    refused = api.client.post(
        "/graphql", json={"query": _QUERY}, headers={"Authorization": "Bearer nope"}
    )
    assert refused.status_code == 401 and "Bearer" in refused.headers["www-authenticate"]


def test_a_throttled_request_says_when_to_come_back_as_rest_does(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    def throttled_listener() -> None:  # a plugin refusing for a while, as a locked login does
        raise TooManyAttempts("try again soon", details={"retry_after": 2.5})

    api.xrm.metadata_service.on_change(throttled_listener)
    _another_process_changes_definitions(api, db_url, tmp_path)

    refused = api.client.post("/graphql", json={"query": _QUERY}, headers=_headers(api))

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "3"  # whole seconds, rounded up, as REST
    assert refused.json()["errors"][0]["extensions"]["code"] == "too_many_attempts"


def test_a_get_query_is_parsed_once_and_a_mutation_by_get_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    original = Parser.parse_document

    def counting(parser: Parser) -> Any:
        parsed.append(parser._lexer.source.body)
        return original(parser)

    monkeypatch.setattr(Parser, "parse_document", counting)
    # The parser cache is the process's: a query of this test alone.
    query = f"query OnlyOnce {{ tagList {{ nodes {{ label }} }} }} # {uuid.uuid4()}"
    for _ in range(2):
        read = api.client.get("/graphql", params={"query": query}, headers=_headers(api))
        assert read.status_code == 200 and read.json()["data"] == {"tagList": {"nodes": []}}
    # Parsed once, then taken from the parser cache, for both requests.
    assert parsed.count(query) == 1

    mutation = 'mutation { createTag(data: {label: "x"}) { id } }'
    by_get = api.client.get("/graphql", params={"query": mutation}, headers=_headers(api))
    assert by_get.status_code == 405
    assert by_get.json()["errors"][0]["extensions"]["code"] == "method_not_allowed"
    assert api.xrm.records("tag").count() == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_operation_name_the_document_lacks_is_a_bad_request(api: Api, method: str) -> None:
    sent = {"query": "query A { metadataVersion } query B { metadataVersion }"}
    sent["operationName"] = "C"
    if method == "GET":
        response = api.client.get("/graphql", params=sent, headers=_headers(api))
    else:
        response = api.client.post("/graphql", json=sent, headers=_headers(api))
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "invalid_graphql"
    assert response.headers["x-request-id"]
    empty = api.client.post("/graphql", json={"query": ""}, headers=_headers(api))
    assert empty.status_code == 400


def test_a_requests_own_loop_asks_the_kernel_only_when_it_has_nothing_ready() -> None:
    # Each system call lets go of the GIL, and taking it back from the server's busy loop
    # costs a request more than a step of its own work (loaders.run_here).
    left, right = socket.socketpair()
    selector = _Selector()
    try:
        selector.register(left, selectors.EVENT_READ)
        right.send(b"x")
        assert selector.select(0) == []  # callbacks are ready: not asked
        assert [key.fileobj for key, _ in selector.select(None)] == [left]
        assert [key.fileobj for key, _ in selector.select(5)] == [left]
    finally:
        selector.close()
        left.close()
        right.close()
