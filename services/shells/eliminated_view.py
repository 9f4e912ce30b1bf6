"""The eliminated hotkeys a refresh uses, as the elimination service reports them.

While that service answers, each refresh asks it (one call). When a call fails (down, or
hung past the call's deadline), the refresh goes on at once with the set known last, and
so does every later refresh: a thread retries in the background every ``retry_s`` and
brings the set up to date when the service answers again. A hung service therefore costs
one call's deadline once, not one per refresh. The outage is logged once, and once more
when it ends; health reports it meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from services.domain.errors import ServiceUnavailableError

log = logging.getLogger(__name__)

EliminatedSource = Callable[[], Iterable[str]]
RETRY_S = 1.0


class EliminatedView:
    """The last known eliminated hotkeys, refreshed from ``source`` while it answers."""

    def __init__(self, source: EliminatedSource | None, retry_s: float = RETRY_S) -> None:
        self._source = source
        self._retry_s = retry_s
        self._known: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._down = False
        self._retrier: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def has_source(self) -> bool:
        """True when there is a service to learn eliminated hotkeys from."""
        return self._source is not None

    @property
    def down(self) -> bool:
        """True while the last attempt to reach the service failed."""
        return self._down

    def set_source(self, source: EliminatedSource) -> None:
        """Learn from ``source`` from now on."""
        self._source = source

    def current(self) -> frozenset[str]:
        """The set for a refresh: asked of the service unless it is known to be down."""
        source = self._source
        if source is None or self._down:
            return self._known
        try:
            fetched = frozenset(source())
        except ServiceUnavailableError as exc:
            self._went_down(exc)
            return self._known
        self._known = fetched
        return fetched

    def close(self) -> None:
        """Stop retrying."""
        self._stop.set()
        retrier = self._retrier
        if retrier is not None:
            retrier.join(timeout=10)

    def _went_down(self, exc: ServiceUnavailableError) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
            log.warning(
                "elimination service unavailable (%s); refreshing with the %d eliminated "
                "hotkeys known last, retrying every %.0f s",
                exc,
                len(self._known),
                self._retry_s,
            )
            self._retrier = threading.Thread(
                target=self._retry, name="eliminated-retry", daemon=True
            )
            self._retrier.start()

    def _retry(self) -> None:
        while not self._stop.wait(self._retry_s):
            source = self._source
            if source is None:
                continue
            try:
                fetched = frozenset(source())
            except ServiceUnavailableError:
                continue
            with self._lock:
                self._known = fetched
                self._down = False
            log.info("elimination service answers again")
            return
