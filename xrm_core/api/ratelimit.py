"""Rate limiting: a token bucket per client, answering 429 with ``Retry-After``.

A client is its API token (hashed; the secret is never kept) or, without one,
its address. Buckets live in the process: with several server processes each
allows the configured rate, so divide it by their number.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from xrm_core.api.problems import problem

#: Clients remembered at once; the least recently seen are forgotten first.
MAX_CLIENTS = 100_000


class RateLimiter:
    """``rate`` requests per minute per client, ``burst`` of them at once."""

    def __init__(
        self, rate: int, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = rate / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take one request from ``client``'s bucket: 0 if allowed, else seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.per_second)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.per_second
            self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait


class RateLimitMiddleware:
    """ASGI middleware refusing requests over the limit with a 429 problem."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait = self.limiter.take(_client(scope))
        if wait == 0:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        seconds = max(1, math.ceil(wait))
        response = problem(
            429,
            "rate_limited",
            f"too many requests; try again in {seconds} second(s)",
            instance=request.url.path,
            headers={"Retry-After": str(seconds)},
        )
        await response(scope, receive, send)


def _client(scope: Scope) -> str:
    # Straight from the scope: every request passes here, and a Request costs more.
    for name, value in scope["headers"]:
        if name == b"authorization" and value:
            return "t:" + hashlib.sha256(value).hexdigest()[:32]
    client = scope.get("client")
    return "a:" + (client[0] if client else "unknown")
