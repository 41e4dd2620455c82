"""``xrm worker``: one round with ``--once``, and a clean stop on SIGTERM or Ctrl-C."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from xrm_core import XRM, Event, Subscriber
from xrm_core.cli import main
from xrm_core.events.outbox import Outbox
from xrm_core.ids import new_id


def test_once_leaves_deliveries_for_subscribers_it_does_not_have(xrm: XRM, db_url: str) -> None:
    xrm.events.subscribe(Subscriber("erp_sync", "committed", "*", lambda e: None))
    outbox = Outbox(xrm.db, xrm.events)
    sent = Event(
        id=new_id(),
        name="contact.created",
        entity="contact",
        record_id=new_id(),
        actor_id=None,
        correlation_id="c",
        occurred_at=dt.datetime.now(dt.UTC),
    )
    with xrm.db.transaction() as conn:
        outbox.enqueue(conn, [sent])

    result = CliRunner().invoke(main, ["worker", "--once", "--db", db_url])

    assert result.exit_code == 0, result.output
    assert "no committed subscribers in this process" in result.output
    assert result.output.rstrip().endswith("delivered 0.")
    (left,) = outbox.deliveries()
    assert (left.status, left.attempts, left.leased_by) == ("pending", 0, None)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl_c"])
def test_a_signal_stops_a_waiting_worker_at_once_and_cleanly(sqlite_url: str, stop: int) -> None:
    command = [sys.executable, "-c", "from xrm_core.cli import main; main()"]
    worker = subprocess.Popen(
        [*command, "worker", "--db", sqlite_url, "--poll", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        lines = [worker.stdout.readline() for _ in range(2)]
        assert lines[1].startswith("delivering from"), lines
        worker.send_signal(stop)
        # Far less than the poll: the signal ends the wait, not the timeout.
        out, err = worker.communicate(timeout=30)
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == 0, err
    assert out.strip() == "stopped; delivered 0."
