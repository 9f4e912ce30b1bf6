"""What ``cpm-bench`` feeds the designs it compares: a simulated validator's inputs, and the
old design (state in dicts, shared through a ``multiprocessing.Manager``) for one cycle.

The inputs follow RULES.md: a metagraph of ``n`` hotkeys, per-miner position and ledger
facts, one asset class of scores. Each cycle a validator sees a little churn (1% of the
hotkeys deregister and new ones join, a few drawdowns cross the limit), so refreshes after
the first change a few percent of the miners, as they do on a live subnet.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, MutableMapping
from typing import Any

from services.domain.challengeperiod_rules import refresh
from services.domain.config import DAY_MS, RulesConfig
from services.domain.refresh_inputs import parse_refresh_inputs

START_MS = 1_700_000_000_000
CYCLE_MS = 60_000
CHURN = 0.01
SIGNALS_PER_CYCLE = 500
DEFAULT_RULES = RulesConfig()


def hotkey(i: int) -> str:
    """A 48-character hotkey, the length of a real ss58 address."""
    return f"5F{i:046d}"


class ValidatorWorkload:
    """Deterministic inputs of successive validator cycles over ``n`` miners."""

    def __init__(self, n: int, seed: int = 6) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.next_id = n
        self.miners = {hotkey(i): self._miner() for i in range(n)}

    def _miner(self) -> dict[str, Any]:
        rng = self.rng
        first_order = START_MS - rng.randint(0, 80) * DAY_MS
        has_ledger = rng.random() < 0.8
        return {
            "first_order_time_ms": first_order,
            "n_positions": rng.randint(1, 40),
            "ledger_start_ms": first_order + DAY_MS if has_ledger else None,
            "n_checkpoints": rng.randint(1, 500) if has_ledger else 0,
            "min_mdd": round(rng.uniform(0.905, 1.0), 4),
            "trading_days": rng.randint(0, 120),
        }

    def now(self, cycle: int) -> int:
        """The validator's clock at ``cycle``."""
        return START_MS + cycle * CYCLE_MS

    def advance(self) -> None:
        """One cycle of churn: deregistrations, registrations, drawdowns past the limit."""
        rng = self.rng
        changes = max(1, int(len(self.miners) * CHURN))
        for hk in rng.sample(sorted(self.miners), changes):
            del self.miners[hk]
        for _ in range(changes):
            self.miners[hotkey(self.next_id)] = self._miner()
            self.next_id += 1
        for hk in rng.sample(sorted(self.miners), max(1, changes // 2)):
            self.miners[hk] = {**self.miners[hk], "min_mdd": 0.85}

    def inputs(self) -> dict[str, Any]:
        """The ``submit_refresh_inputs`` document of the current cycle."""
        scores = {hk: self.rng.random() for hk in self.miners}
        return {
            "metagraph_hotkeys": list(self.miners),
            "miners": self.miners,
            "scores": {
                "crypto": {
                    "metrics": {
                        "sharpe": {"weight": 0.5, "scores": scores},
                        "pnl": {"weight": 0.5, "scores": scores},
                    },
                    "penalties": {},
                }
            },
            "plagiarism": {},
        }

    def signals(self) -> list[str]:
        """Hotkeys of the incoming signals of one cycle (some unknown to the service)."""
        known = sorted(self.miners)
        return [
            self.rng.choice(known) if self.rng.random() < 0.9 else f"unknown-{i}"
            for i in range(SIGNALS_PER_CYCLE)
        ]


def dict_cycle(
    miners: MutableMapping[str, Any],
    reasons: MutableMapping[str, Any],
    eliminations: MutableMapping[str, Any],
    inputs: dict[str, Any],
    now_ms: int,
    signals: Iterable[str],
    rules: RulesConfig = DEFAULT_RULES,
) -> None:
    """One validator cycle the old way, on dicts or on ``Manager`` dict proxies.

    Every access to a proxy is one round trip: the whole state is read with ``copy()``,
    each change is written item by item, the handoff reads all reasons then clears them,
    and every signal asks ``hotkey in miners``.
    """
    parsed = parse_refresh_inputs(inputs)
    current = miners.copy()  # type: ignore[attr-defined]
    pending = reasons.copy()  # type: ignore[attr-defined]
    outcome = refresh(current, pending, set(eliminations.keys()), parsed, now_ms, rules)
    for hk in current.keys() - outcome.miners.keys():
        del miners[hk]
    for hk, entry in outcome.miners.items():
        if current.get(hk) != entry:
            miners[hk] = entry
    for hk, reason in outcome.new_reasons.items():
        reasons[hk] = reason
    taken = reasons.copy()  # type: ignore[attr-defined]
    reasons.clear()
    for hk, (reason, dd) in taken.items():
        if hk not in eliminations:
            eliminations[hk] = {
                "hotkey": hk,
                "reason": reason,
                "dd": dd,
                "elimination_initiated_time_ms": now_ms,
            }
    miners.copy()  # type: ignore[attr-defined]
    reasons.copy()  # type: ignore[attr-defined]
    for hk in signals:
        _ = hk in miners
