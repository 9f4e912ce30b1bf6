"""A failure that repeats is logged once, again when it changes, and once when it clears.

A background loop that retries (a refresh, an elimination round, a fold) would otherwise
write a traceback on every attempt: a full disk or a token mismatch between the services
filled the log with hundreds of identical tracebacks in seconds.
"""

from __future__ import annotations

import logging


class FailureLog:
    """Logs ``what`` failing: one line per distinct error, one line when it works again."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self._last: str | None = None

    def failed(self, exc: BaseException, *, traceback: bool = False) -> None:
        """Note a failure; logged only when it is new or different from the last one (with
        its traceback then, when asked: an unexpected error is worth one)."""
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if message != self._last:
            self.logger.error(
                "%s failed: %s (retrying; logged again if it changes)",
                self.what,
                message,
                exc_info=exc if traceback else None,
            )
        self._last = message

    def succeeded(self) -> None:
        """Note a success; logged once after failures."""
        if self._last is not None:
            self.logger.info("%s works again", self.what)
        self._last = None
