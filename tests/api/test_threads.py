"""API calls run in at most ``api_threads`` worker threads at once (decision 0043)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2 as httpx
import pydantic
import pytest
from starlette.routing import Route

from tests.api.conftest import make_api
from xrm_core.api.endpoint import Call, endpoint
from xrm_core.api.threads import ServiceThreads
from xrm_core.settings import Settings

CALLS = 3


class Probe:
    """A handler that counts the calls inside it and waits for ``gate``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.peak = 0
        self.entered = threading.Semaphore(0)
        self.gate = threading.Event()

    def __call__(self, call: Call | None = None) -> dict[str, int]:
        with self.lock:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
        self.entered.release()
        self.gate.wait()
        with self.lock:
            self.inside -= 1
        return {"peak": self.peak}

    async def wait_for(self, calls: int) -> None:
        """Until ``calls`` calls are inside, then until every task waits (a thread, a place)."""
        for _ in range(calls):
            await anyio.to_thread.run_sync(self.entered.acquire)
        await anyio.wait_all_tasks_blocked()


@pytest.mark.parametrize("size", [1, 2])
def test_at_most_size_calls_run_at_once_the_others_wait_their_turn(size: int) -> None:
    threads, probe = ServiceThreads(size), Probe()

    async def main() -> list[dict[str, int]]:
        calls = [asyncio.ensure_future(threads.run(probe)) for _ in range(CALLS)]
        try:
            await probe.wait_for(size)
            assert probe.inside == size  # the others have not started
        finally:
            probe.gate.set()  # else a failure leaves threads waiting forever
        return await asyncio.gather(*calls)

    assert len(asyncio.run(main())) == CALLS
    assert probe.peak == size


def test_the_app_runs_api_calls_in_its_threads(db_url: str, tmp_path: Path) -> None:
    for api in make_api(db_url, tmp_path, api_threads=1):
        app, probe = api.client.app, Probe()
        app.router.routes.insert(0, Route("/probe", endpoint(probe), methods=["GET"]))  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {api.clerk_token}"}

        answers = asyncio.run(_send_at_once(app, probe, headers))

        assert [a.status_code for a in answers] == [200] * CALLS
        assert probe.peak == 1


async def _send_at_once(app: Any, probe: Probe, headers: dict[str, str]) -> list[httpx.Response]:
    """``CALLS`` requests to the probe at once; only one may be inside it."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://xrm.test") as client:
        sent = [asyncio.ensure_future(client.get("/probe", headers=headers)) for _ in range(CALLS)]
        try:
            await probe.wait_for(1)
            assert probe.inside == 1
        finally:
            probe.gate.set()
        return await asyncio.gather(*sent)


def test_api_threads_is_at_least_one() -> None:
    with pytest.raises(pydantic.ValidationError, match="api_threads"):
        Settings(api_threads=0)
    with pytest.raises(ValueError, match="at least 1"):
        ServiceThreads(0)
