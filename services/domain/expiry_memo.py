"""``plan_expiry`` without walking every row each round.

A round asks which rows are old enough to expire and whose hotkey left the metagraph. With
thousands of rows that walk took about a millisecond a round, though almost every row is
too young. The memo remembers, from its last walk, the rows that were old then (in the
rows' order) and a floor under the time of every other row. While no other row can be old
(the floor is too recent), the answer is among the rows old at the last walk; otherwise it
walks again. The row changes the state commits are shown to it first (``saw``): a row set
lowers the floor to its time. The answer is ``plan_expiry``'s, order included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from services.domain.elimination_rules import Row, old_enough, row_time


class ExpiryMemo:
    """What ``plan_expiry(rows, metagraph, now_ms, rules)`` returns, for one rows table.

    Exact for any round time and expiry age: a row not old at the last walk has a time at
    or above the floor, so it can be old now only if a row at the floor's time is, and then
    the memo walks. A row deleted since is skipped; one set in place keeps its position and
    is judged by its new time.
    """

    def __init__(self) -> None:
        self._old: dict[str, None] | None = None  # None: walk on the next plan
        self._floor: float = math.inf

    def saw(self, ops: Sequence[tuple[Any, ...]]) -> None:
        """Changes about to be made to the table (``set``/``del`` ops on ``rows``)."""
        for op in ops:
            if op[1] != "rows" or op[0] == "del":
                continue
            if op[0] != "set":
                self._old = None
                continue
            t = row_time(op[3])
            if t is not None and t < self._floor:  # a NaN is never old
                self._floor = t

    def plan(
        self,
        rows: Mapping[str, Row],
        metagraph: AbstractSet[str],
        now_ms: int,
        expiry_ms: int,
    ) -> list[str]:
        """The hotkeys whose rows expire now, in the rows' order."""
        if not metagraph:
            return []
        if self._old is None or not now_ms - self._floor < expiry_ms:
            self._walk(rows, now_ms, expiry_ms)
        assert self._old is not None
        return [
            hk
            for hk in self._old
            if hk not in metagraph and hk in rows and old_enough(rows[hk], now_ms, expiry_ms)
        ]

    def _walk(self, rows: Mapping[str, Row], now_ms: int, expiry_ms: int) -> None:
        old: dict[str, None] = {}
        floor = math.inf
        for hk, row in rows.items():
            if old_enough(row, now_ms, expiry_ms):
                old[hk] = None
                continue
            t = row_time(row)
            if t is not None and t < floor:  # a NaN is never old: skipped
                floor = t
        self._old, self._floor = old, floor
