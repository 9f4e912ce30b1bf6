"""Who qualifies for the main competition: docs/RULES.md steps 7-8, as pure functions.

Per asset class, over the ranking pool: percentile of each metric value, combined score,
softmax with temperature, then the rule set's qualification. The arithmetic follows the
reference code operation by operation (scipy's strict percentile is ``count * (100 / n) /
100``; sums run in the metrics' order; sorts are stable), so equal inputs give equal floats
and ties fall the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from itertools import repeat
from operator import add, mul

from services.domain.config import Qualification, RulesConfig
from services.domain.refresh_inputs import AssetClassScores

Ranked = list[tuple[str, float]]


@lru_cache(maxsize=8)
def _share_table(n: int) -> list[float]:
    """rank -> scipy's strict percentile / 100 for ``n`` values: ``rank * (100 / n) / 100``."""
    step = 100.0 / n
    return [rank * step / 100 for rank in range(n)]


def _shares(values: list[float]) -> list[float]:
    """The strict percentile share of each value, in the values' order; a lone one gets 1.0."""
    n = len(values)
    if n == 1:
        return [1.0]
    ordered = sorted(values)
    # Built from the top down, each value keeps the index of its first (lowest) place: the
    # number of values strictly below it. Every step here is a C-level loop.
    rank = dict(zip(reversed(ordered), range(n - 1, -1, -1), strict=True))
    return list(map(_share_table(n).__getitem__, map(rank.__getitem__, values)))


def percentiles(values: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Each hotkey's share of values strictly lower than its own; a lone value gets 1.0."""
    return dict(zip((hk for hk, _ in values), _shares([v for _, v in values]), strict=True))


def combined_scores(class_scores: AssetClassScores, members: Iterable[str]) -> dict[str, float]:
    """Sum of weight * percentile over the metrics, * the penalty; penalty-0 members take no
    part.

    A member whose penalty is exactly 0 leaves every metric list before the percentiles,
    so it shifts nobody's rank and gets no score. The dict is in order of first appearance.
    The sums run metric by metric from 0.0, as the reference adds them; while every metric
    lists the same hotkeys in the same order (the usual case) they run over whole columns.
    """
    penalties = class_scores.penalties
    taking_part = {hk for hk in members if penalties.get(hk, 1.0) != 0}
    keys: list[str] | None = None
    sums: list[float] = []
    combined: dict[str, float] | None = None
    for metric in class_scores.metrics.values():
        scores = metric.scores
        if taking_part.issuperset(scores):
            metric_keys, values = list(scores), list(scores.values())
        else:
            metric_keys = [hk for hk in scores if hk in taking_part]
            values = list(map(scores.__getitem__, metric_keys))
        if not metric_keys:
            continue
        products = map(mul, repeat(metric.weight), _shares(values))
        if combined is None and keys is None:
            keys, sums = metric_keys, list(map(add, repeat(0.0), products))
            continue
        if combined is None and metric_keys == keys:
            sums = list(map(add, sums, products))
            continue
        if combined is None:
            assert keys is not None
            combined = dict(zip(keys, sums, strict=True))
        for hotkey, product in zip(metric_keys, products, strict=False):
            combined[hotkey] = combined.get(hotkey, 0.0) + product
    if combined is None:
        combined = dict(zip(keys or [], sums, strict=True))
    for hotkey in combined.keys() & penalties.keys():
        combined[hotkey] *= penalties[hotkey]
    return combined


def softmax(scores: Mapping[str, float], temperature: float, epsilon: float) -> Ranked:
    """Highest first (stable): a lone miner gets 1.0; zeros stay 0; others exp-normalised."""
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked:
        return []
    if len(ranked) == 1:
        return [(ranked[0][0], 1.0)]
    nonzero = [s for _, s in ranked if s != 0]
    if not nonzero:
        return [(hk, 0.0) for hk, _ in ranked]
    top = max(nonzero)
    exps = {hk: math.exp((s - top) / temperature) for hk, s in ranked if s != 0}
    total = math.fsum(exps.values()) + epsilon
    return [(hk, exps[hk] / total if hk in exps else 0.0) for hk, _ in ranked]


def qualified_by_threshold(ranked: Ranked, emission: float, rank: int) -> set[str]:
    """PTN: emission * softmax at or above the rank-th highest (when that many), and > 0."""
    weighted = [(hk, emission * s) for hk, s in ranked]
    bar = 0.0
    if len(weighted) >= rank >= 1:
        bar = sorted((s for _, s in weighted), reverse=True)[rank - 1]
    return {hk for hk, s in weighted if s >= bar and s > 0}


def qualified_by_top_n(
    ranked: Ranked, asset_class: str, selections: Mapping[str, str], rank: int
) -> set[str]:
    """Vanta: the first ``rank`` by softmax with a score ≥ 0, among those that selected the
    class when anyone has selected anything."""
    if selections:
        ranked = [(hk, s) for hk, s in ranked if selections.get(hk) == asset_class]
    ordered = sorted(ranked, key=lambda item: item[1], reverse=True)
    return {hk for hk, s in ordered[:rank] if s >= 0}


def qualify(
    scores: Mapping[str, AssetClassScores],
    pool: AbstractSet[str],
    selections: Mapping[str, str],
    config: RulesConfig,
) -> set[str]:
    """The union over asset classes of the pool members that qualify in that class."""
    qualified: set[str] = set()
    for asset_class, class_scores in scores.items():
        combined = combined_scores(class_scores, pool)
        ranked = softmax(combined, config.softmax_temperature, config.softmax_epsilon)
        if config.qualification is Qualification.EMISSION_THRESHOLD:
            emission = config.asset_class_emission.get(asset_class)
            if emission is None:
                # The reference raises on a class it has no emission for; such a class
                # can place nobody here rather than stopping the refresh.
                continue
            qualified |= qualified_by_threshold(ranked, emission, config.promotion_threshold_rank)
        else:
            qualified |= qualified_by_top_n(
                ranked, asset_class, selections, config.promotion_threshold_rank
            )
    return qualified
