"""Ports of Vanta's challenge-period tests (vanta-network ``bead3ecf``).

tests/vali_tests/test_challengeperiod_unit.py and test_challengeperiod_integration.py,
translated to our inputs (analysis "Peer tests") and run through the public client in
direct mode under ``vanta-2025-12``. Hazards applied:

- V's tests run with the re-registered check off; their ledgers start 12 h before F, so
  every port sets ``ledger_start_ms = F`` (analysis D5).
- V's unit tests inject post-softmax crypto scores; a port passes them as one metric (pnl,
  weight 1.0) in the same order, which keeps order and ties.
- Every test hotkey selected crypto (the class filter is on); test times are long before
  the asset-selection start, so the selection gate never applies.
- Lone pool: V scores nobody when at most one pool member has a scoring ledger
  (V scoring.py:159-161, bypassed by the originals' injected scores), so ports of
  ``{"miner": 1.0}`` add a scored MAINCOMP ``miner1`` (pnl 0.5).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from clients import ChallengePeriodManager, EliminationManager, MinerBucket
from tests import peer_inputs as pi

RULESET = pi.VANTA
TIME = (pi.TIME, -1)


@pytest.fixture
def cpm(tmp_path: Path) -> Iterator[ChallengePeriodManager]:
    with ChallengePeriodManager(
        running_unit_tests=True, state_dir=tmp_path / "cp", ruleset=RULESET
    ) as client:
        yield client


@pytest.fixture
def em(tmp_path: Path, cpm: ChallengePeriodManager) -> Iterator[EliminationManager]:
    with EliminationManager(
        running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=cpm
    ) as client:
        yield client


# -- tests/vali_tests/test_challengeperiod_unit.py -------------------------------------------


def unit_refresh(
    cpm: ChallengePeriodManager,
    now: int,
    ranked: Sequence[tuple[str, float]] | None,
    *,
    maincomp: Sequence[str] = pi.SUCCESS_MINERS,
    candidate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """MAINCOMP ``maincomp`` + CHALLENGE ``miner`` at 1000; ``ranked`` = the injected scores."""
    pi.place(cpm, {hk: ("MAINCOMP", pi.UNIT_START) for hk in maincomp})
    cpm.set_miner_bucket("miner", "CHALLENGE", pi.UNIT_START)
    hotkeys = [*maincomp, "miner"]
    miners = {hk: pi.miner() for hk in maincomp}
    miners["miner"] = pi.miner() if candidate is None else candidate
    cpm.submit_refresh_inputs(
        pi.inputs(
            hotkeys,
            miners,
            scores=None if ranked is None else pi.v_ranked(ranked),
            asset_selections=pi.select_all(hotkeys),
        )
    )
    return cpm.refresh_now(current_time_ms=now)


# The lone-pool fix: a second scored pool member that also qualifies.
LONE_POOL_PARTNER = ("miner1",)


def test_screen_drawdown(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_screen_drawdown."""
    cpm.set_miner_bucket("miner", "CHALLENGE", pi.UNIT_START)
    cpm.submit_refresh_inputs(
        pi.inputs(
            ["miner"],
            {"miner": pi.miner(min_mdd=0.5)},
            asset_selections=pi.select_all(["miner"]),
        )
    )
    summary = cpm.refresh_now(current_time_ms=pi.CURRENTLY_IN_CHALLENGE)
    assert summary["eliminated"] == {"miner": (pi.DRAWDOWN, 50.0)}
    assert cpm.get_miner_bucket("miner") is None


def test_failing_remaining_time(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_failing_remaining_time."""
    ranked = [("miner", 0.1), *pi.v_descending(pi.SUCCESS_MINERS)]
    summary = unit_refresh(cpm, pi.CURRENTLY_IN_CHALLENGE, ranked)
    assert summary["promoted"] == []
    assert summary["eliminated"] == {}
    # The miner is 26th; miner1..25 are the top 25.
    assert summary["demoted"] == []
    assert pi.entry(cpm, "miner") == (MinerBucket.CHALLENGE, pi.UNIT_START)


def test_failing_no_remaining_time(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py
    ::test_failing_no_remaining_time."""
    ranked = pi.v_descending(pi.SUCCESS_MINERS)
    summary = unit_refresh(cpm, pi.UNIT_OUTSIDE_OF_CHALLENGE, ranked)
    assert summary["eliminated"] == {"miner": TIME}
    assert summary["promoted"] == []
    assert cpm.get_miner_bucket("miner") is None
    # 25 MAINCOMP miners: all in the top 25.
    assert summary["demoted"] == []


@pytest.mark.parametrize(
    "peer_test", ["test_passing_remaining_time", "test_passing_no_remaining_time"]
)
def test_passing_remaining_time(cpm: ChallengePeriodManager, peer_test: str) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_passing_remaining_time
    and ::test_passing_no_remaining_time (identical inputs), with the lone-pool partner."""
    now = pi.CURRENTLY_IN_CHALLENGE
    ranked = [("miner", 1.0), ("miner1", 0.5)]
    summary = unit_refresh(cpm, now, ranked, maincomp=LONE_POOL_PARTNER)
    assert summary["promoted"] == ["miner"], peer_test
    assert summary["eliminated"] == {}
    assert summary["demoted"] == []
    assert pi.entry(cpm, "miner") == (MinerBucket.MAINCOMP, now)


def test_lone_pool_hazard_scores_nobody(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_passing_remaining_time
    without the partner: a faithful refresh scores nobody (V scoring.py:159-161)."""
    summary = unit_refresh(cpm, pi.CURRENTLY_IN_CHALLENGE, [("miner", 1.0)], maincomp=())
    assert summary["promoted"] == []
    assert summary["eliminated"] == {}
    assert pi.entry(cpm, "miner") == (MinerBucket.CHALLENGE, pi.UNIT_START)


def test_lingering_no_positions(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_lingering_no_positions."""
    cpm.set_miner_bucket("miner", "CHALLENGE", pi.UNIT_START)
    cpm.submit_refresh_inputs(
        pi.inputs(["miner"], {"miner": pi.no_ledger()}, asset_selections={"miner": "crypto"})
    )
    summary = cpm.refresh_now(current_time_ms=pi.UNIT_OUTSIDE_OF_CHALLENGE)
    assert summary["eliminated"] == {"miner": TIME}
    assert cpm.get_miner_bucket("miner") is None


def test_just_above_threshold(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_just_above_threshold."""
    now = pi.CURRENTLY_IN_CHALLENGE
    ranked = [
        *pi.v_descending(pi.SUCCESS_MINERS[:23]),
        ("miner", 0.77),
        ("miner24", 0.76),
        ("miner25", 0.75),
    ]
    summary = unit_refresh(cpm, now, ranked)
    assert summary["promoted"] == ["miner"]
    assert summary["demoted"] == ["miner25"]
    assert summary["eliminated"] == {}
    assert pi.entry(cpm, "miner") == (MinerBucket.MAINCOMP, now)
    assert pi.entry(cpm, "miner25") == (MinerBucket.PROBATION, now)


def test_just_below_threshold(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_just_below_threshold."""
    ranked = [*pi.v_descending(pi.SUCCESS_MINERS), ("miner", 0.74)]
    summary = unit_refresh(cpm, pi.CURRENTLY_IN_CHALLENGE, ranked)
    assert summary["promoted"] == []
    assert summary["eliminated"] == {}
    assert summary["demoted"] == []
    assert cpm.get_miner_bucket("miner") is MinerBucket.CHALLENGE


def test_at_threshold(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_at_threshold."""
    now = pi.CURRENTLY_IN_CHALLENGE
    ranked = [*pi.v_descending(pi.SUCCESS_MINERS[:24]), ("miner", 0.76), ("miner25", 0.75)]
    summary = unit_refresh(cpm, now, ranked)
    assert summary["promoted"] == ["miner"]
    assert summary["demoted"] == ["miner25"]
    assert pi.entry(cpm, "miner") == (MinerBucket.MAINCOMP, now)


@pytest.mark.parametrize(
    ("candidate", "promoted"),
    [
        # Cut to < MIN_PROMOTION_TIME: 124 checkpoints, 61 trading days.
        (pi.miner(n_checkpoints=124, trading_days=61), True),
        # 60 days: ranked (rank-eligible) but not promotion-eligible.
        (pi.miner(n_checkpoints=122, trading_days=60), False),
        # The pure base cases: no checkpoints / no ledger -> never ranked.
        (pi.miner(n_checkpoints=0, trading_days=0, min_mdd=None), False),
        (pi.no_ledger(first_order_time_ms=pi.UNIT_START, n_positions=20), False),
    ],
)
def test_screen_minimum_interaction(
    cpm: ChallengePeriodManager, candidate: dict[str, Any], promoted: bool
) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_screen_minimum_interaction
    (with the lone-pool partner ``miner1``)."""
    now = pi.MIN_PROMOTION_TIME
    ranked = [("miner", 1.0), ("miner1", 0.5)]
    summary = unit_refresh(cpm, now, ranked, maincomp=LONE_POOL_PARTNER, candidate=candidate)
    assert summary["eliminated"] == {}
    assert summary["promoted"] == (["miner"] if promoted else [])
    expected_bucket = MinerBucket.MAINCOMP if promoted else MinerBucket.CHALLENGE
    assert cpm.get_miner_bucket("miner") is expected_bucket
    has_ledger = candidate["n_checkpoints"] > 0
    # Without a ranked candidate, miner1 is alone in the pool: nobody is scored, it is demoted.
    assert summary["demoted"] == ([] if has_ledger else ["miner1"])


def test_not_enough_days(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_unit.py::test_not_enough_days
    (ranked first, with the lone-pool partner: 59 days still keep it out)."""
    now = pi.BEFORE_PROMOTION_TIME
    candidate = pi.miner(n_checkpoints=120, trading_days=59)
    ranked = [("miner", 1.0), ("miner1", 0.5)]
    summary = unit_refresh(cpm, now, ranked, maincomp=LONE_POOL_PARTNER, candidate=candidate)
    assert summary["promoted"] == []
    assert summary["eliminated"] == {}
    assert summary["demoted"] == []
    assert pi.entry(cpm, "miner") == (MinerBucket.CHALLENGE, pi.UNIT_START)


# -- tests/vali_tests/test_challengeperiod_integration.py ------------------------------------
#
# The fixture as in PTN, every hotkey selected crypto, ledger_start_ms = F. Tests that call
# _populate_active_miners upstream start eliminated_* in CHALLENGE at F. No assertion
# depends on the ranking: scores are not given, so the bucket totals are exact.


def integration_refresh(
    cpm: ChallengePeriodManager,
    now: int,
    *,
    eliminated_in_challenge: bool = True,
    miners: Mapping[str, dict[str, Any]] | None = None,
    state: Mapping[str, tuple[str, int]] | None = None,
    plagiarism: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    if state is None:
        state = pi.integration_buckets(eliminated_in_challenge=eliminated_in_challenge)
    pi.place(cpm, state)
    miner_inputs = pi.integration_miners(RULESET) if miners is None else miners
    cpm.submit_refresh_inputs(
        pi.inputs(
            pi.INTEGRATION_HOTKEYS,
            miner_inputs,
            plagiarism=plagiarism,
            asset_selections=pi.select_all(pi.INTEGRATION_HOTKEYS),
        )
    )
    return cpm.refresh_now(current_time_ms=now)


def bucket_total(cpm: ChallengePeriodManager) -> int:
    return (
        len(cpm.get_testing_miners())
        + len(cpm.get_success_miners())
        + len(cpm.get_probation_miners())
    )


def test_refresh_populations(cpm: ChallengePeriodManager, em: EliminationManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_refresh_populations."""
    now = pi.MAX_OPEN_MS
    integration_refresh(cpm, now)
    em.process_eliminations(now)
    assert pi.rows_by_hotkey(em) == {hk: (pi.DRAWDOWN, 11.0) for hk in pi.ELIMINATED_MINERS}
    assert bucket_total(cpm) == 40


def test_full_refresh(cpm: ChallengePeriodManager, em: EliminationManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py::test_full_refresh."""
    now = pi.MAX_OPEN_MS
    for hotkey in pi.CHALLENGE_MINERS + pi.ELIMINATED_MINERS:
        assert now - pi.FIRST_ORDER[hotkey] <= pi.CHALLENGE_MAX_MS
    summary = integration_refresh(cpm, now)
    drawdown = {hk: (pi.DRAWDOWN, 11.0) for hk in pi.ELIMINATED_MINERS}
    assert summary["eliminated"] == drawdown
    em.process_eliminations(now)
    assert pi.rows_by_hotkey(em) == drawdown
    assert set(cpm.get_success_miners()) == set(pi.MAINCOMP_MINERS)
    assert set(cpm.get_testing_miners()) == set(pi.CHALLENGE_MINERS)
    assert set(cpm.get_probation_miners()) == set(pi.PROBATION_MINERS)


def test_failing_mechanics(cpm: ChallengePeriodManager, em: EliminationManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_failing_mechanics."""
    now = pi.MAX_OPEN_MS + 61 * pi.DAY_MS + 1  # 11,491,201,000
    summary = integration_refresh(cpm, now, eliminated_in_challenge=False)
    em.process_eliminations(now)
    rows = pi.rows_by_hotkey(em)
    for hotkey in pi.ELIMINATED_MINERS:
        assert rows[hotkey] == (pi.DRAWDOWN, 11.0)
    # Not asserted by the original: PROBATION's 60 days are over.
    for hotkey in pi.PROBATION_MINERS:
        assert rows[hotkey] == TIME
    assert set(summary["eliminated"]) == set(pi.ELIMINATED_MINERS) | set(pi.PROBATION_MINERS)
    assert set(cpm.get_testing_miners()) == set(pi.CHALLENGE_MINERS)


def test_single_position_no_ledger(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_single_position_no_ledger."""
    cpm.set_miner_bucket("test_miner", "CHALLENGE", pi.UNIT_START)
    miners = {"test_miner": pi.no_ledger(first_order_time_ms=pi.UNIT_START, n_positions=0)}
    cpm.submit_refresh_inputs(
        pi.inputs(["test_miner"], miners, asset_selections={"test_miner": "crypto"})
    )
    summary = cpm.refresh_now(current_time_ms=pi.MAX_OPEN_MS)
    assert summary["promoted"] == []
    assert summary["eliminated"] == {}
    assert cpm.get_all_elimination_reasons() == {}
    assert pi.entry(cpm, "test_miner") == (MinerBucket.CHALLENGE, pi.UNIT_START)


def test_promote_testing_miner(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_promote_testing_miner
    (its second half calls the internal promote helper: out of scope)."""
    summary = integration_refresh(cpm, pi.MAX_OPEN_MS)
    assert "challenge_miner1" not in summary["promoted"]
    first = pi.FIRST_ORDER["challenge_miner1"]
    assert pi.entry(cpm, "challenge_miner1") == (MinerBucket.CHALLENGE, first)


def test_refresh_elimination_disk(cpm: ChallengePeriodManager, em: EliminationManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_refresh_elimination_disk."""
    now = pi.FIRST_ORDER["eliminated_miner1"] + pi.CHALLENGE_MAX_MS + 1
    integration_refresh(cpm, now)
    reasons = cpm.get_all_elimination_reasons()
    assert reasons["eliminated_miner1"] == TIME
    for hotkey in pi.ELIMINATED_MINERS[1:]:
        assert reasons[hotkey] == (pi.DRAWDOWN, 11.0)
    for hotkey in pi.CHALLENGE_MINERS + pi.PROBATION_MINERS:
        assert reasons[hotkey] == TIME
    em.process_eliminations(now)
    rows = pi.rows_by_hotkey(em)
    for hotkey in pi.ELIMINATED_MINERS:
        assert hotkey in rows
        assert cpm.get_miner_bucket(hotkey) is None
    assert rows["eliminated_miner1"] == TIME


def test_no_positions_miner_filtered(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_no_positions_miner_filtered."""
    now = pi.MAX_OPEN_MS
    state = pi.integration_buckets(eliminated_in_challenge=False)
    state = {hk: e for hk, e in state.items() if e[0] != "CHALLENGE"}
    miners = pi.integration_miners(RULESET)
    for hotkey in ("challenge_miner1", "challenge_miner2"):
        miners[hotkey] = {**miners[hotkey], "first_order_time_ms": None, "n_positions": 0}
    summary = integration_refresh(cpm, now, miners=miners, state=state)
    for hotkey in ("challenge_miner1", "challenge_miner2"):
        assert pi.entry(cpm, hotkey) == (MinerBucket.CHALLENGE, now)
        assert hotkey not in summary["promoted"]
    for hotkey in pi.CHALLENGE_MINERS[2:]:
        assert pi.entry(cpm, hotkey) == (MinerBucket.CHALLENGE, pi.FIRST_ORDER[hotkey])
    assert summary["eliminated"] == {hk: (pi.DRAWDOWN, 11.0) for hk in pi.ELIMINATED_MINERS}


def test_disjoint_testing_success(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_disjoint_testing_success."""
    integration_refresh(cpm, pi.MAX_OPEN_MS)
    testing, success = cpm.get_testing_miners(), cpm.get_success_miners()
    assert testing and success
    assert not set(testing) & set(success)


def test_addition(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py::test_addition."""
    integration_refresh(cpm, pi.MAX_OPEN_MS)
    cpm.refresh_now(current_time_ms=pi.MAX_OPEN_MS)
    testing, success = cpm.get_testing_miners(), cpm.get_success_miners()
    assert not set(testing) & set(success)
    assert set(success) == set(pi.MAINCOMP_MINERS)
    assert set(testing) == set(pi.CHALLENGE_MINERS)


def test_add_miner_no_positions(cpm: ChallengePeriodManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_add_miner_no_positions."""
    now = pi.UNIT_START
    new = ["miner_no_positions1", "miner_no_positions2"]
    cpm.submit_refresh_inputs(pi.inputs(new, {}, asset_selections=pi.select_all(new)))
    summary = cpm.refresh_now(current_time_ms=now)
    assert summary["added"] == new
    assert cpm.get_testing_miners() == dict.fromkeys(new, now)
    ledgers = {hk: pi.miner(first_order_time_ms=None, n_positions=0) for hk in new}
    cpm.submit_refresh_inputs(pi.inputs(new, ledgers, asset_selections=pi.select_all(new)))
    cpm.refresh_now(current_time_ms=now)
    assert cpm.get_testing_miners() == dict.fromkeys(new, now)
    assert cpm.get_probation_miners() == {}
    assert cpm.get_success_miners() == {}
    hotkeys = new + pi.INTEGRATION_HOTKEYS
    miners = {**ledgers, **pi.integration_miners(RULESET)}
    cpm.submit_refresh_inputs(pi.inputs(hotkeys, miners, asset_selections=pi.select_all(hotkeys)))
    summary = cpm.refresh_now(current_time_ms=now)
    expected = dict.fromkeys(new, now) | {hk: pi.FIRST_ORDER[hk] for hk in pi.INTEGRATION_HOTKEYS}
    # A full refresh also inspects them: eliminated_* (mdd 0.89) fail the drawdown check.
    assert summary["eliminated"] == {hk: (pi.DRAWDOWN, 11.0) for hk in pi.ELIMINATED_MINERS}
    for hotkey in pi.ELIMINATED_MINERS:
        del expected[hotkey]
    assert cpm.get_testing_miners() == expected
    assert cpm.get_probation_miners() == {}
    assert cpm.get_success_miners() == {}


def test_refresh_all_eliminated(cpm: ChallengePeriodManager, em: EliminationManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_refresh_all_eliminated
    (the original's reason "FAILED_CHALLENGE_PERIOD" is not a reason of ours: TIME instead)."""
    now = pi.INTEGRATION_OUTSIDE_OF_CHALLENGE
    for hotkey in pi.INTEGRATION_HOTKEYS:
        em.append_elimination_row(hotkey, -1, pi.TIME, now)
    integration_refresh(cpm, now)
    assert cpm.get_testing_miners() == {}
    assert cpm.get_success_miners() == {}
    assert cpm.get_all_miner_hotkeys() == []
    assert len(em.get_eliminations()) == len(pi.INTEGRATION_HOTKEYS)


def test_miner_elimination_reasons_mdd(cpm: ChallengePeriodManager, em: EliminationManager) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_miner_elimination_reasons_mdd."""
    now = pi.MAX_OPEN_MS
    integration_refresh(cpm, now)
    em.process_eliminations(now)
    rows = em.get_eliminations()
    assert len(rows) == 5
    assert {row["hotkey"] for row in rows} == set(pi.ELIMINATED_MINERS)
    assert all(row["reason"] == pi.DRAWDOWN for row in rows)


def test_miner_elimination_reasons_time(
    cpm: ChallengePeriodManager, em: EliminationManager
) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_miner_elimination_reasons_time."""
    now = pi.INTEGRATION_OUTSIDE_OF_CHALLENGE
    integration_refresh(cpm, now)
    em.process_eliminations(now)
    rows = pi.rows_by_hotkey(em)
    assert len(rows) == 15
    expected = pi.CHALLENGE_MINERS + pi.PROBATION_MINERS + pi.ELIMINATED_MINERS
    assert rows == dict.fromkeys(expected, TIME)


def test_plagiarism_detection_and_elimination(
    cpm: ChallengePeriodManager, em: EliminationManager
) -> None:
    """Port of Vanta tests/vali_tests/test_challengeperiod_integration.py
    ::test_plagiarism_detection_and_elimination."""
    flagged = pi.MAX_OPEN_MS
    integration_refresh(cpm, flagged, plagiarism={"challenge_miner1": flagged})
    em.process_eliminations(flagged)
    assert cpm.get_snapshot()["miners"]["challenge_miner1"] == {
        "bucket": "PLAGIARISM",
        "bucket_start_time": flagged,
        "previous_bucket": "CHALLENGE",
        "previous_bucket_start_time": pi.FIRST_ORDER["challenge_miner1"],
    }
    assert em.get_elimination("challenge_miner1") is None

    later = flagged + pi.PLAGIARISM_REVIEW_MS + 1
    summary = cpm.refresh_now(current_time_ms=later)
    assert summary["eliminated"]["challenge_miner1"] == (pi.PLAGIARISM, -1)
    assert cpm.get_miner_bucket("challenge_miner1") is None
    em.process_eliminations(later)
    row = em.get_elimination("challenge_miner1")
    assert row is not None
    assert row["reason"] == pi.PLAGIARISM
