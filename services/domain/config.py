"""The typed rules config and its presets, the rule sets of docs/RULES.md.

Every number and switch the decisions use is a field of ``RulesConfig``; a rule set is one
preset of it, named after the network and the reference commit it follows:

- ``vanta-2025-12`` (default): the live network, taoshidev/vanta-network ``bead3ecf``;
- ``ptn-2025-11``: taoshidev/proprietary-trading-network ``c6885610``.

Tests and operators may override any field with ``dataclasses.replace``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from services.domain.errors import InvalidInputError

DAY_MS = 86_400_000


class Qualification(str, Enum):
    """How each asset class picks who qualifies for the main competition."""

    # PTN: emission * softmax, at or above the Nth-highest value (when N are scored), > 0.
    EMISSION_THRESHOLD = "emission_threshold"
    # Vanta: the first N by softmax (stable order), zeros included; selections filter classes.
    TOP_N = "top_n"


class RankingPool(str, Enum):
    """Which CHALLENGE / PROBATION miners are ranked beside MAINCOMP."""

    # PTN: only the candidates (enough trading days).
    CANDIDATES = "candidates"
    # Vanta: every miner that passed the drawdown (and selection) checks, under 61 days too.
    RANK_ELIGIBLE = "rank_eligible"


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Every number and switch of the challenge-period and elimination rules."""

    name: str = "custom"
    challenge_period_max_ms: int = 90 * DAY_MS
    probation_max_ms: int = 60 * DAY_MS
    min_trading_days: int = 61
    max_drawdown_percent: float = 10.0
    promotion_threshold_rank: int = 25
    softmax_temperature: float = 0.15
    softmax_epsilon: float = 1e-6
    plagiarism_review_period_ms: int = 14 * DAY_MS
    refresh_interval_ms: int = 300_000
    elimination_check_interval_ms: int = 300_000
    elimination_expiry_ms: int = 2 * DAY_MS
    # A time limit ends at max(start + limit, grace) when set (replaying 2025 in PTN).
    time_limit_grace_ms: int | None = None
    # Vanta: from this time on, a miner without an asset selection is not ranked.
    asset_selection_start_ms: int | None = 1_758_326_340_000
    # PTN: a miner with no closed position of at least a minute is skipped.
    positions_screen: bool = False
    qualification: Qualification = Qualification.TOP_N
    ranking_pool: RankingPool = RankingPool.RANK_ELIGIBLE
    # Vanta: when at most one pool member has a scoring ledger, nobody gets a score.
    lone_pool_scores_nobody: bool = True
    asset_class_emission: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    # Vanta leaves this hotkey out of the first-order times of step 6.1.
    development_hotkey: str | None = "DEVELOPMENT"
    departed_anomaly_min_lost: int = 10
    departed_anomaly_min_fraction: float = 0.25


VANTA_2025_12 = RulesConfig(name="vanta-2025-12")

PTN_2025_11 = RulesConfig(
    name="ptn-2025-11",
    refresh_interval_ms=60_000,
    asset_selection_start_ms=None,
    positions_screen=True,
    qualification=Qualification.EMISSION_THRESHOLD,
    ranking_pool=RankingPool.CANDIDATES,
    lone_pool_scores_nobody=False,
    development_hotkey=None,
    asset_class_emission=_frozen({"crypto": 0.5, "forex": 0.5}),
)

RULESETS: Mapping[str, RulesConfig] = MappingProxyType(
    {rules.name: rules for rules in (VANTA_2025_12, PTN_2025_11)}
)
DEFAULT_RULESET = VANTA_2025_12.name


def ruleset(name: str | None) -> RulesConfig:
    """The preset called ``name`` (None: the default); an unknown name names the known ones."""
    if name is None:
        return RULESETS[DEFAULT_RULESET]
    if not isinstance(name, str) or name not in RULESETS:
        raise InvalidInputError(
            f"unknown rule set {name!r}; known rule sets: {', '.join(sorted(RULESETS))}"
        )
    return RULESETS[name]
