"""The elimination records: one row per hotkey in a local dict, journalled before applied.

Rows live in ``eliminations.json`` as ``{"eliminations": [row, ...]}``, the validators'
format; a row is ``{"hotkey", "reason", "dd", "elimination_initiated_time_ms"}`` and any
extra keys an older validator wrote are kept as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from services.domain.elimination_rules import Row
from services.domain.models import check_hotkey, check_int
from services.storage.durable_store import DurableState, DurableStore, Op, TableFile

log = logging.getLogger("cpm.elimination")

ELIMINATIONS_FILE = "eliminations.json"


def check_row(raw: Any) -> Row:
    """A row as read from a file or journal: the four fields present and of the right type."""
    if not isinstance(raw, dict):
        raise ValueError(f"a row must be an object, got {type(raw).__name__}")
    check_hotkey(raw.get("hotkey"), "row.hotkey")
    if not isinstance(raw.get("reason"), str):
        raise ValueError(f"row {raw.get('hotkey')!r} has no reason string")
    dd = raw.get("dd")
    if dd is not None and (isinstance(dd, bool) or not isinstance(dd, (int, float))):
        raise ValueError(f"row {raw['hotkey']!r} has a dd that is not a number")
    check_int(raw.get("elimination_initiated_time_ms"), "row.elimination_initiated_time_ms")
    return dict(raw)


def decode_rows(raw: Any) -> dict[str, Row]:
    """Parse eliminations.json into {hotkey: row}; a duplicate hotkey keeps its first row."""
    if not isinstance(raw, dict) or not isinstance(raw.get("eliminations"), list):
        raise ValueError('expected {"eliminations": [row, ...]}')
    rows: dict[str, Row] = {}
    for row in map(check_row, raw["eliminations"]):
        if row["hotkey"] in rows:
            log.warning(
                "eliminations.json has a second row for %s; keeping the first", row["hotkey"]
            )
            continue
        rows[row["hotkey"]] = row
    return rows


def encode_rows(rows: Mapping[str, Row]) -> dict[str, list[Row]]:
    """eliminations.json document."""
    return {"eliminations": list(rows.values())}


def open_store(state_dir: Path, *, fsync: bool = False) -> DurableStore:
    """The elimination service's durable store over ``state_dir``."""
    return DurableStore(
        state_dir,
        "eliminations",
        [TableFile("rows", ELIMINATIONS_FILE, encode_rows, decode_rows, dict, check_row)],
        fsync=fsync,
    )


class EliminationState(DurableState):
    """Rows by hotkey; thread-safe, durable, versioned."""

    def __init__(self, store: DurableStore) -> None:
        super().__init__(store)
        self.rows: dict[str, Row] = self.tables["rows"]

    def all_rows(self) -> list[Row]:
        """Every row, oldest first."""
        with self.lock:
            return list(self.rows.values())

    def hotkeys(self) -> list[str]:
        """Every eliminated hotkey."""
        with self.lock:
            return list(self.rows)

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
