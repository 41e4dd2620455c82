"""Where API calls run: a few worker threads at a time, not one per request in flight.

The services are synchronous and a call holds the GIL for most of its time
(Python work; the database waits are short). Starlette's thread pool lets 40
calls run at once, so under load every request in flight has a thread, they
take the GIL from each other and from the event loop reading the next
requests, and the server answers fewer requests the more it is sent: measured
with 8 requests in flight, a read by id on SQLite answered about 1,000 a second
with the 40 threads and 1,700 with 2 (docs/benchmarks.md). A call waits for
one of ``settings.api_threads`` places instead (``XRM_API_THREADS``): more
help only while calls wait on a distant database.

Uploads are not limited here: a streamed import holds its thread while the
client sends the file, and slow clients must not keep everyone else waiting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

T = TypeVar("T")


class ServiceThreads:
    """At most ``size`` calls at once in worker threads, per event loop."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("api_threads must be at least 1")
        self.size = size
        # A limiter belongs to the event loop it is used on (as anyio's default one).
        self._limiter: RunVar[CapacityLimiter] = RunVar(f"xrm_api_threads_{id(self)}")

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker thread, once a place is free."""
        try:
            limiter = self._limiter.get()
        except LookupError:
            limiter = CapacityLimiter(self.size)
            self._limiter.set(limiter)
        return await anyio.to_thread.run_sync(functools.partial(function, *args), limiter=limiter)


async def run_call(request: Request, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in one of the app's API threads (see :class:`ServiceThreads`).

    An app other than :func:`~xrm_core.api.app.create_app`'s (a test's, one an
    endpoint is mounted in) has none: Starlette's thread pool then.
    """
    threads: ServiceThreads | None = getattr(request.app.state, "api_threads", None)
    if threads is None:
        return await run_in_threadpool(function, *args)
    return await threads.run(function, *args)
