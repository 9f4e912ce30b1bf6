"""Keeps a service's state files current: the journal folded into them in the background.

Every change is durable once its journal line is written; the files other programs and
backups read (``challengeperiod.json``, ``eliminations.json``, ...) are brought up to date
by folding the journal into them. Folding on every change would cost a whole-file rewrite
per call, so a thread folds at most every ``interval_s`` while changes are pending: a
burst of writes costs one rewrite, and no file is older than about ``interval_s`` behind an
acknowledged change.
"""

from __future__ import annotations

import logging
import threading

from services.storage.durable_state import DurableState
from services.storage.failure_log import FailureLog

log = logging.getLogger(__name__)

FOLD_INTERVAL_S = 0.5


class FileFolder:
    """A background thread folding ``state``'s journal into its files while it has lines."""

    def __init__(self, state: DurableState, interval_s: float = FOLD_INTERVAL_S) -> None:
        self.state = state
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="file-folder", daemon=True)
        self._failures = FailureLog(log, "folding the journal into the state files")

    def start(self) -> None:
        """Start folding."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.state.fold()
            except Exception as exc:  # a bug, not a disk error: compact() handles those
                self._failures.failed(exc, traceback=True)
            else:
                self._failures.succeeded()

    def stop(self) -> None:
        """Stop the thread; the caller's close() folds one last time."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
