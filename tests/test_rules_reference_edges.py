"""Edge cases of the rules, each checked against the reference validators (V = vanta-network
bead3ecf, P = PTN c6885610): each expectation is derived from the code its docstring cites.

File keys: V.cpm vali_objects/challenge_period/challengeperiod_manager.py, V.pm
vali_objects/position_management/position_manager.py, V.em
vali_objects/utils/elimination/elimination_manager.py, V.sc vali_objects/scoring/scoring.py,
V.lu vali_objects/vali_dataclasses/ledger/ledger_utils.py, V.mu
shared_objects/subtensor_ops/metagraph_utils.py; P.cpm
vali_objects/utils/challengeperiod_manager.py,
P.pm vali_objects/utils/position_manager.py, P.em vali_objects/utils/elimination_manager.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from services.domain import elimination_rules as er
from services.domain.challengeperiod_rules import RefreshOutcome, Verdict, inspect_miner, refresh
from services.domain.config import PTN_2025_11, VANTA_2025_12, RulesConfig
from services.domain.models import MinerBucket, MinerEntry, ReasonTuple
from services.domain.refresh_inputs import (
    AssetClassScores,
    MetricScores,
    MinerInputs,
    RefreshInputs,
)

S = 1_000_000
D = 86_400_000
# Before Vanta's asset-selection start (V.as:25), so its gate is off unless asked for.
EARLY = 1_700_000_000_000
NOW = 1_750_000_000_000
CH, MC, PB = MinerBucket.CHALLENGE, MinerBucket.MAINCOMP, MinerBucket.PROBATION
TIME: ReasonTuple = ("FAILED_CHALLENGE_PERIOD_TIME", -1)
BOTH = pytest.mark.parametrize("rules", [PTN_2025_11, VANTA_2025_12], ids=lambda r: r.name)


def miner(**changes: Any) -> MinerInputs:
    """A miner passing every inspection rule: ledger from S, first order at S, 61 days."""
    fields: dict[str, Any] = {
        "first_order_time_ms": S,
        "n_positions": 10,
        "ledger_start_ms": S,
        "n_checkpoints": 10,
        "min_mdd": 0.95,
        "trading_days": 61,
    }
    fields.update(changes)
    return MinerInputs(**fields)


def pnl(
    values: Mapping[str, float], penalties: Mapping[str, float] | None = None
) -> AssetClassScores:
    return AssetClassScores({"pnl": MetricScores(1.0, dict(values))}, dict(penalties or {}))


def doc(
    metagraph: tuple[str, ...],
    miners: Mapping[str, MinerInputs],
    scores: Mapping[str, AssetClassScores] | None = None,
    plagiarism: Mapping[str, int] | None = None,
) -> RefreshInputs:
    return RefreshInputs(
        metagraph,
        dict(miners),
        None if scores is None else dict(scores),
        None if plagiarism is None else dict(plagiarism),
        None,
    )


def run(
    miners: Mapping[str, MinerEntry],
    inputs: RefreshInputs,
    now: int,
    rules: RulesConfig,
    eliminated: frozenset[str] = frozenset(),
) -> RefreshOutcome:
    return refresh(miners, {}, eliminated, inputs, now, rules)


# -- the first-order map and the zombie test, as the reference has them ----------------------


@BOTH
@pytest.mark.parametrize(
    ("min_mdd", "now"), [(0.95, S + 91 * D), (0.85, S + D)], ids=["late", "drawdown"]
)
def test_departed_challenge_miner_with_a_ledger_is_skipped_not_eliminated(
    rules: RulesConfig, min_mdd: float, now: int
) -> None:
    """The first-order map is built for metagraph hotkeys only (V.cpm:170-172 ->
    V.pm:596-640; P.cpm:169 -> P.pm:236-253), so a CHALLENGE miner that left the metagraph
    since the last refresh has no first order there. With a ledger and someone else's first
    order, is_recently_re_registered returns True (V.cpm:261-265; P.cpm:261-266): skipped
    before the time and drawdown checks (V.cpm:320-322; P.cpm:320-322). No reason; the
    prune then removes it (V.cpm:219, 238-249)."""
    miners = {"a": MinerEntry(MC, S), "gone": MinerEntry(CH, S)}
    inputs = doc(("a",), {"a": miner(), "gone": miner(min_mdd=min_mdd)})
    out = run(miners, inputs, now, rules)
    assert out.new_reasons == {}
    assert out.pruned == ["gone"]


@BOTH
def test_departed_candidate_does_not_enter_the_ranking_pool(rules: RulesConfig) -> None:
    """26 MAINCOMP miners with distinct pnl, and a CHALLENGE miner that just left the
    metagraph with the best pnl. The reference skips it (re-registered, as above), so it is
    not rank-eligible (V.cpm:360, 380) nor a candidate (P.cpm:357, 383). V: the top 25 of
    26 qualify (V.cpm:441-445), only m25 is demoted. P: 26 scored, the bar is the 25th value
    (P.cpm:439-441), m25 has percentile 0 -> 0 (P.cpm:444): only m25 is demoted."""
    start = EARLY - 10 * D
    hotkeys = [f"m{i:02d}" for i in range(26)]
    miners = {hk: MinerEntry(MC, S) for hk in hotkeys}
    miners["gone"] = MinerEntry(CH, start)
    facts = {hk: miner() for hk in hotkeys}
    facts["gone"] = miner(first_order_time_ms=start, ledger_start_ms=start)
    values = {hk: 1.0 - i / 100 for i, hk in enumerate(hotkeys)}
    values["gone"] = 5.0
    out = run(miners, doc(tuple(hotkeys), facts, {"crypto": pnl(values)}), EARLY, rules)
    assert out.demoted == ["m25"]
    assert out.promoted == []


@pytest.mark.parametrize(
    ("rules", "reasons"),
    [(PTN_2025_11, {}), (VANTA_2025_12, {"gone": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 15.0)})],
    ids=["ptn", "vanta"],
)
def test_departed_miner_has_no_positions_for_the_ptn_screen(
    rules: RulesConfig, reasons: dict[str, ReasonTuple]
) -> None:
    """No metagraph hotkey has traded, so the re-registered check is off (V.cpm:254-255;
    P.cpm:253-254). PTN's positions screen then reads the positions of metagraph hotkeys
    only (P.cpm:169 -> P.pm:236-253; P.cpm:339, 516-533): the departed miner has none and
    is skipped. Vanta has no positions screen and judges its drawdown (V.cpm:336-346)."""
    miners = {"a": MinerEntry(MC, S), "gone": MinerEntry(CH, S)}
    facts = {"a": miner(first_order_time_ms=None, n_positions=0), "gone": miner(min_mdd=0.85)}
    out = run(miners, doc(("a",), facts), S + D, rules)
    assert out.new_reasons == reasons
    assert "gone" not in out.miners  # eliminated (Vanta) or pruned (PTN)


def test_vanta_development_hotkey_joins_at_now_not_at_its_first_order() -> None:
    """V leaves DEVELOPMENT_HOTKEY out of the first-order map (V.pm:619-620), and joining
    reads that map (V.cpm:744-750): with no first order there, an absent hotkey enters
    (CHALLENGE, now) and a present one is never re-timed."""
    facts = {"DEVELOPMENT": miner(first_order_time_ms=EARLY - D, n_checkpoints=0)}
    inputs = doc(("DEVELOPMENT",), facts)
    out = run({}, inputs, EARLY, VANTA_2025_12)
    assert out.miners["DEVELOPMENT"] == MinerEntry(CH, EARLY)
    again = run({"DEVELOPMENT": MinerEntry(CH, EARLY)}, inputs, EARLY + D, VANTA_2025_12)
    assert again.miners["DEVELOPMENT"] == MinerEntry(CH, EARLY)


@BOTH
@pytest.mark.parametrize("reason", [None, ""])
def test_a_row_without_a_reason_does_not_shield_from_zombie(rules: RulesConfig, reason) -> None:
    """handle_zombies skips a hotkey only when its row's reason is truthy
    (V.em:704-707; P.em:355-358); otherwise a hotkey out of the metagraph gets a ZOMBIE
    row with dd None (V.em:708-709; P.em:359-360), which replaces the old row."""
    rows = {"z": {"hotkey": "z", "reason": reason, "dd": None, "elimination_initiated_time_ms": 0}}
    found = er.plan_zombies(["z"], ["other"], rows, (), NOW, rules)
    assert [(r["hotkey"], r["reason"], r["dd"]) for r in found] == [("z", "ZOMBIE", None)]


# -- parity pins (not covered elsewhere) ------------------------------------------------------


@BOTH
def test_drawdown_exactly_at_the_threshold_fails_in_both_services(rules: RulesConfig) -> None:
    """The comparison is `pct >= max` (V.lu:543), in inspection (V.cpm:342-346) and the MDD
    step (V.em:688-691). With the threshold at 25.0 a min_mdd of 0.75 is exactly 25.0 %."""
    at = dataclasses.replace(rules, max_drawdown_percent=25.0)
    got = inspect_miner(MinerEntry(CH, S), miner(min_mdd=0.75), True, True, S, at)
    assert got == ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 25.0)
    rows = er.plan_drawdown(["a"], {"a": miner(min_mdd=0.75)}, {}, NOW, at)
    assert [(r["reason"], r["dd"]) for r in rows] == [("MAX_TOTAL_DRAWDOWN", 25.0)]
    above = dataclasses.replace(rules, max_drawdown_percent=25.000000000000004)
    assert inspect_miner(MinerEntry(CH, S), miner(min_mdd=0.75), True, True, S, above) is (
        Verdict.CANDIDATE
    )


@BOTH
def test_mdd_step_skips_a_hotkey_that_has_any_row(rules: RulesConfig) -> None:
    """`if miner_hotkey in self.eliminations: continue` (V.em:685-686; P.em:332-333)."""
    rows = {"a": er.make_row("a", "LIQUIDATED", 0.0, 1)}
    assert er.plan_drawdown(["a"], {"a": miner(min_mdd=0.5)}, rows, NOW, rules) == []


@BOTH
def test_only_metagraph_first_orders_turn_the_re_registered_check_on(rules: RulesConfig) -> None:
    """`if not hk_to_first_order_time: return False` (V.cpm:254-255; P.cpm:253-254) and the
    map holds metagraph hotkeys only (V.pm:625-637): a first order of a hotkey outside the
    metagraph does not turn the check on, so a late miner with a ledger and no positions
    fails on time (V.cpm:329-333)."""
    miners = {"x": MinerEntry(CH, S)}
    facts = {"x": miner(first_order_time_ms=None), "old": miner()}
    out = run(miners, doc(("x",), facts), S + 91 * D, rules)
    assert out.new_reasons == {"x": TIME}


@BOTH
def test_inspection_that_only_eliminates_still_demotes(rules: RulesConfig) -> None:
    """inspect() returns early only when the inspection set is empty (V.cpm:298-299;
    P.cpm:304-305); a set whose every member fails on time still scores and demotes the
    MAINCOMP miner that has no score (V.cpm:460; P.cpm:456)."""
    miners = {"a": MinerEntry(MC, S), "b": MinerEntry(MC, S), "c": MinerEntry(MC, S)}
    miners["x"] = MinerEntry(CH, S)
    facts = {"a": miner(), "b": miner(), "c": miner(n_checkpoints=0), "x": miner()}
    scores = {"crypto": pnl({"a": 2.0, "b": 1.0})}
    out = run(miners, doc(("a", "b", "c", "x"), facts, scores), S + 91 * D, rules)
    assert out.new_reasons == {"x": TIME}
    assert "c" in out.demoted and out.miners["c"] == MinerEntry(PB, S + 91 * D)


def test_vanta_lone_pool_counts_rank_eligible_and_penalty_zero_members() -> None:
    """score_miner_asset_classes returns nothing when `len(ledger_dict) <= 1` (V.sc:159-161);
    ledger_dict holds MAINCOMP plus rank-eligible miners under 61 days (V.cpm:360, 380-381),
    and penalty-0 miners are still in it (removed only from the metric lists, V.sc:255).
    So with one of each beside MAINCOMP "a", "a" is scored and keeps its place."""
    miners = {"a": MinerEntry(MC, S), "x": MinerEntry(CH, EARLY - D)}
    young = miner(first_order_time_ms=EARLY - D, ledger_start_ms=EARLY - D, trading_days=5)
    out = run(
        miners,
        doc(("a", "x"), {"a": miner(), "x": young}, {"crypto": pnl({"a": 1.0, "x": 2.0})}),
        EARLY,
        VANTA_2025_12,
    )
    assert out.demoted == [] and out.promoted == []
    miners = {"a": MinerEntry(MC, S), "b": MinerEntry(MC, S), "x": MinerEntry(CH, EARLY - D)}
    facts = {"a": miner(), "b": miner(), "x": miner(n_checkpoints=0)}
    scores = {"crypto": pnl({"a": 1.0, "b": 2.0}, {"b": 0.0})}
    out = run(miners, doc(("a", "b", "x"), facts, scores), EARLY, VANTA_2025_12)
    assert out.demoted == ["b"]


@BOTH
def test_a_qualifying_probation_miner_is_promoted_at_now(rules: RulesConfig) -> None:
    """PROBATION miners are inspected (V.cpm:193) and promoted like CHALLENGE ones:
    set_miner_bucket(hk, MAINCOMP, current_time) (V.cpm:614; P.cpm:602)."""
    start = EARLY - 10 * D
    miners = {"a": MinerEntry(MC, S), "p": MinerEntry(PB, start)}
    facts = {"a": miner(), "p": miner(first_order_time_ms=start, ledger_start_ms=start)}
    out = run(miners, doc(("a", "p"), facts, {"crypto": pnl({"a": 1.0, "p": 2.0})}), EARLY, rules)
    assert out.promoted == ["p"] and out.miners["p"] == MinerEntry(MC, EARLY)


@BOTH
def test_a_departed_maincomp_miner_is_still_scored_before_the_prune(rules: RulesConfig) -> None:
    """MAINCOMP comes from the buckets, not the metagraph (V.cpm:182, 191, 380-381), so a
    MAINCOMP hotkey that just left is scored beside the others and only then pruned
    (V.cpm:219). With it, "a" is not alone in the pool (V.sc:159) and keeps its place."""
    miners = {"a": MinerEntry(MC, S), "gone": MinerEntry(MC, S), "x": MinerEntry(CH, EARLY)}
    facts = {"a": miner(), "gone": miner(), "x": miner(n_checkpoints=0)}
    scores = {"crypto": pnl({"a": 2.0, "gone": 1.0})}
    out = run(miners, doc(("a", "x"), facts, scores), EARLY, rules)
    assert "a" not in out.demoted and out.miners["a"] == MinerEntry(MC, S)
    assert "gone" in out.pruned


@BOTH
def test_a_flagged_eliminated_hotkey_leaves_and_does_not_rejoin(rules: RulesConfig) -> None:
    """Plagiarism moves run first (V.cpm:165), then eliminated hotkeys leave (V.cpm:168) and
    are skipped by joining (V.cpm:733-734)."""
    miners = {"e": MinerEntry(MC, S)}
    out = run(miners, doc(("e",), {}, None, {"e": S}), S + D, rules, frozenset({"e"}))
    assert out.miners == {} and out.added == []


@pytest.mark.parametrize(("lost", "previous", "anomalous"), [(11, 44, True), (11, 45, False)])
def test_departed_anomaly_at_exactly_a_quarter(lost: int, previous: int, anomalous: bool) -> None:
    """`num_lost > 10 and 100.0 * num_lost / total >= 25` (V.mu:52-58): 11 of 44 is exactly
    25 % and anomalous; 11 of 45 is not."""
    assert er.is_anomalous_loss(lost, previous, VANTA_2025_12) is anomalous
    before = frozenset(f"h{i}" for i in range(previous))
    after = sorted(before)[lost:]
    plan = er.plan_departed(before, after, {}, NOW, VANTA_2025_12)
    assert (plan.new_entries == {}) is anomalous
    assert plan.previous == frozenset(after)
