"""The expiry step's memo answers as ``plan_expiry`` does, order included, whatever the rows
and the round's time do, and walks the rows only when a row may have come of age."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from services.domain.config import VANTA_2025_12, RulesConfig
from services.domain.elimination_rules import make_row, plan_expiry
from services.domain.expiry_memo import ExpiryMemo
from services.storage.elimination_state import EliminationState, open_store

pytestmark = pytest.mark.timeout(60)

DAY = 86_400_000
TIME_KEY = "elimination_initiated_time_ms"
RULES = RulesConfig(elimination_expiry_ms=10 * DAY)


def _time(rng: random.Random, now: int) -> Any:
    return rng.choice(
        [
            now - rng.randrange(20) * DAY,  # old or young, whole days
            now - 10 * DAY,  # exactly the expiry age
            now - 10 * DAY + 0.5,  # a float just short of it
            float(now - rng.randrange(20) * DAY),
            None,  # an old file's row: never expires
            math.nan,
            math.inf,
            -math.inf,
            True,
            "yesterday",
        ]
    )


class _Table:
    """A rows table changed the way the state changes it: ops shown to the memo first."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.memo = ExpiryMemo()

    def commit(self, ops: list[tuple[Any, ...]]) -> None:
        self.memo.saw(ops)
        for op in ops:
            if op[0] == "set":
                self.rows[op[2]] = op[3]
            elif op[0] == "merge":  # no state merges rows today; the memo must not care
                self.rows.update(op[2])
            else:
                self.rows.pop(op[2], None)


def test_the_memo_answers_as_plan_expiry_over_random_rounds() -> None:
    for seed in range(400):
        rng = random.Random(seed)
        table = _Table()
        now = 1_700_000_000_000
        hotkeys = [f"hk{i}" for i in range(12)]
        for _ in range(30):
            ops: list[tuple[Any, ...]] = []
            for _ in range(rng.randrange(4)):
                hk = rng.choice(hotkeys)
                if rng.random() < 0.05:
                    ops.append(("merge", "rows", {hk: {"hotkey": hk, TIME_KEY: _time(rng, now)}}))
                elif rng.random() < 0.7:
                    ops.append(("set", "rows", hk, {"hotkey": hk, TIME_KEY: _time(rng, now)}))
                else:
                    ops.append(("del", "rows", hk))
            table.commit(ops)
            now += rng.choice([0, DAY, 3 * DAY, -2 * DAY, 1])  # the time may go back too
            metagraph = frozenset(rng.sample(hotkeys, rng.randrange(len(hotkeys))))
            rules = RULES if rng.random() < 0.9 else VANTA_2025_12
            expected = plan_expiry(table.rows, metagraph, now, rules)
            got = table.memo.plan(table.rows, metagraph, now, rules.elimination_expiry_ms)
            assert got == expected, seed


def test_young_rows_are_walked_once_not_every_round(monkeypatch: pytest.MonkeyPatch) -> None:
    table = _Table()
    now = 1_700_000_000_000
    table.commit([("set", "rows", f"hk{i}", {TIME_KEY: now}) for i in range(1000)])
    walks: list[int] = []
    walk = ExpiryMemo._walk

    def counted(memo: ExpiryMemo, *args: Any) -> None:
        walks.append(1)
        walk(memo, *args)

    monkeypatch.setattr(ExpiryMemo, "_walk", counted)
    metagraph = frozenset({"registered"})
    for day in range(10):  # young for ten days, with a new young row each round
        table.commit([("set", "rows", f"new{day}", {TIME_KEY: now + day * DAY})])
        assert table.memo.plan(table.rows, metagraph, now + day * DAY, 10 * DAY) == []
    assert len(walks) == 1
    # The first rows come of age: one walk finds them, in the rows' order.
    assert table.memo.plan(table.rows, metagraph, now + 10 * DAY, 10 * DAY)[:3] == [
        "hk0",
        "hk1",
        "hk2",
    ]
    assert len(walks) == 2


def test_the_state_answers_as_plan_expiry_after_its_changes_and_a_reopen(tmp_path: Path) -> None:
    now = 1_700_000_000_000
    rows = [make_row(f"hk{i}", "ZOMBIE", None, now - i * DAY) for i in range(20)]
    state = EliminationState(open_store(tmp_path, fsync=False))
    metagraph = frozenset({"hk3", "hk15", "other"})
    try:
        state.append_all(rows)
        for t in (now, now + 5 * DAY, now + 5 * DAY, now + 20 * DAY):
            with state.lock:
                expected = plan_expiry(state.rows, metagraph, t, RULES)
                assert state.expiring(metagraph, t, RULES.elimination_expiry_ms) == expected
            state.expire(expected[:2], t)
            state.append_all([make_row(f"late{t}", "ZOMBIE", None, t - 11 * DAY)])
    finally:
        state.close()
    reopened = EliminationState(open_store(tmp_path, fsync=False))
    try:
        with reopened.lock:
            t = now + 30 * DAY
            expected = plan_expiry(reopened.rows, metagraph, t, RULES)
            assert expected and reopened.expiring(metagraph, t, RULES.elimination_expiry_ms) == (
                expected
            )
    finally:
        reopened.close()
