"""The refresh rules step by step, as pure functions, under both rule sets (docs/RULES.md).

Worked examples and the ported reference tests go through the public client elsewhere;
here each step is tested alone, with its bounds on both sides.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
from collections.abc import Mapping
from typing import TypeVar

import pytest

from services.domain.challengeperiod_rules import (
    RefreshOutcome,
    Verdict,
    apply_plagiarism_flags,
    drawdown_percent,
    first_order_times,
    inspect_miner,
    inspect_miners,
    join_metagraph,
    prune,
    refresh,
    round_dd,
)
from services.domain.config import PTN_2025_11, VANTA_2025_12, RulesConfig, ruleset
from services.domain.errors import InvalidInputError
from services.domain.models import MinerBucket, MinerEntry, ReasonTuple
from services.domain.refresh_inputs import (
    AssetClassScores,
    MetricScores,
    MinerInputs,
    RefreshInputs,
)
from services.domain.scoring import (
    combined_scores,
    percentiles,
    qualified_by_threshold,
    qualified_by_top_n,
    softmax,
)

S = 1_000_000
D = 86_400_000
CH, MC, PB, PL = (
    MinerBucket.CHALLENGE,
    MinerBucket.MAINCOMP,
    MinerBucket.PROBATION,
    MinerBucket.PLAGIARISM,
)
TIME = ("FAILED_CHALLENGE_PERIOD_TIME", -1)
BOTH = pytest.mark.parametrize("rules", [PTN_2025_11, VANTA_2025_12], ids=lambda r: r.name)
# A "now" before Vanta's asset-selection start, so its gate does not apply unless asked.
EARLY = 1_700_000_000_000


def miner(**changes: object) -> MinerInputs:
    """A miner that passes every inspection rule (a promotion candidate)."""
    fields: dict[str, object] = {
        "first_order_time_ms": S,
        "n_positions": 10,
        "ledger_start_ms": S,
        "n_checkpoints": 10,
        "min_mdd": 0.95,
        "trading_days": 61,
    }
    fields.update(changes)
    return MinerInputs(**fields)  # type: ignore[arg-type]


T = TypeVar("T")


def inputs(
    metagraph: tuple[str, ...] = (),
    miners: Mapping[str, MinerInputs] | None = None,
    scores: Mapping[str, AssetClassScores] | None = None,
    plagiarism: Mapping[str, int] | None = None,
    selections: Mapping[str, str] | None = None,
) -> RefreshInputs:
    def plain(mapping: Mapping[str, T] | None) -> dict[str, T] | None:
        return None if mapping is None else dict(mapping)

    return RefreshInputs(
        metagraph, dict(miners or {}), plain(scores), plain(plagiarism), plain(selections)
    )


def one_metric(values: Mapping[str, float], penalties: Mapping[str, float] | None = None):
    return AssetClassScores({"pnl": MetricScores(1.0, dict(values))}, dict(penalties or {}))


def run(
    miners: Mapping[str, MinerEntry],
    refresh_inputs: RefreshInputs,
    now: int,
    rules: RulesConfig,
    *,
    pending: Mapping[str, ReasonTuple] | None = None,
    eliminated: frozenset[str] = frozenset(),
) -> RefreshOutcome:
    return refresh(miners, pending or {}, eliminated, refresh_inputs, now, rules)


# -- rule sets ----------------------------------------------------------------------------


def test_rule_sets_differ_where_the_networks_do() -> None:
    assert ruleset(None) is VANTA_2025_12
    assert ruleset("ptn-2025-11") is PTN_2025_11
    assert (PTN_2025_11.refresh_interval_ms, VANTA_2025_12.refresh_interval_ms) == (60_000, 300_000)
    assert PTN_2025_11.positions_screen and not VANTA_2025_12.positions_screen
    shared = ("challenge_period_max_ms", "probation_max_ms", "min_trading_days")
    for name in (*shared, "max_drawdown_percent", "promotion_threshold_rank"):
        assert getattr(PTN_2025_11, name) == getattr(VANTA_2025_12, name)


def test_an_unknown_rule_set_names_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match="ptn-2025-11, vanta-2025-12"):
        ruleset("ptn-2024")


# -- step 2: plagiarism moves ---------------------------------------------------------------


def test_step2_flagged_miner_moves_remembering_its_bucket_and_back() -> None:
    state, moved = apply_plagiarism_flags({"a": MinerEntry(MC, 5)}, {"a": 9}, 100)
    assert state == {"a": MinerEntry(PL, 100, MC, 5)} and moved == ["a"]
    back, moved = apply_plagiarism_flags(state, {}, 200)
    assert back == {"a": MinerEntry(MC, 5)} and moved == ["a"]


def test_step2_cleared_miner_without_previous_bucket_stays_in_plagiarism() -> None:
    state, moved = apply_plagiarism_flags({"a": MinerEntry(PL, 5)}, {}, 100)
    assert state == {"a": MinerEntry(PL, 5)} and moved == []


def test_step2_unknown_flags_change_nothing() -> None:
    entries = {"a": MinerEntry(PL, 5, MC, 1), "b": MinerEntry(MC, 5)}
    assert apply_plagiarism_flags(entries, None, 100) == (entries, [])


# -- step 4: joining ------------------------------------------------------------------------


def test_step4_joins_at_first_order_or_now_and_retimes_challenge() -> None:
    miners = {"old": MinerEntry(CH, 7, MC, 3), "mc": MinerEntry(MC, 7)}
    refresh_inputs = inputs(
        ("new", "trader", "old", "mc", "gone"),
        {"trader": miner(first_order_time_ms=50), "old": miner(first_order_time_ms=60)},
    )
    orders = first_order_times(refresh_inputs, PTN_2025_11)
    state, added = join_metagraph(
        miners, refresh_inputs.metagraph_hotkeys, orders, frozenset({"gone"}), 1_000
    )
    assert added == ["new", "trader"]
    assert state["new"] == MinerEntry(CH, 1_000)
    assert state["trader"] == MinerEntry(CH, 50)
    assert state["old"] == MinerEntry(CH, 60)  # re-timed, previous fields cleared
    assert state["mc"] == MinerEntry(MC, 7) and "gone" not in state


# -- step 6: inspection ---------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("bucket", "limit"), [(CH, 90 * D), (PB, 60 * D)], ids=["challenge", "probation"]
)
def test_step6_time_limit_bound_on_both_sides(rules: RulesConfig, bucket, limit: int) -> None:
    entry = MinerEntry(bucket, S)
    at = inspect_miner(entry, miner(), True, True, S + limit, rules)
    past = inspect_miner(entry, miner(), True, True, S + limit + 1, rules)
    assert at is Verdict.CANDIDATE and past == TIME


@BOTH
@pytest.mark.parametrize(
    ("min_mdd", "reason"),
    [
        (0.89, ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 11.0)),
        (0.90, None),  # 9.999999999999998 %: passes
        (0.8999, ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 10.01)),
        (-0.1, ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 100.0)),
        (0.89605, ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 10.4)),  # numpy rounding, not 10.39
    ],
)
def test_step6_drawdown_on_the_unrounded_percent(rules, min_mdd: float, reason) -> None:
    verdict = inspect_miner(MinerEntry(CH, S), miner(min_mdd=min_mdd), True, True, S, rules)
    assert verdict == (reason or Verdict.CANDIDATE)


def test_dd_rounds_as_numpy_does() -> None:
    assert round_dd(10.395) == 10.4 and round(10.395, 2) == 10.39
    assert drawdown_percent(None) == 0.0 and drawdown_percent(1.2) == 0.0
    assert drawdown_percent(0.0) == 100.0


def test_step6_positions_screen_only_in_ptn() -> None:
    no_positions = miner(n_positions=0, min_mdd=0.85)
    entry = MinerEntry(CH, S)
    assert inspect_miner(entry, no_positions, True, True, S, PTN_2025_11) is Verdict.SKIP
    assert inspect_miner(entry, no_positions, True, True, S, VANTA_2025_12) == (
        "FAILED_CHALLENGE_PERIOD_DRAWDOWN",
        15.0,
    )


@BOTH
def test_step6_re_registered_ledger_is_skipped_until_nobody_has_traded(rules) -> None:
    stale = miner(ledger_start_ms=500, first_order_time_ms=S)
    late = S + 91 * D
    assert inspect_miner(MinerEntry(CH, S), stale, True, True, late, rules) is Verdict.SKIP
    assert inspect_miner(MinerEntry(CH, S), stale, True, False, late, rules) == TIME
    same = miner(ledger_start_ms=S, first_order_time_ms=S)  # strict <: not re-registered
    assert inspect_miner(MinerEntry(CH, S), same, True, True, late, rules) == TIME


def test_step6_trading_days_make_ptn_candidates_and_vanta_rank_eligible() -> None:
    young = miner(trading_days=60)
    assert inspect_miner(MinerEntry(CH, S), young, True, True, S, PTN_2025_11) is Verdict.SKIP
    assert inspect_miner(MinerEntry(CH, S), young, True, True, S, VANTA_2025_12) is Verdict.RANKED
    for rules in (PTN_2025_11, VANTA_2025_12):
        assert inspect_miner(MinerEntry(CH, S), miner(), True, True, S, rules) is Verdict.CANDIDATE


def test_step6_vanta_selection_gate_from_its_start_time() -> None:
    start = VANTA_2025_12.asset_selection_start_ms
    assert start is not None
    entry = MinerEntry(CH, start - D)
    assert inspect_miner(entry, miner(), False, True, start - 1, VANTA_2025_12) is Verdict.CANDIDATE
    assert inspect_miner(entry, miner(), False, True, start, VANTA_2025_12) is Verdict.SKIP
    assert inspect_miner(entry, miner(), True, True, start, VANTA_2025_12) is Verdict.CANDIDATE


# -- steps 7-8: scoring ---------------------------------------------------------------------


def test_percentiles_are_scipys_strict_ones() -> None:
    result = percentiles([("a", 3.0), ("b", 1.0), ("c", 1.0), ("d", 2.0)])
    assert result == {"a": 0.75, "b": 0.0, "c": 0.0, "d": 0.5}
    assert percentiles([("a", 1.0), ("b", 2.0), ("c", 3.0)])["b"] == 1 * (100.0 / 3) / 100
    assert percentiles([("solo", -5.0)]) == {"solo": 1.0}


def test_penalty_zero_members_leave_the_lists_before_percentiles() -> None:
    scores = one_metric({"a": 3, "b": 2, "c": 1}, {"c": 0.0, "b": 0.5})
    assert combined_scores(scores, {"a", "b", "c"}) == {"a": 0.5, "b": 0.0}


def test_softmax_example_18() -> None:
    result = dict(softmax({"a": 0.9, "b": 0.5, "c": 0.0}, 0.15, 1e-6))
    assert math.isclose(result["a"], 0.935030, abs_tol=1e-6)
    assert math.isclose(result["b"], 0.064969, abs_tol=1e-6)
    assert result["c"] == 0.0
    assert softmax({"solo": 0.0}, 0.15, 1e-6) == [("solo", 1.0)]


def test_ptn_threshold_counts_zeros_and_lets_ties_in() -> None:
    ranked = [(f"m{i}", 1.0 - i / 100) for i in range(24)] + [("t1", 0.5), ("t2", 0.5), ("z", 0.0)]
    assert qualified_by_threshold(ranked, 0.5, 25) == {hk for hk, _ in ranked} - {"z"}
    assert qualified_by_threshold([("a", 0.0)], 0.5, 25) == set()


def test_vanta_top_n_keeps_order_and_filters_by_selection() -> None:
    ranked = [("a", 0.5), ("b", 0.5), ("c", 0.0)]
    assert qualified_by_top_n(ranked, "crypto", {}, 2) == {"a", "b"}
    # Anyone's selection turns the filter on: only "c" chose crypto ("b" chose nothing).
    assert qualified_by_top_n(ranked, "crypto", {"c": "crypto", "a": "forex"}, 2) == {"c"}


# -- steps 5, 9-12 through refresh ----------------------------------------------------------


@BOTH
def test_no_challenge_or_probation_miner_means_no_demotion(rules) -> None:
    miners = {"a": MinerEntry(MC, S), "b": MinerEntry(MC, S)}
    out = run(
        miners, inputs(("a", "b"), {"a": miner()}, {"crypto": one_metric({"a": 1})}), S, rules
    )
    assert out.demoted == [] and out.miners == miners


@BOTH
def test_scores_none_means_no_promotion_and_no_demotion(rules) -> None:
    miners = {"mc": MinerEntry(MC, S), "x": MinerEntry(CH, S)}
    out = run(miners, inputs(("mc", "x"), {"mc": miner(), "x": miner()}), EARLY, rules)
    assert (out.promoted, out.demoted) == ([], [])


@BOTH
def test_unscored_maincomp_is_demoted_when_anyone_is_inspected(rules) -> None:
    miners = {"a": MinerEntry(MC, S), "b": MinerEntry(MC, S), "x": MinerEntry(CH, S)}
    refresh_inputs = inputs(
        ("a", "b", "x"),
        {"a": miner(), "b": miner(n_checkpoints=0), "x": miner(trading_days=5)},
        {"crypto": one_metric({"a": 2.0, "x": 1.0})},
    )
    out = run(miners, refresh_inputs, EARLY, rules)
    assert "b" in out.demoted and out.miners["b"] == MinerEntry(PB, EARLY)


def test_lone_pool_scores_nobody_in_vanta_only() -> None:
    miners = {"a": MinerEntry(MC, S), "x": MinerEntry(CH, S)}
    refresh_inputs = inputs(
        ("a", "x"), {"a": miner(), "x": miner(n_checkpoints=0)}, {"crypto": one_metric({"a": 1})}
    )
    assert run(miners, refresh_inputs, EARLY, VANTA_2025_12).demoted == ["a"]
    assert run(miners, refresh_inputs, EARLY, PTN_2025_11).demoted == []


@BOTH
def test_plagiarism_reason_wins_over_time_for_a_hotkey_joining_now(rules) -> None:
    now = S + 100 * D
    refresh_inputs = inputs(("x",), {"x": miner(first_order_time_ms=S)}, None, {"x": now - 15 * D})
    out = run({}, refresh_inputs, now, rules)
    assert out.new_reasons == {"x": ("PLAGIARISM", -1)} and "x" not in out.miners


@BOTH
@pytest.mark.parametrize(("age", "eliminated"), [(14 * D, False), (14 * D + 1, True)])
def test_plagiarism_elimination_after_the_review_period(rules, age: int, eliminated) -> None:
    miners = {"a": MinerEntry(MC, S)}
    out = run(miners, inputs(("a",), plagiarism={"a": EARLY - age}), EARLY, rules)
    assert ("a" in out.new_reasons) is eliminated
    assert out.plagiarism == ["a"]


@BOTH
def test_pending_and_eliminated_hotkeys_leave_and_do_not_rejoin(rules) -> None:
    miners = {"p": MinerEntry(CH, S), "e": MinerEntry(MC, S), "k": MinerEntry(CH, S)}
    out = run(
        miners,
        inputs(("p", "e", "k")),
        S,
        rules,
        pending={"p": TIME},
        eliminated=frozenset({"e"}),
    )
    assert set(out.miners) == {"k"} and out.added == []


def test_prune_needs_a_metagraph() -> None:
    miners = {"a": MinerEntry(CH, S), "b": MinerEntry(MC, S)}
    assert prune(miners, ()) == (miners, [])
    assert prune(miners, ("a",)) == ({"a": MinerEntry(CH, S)}, ["b"])


@BOTH
def test_refresh_does_not_mutate_its_arguments(rules) -> None:
    miners = {"a": MinerEntry(MC, S), "x": MinerEntry(CH, S), "old": MinerEntry(PB, S)}
    pending = {"z": TIME}
    refresh_inputs = inputs(
        ("a", "x", "new"),
        {"a": miner(), "x": miner()},
        {"crypto": one_metric({"a": 1.0, "x": 2.0})},
        {"a": S},
    )
    before = copy.deepcopy((miners, pending))
    run(miners, refresh_inputs, S + 20 * D, rules, pending=pending)
    assert (miners, pending) == before


def test_a_custom_grace_extends_time_limits() -> None:
    grace = dataclasses.replace(PTN_2025_11, time_limit_grace_ms=1_759_363_200_000)
    entry, now = MinerEntry(CH, 1_748_736_000_000), 1_759_276_800_000
    assert inspect_miner(entry, miner(), True, True, now, grace) is Verdict.CANDIDATE
    assert inspect_miner(entry, miner(), True, True, now, PTN_2025_11) == TIME


def _naive_combined(class_scores: AssetClassScores, members: set[str]) -> dict[str, float]:
    """The reference's arithmetic written plainly: strict percentile, sums in metric order."""
    taking_part = {hk for hk in members if class_scores.penalties.get(hk, 1.0) != 0}
    combined: dict[str, float] = {}
    for metric in class_scores.metrics.values():
        values = [(hk, v) for hk, v in metric.scores.items() if hk in taking_part]
        n = len(values)
        for hk, v in values:
            share = 1.0 if n == 1 else sum(1 for _, o in values if o < v) * (100.0 / n) / 100
            combined[hk] = combined.get(hk, 0.0) + metric.weight * share
    return {
        hk: s * class_scores.penalties[hk] if hk in class_scores.penalties else s
        for hk, s in combined.items()
    }


@pytest.mark.parametrize("seed", range(40))
def test_combined_scores_equal_the_plain_arithmetic_bit_for_bit(seed: int) -> None:
    rng = random.Random(seed)
    hotkeys = [f"h{i}" for i in range(rng.randint(1, 30))]
    metrics = {}
    for m in range(rng.randint(1, 4)):
        # Ties (few distinct values), and metrics that leave some hotkeys out, in any order.
        chosen = rng.sample(hotkeys, rng.randint(1, len(hotkeys))) if seed % 3 else hotkeys
        values = {hk: float(rng.randint(0, 5)) if seed % 2 else rng.random() for hk in chosen}
        metrics[f"m{m}"] = MetricScores(rng.choice([0.9, 0.02, 1.0]), values)
    penalties = {hk: rng.choice([1.0, 0.5, 0.0]) for hk in hotkeys if rng.random() < 0.3}
    scores = AssetClassScores(metrics, penalties)
    members = set(rng.sample(hotkeys, rng.randint(1, len(hotkeys))))
    fast, plain = combined_scores(scores, members), _naive_combined(scores, members)
    assert list(fast.items()) == list(plain.items())  # same values, same order


def test_vanta_inspects_its_development_hotkey_without_its_first_order() -> None:
    """Its ledger then always looks older than its positions: skipped, where the same data
    under any other hotkey is inspected."""
    data = miner(ledger_start_ms=S + 5, first_order_time_ms=S, trading_days=90)
    refresh_inputs = inputs(("DEVELOPMENT", "x"), {"DEVELOPMENT": data, "x": data})
    verdicts, reasons = inspect_miners(
        {"DEVELOPMENT": MinerEntry(CH, S), "x": MinerEntry(CH, S)},
        refresh_inputs,
        first_order_times(refresh_inputs, VANTA_2025_12),
        S + D,
        VANTA_2025_12,
    )
    assert reasons == {}
    assert verdicts is not None
    assert verdicts["DEVELOPMENT"] is Verdict.SKIP
    assert verdicts["x"] is not Verdict.SKIP
