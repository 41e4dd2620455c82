"""Imports and exports over HTTP: bodies streamed in, files streamed out."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
from sqlalchemy import event
from starlette.types import ASGIApp, Message

from tests.api.conftest import Api

CONTACT = {
    "x-xrm": {"name": "contact", "alternate_keys": [{"name": "by_email", "fields": ["email"]}]},
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
    },
    "required": ["name"],
}


@pytest.fixture
def contacts(api: Api) -> Api:
    api.xrm.metadata.define(CONTACT)
    return api


def people(count: int, *, bad_every: int = 0) -> bytes:
    """A CSV of ``count`` people; every ``bad_every``-th has an age that is not a number."""
    lines = ["name,email,age"]
    for n in range(1, count + 1):
        age = "old" if bad_every and n % bad_every == 0 else str(20 + n % 50)
        lines.append(f"Person {n},p{n}@example.com,{age}")
    return ("\n".join(lines) + "\n").encode()


def test_a_streamed_upload_of_thousands_of_rows_reports_the_bad_ones(contacts: Api) -> None:
    body = people(3000, bad_every=100)

    response = contacts.client.post(
        "/api/v1/imports?entity=contact&name=people.csv&batch_size=500",
        content=body,
        headers={**contacts.headers(), "Content-Type": "text/csv"},
    )

    assert response.status_code == 201
    job = response.json()
    assert (job["status"], job["created"], job["rejected"], job["rows_done"]) == (
        "completed",
        2970,
        30,
        3000,
    )
    assert response.headers["location"] == f"/api/v1/imports/{job['id']}"
    assert contacts.xrm.records("contact").count() == 2970
    page = contacts.client.get(
        f"/api/v1/imports/{job['id']}/rejections?limit=20", headers=contacts.headers()
    )
    assert [r["line"] for r in page.json()["items"]][:2] == [101, 201]
    assert page.json()["items"][0]["problems"][0]["pointer"] == "/age"
    rest = contacts.client.get(
        f"/api/v1/imports/{job['id']}/rejections",
        params={"cursor": page.json()["next_cursor"]},
        headers=contacts.headers(),
    )
    assert len(rest.json()["items"]) == 10 and rest.json()["next_cursor"] is None
    report = contacts.client.get(f"/api/v1/imports/{job['id']}/report", headers=contacts.headers())
    assert report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert len(rows) == 30 and rows[0]["line"] == "101" and rows[0]["age"] == "old"
    assert rows[0]["problems"].startswith("/age:")


def test_json_lines_upserts_by_an_alternate_key(contacts: Api) -> None:
    contacts.xrm.records("contact").create({"name": "Ada", "email": "ada@example.com"})
    lines = [{"name": "Ada L.", "email": "ada@example.com"}, {"name": "Bob", "email": "bob@x.org"}]
    body = "".join(json.dumps(line) + "\n" for line in lines)

    response = contacts.client.post(
        "/api/v1/imports?entity=contact&key=by_email",
        content=body,
        headers={**contacts.headers(), "Content-Type": "application/x-ndjson"},
    )

    assert response.status_code == 201
    assert (response.json()["created"], response.json()["updated"]) == (1, 1)
    names = {r["name"] for r in contacts.xrm.records("contact").query()}
    assert names == {"Ada L.", "Bob"}


def test_all_or_nothing_with_bad_rows_is_422_naming_the_import(contacts: Api) -> None:
    response = contacts.client.post(
        "/api/v1/imports?entity=contact&format=csv&mode=all_or_nothing",
        content=people(50, bad_every=10),
        headers=contacts.headers(),
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "import_rejected" and problem["rejected"] == 5
    assert problem["errors"][0]["pointer"] == "/line/11/age"
    assert contacts.xrm.records("contact").count() == 0
    job = contacts.client.get(f"/api/v1/imports/{problem['import_id']}", headers=contacts.headers())
    assert job.json()["status"] == "failed"


def test_bad_uploads_are_refused_before_anything_is_written(contacts: Api) -> None:
    headers = contacts.headers()
    cases: list[tuple[str, bytes, int, str]] = [
        ("entity=contact", people(3), 422, "/format"),  # no format, no type, no name
        ("entity=contact&format=xml", people(3), 422, "/format"),
        ("format=csv", people(3), 400, "/entity"),
        ("entity=contact&format=csv", b"name,,name\nA,B,C\n", 422, "/header/1"),
        ("entity=contact&format=csv&mode=some", people(3), 400, "/mode"),
        ("entity=contact&format=csv&batch_size=0", people(3), 400, "/batch_size"),
    ]
    for query, body, status, pointer in cases:
        response = contacts.client.post(f"/api/v1/imports?{query}", content=body, headers=headers)
        assert response.status_code == status, query
        assert response.json()["errors"][0]["pointer"] == pointer, query
    unknown = contacts.client.post(
        "/api/v1/imports?entity=nothing&format=csv", content=people(1), headers=headers
    )
    assert unknown.status_code == 404
    assert contacts.xrm.records("contact").count() == 0


def test_imports_are_seen_by_who_started_them_and_administrators(contacts: Api) -> None:
    clerk = contacts.headers(contacts.clerk_token)
    started = contacts.client.post(
        "/api/v1/imports?entity=contact&format=csv", content=people(3), headers=clerk
    )
    assert started.status_code == 201
    job_id = started.json()["id"]
    admin_started = contacts.client.post(
        "/api/v1/imports?entity=contact&format=csv", content=people(2), headers=contacts.headers()
    )

    mine = contacts.client.get("/api/v1/imports", headers=clerk).json()["items"]
    everyone = contacts.client.get("/api/v1/imports", headers=contacts.headers()).json()["items"]
    hidden = contacts.client.get(f"/api/v1/imports/{admin_started.json()['id']}", headers=clerk)

    assert [j["id"] for j in mine] == [job_id]
    assert {j["id"] for j in everyone} == {job_id, admin_started.json()["id"]}
    assert hidden.status_code == 404
    assert contacts.client.get("/api/v1/imports/nope", headers=clerk).status_code == 404


# -- streaming, and an upload cut short ------------------------------------------------


def post_in_chunks(
    app: ASGIApp,
    target: str,
    token: str,
    chunks: list[bytes],
    *,
    before_chunk: Callable[[int], None],
    disconnect: bool = False,
) -> tuple[int, dict[str, Any]]:
    """POST ``chunks`` one ASGI message at a time (the test client sends a body at once)."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    given = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal given
        if given == len(chunks):
            return {"type": "http.disconnect"}
        await anyio.to_thread.run_sync(before_chunk, given)
        given += 1
        more = given < len(chunks) or disconnect
        return {"type": "http.request", "body": chunks[given - 1], "more_body": more}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


def test_rows_are_imported_while_the_body_is_still_arriving(contacts: Api) -> None:
    body = people(1000)
    header_and_250, rest = split_after_rows(body, 250)
    committed: list[int] = []

    def before_chunk(n: int) -> None:
        if n == 1:
            committed.append(contacts.xrm.records("contact").count())

    status, job = post_in_chunks(
        contacts.client.app,
        "/api/v1/imports?entity=contact&format=csv&batch_size=100",
        contacts.admin_token,
        [header_and_250, rest],
        before_chunk=before_chunk,
    )

    assert status == 201 and job["created"] == 1000
    # Before the second chunk was sent, the first two batches were already committed.
    assert committed == [200]


def test_an_upload_cut_short_keeps_its_batches_and_resumes_without_duplicates(
    contacts: Api,
) -> None:
    body = people(1000)
    sha = hashlib.sha256(body).hexdigest()
    first_part, _ = split_after_rows(body, 250)
    target = f"/api/v1/imports?entity=contact&format=csv&batch_size=100&sha256={sha}"

    status, problem = post_in_chunks(
        contacts.client.app,
        target,
        contacts.admin_token,
        [first_part],
        before_chunk=lambda n: None,
        disconnect=True,
    )

    assert status == 400 and problem["code"] == "upload_interrupted"
    (job,) = contacts.client.get("/api/v1/imports", headers=contacts.headers()).json()["items"]
    assert (job["status"], job["rows_done"]) == ("running", 200)
    assert contacts.xrm.records("contact").count() == 200
    other = contacts.client.post(
        f"/api/v1/imports/{job['id']}/resume?sha256={'0' * 64}",
        content=body,
        headers=contacts.headers(),
    )
    assert other.status_code == 409 and other.json()["code"] == "import_state"
    unsaid = contacts.client.post(
        f"/api/v1/imports/{job['id']}/resume", content=body, headers=contacts.headers()
    )
    assert unsaid.status_code == 409 and sha in unsaid.json()["detail"]
    assert contacts.xrm.records("contact").count() == 200
    resumed = contacts.client.post(
        f"/api/v1/imports/{job['id']}/resume?sha256={sha}", content=body, headers=contacts.headers()
    )
    assert resumed.status_code == 200
    assert (resumed.json()["status"], resumed.json()["created"]) == ("completed", 1000)
    emails = [r["email"] for r in contacts.xrm.records("contact").query(limit=1000)]
    assert len(emails) == len(set(emails)) == 1000


def test_an_interrupted_import_can_be_abandoned(contacts: Api) -> None:
    first_part, _ = split_after_rows(people(300), 150)
    post_in_chunks(
        contacts.client.app,
        "/api/v1/imports?entity=contact&format=csv&batch_size=100",
        contacts.admin_token,
        [first_part],
        before_chunk=lambda n: None,
        disconnect=True,
    )
    (job,) = contacts.client.get("/api/v1/imports", headers=contacts.headers()).json()["items"]

    abandoned = contacts.client.post(
        f"/api/v1/imports/{job['id']}/abandon", headers=contacts.headers()
    )
    again = contacts.client.post(f"/api/v1/imports/{job['id']}/abandon", headers=contacts.headers())

    assert abandoned.status_code == 200 and abandoned.json()["status"] == "abandoned"
    assert again.status_code == 409


def split_after_rows(body: bytes, rows: int) -> tuple[bytes, bytes]:
    lines = body.splitlines(keepends=True)
    return b"".join(lines[: rows + 1]), b"".join(lines[rows + 1 :])


# -- exports -----------------------------------------------------------------------------


def test_an_export_is_streamed_page_by_page(contacts: Api) -> None:
    contacts.client.post(
        "/api/v1/imports?entity=contact&format=csv",
        content=people(2500),
        headers=contacts.headers(),
    )

    with contacts.client.stream(
        "GET",
        "/api/v1/exports/contact",
        params={"order": "email", "fields": "name,email,age"},
        headers=contacts.headers(),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"] == 'attachment; filename="contact.csv"'
        chunks = list(response.iter_raw())

    assert len(chunks) >= 3  # one or more per page of 1,000 records
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 2500
    assert [r["email"] for r in rows] == sorted(r["email"] for r in rows)


def test_an_export_filters_and_writes_json_lines(contacts: Api) -> None:
    records = contacts.xrm.records("contact")
    for name, age in (("Ada", 36), ("Bob", 12), ("Cy", 41)):
        records.create({"name": name, "age": age})

    short = contacts.client.get(
        "/api/v1/exports/contact?where.age[gt]=30&order=name&format=jsonl&fields=name,age",
        headers=contacts.headers(),
    )
    posted = contacts.client.post(
        "/api/v1/exports/contact",
        json={"filter": {"age": {"gt": 30}}, "order": ["name"], "fields": ["name"]},
        headers=contacts.headers(),
    )

    assert short.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line) for line in short.text.splitlines()] == [
        {"name": "Ada", "age": 36},
        {"name": "Cy", "age": 41},
    ]
    assert posted.text.splitlines() == ["name", "Ada", "Cy"]


def test_an_export_reads_as_the_caller(contacts: Api) -> None:
    contacts.xrm.records("contact").create({"name": "Not the clerk's"})
    clerk = contacts.headers(contacts.clerk_token)
    contacts.client.post(
        "/api/v1/imports?entity=contact&format=csv", content=people(2), headers=clerk
    )

    exported = contacts.client.get("/api/v1/exports/contact?fields=name&order=name", headers=clerk)

    assert exported.text.splitlines() == ["name", "Person 1", "Person 2"]


def test_a_bad_export_is_a_problem_not_a_broken_download(contacts: Api) -> None:
    headers = contacts.headers()
    cases = [
        ("/api/v1/exports/contact?filter={bad", 400, "/filter"),
        ('/api/v1/exports/contact?filter={"nope":1}', 400, "/filter/nope"),
        ("/api/v1/exports/contact?fields=name,secret", 400, "/fields/1"),
        ("/api/v1/exports/contact?format=xml", 422, "/format"),
        ("/api/v1/exports/contact?colour=red", 400, "/colour"),
    ]
    for url, status, pointer in cases:
        response = contacts.client.get(url, headers=headers)
        assert response.status_code == status, url
        assert response.headers["content-type"] == "application/problem+json", url
        assert response.json()["errors"][0]["pointer"] == pointer, url
    missing = contacts.client.get("/api/v1/exports/nothing", headers=headers)
    assert missing.status_code == 404
    body = contacts.client.post("/api/v1/exports/contact", json={"order": "name"}, headers=headers)
    assert body.status_code == 422 and body.json()["errors"][0]["pointer"] == "/order"


def test_a_page_of_rejections_is_read_from_its_cursor_on_not_from_the_start(
    contacts: Api,
) -> None:
    response = contacts.client.post(
        "/api/v1/imports?entity=contact&format=csv",
        content=people(60, bad_every=2),
        headers=contacts.headers(),
    )
    url = f"/api/v1/imports/{response.json()['id']}/rejections"
    first = contacts.client.get(url + "?limit=20", headers=contacts.headers()).json()

    with _statements(contacts) as seen:
        second = contacts.client.get(
            url, params={"limit": 5, "cursor": first["next_cursor"]}, headers=contacts.headers()
        ).json()

    assert [r["line"] for r in second["items"]] == [43, 45, 47, 49, 51]
    (read,) = [p for s, p in seen if "xrm_import_rejection" in s]
    assert first["next_cursor"] == "41" and 41 in read.values() and 5 in read.values()


@contextmanager
def _statements(api: Api) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The SQL statements (and their parameters) run meanwhile."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if isinstance(parameters, dict):
            seen.append((statement, parameters))
        else:
            seen.append((statement, dict(enumerate(parameters or ()))))

    engine = api.xrm.db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)
