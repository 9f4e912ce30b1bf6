"""Typed, frozen configuration: the rule defaults of RULES.md and the service settings."""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Every number the challenge-period rules use; defaults are the validators' values."""

    challenge_period_max_ms: int = 90 * DAY_MS
    probation_max_ms: int = 60 * DAY_MS
    min_trading_days: int = 61
    max_drawdown_percent: float = 10.0
    promotion_threshold_rank: int = 25
    softmax_temperature: float = 0.15
    plagiarism_review_period_ms: int = 14 * DAY_MS
    refresh_interval_ms: int = 60_000
