"""What an import checks before it writes, and how it keeps what it rejected.

A resume must be given the file the import started with; a report that cannot
be written is refused before any row is; a report is replaced whole; a row that
gives a lookup twice is refused; rejections page from the database; an
all-or-nothing import holds its rejections in bounded memory.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.transfer.conftest import jsonl
from xrm_core import XRM
from xrm_core.errors import ImportRejected, ImportStateError, InvalidFile, Problem
from xrm_core.transfer import Progress
from xrm_core.transfer.held import HeldRejections
from xrm_core.transfer.jobs import Rejection

Write = Callable[[str, str | bytes], Path]


class _Stop(Exception):
    pass


def _people(count: int, header: str = "name,age") -> str:
    return header + "\n" + "".join(f"p{n:04},{n}\n" for n in range(count))


def _interrupt(crm: XRM, source: Path | io.BytesIO, after_rows: int, **options: object) -> str:
    """Start an import of ``source`` in batches of 10 and stop it after ``after_rows`` rows."""

    def stop(progress: Progress) -> None:
        if progress.rows >= after_rows:
            raise _Stop

    with pytest.raises(_Stop):
        crm.imports.run("contact", source, batch_size=10, on_progress=stop, **options)  # type: ignore[arg-type]
    (job,) = crm.imports.find()
    return str(job.id)


def test_a_resume_without_the_fingerprint_of_a_known_file_is_refused(
    crm: XRM, write: Write
) -> None:
    path = write("people.csv", _people(40))
    import_id = _interrupt(crm, path, 20)

    with pytest.raises(ImportStateError, match="send that file with its SHA-256") as caught:
        crm.imports.resume(import_id, io.BytesIO(path.read_bytes()))

    assert crm.imports.get(import_id).fingerprint in caught.value.message
    assert crm.records("contact").count() == 20
    assert crm.imports.resume(import_id, path).rows_done == 40


def test_a_resume_with_another_header_is_refused_even_without_fingerprints(crm: XRM) -> None:
    import_id = _interrupt(crm, io.BytesIO(_people(40).encode()), 20, format="csv")
    other = _people(40, header="name,email").encode()

    with pytest.raises(ImportStateError, match="its header is 'name,email', not 'name,age'"):
        crm.imports.resume(import_id, io.BytesIO(other))

    assert crm.records("contact").count() == 20
    assert crm.imports.get(import_id).rows_done == 20


@pytest.mark.parametrize("where", ["missing/r.csv", "."], ids=["no_directory", "a_directory"])
def test_a_report_that_cannot_be_written_is_refused_before_any_row(
    crm: XRM, write: Write, where: str
) -> None:
    path = write("people.csv", "name,age\nAda,old\nBob,3\n")

    with pytest.raises(InvalidFile, match="cannot write the report") as caught:
        crm.imports.run("contact", path, report=path.parent / where)

    assert [p.pointer for p in caught.value.problems] == ["/report"]
    assert crm.imports.find() == [] and crm.records("contact").count() == 0


def test_a_report_replaces_an_older_file_whole_and_leaves_no_temporary_file(
    crm: XRM, write: Write
) -> None:
    path = write("people.csv", "name,age\nAda,old\nBob,3\n")
    report = write("rejected.csv", "an older report\n" * 1000)

    crm.imports.run("contact", path, report=report)

    (line,) = report.read_text().splitlines()[1:]
    assert line.startswith('2,Ada,old,"/age: Input should be a valid integer')
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".rejected")] == []


def test_a_json_line_giving_a_lookup_twice_is_rejected_not_half_read(
    crm: XRM, write: Write
) -> None:
    acme = crm.records("account").create({"name": "Acme", "number": "A-1"})
    other = crm.records("account").create({"name": "Other", "number": "B-2"})
    rows = [
        {"name": "Ada", "account": str(other["id"]), "account.number": "A-1"},
        {"name": "Bob", "account.number": "A-1"},
    ]
    path = write("people.jsonl", jsonl(rows))

    job = crm.imports.run("contact", path)

    (rejection,) = crm.imports.rejections(job.id)
    assert rejection.line == 1
    assert rejection.problems[0] == Problem(
        "/account.number", "gives 'account' twice, with its own column; keep one of them"
    )
    (bob,) = crm.records("contact").query().records
    assert (bob["name"], bob["account"]) == ("Bob", acme["id"])


def test_rejections_are_read_from_any_line_on(crm: XRM, write: Write) -> None:
    path = write("people.csv", "name,age\n" + "".join(f"p{n},x\n" for n in range(12)))
    job = crm.imports.run("contact", path)

    lines = [r.line for r in crm.imports.rejections(job.id, after=5, limit=4)]
    rest = [r.line for r in crm.imports.rejections(job.id, after=9)]

    assert lines == [6, 7, 8, 9] and rest == [10, 11, 12, 13]


def _rejection(line: int) -> Rejection:
    return Rejection(line, {"name": f"p{line}", "age": "x" * 50}, (Problem("/age", "bad"),))


def test_held_rejections_move_to_disk_past_their_memory_and_read_back_in_order() -> None:
    wanted = [_rejection(n) for n in range(1, 101)]

    with HeldRejections(in_memory=2000) as held:
        held.add(wanted[:10])
        in_memory = held.on_disk
        held.add(wanted[10:])
        batches = list(held.batches(30))

    assert in_memory is False and held.on_disk is True and held.count == 100
    assert [len(b) for b in batches] == [30, 30, 30, 10]
    assert [r for b in batches for r in b] == wanted


def test_an_all_or_nothing_import_stores_every_rejection_it_held(crm: XRM, write: Write) -> None:
    path = write("people.csv", "name,age\n" + "".join(f"p{n},x{n}\n" for n in range(250)))

    with pytest.raises(ImportRejected) as caught:
        crm.imports.run("contact", path, mode="all_or_nothing", batch_size=100)

    job = crm.imports.get(caught.value.details["import_id"])
    assert (job.status, job.rejected, job.rows_done) == ("failed", 250, 250)
    assert [r.line for r in crm.imports.rejections(job.id)] == list(range(2, 252))
    assert crm.records("contact").count() == 0
