"""Durable tables: one JSON file per table plus a small append-only journal.

A change is one journal line ``{"v": version, "ops": [...]}`` appended before the change is
applied in memory, so every acknowledged change survives a SIGKILL (and, with ``fsync``,
power loss). With ``fsync`` the flush is a group commit (``group_commit``): a call never
returns before its change is on the device, and concurrent writers share flushes.
The table files keep the validators' own formats; they are rewritten
atomically (temp file, fsync, rename, fsync of the dir) when the journal is folded into
them: at start, at a clean stop, and whenever the journal grows past a bound. A torn last
journal line is a change that was never acknowledged and is dropped; any other bad line,
or a table file of the wrong shape, is a ``CorruptStateError`` naming the file, and the
file is never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.domain.errors import CorruptStateError, StateWriteError
from services.storage.atomic_files import (
    json_file_bytes,
    read_json,
    write_bytes_atomic,
    write_json_atomic,
)
from services.storage.dir_lock import DirLock
from services.storage.failure_log import FailureLog
from services.storage.group_commit import GroupCommit

log = logging.getLogger(__name__)

Tables = dict[str, dict[str, Any]]
# An op is ("set", table, key, value), ("del", table, key) or ("merge", table, {key: value})
# (a dict.update of many keys in one op); each is one JSON list in the journal.
Op = tuple[Any, ...]


@dataclass(frozen=True)
class TableFile:
    """How one table is kept on disk: its file, and its codec to and from that file's JSON.

    ``decode`` raises ValueError (or TypeError/KeyError) on a document of the wrong shape;
    ``to_json`` / ``from_json`` convert one value for the journal (``to_json`` None: the
    value is journalled as it is, e.g. a tuple of built-ins, which JSON writes as a list).
    """

    table: str
    filename: str
    encode: Callable[[Mapping[str, Any]], Any]
    decode: Callable[[Any], dict[str, Any]]
    to_json: Callable[[Any], Any] | None
    from_json: Callable[[Any], Any]


def _json_line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class DurableStore(GroupCommit):
    """Tables persisted as files plus a journal; see the module docstring."""

    def __init__(
        self,
        state_dir: Path,
        name: str,
        tables: list[TableFile],
        *,
        fsync: bool = False,
        compact_after: int = 2_000,
        fold_every_change: bool = False,
        encode_line: Callable[[Any], bytes] | None = None,
        encode_file: Callable[[Any], bytes] = json_file_bytes,
    ) -> None:
        self.state_dir = Path(state_dir)
        # A journal line's JSON; a store whose values are all checked finite (JSON has no
        # NaN) may pass a faster encoder than the standard library's.
        self._encode_line = encode_line or _json_line
        self._encode_file = encode_file  # a table file's bytes, the same bargain
        self.fsync = fsync
        # Direct mode: the files are current when each call returns (no folder thread).
        self.fold_every_change = fold_every_change
        self.compact_after = compact_after
        self._tables = {t.table: t for t in tables}
        self.journal_path = self.state_dir / f"{name}.journal"
        self.meta_path = self.state_dir / f"{name}.meta.json"
        self.lock_path = self.state_dir / f"{name}.lock"
        self._dir_lock = DirLock(self.state_dir, self.lock_path)
        self._journal_fd: int | None = None
        self._fold_failures = FailureLog(log, f"folding the journal into {self.state_dir}")
        self._journal_lines = 0
        self._journal_size = 0
        # The last refused write, until a later one succeeds (health reports it as degraded).
        self.write_error: str | None = None
        self._init_group_commit()

    def load(self) -> tuple[Tables, int]:
        """Read the files, replay the journal, fold it in; returns (tables, version)."""
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateWriteError(
                f"cannot create state dir {self.state_dir}: {exc.strerror}"
            ) from exc
        self._dir_lock.take()
        try:
            self._remove_leftover_temp_files()
            return self._load_locked()
        except BaseException:
            self._dir_lock.release()
            raise

    def _remove_leftover_temp_files(self) -> None:
        """Delete the temp files of a write a killed process never finished (ours only).

        The lock is ours, so no other writer of these files is running: a temp file left
        beside them is an interrupted atomic write, and the file it was to replace is whole.
        """
        names = [spec.filename for spec in self._tables.values()]
        names += [self.meta_path.name, self.journal_path.name]
        for name in names:
            for leftover in self.state_dir.glob(f".{name}.*.tmp"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
                    log.info("removed %s, left by an interrupted write", leftover.name)

    def _load_locked(self) -> tuple[Tables, int]:
        tables, version = self.read()
        self.compact(tables, version)
        return tables, version

    def read(self) -> tuple[Tables, int]:
        """The tables and version the files and journal hold, changing nothing on disk.

        ``load`` uses it under the lock; ``cpm-migrate --check`` uses it alone, read-only.
        """
        tables: Tables = {}
        for spec in self._tables.values():
            path = self.state_dir / spec.filename
            raw = read_json(path)
            try:
                tables[spec.table] = {} if raw is None else spec.decode(raw)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise CorruptStateError(f"state file {path} has the wrong shape: {exc}") from exc
        version = self._read_version()
        return tables, self._replay(tables, version)

    def holder(self) -> str | None:
        """The pid of the process holding this store's lock, or None when nobody does."""
        return self._dir_lock.holder()

    def _read_version(self) -> int:
        raw = read_json(self.meta_path)
        if raw is None:
            return 0
        version = raw.get("version") if isinstance(raw, dict) else None
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise CorruptStateError(f"state file {self.meta_path} has the wrong shape: no version")
        return version

    def _replay(self, tables: Tables, version: int) -> int:
        try:
            raw = self.journal_path.read_bytes()
        except FileNotFoundError:
            return version
        lines = raw.split(b"\n")
        complete, torn = lines[:-1], lines[-1]
        if torn:
            log.warning("dropping the torn last line of %s (never acknowledged)", self.journal_path)
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                entry_version = entry["v"]
                ops = entry["ops"]
                if entry_version > version:
                    for op in ops:
                        self._apply_json_op(tables, op)
                    version = entry_version
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise CorruptStateError(
                    f"journal {self.journal_path} line {number} is corrupt: {exc}"
                ) from exc
        return version

    def _apply_json_op(self, tables: Tables, op: list[Any]) -> None:
        kind, table, key = op[0], op[1], op[2]
        spec = self._tables[table]
        if kind == "set":
            tables[table][key] = spec.from_json(op[3])
        elif kind == "del":
            tables[table].pop(key, None)
        elif kind == "merge":
            for merged_key, value in key.items():
                tables[table][merged_key] = spec.from_json(value)
        else:
            raise ValueError(f"unknown op {kind!r}")

    def commit(self, version: int, ops: list[Op]) -> None:
        """Journal ``ops`` as change ``version``, or raise StateWriteError leaving no trace.

        The line is written but, with ``fsync``, not yet flushed: the caller releases the
        state lock and then calls ``wait_durable(version)`` before acknowledging.
        """
        if self._flush_failure is not None:
            raise StateWriteError(f"{self._flush_failure}; the change was not applied")
        encoded: list[list[Any]] = []
        for op in ops:
            kind, table = op[0], op[1]
            if kind == "set":
                to_json = self._tables[table].to_json
                encoded.append(["set", table, op[2], op[3] if to_json is None else to_json(op[3])])
            elif kind == "merge":
                to_json = self._tables[table].to_json
                merged = op[2] if to_json is None else {k: to_json(v) for k, v in op[2].items()}
                encoded.append(["merge", table, merged])
            else:
                encoded.append(list(op))
        self._append(self._encode_line({"v": version, "ops": encoded}))
        self._written_version = version

    def _append(self, line: bytes) -> None:
        """Append one journal line (no newline in it) and flush it as configured."""
        line += b"\n"
        fd: int | None = None
        try:
            fd = self._open_journal()
            _write_all(fd, line)
        except OSError as exc:
            if fd is not None:
                # A partly written line would corrupt every line appended after it.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._journal_size)
            self._close_journal()
            self.write_error = f"state dir {self.state_dir} refused a write: {exc.strerror or exc}"
            raise StateWriteError(
                f"cannot write to state dir {self.state_dir}: {exc.strerror or exc};"
                " the change was not applied"
            ) from exc
        self.write_error = None
        self._journal_lines += 1
        self._journal_size += len(line)

    def due_for_compaction(self) -> bool:
        """True when the journal must be folded now: past its bound, or after every change."""
        return self._journal_lines >= self.compact_after or (
            self.fold_every_change and self._journal_lines > 0
        )

    def has_unfolded(self) -> bool:
        """True when the journal holds changes the files do not, or a flush failed."""
        return self._journal_lines > 0 or self._flush_failure is not None

    def compact(self, tables: Tables, version: int) -> None:
        """Fold the journal into the table files; keeps the journal if a file cannot be written.

        The files are flushed before they replace the old ones, so after a fold every change
        up to ``version`` is on the device, and a failed flush is healed. The caller holds
        the state lock; it waits for a running flush, which uses the journal's descriptor.
        """
        with self._no_flush_running():
            self._compact(tables, version)

    def _compact(self, tables: Tables, version: int) -> None:
        if not self.write_files(tables, version):
            return
        try:
            self._close_journal()
            # The table files now hold every journalled change; an empty journal replaces it.
            write_bytes_atomic(self.journal_path, b"")
        except OSError as exc:
            self._fold_failures.failed(exc)
            return
        self._folded(b"", version)

    def write_files(self, tables: Tables, version: int) -> bool:
        """Write every table file and the meta file for ``tables`` at ``version`` (each
        atomically, flushed); False, logged once, when the state dir refuses."""
        try:
            for spec in self._tables.values():
                document = spec.encode(tables[spec.table])
                write_json_atomic(self.state_dir / spec.filename, document, self._encode_file)
            write_json_atomic(self.meta_path, {"version": version})
        except OSError as exc:
            # The journal still holds every change; folding is retried, logged once.
            self._fold_failures.failed(exc)
            return False
        self._fold_failures.succeeded()
        return True

    def journal_mark(self) -> int:
        """Where the journal ends now; the caller holds the state lock."""
        return self._journal_size

    def keep_journal_after(self, mark: int, version: int) -> None:
        """The files hold every change up to ``version``, whose lines end at ``mark``: the
        journal keeps only the lines after it. The caller holds the state lock.

        The kept lines go to a new journal that is flushed before it replaces the old one,
        so they (and every change before them) are then on the device.
        """
        with self._no_flush_running():
            try:
                with open(self.journal_path, "rb") as journal:
                    journal.seek(mark)
                    tail = journal.read()
                self._close_journal()
                write_bytes_atomic(self.journal_path, tail)
            except OSError as exc:
                self._fold_failures.failed(exc)
                return
            self._folded(tail, max(version, self._written_version))

    def _folded(self, journal: bytes, durable_version: int) -> None:
        """The journal now holds ``journal``; everything up to ``durable_version`` is on the
        device, which heals a failed flush."""
        self._journal_lines = journal.count(b"\n")
        self._journal_size = len(journal)
        self._durable_version = max(self._durable_version, durable_version)
        if self._flush_failure is not None:
            log.warning("%s earlier; the whole state is on disk again", self._flush_failure)
            self._flush_failure = None
            self.write_error = None

    def export(self, tables: Tables, version: int) -> dict[str, Any]:
        """{file name: document} of every state file (meta included) for ``tables`` at
        ``version``: what the files hold after a fold, for a backup taken elsewhere."""
        documents = {
            spec.filename: spec.encode(tables[spec.table]) for spec in self._tables.values()
        }
        documents[self.meta_path.name] = {"version": version}
        return documents

    def close(self) -> None:
        """Release the journal file and the state dir."""
        self._close_journal()
        self._dir_lock.release()

    def _open_journal(self) -> int:
        if self._journal_fd is None:
            self._journal_fd = os.open(
                self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
            )
            self._journal_size = os.fstat(self._journal_fd).st_size
        return self._journal_fd

    def _close_journal(self) -> None:
        if self._journal_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._journal_fd)
            self._journal_fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
