"""Imports and exports over HTTP, streamed both ways.

``POST /api/v1/imports?entity=...`` streams the request body (CSV or JSON
Lines) into ``xrm.imports.run`` as it arrives, batch by batch; the answer is
the finished import with its counts, and its rejected rows are at
``/api/v1/imports/{id}/rejections`` (JSON pages) or ``.../report`` (the report
file). ``/api/v1/exports/{entity}`` streams ``xrm.exports.run`` of any query
back while it is written. Everything runs as the token's user: permissions and
field security apply as in every other read and write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import IO, Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import BaseRoute, Route

import xrm_core.api.records  # noqa: F401  (registers the xrm_entity path convertor)
from xrm_core.api import inputs
from xrm_core.api.endpoint import Call, endpoint, upload_endpoint
from xrm_core.api.problems import from_error
from xrm_core.api.records.params import read_query
from xrm_core.api.service_spec import transfer_paths as openapi_paths
from xrm_core.api.streams import streamed
from xrm_core.errors import ImportRejected, ImportStateError, RecordNotFound
from xrm_core.transfer import DEFAULT_BATCH, FORMATS, MODES, ImportJob, Rejection
from xrm_core.transfer.importer import MAX_BATCH

#: Content types naming an upload's format (``?format=`` wins over them).
CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
}
#: The content type of each format's download.
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
_EXPORT_PARAMETERS = frozenset({"filter", "order", "fields", "format"})
_UPLOAD = ("entity", "format", "mode", "key", "batch_size", "name", "sha256")

__all__ = ["openapi_paths", "routes"]


def routes() -> list[BaseRoute]:
    """The import and export endpoints."""
    one = "/v1/imports/{id}"
    return [
        Route(
            "/v1/imports",
            upload_endpoint(start_import, status=201, query=_UPLOAD),
            methods=["POST"],
        ),
        Route("/v1/imports", endpoint(list_imports, query=("entity",)), methods=["GET"]),
        Route(one, endpoint(get_import), methods=["GET"]),
        Route(
            one + "/rejections",
            endpoint(list_rejections, query=("limit", "cursor")),
            methods=["GET"],
        ),
        Route(one + "/report", endpoint(download_report, query=("format",)), methods=["GET"]),
        Route(one + "/resume", upload_endpoint(resume_import, query=("sha256",)), methods=["POST"]),
        Route(one + "/abandon", endpoint(abandon_import), methods=["POST"]),
        # The GET reads its query as a record list does (read_query refuses the others).
        Route("/v1/exports/{entity:xrm_entity}", endpoint(export_get, query=None), methods=["GET"]),
        Route("/v1/exports/{entity:xrm_entity}", endpoint(export_post), methods=["POST"]),
    ]


# -- imports ---------------------------------------------------------------------


def start_import(call: Call) -> Any:
    """Import the body into ``?entity=``; 201 with the finished import and its counts."""
    request = call.request
    entity = inputs.text(request, "entity")
    if not entity:
        raise inputs.bad_parameter("entity", "name the entity to import into")
    key = inputs.names(request, "key")
    try:
        job = call.xrm.imports.run(
            entity,
            call.body,
            format=_upload_format(request),
            mode=inputs.choice(request, "mode", MODES, "skip_bad_rows"),  # type: ignore[arg-type]
            key=key[0] if key and len(key) == 1 else key,
            batch_size=inputs.number(request, "batch_size", DEFAULT_BATCH, 1, MAX_BATCH),
            name=inputs.text(request, "name") or "upload",
            fingerprint=inputs.text(request, "sha256"),
        )
    except ImportRejected as error:
        return _rejected(call, error)
    call.headers["Location"] = f"/api/v1/imports/{job.id}"
    return _job(job)


def resume_import(call: Call) -> Any:
    """Continue an interrupted import with the same file as the body, after its last batch."""
    try:
        job = call.xrm.imports.resume(
            call.params["id"], call.body, fingerprint=inputs.text(call.request, "sha256")
        )
    except ImportRejected as error:
        return _rejected(call, error)
    return _job(job)


def list_imports(call: Call) -> dict[str, Any]:
    """The caller's imports (administrators: everyone's), newest first; ``?entity=`` filters."""
    found = call.xrm.imports.find(inputs.text(call.request, "entity"))
    return {"items": [_job(j) for j in found], "next_cursor": None}


def get_import(call: Call) -> dict[str, Any]:
    """One import: its settings, status and counts (while it runs, how far it got)."""
    return _job(_found(call))


def abandon_import(call: Call) -> dict[str, Any]:
    """Give up an interrupted import: what it committed stays; it can no longer resume."""
    return _job(call.xrm.imports.abandon(_found(call).id))


def list_rejections(call: Call) -> dict[str, Any]:
    """The rows the import rejected, in file order, each with its line and problems.

    ``cursor`` is the line after which to go on (the answer's ``next_cursor``).
    """
    job = _found(call)
    limit = inputs.number(call.request, "limit", 100, 1, 1000)
    after = inputs.number(call.request, "cursor", 0, 0, 2**62)
    found = list(call.xrm.imports.rejections(job.id, after=after, limit=limit))
    return inputs.page(found, limit, lambda r: str(r.line), Rejection.to_dict)


def download_report(call: Call) -> StreamingResponse:
    """The report of rejected rows as a file (``?format=`` csv or jsonl; default the import's)."""
    job = _found(call)
    fmt = inputs.choice(call.request, "format", FORMATS, job.format)
    imports = call.xrm.imports

    def write(stream: IO[str]) -> None:
        imports.write_report(job.id, stream, fmt)

    chunks = streamed(write, name=f"report of import {job.id}")
    return _download(chunks, fmt, f"import-{job.id}-rejected.{fmt}")


def _found(call: Call) -> ImportJob:
    try:
        return call.xrm.imports.get(call.params["id"])
    except ImportStateError as error:
        # Reading one: an import that is not there, or not the caller's, is not found.
        raise RecordNotFound(error.message, details=error.details) from None


def _upload_format(request: Request) -> str | None:
    given = inputs.text(request, "format")
    if given is not None:
        return given
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return CONTENT_TYPES.get(media)


def _rejected(call: Call, error: ImportRejected) -> Any:
    """422 for an all-or-nothing import with bad rows; the import id leads to all of them."""
    details = error.details
    return from_error(
        call.request,
        error,
        import_id=details.get("import_id"),
        rejected=details.get("rejected"),
    )


def _job(job: ImportJob) -> dict[str, Any]:
    shown = dataclasses.asdict(job)
    # Where the command line wrote its report is a path on the server, not the client's.
    del shown["report"]
    shown["finished"] = job.finished
    return shown


# -- exports ---------------------------------------------------------------------


def export_get(call: Call) -> StreamingResponse:
    """Stream the records of a query: filter (or where.*), order, fields, format."""
    query = read_query(call.request.query_params, _EXPORT_PARAMETERS)
    fmt = query.extra.get("format", "csv")
    return _export(call, fmt, query.filter, query.order, query.fields)


def export_post(call: Call) -> StreamingResponse:
    """The same as ``GET``, the query in a JSON body (for filters too long for a URL)."""
    body = inputs.body_object(call.body, _EXPORT_PARAMETERS)
    fmt = inputs.member(body, "format", str, "csv")
    order, fields = body.get("order"), body.get("fields")
    for name, value in (("order", order), ("fields", fields)):
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise inputs.refuse(f"/{name}", "must be a list of field names")
    return _export(call, fmt, body.get("filter"), order, fields)


def _export(
    call: Call, fmt: str, filter: Any, order: list[str] | None, fields: list[str] | None
) -> StreamingResponse:
    entity = call.params["entity"]
    exports = call.xrm.exports

    def write(stream: IO[str]) -> None:
        # Each page is flushed once written: the first flush means the query was good.
        exports.run(
            entity,
            stream,
            format=fmt,
            filter=filter,
            order=order,
            fields=fields,
            on_progress=lambda _rows: stream.flush(),
        )

    chunks = streamed(write, name=f"export of {entity}")
    return _download(chunks, fmt, f"{entity}.{fmt}")


def _download(chunks: Iterator[bytes], fmt: str, filename: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type=MEDIA_TYPES.get(fmt, "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
