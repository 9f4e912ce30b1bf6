"""Builders of refresh inputs for the ports of the reference validators' tests.

The reference tests build perf ledgers and positions; our service takes what the validator
derives from them (RULES.md "Inputs"). These helpers produce those documents: one miner's
inputs, a scores document with a validator's metric weights, the integration fixture's 45
miners, and numpy-style ``linspace`` (the reference tests' values, bit for bit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from clients import ChallengePeriodManager, EliminationManager, MinerBucket

DAY_MS = 86_400_000
PTN = "ptn-2025-11"
VANTA = "vanta-2025-12"
RULESETS = (PTN, VANTA)

TIME = "FAILED_CHALLENGE_PERIOD_TIME"
DRAWDOWN = "FAILED_CHALLENGE_PERIOD_DRAWDOWN"
PLAGIARISM = "PLAGIARISM"

CHALLENGE_MAX_MS = 90 * DAY_MS
PROBATION_MAX_MS = 60 * DAY_MS
PLAGIARISM_REVIEW_MS = 14 * DAY_MS
# Vanta's ASSET_CLASS_SELECTION_TIME_MS (V.as:25).
ASSET_SELECTION_START_MS = 1_758_326_340_000

# P.vc:230-236 and V.vc:359-365 (V's other weights are 0.0: they add nothing).
P_WEIGHTS: dict[str, float] = {
    "calmar": 0.02,
    "sharpe": 0.02,
    "omega": 0.02,
    "sortino": 0.02,
    "statistical_confidence": 0.02,
    "pnl": 0.9,
}
V_WEIGHTS: dict[str, float] = {"pnl": 1.0}
ONE_METRIC: dict[str, float] = {"pnl": 1.0}

# The unit tests' times (tests/vali_tests/test_challengeperiod_unit.py of both repos).
UNIT_START = 1000
UNIT_END = UNIT_START + CHALLENGE_MAX_MS - 1
CURRENTLY_IN_CHALLENGE = UNIT_START + CHALLENGE_MAX_MS - 1  # 7,776,000,999
UNIT_OUTSIDE_OF_CHALLENGE = UNIT_START + CHALLENGE_MAX_MS + 1  # 7,776,001,001
MIN_PROMOTION_TIME = UNIT_START + 62 * DAY_MS  # 5,356,801,000
BEFORE_PROMOTION_TIME = UNIT_START + 60 * DAY_MS  # 5,184,001,000

CHECKPOINT_MS = 43_200_000


def linspace(start: float, stop: float, num: int) -> list[float]:
    """``numpy.linspace(start, stop, num)`` as Python floats: ``start + i * step``, last = stop."""
    if num == 1:
        return [float(start)]
    step = (stop - start) / (num - 1)
    values = [i * step + start for i in range(num)]
    values[-1] = float(stop)
    return values


def miner(
    *,
    first_order_time_ms: int | None = UNIT_START,
    n_positions: int = 20,
    ledger_start_ms: int | None = UNIT_START,
    n_checkpoints: int = 179,
    min_mdd: float | None = 0.99,
    trading_days: int = 89,
) -> dict[str, Any]:
    """One miner's inputs; the defaults are the unit tests' default ledger and positions."""
    return {
        "first_order_time_ms": first_order_time_ms,
        "n_positions": n_positions,
        "ledger_start_ms": ledger_start_ms,
        "n_checkpoints": n_checkpoints,
        "min_mdd": min_mdd,
        "trading_days": trading_days,
    }


def no_ledger(*, first_order_time_ms: int | None = None, n_positions: int = 0) -> dict[str, Any]:
    """A miner without a scoring ledger (and, by default, without positions)."""
    return miner(
        first_order_time_ms=first_order_time_ms,
        n_positions=n_positions,
        ledger_start_ms=None,
        n_checkpoints=0,
        min_mdd=None,
        trading_days=0,
    )


def asset_class(
    values: Mapping[str, float],
    weights: Mapping[str, float],
    penalties: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """One asset class: every metric of ``weights`` takes ``values`` (in their order)."""
    return {
        "metrics": {name: {"weight": w, "scores": dict(values)} for name, w in weights.items()},
        "penalties": dict.fromkeys(values, 1.0) if penalties is None else dict(penalties),
    }


def scores(
    classes: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
    penalties: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """A scores document: ``{class: values}`` with the same weights (and penalties) in each."""
    result: dict[str, Any] = {}
    for name, values in classes.items():
        class_penalties = None
        if penalties is not None:
            class_penalties = {hk: penalties.get(hk, 1.0) for hk in values}
        result[name] = asset_class(values, weights, class_penalties)
    return result


def inputs(
    metagraph: Sequence[str],
    miners: Mapping[str, Mapping[str, Any]],
    *,
    scores: Mapping[str, Any] | None = None,
    plagiarism: Mapping[str, int] | None = None,
    asset_selections: Mapping[str, str] | None = None,
    miner_dir_hotkeys: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A ``submit_refresh_inputs`` document; None fields are left out (not given)."""
    doc: dict[str, Any] = {
        "metagraph_hotkeys": list(metagraph),
        "miners": {hk: dict(m) for hk, m in miners.items()},
    }
    optional: dict[str, Any] = {
        "scores": scores,
        "plagiarism": plagiarism,
        "asset_selections": asset_selections,
        "miner_dir_hotkeys": miner_dir_hotkeys,
    }
    for key, value in optional.items():
        if value is not None:
            doc[key] = dict(value) if isinstance(value, Mapping) else list(value)
    return doc


def select_all(hotkeys: Iterable[str], asset: str = "crypto") -> dict[str, str]:
    """Every hotkey selected ``asset`` (the Vanta tests' setUp)."""
    return dict.fromkeys(hotkeys, asset)


# -- the unit tests' miners (both repos) -----------------------------------------------------

SUCCESS_MINERS = [f"miner{i}" for i in range(1, 26)]


def success_values() -> dict[str, float]:
    """P's ``success_scores_dict``: miner1..miner25 = linspace(1.0, 0.2, 25)."""
    return dict(zip(SUCCESS_MINERS, linspace(1.0, 0.2, 25), strict=True))


def v_ranked(values: Sequence[tuple[str, float]]) -> dict[str, Any]:
    """V's injected post-softmax crypto dict as a one-metric (pnl 1.0) scores document."""
    return scores({"crypto": dict(values)}, V_WEIGHTS)


def v_descending(names: Sequence[str], top: float = 1.0) -> list[tuple[str, float]]:
    """V's ``1.0 - i * 0.01`` series for ``names`` in order."""
    return [(name, top - i * 0.01) for i, name in enumerate(names)]


# -- the integration tests' fixture (both repos) --------------------------------------------

MAINCOMP_MINERS = [f"maincomp_miner{i}" for i in range(1, 31)]
CHALLENGE_MINERS = [f"challenge_miner{i}" for i in range(1, 6)]
PROBATION_MINERS = [f"probation_miner{i}" for i in range(1, 6)]
ELIMINATED_MINERS = [f"eliminated_miner{i}" for i in range(1, 6)]
INTEGRATION_HOTKEYS = MAINCOMP_MINERS + CHALLENGE_MINERS + PROBATION_MINERS + ELIMINATED_MINERS
INTEGRATION_N_POSITIONS = 55
INTEGRATION_END = UNIT_START + CHALLENGE_MAX_MS - 1

# Trading days of each fixture ledger (the analysis' table; P cp 0 has accum 0, V 12 h).
_TRADING_DAYS_P = [
    89, 87, 86, 84, 82, 81, 79, 78, 76, 74, 73, 71, 69, 68, 66, 64, 63, 61, 60, 58,
    56, 55, 53, 51, 50, 48, 46, 45, 43, 42, 40, 38, 37, 35, 33, 32, 30, 28, 27, 25,
    24, 22, 20, 19, 17,
]  # fmt: skip
_TRADING_DAYS_V = [
    89, 88, 86, 85, 83, 81, 80, 78, 76, 75, 73, 71, 70, 68, 67, 65, 63, 62, 60, 58,
    57, 55, 53, 52, 50, 49, 47, 45, 44, 42, 40, 39, 37, 35, 34, 32, 31, 29, 27, 26,
    24, 22, 21, 19, 17,
]  # fmt: skip


def first_order_time(index: int) -> int:
    """F of the fixture's miner ``index`` (0-based): the start of its first position."""
    return int(UNIT_START + (CHALLENGE_MAX_MS - 1) * index / INTEGRATION_N_POSITIONS)


FIRST_ORDER = {hk: first_order_time(i) for i, hk in enumerate(INTEGRATION_HOTKEYS)}
# The last first order time of the fixture (eliminated_miner5's).
MAX_OPEN_MS = FIRST_ORDER[ELIMINATED_MINERS[-1]]  # 6,220,800,999
INTEGRATION_OUTSIDE_OF_CHALLENGE = UNIT_START + 180 * DAY_MS + 1  # 15,552,001,001


def integration_miners(ruleset: str) -> dict[str, dict[str, Any]]:
    """The 45 fixture miners' inputs; ``ledger_start_ms`` = F in both sets (analysis D5)."""
    days = _TRADING_DAYS_P if ruleset == PTN else _TRADING_DAYS_V
    result: dict[str, dict[str, Any]] = {}
    for i, hotkey in enumerate(INTEGRATION_HOTKEYS):
        start = FIRST_ORDER[hotkey]
        result[hotkey] = miner(
            first_order_time_ms=start,
            n_positions=INTEGRATION_N_POSITIONS - i,
            ledger_start_ms=start,
            n_checkpoints=(INTEGRATION_END - start) // CHECKPOINT_MS,
            min_mdd=0.89 if hotkey in ELIMINATED_MINERS else 0.99,
            trading_days=days[i],
        )
    return result


def integration_buckets(*, eliminated_in_challenge: bool) -> dict[str, tuple[str, int]]:
    """The fixture's initial state; ``eliminated_*`` in CHALLENGE at F (V) or in no bucket (P)."""
    state: dict[str, tuple[str, int]] = {}
    groups = [(MAINCOMP_MINERS, "MAINCOMP"), (CHALLENGE_MINERS, "CHALLENGE")]
    groups.append((PROBATION_MINERS, "PROBATION"))
    if eliminated_in_challenge:
        groups.append((ELIMINATED_MINERS, "CHALLENGE"))
    for hotkeys, bucket in groups:
        for hotkey in hotkeys:
            state[hotkey] = (bucket, FIRST_ORDER[hotkey])
    return state


def place(cpm: ChallengePeriodManager, state: Mapping[str, tuple[str, int]]) -> None:
    """Put each hotkey in its (bucket, start)."""
    for hotkey, (bucket, start) in state.items():
        cpm.set_miner_bucket(hotkey, bucket, start)


def entry(cpm: ChallengePeriodManager, hotkey: str) -> tuple[MinerBucket | None, int | None]:
    """A miner's (bucket, start), or (None, None)."""
    return cpm.get_miner_bucket(hotkey), cpm.get_miner_start_time(hotkey)


def rows_by_hotkey(em: EliminationManager) -> dict[str, tuple[str, Any]]:
    """{hotkey: (reason, dd)} of every elimination row."""
    return {row["hotkey"]: (row["reason"], row["dd"]) for row in em.get_eliminations()}
