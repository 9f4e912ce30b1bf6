"""Group commit: one ``fdatasync`` of the journal covers every line written before it.

A writer appends its journal line under the state lock, releases the lock, and then waits
in ``wait_durable`` until a flush has covered its line. When no flush runs, the waiter
flushes every line written so far; otherwise it waits for the running flush and returns if
that one covered its line. So concurrent writers share flushes instead of queueing for one
each, and no call returns before its change is on the device.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from services.domain.errors import StateWriteError


class GroupCommit:
    """The flushing half of ``DurableStore`` (which sets the journal's descriptor and the
    version of the last line written)."""

    state_dir: Path
    fsync: bool
    write_error: str | None
    _journal_fd: int | None

    def _init_group_commit(self) -> None:
        # The version of the last line appended, and of the last one flushed. One flush
        # runs at a time; a waiter whose line a finished flush covered goes at once.
        self._flushed = threading.Condition()
        self._flushing = False
        self._written_version = 0
        self._durable_version = 0
        # Set when a flush failed: memory is then ahead of the device, so every write is
        # refused until a fold has written the whole state again.
        self._flush_failure: str | None = None

    def wait_durable(self, version: int) -> None:
        """Return once change ``version`` is on the device (at once without ``fsync``).

        Called without the state lock. When no flush runs, the waiter flushes every line
        written so far; otherwise it waits for the running flush and returns if that one
        covered its line. A failed flush raises StateWriteError to each waiter it did not
        cover, and stops all writes until a fold succeeds.
        """
        if not self.fsync:
            return
        with self._flushed:
            while True:
                if self._durable_version >= version:
                    return
                if self._flush_failure is not None:
                    raise StateWriteError(
                        f"{self._flush_failure}; the change may not survive a power loss"
                    )
                if not self._flushing:
                    break
                self._flushed.wait()
            self._flushing = True
            target = self._written_version
        try:
            if self._journal_fd is not None:
                os.fdatasync(self._journal_fd)
        except OSError as exc:
            failure = f"state dir {self.state_dir} refused a flush: {exc.strerror or exc}"
            with self._flushed:
                self._flush_failure = failure
                self.write_error = failure
                self._flushing = False
                self._flushed.notify_all()
            raise StateWriteError(f"{failure}; the change may not survive a power loss") from exc
        with self._flushed:
            self._durable_version = max(self._durable_version, target)
            self._flushing = False
            self._flushed.notify_all()

    @contextlib.contextmanager
    def _no_flush_running(self) -> Iterator[None]:
        """Hold the flusher's slot: no flush uses the journal's descriptor meanwhile."""
        with self._flushed:
            while self._flushing:
                self._flushed.wait()
            self._flushing = True
        try:
            yield
        finally:
            with self._flushed:
                self._flushing = False
                self._flushed.notify_all()
