"""The elimination records: one row per hotkey in a local dict, journalled before applied.

Rows live in ``eliminations.json`` as ``{"eliminations": [row, ...]}``, the validators'
format; a row is ``{"hotkey", "reason", "dd", "elimination_initiated_time_ms"}`` and any
extra keys an older validator wrote are kept as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from services.domain.elimination_rules import Row
from services.domain.expiry_memo import ExpiryMemo
from services.domain.models import check_hotkey, check_int, listed
from services.storage.departed_files import (
    DEPARTED_FILE,
    EXPIRED_FILE,
    check_departed_entry,
    check_expired_time,
    decode_departed,
    decode_expired,
    encode_departed,
    encode_expired,
)
from services.storage.durable_state import DurableState
from services.storage.durable_store import DurableStore, Op, TableFile

log = logging.getLogger("cpm.elimination")

ELIMINATIONS_FILE = "eliminations.json"


ROW_FIELDS = ("reason", "dd", "elimination_initiated_time_ms")


def check_row(raw: Any) -> Row:
    """A row as read from a file or journal: a hotkey, and each field None or of its type."""
    if not isinstance(raw, dict):
        raise ValueError(f"a row must be an object, got {type(raw).__name__}")
    check_hotkey(raw.get("hotkey"), "row.hotkey")
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ValueError(f"row {raw.get('hotkey')!r} has a reason that is not a string")
    dd = raw.get("dd")
    if dd is not None and (isinstance(dd, bool) or not isinstance(dd, (int, float))):
        raise ValueError(f"row {raw['hotkey']!r} has a dd that is not a number")
    t = raw.get("elimination_initiated_time_ms")
    if t is not None:
        if isinstance(t, float) and t == int(t):
            t = int(t)  # the reference's integral float times
        check_int(t, "row.elimination_initiated_time_ms")
    return {**{f: None for f in ROW_FIELDS}, **raw, "elimination_initiated_time_ms": t}


def decode_rows(raw: Any) -> dict[str, Row]:
    """Parse eliminations.json into {hotkey: row}; a duplicate hotkey: the last row wins."""
    if raw == {}:
        return {}
    if not isinstance(raw, dict) or not isinstance(raw.get("eliminations"), list):
        raise ValueError('expected {"eliminations": [row, ...]}')
    rows: dict[str, Row] = {}
    incomplete: list[str] = []
    for given in raw["eliminations"]:
        row = check_row(given)
        if any(f not in given for f in ROW_FIELDS):
            incomplete.append(row["hotkey"])
        if row["hotkey"] in rows:
            log.warning("eliminations.json has a second row for %s; the last wins", row["hotkey"])
            del rows[row["hotkey"]]
        rows[row["hotkey"]] = row
    if incomplete:
        log.warning(
            "eliminations.json has rows missing fields (loaded as None): %s",
            listed(incomplete),
        )
    return rows


def encode_rows(rows: Mapping[str, Row]) -> dict[str, list[Row]]:
    """eliminations.json document."""
    return {"eliminations": list(rows.values())}


def open_store(
    state_dir: Path, *, fsync: bool = False, fold_every_change: bool = False
) -> DurableStore:
    """The elimination service's durable store over ``state_dir``."""
    return DurableStore(
        state_dir,
        "eliminations",
        [
            TableFile("rows", ELIMINATIONS_FILE, encode_rows, decode_rows, dict, check_row),
            TableFile(
                "departed",
                DEPARTED_FILE,
                encode_departed,
                decode_departed,
                dict,
                check_departed_entry,
            ),
            TableFile(
                "expired", EXPIRED_FILE, encode_expired, decode_expired, int, check_expired_time
            ),
        ],
        fsync=fsync,
        fold_every_change=fold_every_change,
    )


class EliminationState(DurableState):
    """Rows, departed and recently expired hotkeys; thread-safe, durable, versioned."""

    tracked = ("rows",)

    def __init__(self, store: DurableStore) -> None:
        super().__init__(store)
        self.rows: dict[str, Row] = self.tables["rows"]
        self.departed: dict[str, dict[str, int]] = self.tables["departed"]
        self.expired: dict[str, int] = self.tables["expired"]
        self._expiry = ExpiryMemo()

    def _commit(self, ops: list[Op]) -> None:
        self._expiry.saw(ops)  # before they apply: a failed commit leaves it cautious
        super()._commit(ops)

    def expiring(self, metagraph: AbstractSet[str], now_ms: int, expiry_ms: int) -> list[str]:
        """``plan_expiry`` of the rows (see ``ExpiryMemo``); the caller holds the lock."""
        return self._expiry.plan(self.rows, metagraph, now_ms, expiry_ms)

    def all_rows(self) -> list[Row]:
        """Every row, oldest first."""
        with self.lock:
            return list(self.rows.values())

    def hotkeys(self) -> list[str]:
        """Every eliminated hotkey."""
        with self.lock:
            return list(self.rows)

    def hotkeys_since(self, since: tuple[str, int] | None) -> dict[str, Any]:
        """What a client holding the eliminated hotkeys of ``since`` = (epoch, version)
        lacks: ``added`` and ``removed`` since then, or ``all`` of them when ``since`` is
        None, from another epoch or older than the change log; with the new ``since``."""
        with self.lock:
            reply: dict[str, Any] = {"since": [self.changes.epoch, self.version]}
            keys = self.changed_since(since)
            if keys is None:
                reply["all"] = list(self.rows)
                return reply
            changed = keys.get("rows", set())
            reply["added"] = [hk for hk in changed if hk in self.rows]
            reply["removed"] = [hk for hk in changed if hk not in self.rows]
            return reply

    def append(self, row: Row) -> bool:
        """Add ``row`` unless its hotkey already has one; True when added."""
        with self.lock:
            if row["hotkey"] in self.rows:
                return False
            self._commit([("set", "rows", row["hotkey"], row)])
            return True

    def delete(self, hotkeys: Iterable[str]) -> int:
        """Remove the rows of ``hotkeys``; returns how many existed."""
        with self.lock:
            ops: list[Op] = [("del", "rows", hk) for hk in set(hotkeys) if hk in self.rows]
            self._commit(ops)
            return len(ops)

    def append_all(self, rows: list[Row]) -> None:
        """Add every row, in one durable change; the caller checked none of them exists."""
        with self.lock:
            self._commit([("set", "rows", row["hotkey"], row) for row in rows])

    def replace_all(self, rows: Mapping[str, Row]) -> list[str]:
        """Make ``rows`` the only rows, in their order, in one durable change; returns the
        hotkeys that had a row and have none now."""
        with self.lock:
            removed = [hk for hk in self.rows if hk not in rows]
            ops: list[Op] = [("del", "rows", hk) for hk in self.rows]
            ops += [("set", "rows", hk, row) for hk, row in rows.items()]
            self._commit(ops)
            return removed

    def fold_into_files(self) -> None:
        """Rewrite the files from memory now (the journal is folded in)."""
        with self.lock:
            self._store.compact(self.tables, self.version)

    def record_departed(self, entries: Mapping[str, dict[str, int]]) -> None:
        """Add departed entries (a hotkey already departed keeps its first one)."""
        with self.lock:
            new = {hk: e for hk, e in entries.items() if hk not in self.departed}
            if new:
                self._commit([("merge", "departed", new)])

    def expire(self, hotkeys: Iterable[str], now_ms: int) -> list[str]:
        """Delete the rows of ``hotkeys`` and remember them as recently expired, in one change."""
        with self.lock:
            gone = [hk for hk in dict.fromkeys(hotkeys) if hk in self.rows]
            ops: list[Op] = [("del", "rows", hk) for hk in gone]
            if gone:
                ops.append(("merge", "expired", {hk: now_ms for hk in gone}))
            self._commit(ops)
            return gone

    def forget_expired(self, hotkeys: Iterable[str]) -> None:
        """Stop shielding ``hotkeys`` from the zombie step."""
        with self.lock:
            self._commit([("del", "expired", hk) for hk in set(hotkeys) if hk in self.expired])
