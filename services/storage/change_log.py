"""Which keys changed at which version, so a client holding version V can be sent only what
changed since V instead of the whole state.

The log lives in memory and is bounded by the number of keys it remembers; a client whose
version is older than the log (or from before a restart: see ``epoch``) gets everything.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterable

DEFAULT_CAPACITY = 50_000


class ChangeLog:
    """The keys of each table changed by each version after ``start_version``."""

    def __init__(self, start_version: int, capacity: int = DEFAULT_CAPACITY) -> None:
        # A version number means the same state only within one run of the service (a
        # client may also have talked to another service under the same name): versions
        # are compared only when the epoch matches too.
        self.epoch = secrets.token_hex(8)
        self.capacity = capacity
        self._entries: deque[tuple[int, str, tuple[str, ...]]] = deque()
        self._size = 0
        self._answerable_from = start_version
        self._latest = start_version

    def record(self, version: int, table: str, keys: Iterable[str]) -> None:
        """``keys`` of ``table`` changed in ``version`` (versions only grow)."""
        changed = tuple(keys)
        self._latest = version
        self._entries.append((version, table, changed))
        self._size += len(changed)
        while self._size > self.capacity:
            dropped_version, _, dropped = self._entries.popleft()
            self._size -= len(dropped)
            # Changes made after dropped_version are all still here; earlier ones are not.
            self._answerable_from = max(self._answerable_from, dropped_version)

    def keys_since(self, version: int) -> dict[str, set[str]] | None:
        """Per table, the keys changed after ``version``; None when the log cannot tell."""
        if not self._answerable_from <= version <= self._latest:
            return None
        changed: dict[str, set[str]] = {}
        for entry_version, table, keys in reversed(self._entries):
            if entry_version <= version:
                break
            changed.setdefault(table, set()).update(keys)
        return changed
