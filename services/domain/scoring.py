"""Who qualifies for the main competition: the scoring of RULES.md step 5, as pure functions.

Per asset class: percentile of each metric value, combined score, softmax with temperature,
threshold at a rank, qualification. ``challengeperiod_rules`` turns the result into
promotions and demotions.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from services.domain.refresh_inputs import AssetClassScores

# RULES.md's 1e-6 in the softmax denominator, which keeps it away from zero.
SOFTMAX_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class Qualification:
    """Over all asset classes: the participants that were scored, and those that qualify."""

    scored: frozenset[str]
    qualified: frozenset[str]


def percentiles(values: Mapping[str, float]) -> dict[str, float]:
    """Each hotkey's share of values strictly lower than its own; a single value gives 1.0."""
    if len(values) == 1:
        return dict.fromkeys(values, 1.0)
    ordered = sorted(values.values())
    return {hotkey: bisect_left(ordered, v) / len(ordered) for hotkey, v in values.items()}


def combined_scores(
    class_scores: AssetClassScores, participants: AbstractSet[str]
) -> dict[str, float]:
    """Sum of weight * percentile over the metrics, times the penalty (1.0 when absent)."""
    combined: dict[str, float] = {}
    for metric in class_scores.metrics.values():
        # Percentiles rank participants among themselves, so other hotkeys' values drop out
        # before ranking, not after.
        taking_part = {hk: v for hk, v in metric.scores.items() if hk in participants}
        for hotkey, pct in percentiles(taking_part).items():
            combined[hotkey] = combined.get(hotkey, 0.0) + metric.weight * pct
    return {hk: s * class_scores.penalties.get(hk, 1.0) for hk, s in combined.items()}


def softmax(scores: Mapping[str, float], temperature: float) -> dict[str, float]:
    """Softmax with temperature over the non-zero scores; zeros stay 0, a lone miner gets 1.0."""
    result = dict.fromkeys(scores, 0.0)
    nonzero = {hk: s for hk, s in scores.items() if s != 0}
    if len(scores) == 1:
        result.update(dict.fromkeys(nonzero, 1.0))
        return result
    if nonzero:
        top = max(nonzero.values())
        exps = {hk: math.exp((s - top) / temperature) for hk, s in nonzero.items()}
        total = sum(exps.values()) + SOFTMAX_EPSILON
        result.update({hk: e / total for hk, e in exps.items()})
    return result


def threshold(softmaxed: Mapping[str, float], rank: int) -> float:
    """The rank-th highest score when there are at least ``rank`` miners, else 0."""
    if rank < 1 or len(softmaxed) < rank:
        return 0.0
    return heapq.nlargest(rank, softmaxed.values())[-1]


def qualifiers(softmaxed: Mapping[str, float], rank: int) -> set[str]:
    """The hotkeys whose score is at least the threshold and above zero."""
    bar = threshold(softmaxed, rank)
    return {hk for hk, s in softmaxed.items() if s >= bar and s > 0}


def qualify(
    scores: Mapping[str, AssetClassScores],
    participants: AbstractSet[str],
    *,
    rank: int,
    temperature: float,
) -> Qualification:
    """Score every asset class separately; qualifying in any one class is enough."""
    scored: set[str] = set()
    qualified: set[str] = set()
    for class_scores in scores.values():
        combined = combined_scores(class_scores, participants)
        scored.update(combined)
        qualified.update(qualifiers(softmax(combined, temperature), rank))
    return Qualification(frozenset(scored), frozenset(qualified))
