"""Resuming: an interrupted import continues after its last committed batch, once.

The crash is real: a separate process imports, is held inside a batch (its
records written, not committed) by an ``after`` subscriber, and is killed with
SIGKILL once the database shows its earlier batches committed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from xrm_core import XRM
from xrm_core.cli import main
from xrm_core.errors import ImportStateError
from xrm_core.transfer import Progress
from xrm_core.transfer.jobs import BatchOutcome, ImportStore

Write = Callable[[str, str | bytes], Path]

#: Imports in batches of 100 and stops, for good, inside the batch that holds row ``hold``.
_HELD_IMPORT = """
import sys
from xrm_core import XRM, Subscriber

url, path, hold = sys.argv[1], sys.argv[2], int(sys.argv[3])
xrm = XRM.from_url(url).as_system("import")
seen = [0]

def after(event):
    seen[0] += 1
    if seen[0] == hold:
        print("held", flush=True)
        sys.stdin.readline()  # never answered: the test kills this process here

xrm.events.subscribe(Subscriber("hold_import", "after", "contact.created", after))
xrm.imports.run("contact", path, batch_size=100)
"""


def _people(write: Write, count: int) -> Path:
    return write("people.csv", "name,age\n" + "".join(f"p{n:05},{n}\n" for n in range(count)))


def _names(xrm: XRM) -> list[str]:
    names: list[str] = []
    cursor = None
    while True:
        page = xrm.records("contact").query(order=["name"], limit=1000, cursor=cursor)
        names += [r["name"] for r in page]
        if (cursor := page.next_cursor) is None:
            return names


def test_an_import_killed_mid_batch_resumes_without_duplicates_or_gaps(
    crm: XRM, db_url: str, write: Write
) -> None:
    path = _people(write, 1000)
    with subprocess.Popen(
        [sys.executable, "-c", _HELD_IMPORT, db_url, str(path), "250"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            line = process.stdout.readline()
            assert line == "held\n", process.stderr.read()
            # Held in the third batch: the database shows the first two committed.
            (job,) = crm.imports.find()
            assert (job.status, job.rows_done, job.created) == ("running", 200, 200)
        finally:
            process.kill()
    assert crm.records("contact").count() == 200  # the third batch died uncommitted

    result = CliRunner().invoke(main, ["import", "contact", str(path), "--db", db_url, "--resume"])

    assert result.exit_code == 0, result.output
    assert "1000 created" in result.stdout and str(job.id) in result.stdout
    assert _names(crm) == [f"p{n:05}" for n in range(1000)]
    done = crm.imports.get(job.id)
    assert (done.status, done.rows_done, done.created, done.rejected) == (
        "completed",
        1000,
        1000,
        0,
    )


class _Stop(Exception):
    """Interrupts an import from its progress handler."""


def _interrupted(crm: XRM, path: Path, after_rows: int, **options: object) -> str:
    def stop(progress: Progress) -> None:
        if progress.rows >= after_rows:
            raise _Stop

    with pytest.raises(_Stop):
        crm.imports.run("contact", path, batch_size=100, on_progress=stop, **options)  # type: ignore[arg-type]
    (job,) = crm.imports.find()
    return str(job.id)


def test_resume_continues_counts_and_reports_where_the_import_stopped(
    crm: XRM, write: Write
) -> None:
    path = write(
        "people.csv",
        "name,age\n" + "".join(f"p{n:03},{'x' if n % 100 == 7 else n}\n" for n in range(300)),
    )
    report = path.with_name("rejected.csv")
    import_id = _interrupted(crm, path, 100, report=report)
    assert crm.imports.get(import_id).rows_done == 100

    job = crm.imports.resume(import_id, path)

    assert (job.status, job.rows_done, job.created, job.rejected) == ("completed", 300, 297, 3)
    assert [r.line for r in crm.imports.rejections(job.id)] == [9, 109, 209]
    assert [line.split(",")[0] for line in report.read_text().splitlines()] == [
        "line",
        "9",
        "109",
        "209",
    ]
    assert crm.records("contact").count() == 297


def test_resume_refuses_other_data_and_finished_imports(crm: XRM, write: Write) -> None:
    path = _people(write, 300)
    import_id = _interrupted(crm, path, 100)
    changed = write("changed.csv", path.read_text().replace("p00299", "someone"))

    with pytest.raises(ImportStateError, match="not the file"):
        crm.imports.resume(import_id, changed)
    crm.imports.resume(import_id, path)
    with pytest.raises(ImportStateError, match="completed"):
        crm.imports.resume(import_id, path)
    assert crm.records("contact").count() == 300


def test_two_processes_cannot_both_count_the_same_batch(crm: XRM, write: Write) -> None:
    job = crm.imports.get(_interrupted(crm, _people(write, 300), 100))
    store = ImportStore(crm.db)
    batch = BatchOutcome(rows=100, created=100, updated=0, rejections=())
    with crm.transaction() as conn:
        store.record(conn, job, job.rows_done, batch)

    # The other process read the same position before the first one moved it.
    stale = pytest.raises(ImportStateError, match="continued by another process")
    with stale, crm.transaction() as conn:
        store.record(conn, job, job.rows_done, batch)
    assert crm.imports.get(job.id).rows_done == 200


def test_the_command_line_finds_an_interrupted_import_of_the_same_file(
    crm: XRM, db_url: str, write: Write
) -> None:
    path = _people(write, 300)
    import_id = _interrupted(crm, path, 100)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["import", "contact", str(path), "--db", db_url, *args])
        return result.exit_code, result.stderr if result.exit_code else result.stdout

    code, said = run()
    assert code == 1 and said.strip().endswith(
        "add --resume to continue it, or --restart to start over"
    )
    assert import_id in said
    code, said = run("--restart")
    assert code == 0 and "300 created" in said
    assert crm.imports.get(import_id).status == "abandoned"
    assert crm.records("contact").count() == 400  # the abandoned one's 100, and 300 anew
    code, said = run("--resume")
    assert code == 1 and "no interrupted import" in said
