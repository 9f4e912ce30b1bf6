"""The refresh rules of RULES.md ("One refresh at time now"), step by step, and its examples."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

import pytest

from services.domain.challengeperiod_rules import (
    RefreshOutcome,
    Verdict,
    apply_plagiarism_flags,
    drawdown_percent,
    inspect_miner,
    join_metagraph,
    merge_eliminations,
    promote_and_demote,
    prune,
    refresh,
)
from services.domain.config import RulesConfig
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
    qualifiers,
    qualify,
    softmax,
    threshold,
)

S = 1_000
D = 86_400_000
CONFIG = RulesConfig()
CHALLENGE = MinerBucket.CHALLENGE
MAINCOMP = MinerBucket.MAINCOMP
PROBATION = MinerBucket.PROBATION
PLAGIARISM = MinerBucket.PLAGIARISM
TIME = ("FAILED_CHALLENGE_PERIOD_TIME", -1)
WEIGHTS = {
    "calmar": 0.02,
    "sharpe": 0.02,
    "omega": 0.02,
    "sortino": 0.02,
    "statistical_confidence": 0.02,
    "pnl": 0.9,
}


def eligible(**changes: object) -> MinerInputs:
    """A miner that passes every rule of step 4 (a candidate), with ``changes`` applied."""
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


def make_inputs(
    metagraph: tuple[str, ...] = (),
    miners: Mapping[str, MinerInputs] | None = None,
    scores: Mapping[str, AssetClassScores] | None = None,
    plagiarism: Mapping[str, int] | None = None,
) -> RefreshInputs:
    return RefreshInputs(metagraph, dict(miners or {}), scores, plagiarism)


def run(
    miners: Mapping[str, MinerEntry],
    inputs: RefreshInputs,
    now: int,
    *,
    pending: Mapping[str, ReasonTuple] | None = None,
    eliminated: frozenset[str] = frozenset(),
    config: RulesConfig = CONFIG,
) -> RefreshOutcome:
    return refresh(miners, pending or {}, eliminated, inputs, now, config)


def linspace(start: float, stop: float, n: int) -> list[float]:
    step = (stop - start) / (n - 1)
    return [start + i * step for i in range(n - 1)] + [stop]


def asset_class(values: Mapping[str, float]) -> AssetClassScores:
    """Every metric of WEIGHTS with the same value per hotkey; penalties 1."""
    return AssetClassScores(
        metrics={name: MetricScores(weight, dict(values)) for name, weight in WEIGHTS.items()},
        penalties=dict.fromkeys(values, 1.0),
    )


# -- worked examples of RULES.md ---------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "reason"),
    [(S + 90 * D, None), (S + 90 * D + 1, TIME)],
    ids=["at-bound-still-in", "one-ms-past-eliminated"],
)
def test_example_challenge_time_bound(now: int, reason: ReasonTuple | None) -> None:
    outcome = run({"hk": MinerEntry(CHALLENGE, S)}, make_inputs(("hk",), {"hk": eligible()}), now)
    if reason is None:
        assert outcome.miners == {"hk": MinerEntry(CHALLENGE, S)}
        assert outcome.new_reasons == {}
    else:
        assert outcome.miners == {}
        assert outcome.new_reasons == {"hk": reason}


def test_example_past_time_limit_with_drawdown_is_eliminated_for_time() -> None:
    outcome = run(
        {"hk": MinerEntry(CHALLENGE, S)},
        make_inputs(("hk",), {"hk": eligible(min_mdd=0.89)}),
        S + 90 * D + 1,
    )
    assert outcome.new_reasons == {"hk": TIME}


@pytest.mark.parametrize(
    ("min_mdd", "reasons", "buckets"),
    [
        (0.89, {"hk": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 11.0)}, {}),
        (0.90, {}, {"hk": MinerEntry(CHALLENGE, S)}),
    ],
)
def test_example_drawdown(
    min_mdd: float, reasons: dict[str, ReasonTuple], buckets: dict[str, MinerEntry]
) -> None:
    outcome = run(
        {"hk": MinerEntry(CHALLENGE, S)},
        make_inputs(("hk",), {"hk": eligible(min_mdd=min_mdd)}),
        S + 10 * D,
    )
    assert outcome.new_reasons == reasons
    assert outcome.miners == buckets


def test_example_drawdown_pct_of_0_90_is_just_below_ten() -> None:
    assert drawdown_percent(0.90) == 9.999999999999998


def _twenty_five_maincomp(candidate_value: float) -> RefreshOutcome:
    maincomp = {f"miner{i + 1}": v for i, v in enumerate(linspace(1.0, 0.2, 25))}
    miners = {hk: MinerEntry(MAINCOMP, S) for hk in maincomp}
    miners["miner"] = MinerEntry(CHALLENGE, S)
    scores = {
        "crypto": asset_class({**maincomp, "miner": candidate_value}),
        "forex": asset_class(maincomp),
    }
    inputs = make_inputs(tuple(miners), {"miner": eligible()}, scores)
    return run(miners, inputs, S + 70 * D)


def test_example_25_maincomp_candidate_at_0_75_promotes_and_demotes() -> None:
    now = S + 70 * D
    outcome = _twenty_five_maincomp(0.75)
    assert outcome.promoted == ["miner"]
    assert outcome.demoted == ["miner25"]
    assert outcome.miners["miner"] == MinerEntry(MAINCOMP, now)
    assert outcome.miners["miner25"] == MinerEntry(PROBATION, now)
    assert outcome.miners["miner24"] == MinerEntry(MAINCOMP, S)


def test_example_25_maincomp_candidate_at_0_1_changes_nothing() -> None:
    outcome = _twenty_five_maincomp(0.1)
    assert outcome.promoted == []
    assert outcome.demoted == []
    assert outcome.miners["miner"] == MinerEntry(CHALLENGE, S)
    assert outcome.miners["miner25"] == MinerEntry(MAINCOMP, S)


def test_example_5_maincomp_candidate_at_0_5_promotes_and_demotes() -> None:
    now = S + 70 * D
    maincomp = {f"m{i + 1}": v for i, v in enumerate(linspace(1.0, 0.2, 5))}
    miners = {hk: MinerEntry(MAINCOMP, S) for hk in maincomp}
    miners["candidate"] = MinerEntry(CHALLENGE, S)
    scores = {"crypto": asset_class({**maincomp, "candidate": 0.5})}
    outcome = run(miners, make_inputs(tuple(miners), {"candidate": eligible()}, scores), now)
    assert outcome.promoted == ["candidate"]
    assert outcome.demoted == ["m5"]
    assert outcome.miners["candidate"] == MinerEntry(MAINCOMP, now)
    assert outcome.miners["m5"] == MinerEntry(PROBATION, now)


# -- step 1: eliminated hotkeys ----------------------------------------------------------


def test_step1_eliminated_and_pending_hotkeys_leave_and_do_not_rejoin() -> None:
    miners = {hk: MinerEntry(CHALLENGE, S) for hk in ("gone", "pending", "kept")}
    inputs = make_inputs(("gone", "pending", "kept", "new"))
    outcome = run(
        miners,
        inputs,
        S + D,
        pending={"pending": ("MAX_TOTAL_DRAWDOWN", 12.5)},
        eliminated=frozenset({"gone", "new"}),
    )
    assert set(outcome.miners) == {"kept"}
    assert outcome.added == []
    assert outcome.new_reasons == {}


# -- step 2: plagiarism flags ------------------------------------------------------------


@pytest.mark.parametrize("bucket", [CHALLENGE, MAINCOMP, PROBATION])
def test_step2_flagged_miner_moves_to_plagiarism_remembering_its_bucket(
    bucket: MinerBucket,
) -> None:
    state = apply_plagiarism_flags({"hk": MinerEntry(bucket, S)}, {"hk": 5 * D}, 7 * D)
    assert state == {"hk": MinerEntry(PLAGIARISM, 7 * D, bucket, S)}


def test_step2_miner_already_in_plagiarism_keeps_its_start() -> None:
    entry = MinerEntry(PLAGIARISM, 3 * D, MAINCOMP, S)
    assert apply_plagiarism_flags({"hk": entry}, {"hk": 3 * D}, 9 * D) == {"hk": entry}


def test_step2_cleared_miner_returns_to_previous_bucket_and_fields_clear() -> None:
    state = apply_plagiarism_flags({"hk": MinerEntry(PLAGIARISM, 3 * D, PROBATION, S)}, {}, 9 * D)
    assert state == {"hk": MinerEntry(PROBATION, S, None, None)}


def test_step2_cleared_miner_without_previous_bucket_restarts_challenge() -> None:
    state = apply_plagiarism_flags({"hk": MinerEntry(PLAGIARISM, 3 * D)}, {}, 9 * D)
    assert state == {"hk": MinerEntry(CHALLENGE, 9 * D)}


def test_step2_plagiarism_move_in_then_back_out_through_refresh() -> None:
    start = {"hk": MinerEntry(MAINCOMP, S)}
    flagged = run(start, make_inputs(("hk",), plagiarism={"hk": 2 * D}), 2 * D)
    assert flagged.miners == {"hk": MinerEntry(PLAGIARISM, 2 * D, MAINCOMP, S)}
    cleared = run(flagged.miners, make_inputs(("hk",), plagiarism={}), 3 * D)
    assert cleared.miners == {"hk": MinerEntry(MAINCOMP, S)}


def test_step2_plagiarism_none_changes_nothing() -> None:
    miners = {
        "in": MinerEntry(PLAGIARISM, 3 * D, MAINCOMP, S),
        "out": MinerEntry(MAINCOMP, S),
    }
    assert apply_plagiarism_flags(miners, None, 30 * D) == miners
    outcome = run(miners, make_inputs(("in", "out"), plagiarism=None), 30 * D)
    assert outcome.miners == miners
    assert outcome.new_reasons == {}


# -- step 3: joining ---------------------------------------------------------------------


def test_step3_new_hotkey_without_first_order_joins_at_now() -> None:
    state, added = join_metagraph({}, ["hk"], {}, frozenset(), 5 * D)
    assert state == {"hk": MinerEntry(CHALLENGE, 5 * D)}
    assert added == ["hk"]


def test_step3_new_hotkey_with_first_order_joins_at_first_order() -> None:
    state, added = join_metagraph(
        {}, ["hk"], {"hk": eligible(first_order_time_ms=2 * D)}, frozenset(), 5 * D
    )
    assert state == {"hk": MinerEntry(CHALLENGE, 2 * D)}
    assert added == ["hk"]


def test_step3_challenge_start_that_differs_from_first_order_is_updated_not_added() -> None:
    state, added = join_metagraph(
        {"hk": MinerEntry(CHALLENGE, 5 * D)},
        ["hk"],
        {"hk": eligible(first_order_time_ms=2 * D)},
        frozenset(),
        6 * D,
    )
    assert state == {"hk": MinerEntry(CHALLENGE, 2 * D)}
    assert added == []


def test_step3_challenge_miner_without_first_order_keeps_its_start() -> None:
    miners = {"hk": MinerEntry(CHALLENGE, 5 * D)}
    state, added = join_metagraph(miners, ["hk"], {}, frozenset(), 6 * D)
    assert state == miners
    assert added == []


@pytest.mark.parametrize(
    "entry",
    [
        MinerEntry(MAINCOMP, S),
        MinerEntry(PROBATION, S),
        MinerEntry(PLAGIARISM, S, CHALLENGE, 0),
    ],
    ids=["maincomp", "probation", "plagiarism"],
)
def test_step3_miners_in_other_buckets_are_not_rejoined(entry: MinerEntry) -> None:
    state, added = join_metagraph(
        {"hk": entry}, ["hk"], {"hk": eligible(first_order_time_ms=2 * D)}, frozenset(), 6 * D
    )
    assert state == {"hk": entry}
    assert added == []


def test_step3_eliminated_hotkey_does_not_join() -> None:
    state, added = join_metagraph({}, ["hk"], {}, frozenset({"hk"}), 6 * D)
    assert state == {}
    assert added == []


# -- step 4: inspection, in order of precedence ------------------------------------------

PAST_CHALLENGE = S + 90 * D + 1


@pytest.mark.parametrize(
    ("miner", "now", "verdict"),
    [
        # 1. recently re-registered wins over everything, even over the time limit
        (eligible(first_order_time_ms=None), PAST_CHALLENGE, Verdict.SKIP),
        (eligible(ledger_start_ms=S - 1), PAST_CHALLENGE, Verdict.SKIP),
        # ... but a ledger starting at or after the first order is not a re-registration
        (eligible(ledger_start_ms=S), S + D, Verdict.CANDIDATE),
        (eligible(ledger_start_ms=S + 1), S + D, Verdict.CANDIDATE),
        # no ledger at all is not a re-registration either
        (eligible(ledger_start_ms=None, n_checkpoints=0), PAST_CHALLENGE, TIME),
        # 2. time wins over empty positions and over drawdown
        (eligible(n_positions=0), PAST_CHALLENGE, TIME),
        (eligible(min_mdd=0.5), PAST_CHALLENGE, TIME),
        # 3. no positions or no checkpoints: skip, even with a drawdown that would eliminate
        (eligible(n_positions=0, min_mdd=0.5), S + D, Verdict.SKIP),
        (eligible(n_checkpoints=0, min_mdd=0.5), S + D, Verdict.SKIP),
        # 4. drawdown wins over too few trading days
        (eligible(min_mdd=0.5, trading_days=0), S + D, ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 50.0)),
        (eligible(min_mdd=0.0), S + D, ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 100.0)),
        # 5. too few trading days: skip
        (eligible(trading_days=60), S + D, Verdict.SKIP),
        # 6. otherwise a candidate
        (eligible(trading_days=61), S + D, Verdict.CANDIDATE),
    ],
)
def test_step4_first_rule_that_applies_wins(
    miner: MinerInputs, now: int, verdict: Verdict | ReasonTuple
) -> None:
    assert inspect_miner(MinerEntry(CHALLENGE, S), miner, now, CONFIG) == verdict


@pytest.mark.parametrize(
    ("now", "in_bucket"),
    [(S + 60 * D, True), (S + 60 * D + 1, False)],
    ids=["at-bound", "one-ms-past"],
)
def test_step4_probation_limit(now: int, in_bucket: bool) -> None:
    # trading_days below the minimum: the miner is skipped, never promoted, when in time.
    miner = eligible(trading_days=0)
    outcome = run({"hk": MinerEntry(PROBATION, S)}, make_inputs(("hk",), {"hk": miner}), now)
    assert ("hk" in outcome.miners) is in_bucket
    assert outcome.new_reasons == ({} if in_bucket else {"hk": TIME})


def test_step4_challenge_uses_its_own_longer_limit() -> None:
    entry = MinerEntry(CHALLENGE, S)
    assert inspect_miner(entry, eligible(), S + 60 * D + 1, CONFIG) is Verdict.CANDIDATE


def test_step4_hotkey_missing_from_miners_has_no_positions_and_is_skipped() -> None:
    outcome = run({"hk": MinerEntry(CHALLENGE, S)}, make_inputs(("hk",)), S + 10 * D)
    assert outcome.miners == {"hk": MinerEntry(CHALLENGE, S)}
    assert outcome.new_reasons == {}


def test_step4_limits_come_from_the_config() -> None:
    config = RulesConfig(challenge_period_max_ms=D, max_drawdown_percent=50.0, min_trading_days=5)
    entry = MinerEntry(CHALLENGE, S)
    assert inspect_miner(entry, eligible(), S + D + 1, config) == TIME
    assert inspect_miner(entry, eligible(min_mdd=0.6, trading_days=5), S, config) == (
        Verdict.CANDIDATE
    )


@pytest.mark.parametrize(
    ("min_mdd", "pct"),
    [(None, 0.0), (1.0, 0.0), (1.5, 0.0), (0.0, 100.0), (-0.2, 100.0), (0.75, 25.0)],
)
def test_drawdown_percent(min_mdd: float | None, pct: float) -> None:
    assert drawdown_percent(min_mdd) == pct


# -- step 5: scoring ---------------------------------------------------------------------


def test_percentile_counts_strictly_lower_values() -> None:
    assert percentiles({"a": 3.0, "b": 1.0, "c": 1.0, "d": 2.0}) == {
        "a": 0.75,
        "b": 0.0,
        "c": 0.0,
        "d": 0.5,
    }


def test_percentile_of_a_single_value_is_one() -> None:
    assert percentiles({"a": -4.0}) == {"a": 1.0}


def test_combined_score_weights_percentiles_and_applies_penalties() -> None:
    scores = AssetClassScores(
        metrics={
            "pnl": MetricScores(0.9, {"a": 2.0, "b": 1.0, "outsider": 9.0}),
            "sharpe": MetricScores(0.1, {"a": 1.0, "b": 2.0}),
        },
        penalties={"a": 0.5},
    )
    combined = combined_scores(scores, {"a", "b"})
    # the outsider's values take no part, so "a" tops pnl among the participants
    assert combined == pytest.approx({"a": (0.9 * 0.5 + 0.1 * 0.0) * 0.5, "b": 0.1 * 0.5})


def test_softmax_follows_the_formula_and_keeps_zeros() -> None:
    result = softmax({"a": 0.3, "b": 0.1, "z": 0.0}, 0.15)
    ea, eb = math.exp(0.0), math.exp((0.1 - 0.3) / 0.15)
    assert result == pytest.approx({"a": ea / (ea + eb + 1e-6), "b": eb / (ea + eb + 1e-6), "z": 0})


@pytest.mark.parametrize(("score", "expected"), [(0.4, 1.0), (0.0, 0.0)])
def test_softmax_of_a_lone_miner(score: float, expected: float) -> None:
    assert softmax({"a": score}, 0.15) == {"a": expected}


def test_threshold_is_the_rank_th_highest_or_zero() -> None:
    assert threshold({"a": 0.5, "b": 0.3, "c": 0.2}, 2) == 0.3
    assert threshold({"a": 0.5, "b": 0.3, "c": 0.2}, 3) == 0.2
    assert threshold({"a": 0.5, "b": 0.3}, 3) == 0.0


def test_qualifiers_need_the_threshold_and_a_positive_score() -> None:
    assert qualifiers({"a": 0.5, "b": 0.3, "c": 0.2}, 2) == {"a", "b"}
    assert qualifiers({"a": 0.5, "z": 0.0}, 25) == {"a"}


def test_qualify_in_any_class_is_enough() -> None:
    scores = {
        "crypto": asset_class({"a": 1.0, "b": 0.0}),
        "forex": asset_class({"a": 0.0, "b": 1.0}),
    }
    result = qualify(scores, {"a", "b", "c"}, rank=25, temperature=0.15)
    assert result.qualified == {"a", "b"}
    assert result.scored == {"a", "b"}


# -- step 5: promotion and demotion ------------------------------------------------------


def test_step5_no_candidates_means_no_promotion_or_demotion() -> None:
    miners = {"top": MinerEntry(MAINCOMP, S), "low": MinerEntry(MAINCOMP, S)}
    scores = {"crypto": asset_class({"top": 1.0, "low": 0.0})}
    state, promoted, demoted = promote_and_demote(miners, [], scores, 5 * D, CONFIG)
    assert (state, promoted, demoted) == (miners, [], [])


def test_step5_scores_none_means_no_promotion() -> None:
    miners = {"cand": MinerEntry(CHALLENGE, S), "main": MinerEntry(MAINCOMP, S)}
    state, promoted, demoted = promote_and_demote(miners, ["cand"], None, 5 * D, CONFIG)
    assert (state, promoted, demoted) == (miners, [], [])


def test_step5_scores_none_through_refresh_leaves_candidate_in_challenge() -> None:
    outcome = run(
        {"cand": MinerEntry(CHALLENGE, S)},
        make_inputs(("cand",), {"cand": eligible()}, scores=None),
        S + 70 * D,
    )
    assert outcome.miners == {"cand": MinerEntry(CHALLENGE, S)}
    assert outcome.promoted == []


def test_step5_maincomp_miner_without_scores_stays() -> None:
    miners = {
        "cand": MinerEntry(CHALLENGE, S),
        "main": MinerEntry(MAINCOMP, S),
        "unscored": MinerEntry(MAINCOMP, S),
    }
    scores = {"crypto": asset_class({"cand": 1.0, "main": 0.5})}
    state, promoted, demoted = promote_and_demote(miners, ["cand"], scores, 5 * D, CONFIG)
    assert promoted == ["cand"]
    assert demoted == ["main"]
    assert state["unscored"] == MinerEntry(MAINCOMP, S)


def test_step5_scores_of_other_hotkeys_are_ignored() -> None:
    # "waiting" is in CHALLENGE but not a candidate; if its value took part, "cand" would
    # have a percentile of 0 and not qualify.
    miners = {"cand": MinerEntry(CHALLENGE, S), "waiting": MinerEntry(CHALLENGE, S)}
    scores = {"crypto": asset_class({"cand": 0.1, "waiting": 5.0, "stranger": 9.0})}
    state, promoted, _ = promote_and_demote(miners, ["cand"], scores, 5 * D, CONFIG)
    assert promoted == ["cand"]
    assert state["waiting"] == MinerEntry(CHALLENGE, S)
    assert "stranger" not in state


def test_step5_probation_candidate_is_promoted() -> None:
    miners = {"prob": MinerEntry(PROBATION, S)}
    scores = {"crypto": asset_class({"prob": 1.0})}
    state, promoted, _ = promote_and_demote(miners, ["prob"], scores, 5 * D, CONFIG)
    assert promoted == ["prob"]
    assert state["prob"] == MinerEntry(MAINCOMP, 5 * D)


# -- step 6: plagiarism elimination ------------------------------------------------------

FLAGGED = 10 * D


@pytest.mark.parametrize(
    ("now", "eliminated"),
    [(FLAGGED + 14 * D, False), (FLAGGED + 14 * D + 1, True)],
    ids=["at-review-bound", "one-ms-past"],
)
def test_step6_plagiarism_elimination_after_review_period(now: int, eliminated: bool) -> None:
    miners = {"hk": MinerEntry(PLAGIARISM, FLAGGED, MAINCOMP, S)}
    outcome = run(miners, make_inputs(("hk",), plagiarism={"hk": FLAGGED}), now)
    if eliminated:
        assert outcome.new_reasons == {"hk": ("PLAGIARISM", -1)}
        assert outcome.miners == {}
    else:
        assert outcome.new_reasons == {}
        assert outcome.miners == miners


def test_step6_flagged_hotkey_outside_the_buckets_is_not_eliminated() -> None:
    outcome = run({}, make_inputs(plagiarism={"stranger": S}), S + 30 * D)
    assert outcome.new_reasons == {}


def test_step6_plagiarism_reason_overrides_time_for_a_hotkey_joining_this_refresh() -> None:
    # Step 2 runs before the hotkey joins, so it sits in CHALLENGE for steps 4 and 6.
    now = S + 100 * D
    inputs = make_inputs(("hk",), {"hk": eligible()}, plagiarism={"hk": S})
    outcome = run({}, inputs, now)
    assert outcome.added == ["hk"]
    assert outcome.new_reasons == {"hk": ("PLAGIARISM", -1)}


# -- step 7: merging reasons -------------------------------------------------------------


def test_step7_pending_reasons_are_never_replaced() -> None:
    miners = {"hk": MinerEntry(CHALLENGE, S), "other": MinerEntry(CHALLENGE, S)}
    state, new_reasons = merge_eliminations(
        miners, {"hk": TIME, "other": TIME}, {"hk": ("MAX_TOTAL_DRAWDOWN", 12.5)}
    )
    assert new_reasons == {"other": TIME}
    assert state == {}


def test_step7_pending_hotkey_past_its_limit_gets_no_new_reason() -> None:
    outcome = run(
        {"hk": MinerEntry(CHALLENGE, S)},
        make_inputs(("hk",), {"hk": eligible()}),
        S + 90 * D + 1,
        pending={"hk": ("ZOMBIE", -1)},
    )
    assert outcome.new_reasons == {}
    assert outcome.miners == {}


# -- step 8: pruning ---------------------------------------------------------------------


def test_step8_miners_outside_the_metagraph_are_pruned() -> None:
    miners = {hk: MinerEntry(MAINCOMP, S) for hk in ("b", "a", "kept")}
    outcome = run(miners, make_inputs(("kept",)), 5 * D)
    assert outcome.pruned == ["a", "b"]
    assert outcome.miners == {"kept": MinerEntry(MAINCOMP, S)}


def test_step8_empty_metagraph_prunes_nothing() -> None:
    miners = {hk: MinerEntry(MAINCOMP, S) for hk in ("a", "b")}
    assert prune(miners, []) == (miners, [])
    outcome = run(miners, make_inputs(()), 5 * D)
    assert outcome.pruned == []
    assert outcome.miners == miners


def test_step8_eliminated_miners_are_not_reported_as_pruned() -> None:
    miners = {"old": MinerEntry(CHALLENGE, S), "kept": MinerEntry(MAINCOMP, S)}
    outcome = run(miners, make_inputs(("kept",)), S + 90 * D + 1)
    assert outcome.new_reasons == {"old": TIME}
    assert outcome.pruned == []


# -- the refresh as a whole --------------------------------------------------------------


def test_refresh_does_not_mutate_its_arguments() -> None:
    maincomp = {f"m{i + 1}": v for i, v in enumerate(linspace(1.0, 0.2, 5))}
    miners = {hk: MinerEntry(MAINCOMP, S) for hk in maincomp}
    miners |= {
        "cand": MinerEntry(CHALLENGE, S),
        "deep": MinerEntry(CHALLENGE, S),
        "moved": MinerEntry(CHALLENGE, 5 * D),
        "plag": MinerEntry(PROBATION, S),
        "pruned": MinerEntry(MAINCOMP, S),
    }
    pending = {"ghost": ("ZOMBIE", -1.0)}
    eliminated = frozenset({"gone"})
    inputs = make_inputs(
        (*maincomp, "cand", "deep", "moved", "plag", "new", "gone"),
        {"cand": eligible(), "deep": eligible(min_mdd=0.5), "moved": eligible(trading_days=3)},
        {"crypto": asset_class({**maincomp, "cand": 0.5})},
        {"plag": S + 65 * D},
    )
    before = copy.deepcopy((miners, pending, eliminated, inputs))
    now = S + 70 * D
    outcome = refresh(miners, pending, eliminated, inputs, now, CONFIG)
    assert (miners, pending, eliminated, inputs) == before
    # the refresh did change things, so the check above is not vacuous
    assert outcome.promoted == ["cand"]
    assert outcome.demoted == ["m5"]
    assert outcome.added == ["new"]
    assert outcome.pruned == ["pruned"]
    assert outcome.new_reasons == {"deep": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 50.0)}
    assert outcome.miners["moved"] == MinerEntry(CHALLENGE, S)
    assert outcome.miners["plag"] == MinerEntry(PLAGIARISM, now, PROBATION, S)


def test_refresh_reports_sorted_lists() -> None:
    outcome = run({}, make_inputs(("c", "a", "b")), 5 * D)
    assert outcome.added == ["a", "b", "c"]
