"""The in-memory side of a durable table set: one lock, and changes journalled before they
are applied (``DurableStore`` keeps them on disk)."""

from __future__ import annotations

import threading
from typing import Any

from services.storage.change_log import ChangeLog
from services.storage.durable_store import DurableStore, Op


class StateLock:
    """The state's re-entrant lock; leaving its outermost level waits for the flush.

    A change journalled under the lock is acknowledged only after ``wait_durable``, which
    runs once the lock is free, so other writers append their lines during the flush and
    share the next one (group commit).
    """

    def __init__(self, store: DurableStore) -> None:
        self._store = store
        self._lock = threading.RLock()
        self._local = threading.local()

    def note_written(self, version: int) -> None:
        """The holder journalled ``version``; it must be flushed before the holder goes on."""
        self._local.pending = version

    def __enter__(self) -> StateLock:
        self._lock.acquire()
        self._local.depth = getattr(self._local, "depth", 0) + 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._local.depth -= 1
        outermost = self._local.depth == 0
        self._lock.release()
        if outermost:
            pending = getattr(self._local, "pending", None)
            if pending is not None:
                self._local.pending = None
                self._store.wait_durable(pending)


class DurableState:
    """Tables held in memory under one lock; each change is journalled, then applied.

    Subclasses add the operations of one service. Single-key reads may go without the lock
    (a dict lookup is atomic under the GIL); anything that iterates or changes the tables
    holds it, so no reader ever sees half of a change. A change is on the device before
    the outermost ``with self.lock`` that made it is left (see ``StateLock``). The keys
    each version changes in the ``tracked`` tables are noted in ``changes``, so a client
    holding a version can be sent only what changed since.
    """

    tracked: tuple[str, ...] = ()

    def __init__(self, store: DurableStore) -> None:
        self._store = store
        self.lock = StateLock(store)
        # One fold at a time: a fold writes the files from a copy taken under the lock.
        self._fold_mutex = threading.Lock()
        self.tables, self.version = store.load()
        self.changes = ChangeLog(self.version)

    def _commit(self, ops: list[Op]) -> None:
        """Journal ``ops`` as the next version, then apply them; the caller holds the lock."""
        if not ops:
            return
        self._store.commit(self.version + 1, ops)
        self.version += 1
        self.lock.note_written(self.version)
        for op in ops:
            table = self.tables[op[1]]
            if op[0] == "set":
                table[op[2]] = op[3]
            elif op[0] == "merge":
                table.update(op[2])
            else:
                table.pop(op[2], None)
        for name in self.tracked:
            keys: list[str] = []
            for op in ops:
                if op[1] == name:
                    keys.extend(op[2] if op[0] == "merge" else (op[2],))
            if keys:
                self.changes.record(self.version, name, keys)
        # A background fold under way will shorten the journal; this one would wait for it.
        if self._store.due_for_compaction() and self._fold_mutex.acquire(blocking=False):
            try:
                self._store.compact(self.tables, self.version)
            finally:
                self._fold_mutex.release()

    def changed_since(self, since: tuple[str, int] | None) -> dict[str, set[str]] | None:
        """Per tracked table, the keys changed after ``since`` = (epoch, version); None when
        ``since`` is None, from another run (epoch), or older than the change log. The
        caller holds the lock."""
        if since is None or since[0] != self.changes.epoch:
            return None
        return self.changes.keys_since(since[1])

    @property
    def store(self) -> DurableStore:
        """The store under these tables (its state dir and last write error, for health)."""
        return self._store

    def fold(self) -> bool:
        """Fold the journal into the files if it holds anything; True when it did.

        Only the two ends hold the state lock: taking a copy of the tables, and cutting the
        journal down to the lines written since. Encoding and writing the files, the slow
        part, runs while calls go on. The table values are never changed in place, so a
        shallow copy is a consistent picture.
        """
        with self._fold_mutex:
            with self.lock:
                if not self._store.has_unfolded():
                    return False
                tables = {name: dict(table) for name, table in self.tables.items()}
                version, mark = self.version, self._store.journal_mark()
            if not self._store.write_files(tables, version):
                return False
            with self.lock:
                self._store.keep_journal_after(mark, version)
            return True

    def export(self) -> dict[str, Any]:
        """Every state file's document, one consistent instant (taken under the lock)."""
        with self.lock:
            return self._store.export(self.tables, self.version)

    def close(self) -> None:
        """Fold the journal into the files and release them."""
        with self._fold_mutex, self.lock:
            self._store.compact(self.tables, self.version)
            self._store.close()
