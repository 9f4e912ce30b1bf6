"""Bounded-staleness reads for ``ChallengePeriodManager(max_staleness_ms=...)``.

Lookups are answered from a ``SnapshotMirror`` as long as its last sync *started* less
than ``max_staleness_ms`` ago; otherwise the caller syncs first (one small round trip,
usually carrying no or few changes). A sync started at time s holds every change the
service acknowledged before s, so an answer given at time t includes every change
acknowledged before t - max_staleness_ms: no answer is older than the bound.

A mutating call through the same client invalidates the copy, so that client always
reads its own writes. The invalidation is a generation counter: a sync that was already
under way when the write happened does not count as fresh, since it may have missed it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from clients.snapshot_mirror import Fetch, SnapshotMirror
from services.domain.errors import InvalidInputError, InvalidTypeError

MAX_STALENESS_LIMIT_MS = 3_600_000


def check_max_staleness_ms(value: object) -> int | None:
    """None (no cache), or a whole number of milliseconds from 1 to an hour."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(
            f"max_staleness_ms must be an int or None, got {type(value).__name__}"
        )
    if not 0 < value <= MAX_STALENESS_LIMIT_MS:
        raise InvalidInputError(
            f"max_staleness_ms must be 1..{MAX_STALENESS_LIMIT_MS}, got {value}"
        )
    return value


class ReadCache:
    """A ``SnapshotMirror`` served while it is fresher than ``max_staleness_ms``."""

    def __init__(
        self,
        mirror: SnapshotMirror,
        fetch: Fetch,
        max_staleness_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mirror = mirror
        self._fetch = fetch
        self.max_staleness_s = max_staleness_ms / 1000
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        # (monotonic start of the sync, generation when it started); never fresh at first.
        self._fresh: tuple[float, int] = (float("-inf"), -1)

    def current(self) -> SnapshotMirror:
        """The mirror, synced first when it is older than the bound or invalidated."""
        started, generation = self._fresh
        if generation != self._generation or self._clock() - started >= self.max_staleness_s:
            self.sync()
        return self.mirror

    def sync(self) -> None:
        """Sync the mirror now; it counts as fresh unless a write went through meanwhile."""
        generation = self._generation
        started = self.mirror.sync(self._fetch, self._clock)
        with self._lock:
            if generation == self._generation and started >= self._fresh[0]:
                self._fresh = (started, generation)

    def invalidate(self) -> None:
        """A write went through this client: the next read syncs first."""
        with self._lock:
            self._generation += 1
