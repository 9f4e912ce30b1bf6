"""The demo's synthetic metagraph: miners that register, trade, draw down and get flagged.

Pure and deterministic (one seeded ``random.Random``, no clock, no network): ``tools.demo``
advances it one simulated day per tick and sends ``inputs()`` to the real service.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.domain.config import DAY_MS

METAGRAPH_SIZE = 256
# RULES.md's worked example: five small metric weights and pnl carrying the rest.
METRIC_WEIGHTS = {
    "calmar": 0.02,
    "sharpe": 0.02,
    "omega": 0.02,
    "sortino": 0.02,
    "statistical_confidence": 0.02,
    "pnl": 0.9,
}
CLASS_BIAS = {"crypto": 0.0, "forex": -0.2}
SS58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
CHECKPOINT_MS = DAY_MS // 2


@dataclass
class SimMiner:
    """What the simulated validator knows about one registered miner."""

    hotkey: str
    skill: float
    risk: float
    classes: tuple[str, ...]
    penalty: float
    first_order_ms: int | None = None
    n_positions: int = 0
    min_mdd: float = 1.0
    registered_ms: int = 0
    eliminated_ms: int | None = None
    flag_clears_ms: int | None = None


@dataclass
class Simulation:
    """The synthetic metagraph, advanced one simulated day at a time."""

    rng: random.Random
    now_ms: int
    size: int = METAGRAPH_SIZE
    avoid: set[str] = field(default_factory=set)
    miners: dict[str, SimMiner] = field(default_factory=dict)
    plagiarism: dict[str, int] = field(default_factory=dict)

    def populate(self) -> None:
        """Fill the metagraph; most miners have traded for up to 88 days already."""
        for _ in range(self.size):
            miner = self._new_miner()
            if self.rng.random() < 0.85:
                miner.first_order_ms = self.now_ms - int(self.rng.uniform(0, 88) * DAY_MS)
                miner.registered_ms = miner.first_order_ms - int(self.rng.uniform(0, 3) * DAY_MS)
                miner.n_positions = self.rng.randint(1, 200)
                # A few start out beyond the 10 % drawdown limit, so the first refresh
                # already has something to eliminate.
                worst = 0.13 if self.rng.random() < 0.05 else 0.09
                miner.min_mdd = 1.0 - self.rng.uniform(0.0, worst)
            self.miners[miner.hotkey] = miner

    def _hotkey(self) -> str:
        while True:
            hotkey = "5" + "".join(self.rng.choice(SS58_ALPHABET) for _ in range(47))
            if hotkey not in self.avoid and hotkey not in self.miners:
                return hotkey

    def _new_miner(self) -> SimMiner:
        classes = ("crypto", "forex") if self.rng.random() < 0.5 else ("crypto",)
        return SimMiner(
            hotkey=self._hotkey(),
            skill=self.rng.gauss(0.0, 1.0),
            risk=self.rng.uniform(0.0, 0.04),
            classes=classes,
            penalty=0.6 if self.rng.random() < 0.1 else 1.0,
            registered_ms=self.now_ms,
        )

    def advance(self) -> None:
        """One simulated day: registrations, trading, drawdowns, plagiarism flags."""
        self.now_ms += DAY_MS
        for _ in range(sum(self.rng.random() < p for p in (0.9, 0.6, 0.4, 0.2))):
            self._register()
        for miner in self.miners.values():
            if miner.eliminated_ms is None:
                self._trade(miner)
        self._flag_plagiarism()

    def _register(self) -> None:
        if len(self.miners) >= self.size:
            self._deregister()
        miner = self._new_miner()
        self.miners[miner.hotkey] = miner

    def _deregister(self) -> None:
        # Eliminated miners lose their slot first; otherwise the weakest miner past a
        # five-day immunity does, as on a real subnet where the lowest emission goes.
        gone = [m for m in self.miners.values() if m.eliminated_ms is not None]
        if gone:
            victim = min(gone, key=lambda m: (m.eliminated_ms, m.hotkey))
        else:
            immune_until = self.now_ms - 5 * DAY_MS
            exposed = [m for m in self.miners.values() if m.registered_ms < immune_until]
            victim = min(exposed or self.miners.values(), key=lambda m: m.skill)
        del self.miners[victim.hotkey]
        self.plagiarism.pop(victim.hotkey, None)

    def _trade(self, miner: SimMiner) -> None:
        rng = self.rng
        if miner.first_order_ms is None:
            if rng.random() < 0.4:
                miner.first_order_ms = self.now_ms - int(rng.uniform(0, DAY_MS))
                miner.n_positions = 1
            return
        miner.n_positions += rng.randint(0, 4)
        miner.skill += rng.gauss(0.0, 0.05)
        if rng.random() < miner.risk:
            miner.min_mdd = min(miner.min_mdd, 1.0 - rng.uniform(0.01, 0.13))

    def _flag_plagiarism(self) -> None:
        for hotkey, miner in list(self.miners.items()):
            if miner.flag_clears_ms is not None and miner.flag_clears_ms <= self.now_ms:
                miner.flag_clears_ms = None
                self.plagiarism.pop(hotkey, None)
            trading = miner.eliminated_ms is None and miner.first_order_ms is not None
            if trading and hotkey not in self.plagiarism and self.rng.random() < 0.002:
                self.plagiarism[hotkey] = self.now_ms
                # Half the flags are false alarms, cleared before the 14-day review ends;
                # the rest stand and end in a PLAGIARISM elimination.
                if self.rng.random() < 0.5:
                    miner.flag_clears_ms = self.now_ms + self.rng.randint(2, 10) * DAY_MS

    def mark_eliminated(self, hotkeys: Iterable[str]) -> None:
        """Stop simulating trading for miners the service eliminated; their slots free up."""
        for hotkey in hotkeys:
            miner = self.miners.get(hotkey)
            if miner is not None and miner.eliminated_ms is None:
                miner.eliminated_ms = self.now_ms
                self.plagiarism.pop(hotkey, None)
            self.avoid.add(hotkey)

    def inputs(self) -> dict[str, Any]:
        """The ``submit_refresh_inputs`` document of RULES.md for the current day."""
        miners: dict[str, dict[str, Any]] = {}
        scores: dict[str, dict[str, Any]] = {
            name: {
                "metrics": {m: {"weight": w, "scores": {}} for m, w in METRIC_WEIGHTS.items()},
                "penalties": {},
            }
            for name in CLASS_BIAS
        }
        for hotkey, miner in self.miners.items():
            first = miner.first_order_ms
            age = 0 if first is None else self.now_ms - first
            miners[hotkey] = {
                "first_order_time_ms": first,
                "n_positions": miner.n_positions,
                "ledger_start_ms": first,
                "n_checkpoints": age // CHECKPOINT_MS,
                "min_mdd": miner.min_mdd,
                "trading_days": age // DAY_MS,
            }
            if first is None or miner.eliminated_ms is not None:
                continue
            for name in miner.classes:
                asset = scores[name]
                for metric in METRIC_WEIGHTS:
                    value = miner.skill + CLASS_BIAS[name] + self.rng.gauss(0.0, 0.35)
                    asset["metrics"][metric]["scores"][hotkey] = value
                asset["penalties"][hotkey] = miner.penalty
        return {
            "metagraph_hotkeys": list(self.miners),
            "miners": miners,
            "scores": scores,
            "plagiarism": dict(self.plagiarism),
            # Each trading miner has chosen the first class it trades (Vanta's selection).
            "asset_selections": {
                hk: sorted(m.classes)[0]
                for hk, m in self.miners.items()
                if m.classes and m.first_order_ms is not None
            },
        }
