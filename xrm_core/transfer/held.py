"""Rejections an all-or-nothing import holds until it has rolled back: memory, then disk.

An all-or-nothing import writes in one transaction and stores its rejections
only after rolling it back, so it must hold them meanwhile; a large file of bad
rows must not hold them all in memory. They are kept as JSON lines in a
temporary file that stays in memory up to :data:`IN_MEMORY` bytes and moves to
disk beyond, and are read back a batch at a time.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import IO

from xrm_core.errors import Problem
from xrm_core.transfer.formats import json_line
from xrm_core.transfer.jobs import Rejection

#: Bytes of held rejections kept in memory before they go to a temporary file.
IN_MEMORY = 1 << 20


class HeldRejections:
    """Rejections kept in file order, in memory up to ``in_memory`` bytes, on disk beyond."""

    def __init__(self, in_memory: int = IN_MEMORY) -> None:
        self.in_memory = in_memory
        #: How many are held.
        self.count = 0
        self._lines: list[str] = []
        self._size = 0
        self._disk: IO[str] | None = None

    @property
    def on_disk(self) -> bool:
        """True once the rejections outgrew memory and went to a temporary file."""
        return self._disk is not None

    def add(self, rejections: Iterable[Rejection]) -> None:
        """Hold ``rejections`` after those held already."""
        for rejection in rejections:
            line = json_line(rejection.to_dict()) + "\n"
            self.count += 1
            self._size += len(line)
            if self._disk is None and self._size > self.in_memory:
                # Closed by close(), which the importer reaches through a with block.
                self._disk = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
                self._disk.writelines(self._lines)
                self._lines = []
            if self._disk is None:
                self._lines.append(line)
            else:
                self._disk.write(line)

    def batches(self, size: int) -> Iterator[list[Rejection]]:
        """Everything held, in the order added, ``size`` at a time."""
        lines: Iterable[str] = self._lines
        if self._disk is not None:
            self._disk.seek(0)
            lines = self._disk
        batch: list[Rejection] = []
        for line in lines:
            found = json.loads(line)
            problems = tuple(Problem(p["pointer"], p["message"]) for p in found["problems"])
            batch.append(Rejection(found["line"], found["row"], problems))
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        """Let go of the memory or the temporary file."""
        self._lines = []
        if self._disk is not None:
            self._disk.close()

    def __enter__(self) -> HeldRejections:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
