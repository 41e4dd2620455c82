"""Bodies too large to hold: uploads read as they arrive, downloads sent as they are written.

The services are synchronous and work with blocking streams (an import reads
a binary file, an export writes a text file). :class:`RequestBody` gives an
endpoint's thread a blocking reader over the request body that the event loop
receives chunk by chunk; :func:`streamed` runs a writer in a thread of its own
and sends what it writes while it writes, so neither holds a whole file.
"""

from __future__ import annotations

import contextvars
import io
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import IO, Any

import anyio.from_thread
from starlette.requests import ClientDisconnect, Request

from xrm_core.errors import UploadInterrupted

logger = logging.getLogger("xrm.api")

#: Bytes a download collects before sending them (besides at each writer's flush).
CHUNK = 256 * 1024
#: Chunks waiting to be sent; a writer faster than the client waits for it.
_QUEUED = 8


class RequestBody(io.RawIOBase):
    """The request's body as a blocking binary stream, for a worker thread of the server.

    Each read waits for the client's next chunk (the event loop receives it);
    nothing is buffered beyond one chunk. A client that goes away mid-body
    raises :class:`~xrm_core.errors.UploadInterrupted` from the read.
    """

    def __init__(self, request: Request) -> None:
        self._chunks: AsyncIterator[bytes] = request.stream()
        self._pending = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._ended:
            chunk = anyio.from_thread.run(self._next)
            if chunk is None:
                self._ended = True
            else:
                self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None
        except ClientDisconnect:
            raise UploadInterrupted(
                "the upload ended before the body was complete; what was committed stays"
            ) from None


class _Cancelled(Exception):
    """Stops a writer whose client went away."""


class _Done:
    """Marks the end of a download (with the writer's error, if it failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Pipe:
    """A text stream a writer thread writes to and a download reads from, bounded.

    ``flush`` sends what was written so far; so does every :data:`CHUNK` of text.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | _Done] = queue.Queue(maxsize=_QUEUED)
        self._parts: list[str] = []
        self._size = 0
        self._cancelled = threading.Event()

    def write(self, text: str) -> int:
        """Keep ``text`` to send; send what is kept once it is a chunk."""
        self._parts.append(text)
        self._size += len(text)
        if self._size >= CHUNK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        """Send what was written so far."""
        if self._parts:
            data = "".join(self._parts).encode("utf-8")
            self._parts, self._size = [], 0
            self._put(data)

    def close(self, error: BaseException | None = None) -> None:
        """End the download: send what is left, then the end (or the error)."""
        try:
            if error is None:
                self.flush()
            self._put(_Done(error))
        except _Cancelled:
            pass

    def cancel(self) -> None:
        """The reader is gone: make the writer's next write fail, and unblock it."""
        self._cancelled.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _put(self, item: bytes | _Done) -> None:
        # Checked before each put; cancel() empties the queue after setting the
        # flag, so a writer blocked here gets a slot and stops at its next put.
        if self._cancelled.is_set():
            raise _Cancelled
        self._queue.put(item)

    def get(self) -> bytes | _Done:
        """The next chunk, or the end; waits for the writer."""
        return self._queue.get()


def streamed(write: Callable[[IO[str]], object], *, name: str) -> Iterator[bytes]:
    """Run ``write(stream)`` in a thread; return the chunks it writes, as it writes them.

    Waits for the first chunk before returning, so an error ``write`` raises
    before writing anything (a bad query) is raised here, where it can still
    become a problem response; a later error ends the download early (the
    client sees a truncated body) and is logged. The writer should flush at
    points where what it wrote is known to be good (after each page).
    """
    pipe = Pipe()

    def run() -> None:
        try:
            write(pipe)  # type: ignore[arg-type]
        except _Cancelled:
            return
        except BaseException as exc:
            pipe.close(exc)
            return
        pipe.close()

    context = contextvars.copy_context()  # the request's correlation id, in the writer
    threading.Thread(target=context.run, args=(run,), name=name, daemon=True).start()
    first = pipe.get()
    if isinstance(first, _Done):
        if first.error is not None:
            raise first.error
        return iter(())
    return _rest(pipe, first, name)


def _rest(pipe: Pipe, first: bytes, name: str) -> Iterator[bytes]:
    try:
        yield first
        while not isinstance(item := pipe.get(), _Done):
            yield item
        if item.error is not None:
            logger.error("%s failed after it started sending: %r", name, item.error)
            raise item.error
    finally:
        pipe.cancel()
