"""Ports of PTN's challenge-period tests (proprietary-trading-network ``c6885610``).

tests/vali_tests/test_challengeperiod_unit.py and test_challengeperiod_integration.py,
translated to our inputs (analysis "Peer tests") and run through the public client in
direct mode under ``ptn-2025-11``. The unit tests call ``inspect()`` with an explicit
MAINCOMP list; a full refresh also decides about every MAINCOMP miner, so each port also
asserts those extra outcomes ("port also expects").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from clients import ChallengePeriodManager, EliminationManager, MinerBucket
from tests import peer_inputs as pi

RULESET = pi.PTN
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
    *,
    trial: float | None,
    candidate: dict[str, Any] | None = None,
    success: Mapping[str, float] | None = None,
    success_classes: tuple[str, ...] = ("crypto", "forex"),
) -> dict[str, Any]:
    """The unit tests' setUp as a refresh: MAINCOMP ``success`` + CHALLENGE ``miner`` at 1000.

    MAINCOMP values go into every class of ``success_classes`` with P's weights; the trial
    value (``get_trial_scores``) is appended in crypto only, as the code appends the
    candidates' lists after MAINCOMP's.
    """
    values = pi.success_values() if success is None else dict(success)
    pi.place(cpm, {hk: ("MAINCOMP", pi.UNIT_START) for hk in values})
    cpm.set_miner_bucket("miner", "CHALLENGE", pi.UNIT_START)
    classes: dict[str, dict[str, float]] = {name: dict(values) for name in success_classes}
    if trial is not None:
        classes["crypto"]["miner"] = trial
    miners = {hk: pi.miner() for hk in values}
    miners["miner"] = pi.miner() if candidate is None else candidate
    cpm.submit_refresh_inputs(
        pi.inputs([*values, "miner"], miners, scores=pi.scores(classes, pi.P_WEIGHTS))
    )
    return cpm.refresh_now(current_time_ms=now)


def test_screen_drawdown(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py::test_screen_drawdown."""
    cpm.set_miner_bucket("miner", "CHALLENGE", pi.UNIT_START)
    cpm.submit_refresh_inputs(pi.inputs(["miner"], {"miner": pi.miner(min_mdd=0.5)}))
    summary = cpm.refresh_now(current_time_ms=pi.CURRENTLY_IN_CHALLENGE)
    assert summary["eliminated"] == {"miner": (pi.DRAWDOWN, 50.0)}
    assert cpm.get_all_elimination_reasons() == {"miner": (pi.DRAWDOWN, 50.0)}
    assert cpm.get_miner_bucket("miner") is None


def test_failing_remaining_time(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py::test_failing_remaining_time."""
    summary = unit_refresh(cpm, pi.CURRENTLY_IN_CHALLENGE, trial=0.1)
    assert summary["promoted"] == []
    assert summary["eliminated"] == {}
    # miner25 is the 25th of 26 in crypto with s' > 0: it keeps its place.
    assert summary["demoted"] == []
    assert pi.entry(cpm, "miner") == (MinerBucket.CHALLENGE, pi.UNIT_START)


def test_failing_no_remaining_time(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py::test_failing_no_remaining_time."""
    summary = unit_refresh(cpm, pi.UNIT_OUTSIDE_OF_CHALLENGE, trial=0.2)
    assert summary["eliminated"] == {"miner": TIME}
    assert summary["promoted"] == []
    assert cpm.get_miner_bucket("miner") is None
    # The pool is MAINCOMP alone: miner25 is last in every metric of both classes.
    assert summary["demoted"] == ["miner25"]
    assert cpm.get_probation_miners() == {"miner25": pi.UNIT_OUTSIDE_OF_CHALLENGE}


@pytest.mark.parametrize(
    "peer_test", ["test_passing_remaining_time", "test_passing_no_remaining_time"]
)
def test_passing_remaining_time(cpm: ChallengePeriodManager, peer_test: str) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py::test_passing_remaining_time
    and ::test_passing_no_remaining_time (the two have identical inputs)."""
    now = pi.CURRENTLY_IN_CHALLENGE
    summary = unit_refresh(cpm, now, trial=1.0)
    assert summary["promoted"] == ["miner"], peer_test
    assert summary["eliminated"] == {}
    assert pi.entry(cpm, "miner") == (MinerBucket.MAINCOMP, now)
    # miner25 is 26th of 26 in crypto and last in forex.
    assert summary["demoted"] == ["miner25"]
    assert pi.entry(cpm, "miner25") == (MinerBucket.PROBATION, now)


def test_lingering_no_positions(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py::test_lingering_no_positions."""
    cpm.set_miner_bucket("miner", "CHALLENGE", pi.UNIT_START)
    cpm.submit_refresh_inputs(pi.inputs(["miner"], {"miner": pi.no_ledger()}))
    summary = cpm.refresh_now(current_time_ms=pi.UNIT_OUTSIDE_OF_CHALLENGE)
    assert summary["eliminated"] == {"miner": TIME}
    assert summary["promoted"] == []
    assert cpm.get_miner_bucket("miner") is None


@pytest.mark.parametrize(
    ("first_order", "now", "expected"),
    [
        # The original: ledger start 1000 < F 1001 -> skipped (else TIME).
        (1001, pi.UNIT_OUTSIDE_OF_CHALLENGE, {}),
        # Joining moved the start to F = 1001; one ms later it is past 1001 + 90 D: still skipped.
        (1001, pi.UNIT_OUTSIDE_OF_CHALLENGE + 1, {}),
        # Ledger start == F is not a re-registration (strict <): TIME.
        (1000, pi.UNIT_OUTSIDE_OF_CHALLENGE, {"miner": TIME}),
    ],
)
def test_recently_re_registered_miner(
    cpm: ChallengePeriodManager, first_order: int, now: int, expected: dict[str, Any]
) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py
    ::test_recently_re_registered_miner."""
    candidate = pi.miner(first_order_time_ms=first_order, n_positions=1)
    summary = unit_refresh(cpm, now, trial=None, candidate=candidate)
    assert summary["promoted"] == []
    assert summary["eliminated"] == expected
    if not expected:
        assert pi.entry(cpm, "miner") == (MinerBucket.CHALLENGE, first_order)
    # The pool is MAINCOMP alone.
    assert summary["demoted"] == ["miner25"]


def test_just_above_threshold(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py::test_just_above_threshold."""
    now = pi.CURRENTLY_IN_CHALLENGE
    summary = unit_refresh(cpm, now, trial=0.75)
    assert summary["promoted"] == ["miner"]
    assert summary["demoted"] == ["miner25"]
    assert summary["eliminated"] == {}
    assert pi.entry(cpm, "miner") == (MinerBucket.MAINCOMP, now)
    assert pi.entry(cpm, "miner25") == (MinerBucket.PROBATION, now)


def test_just_below_threshold(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py::test_just_below_threshold."""
    summary = unit_refresh(cpm, pi.CURRENTLY_IN_CHALLENGE, trial=0.1)
    assert summary["promoted"] == []
    assert summary["eliminated"] == {}
    assert summary["demoted"] == []
    assert cpm.get_miner_bucket("miner") is MinerBucket.CHALLENGE
    assert cpm.get_miner_bucket("miner25") is MinerBucket.MAINCOMP


def test_at_threshold(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py::test_at_threshold."""
    now = pi.CURRENTLY_IN_CHALLENGE
    success = dict(zip(pi.SUCCESS_MINERS[1:], pi.linspace(1.0, 0.2, 24), strict=True))
    summary = unit_refresh(cpm, now, trial=0.75, success=success, success_classes=("crypto",))
    # 25 scored: the threshold is the 25th (miner25, s' 0); the miner's s' is above it.
    assert summary["promoted"] == ["miner"]
    assert summary["eliminated"] == {}
    assert pi.entry(cpm, "miner") == (MinerBucket.MAINCOMP, now)
    assert summary["demoted"] == ["miner25"]


@pytest.mark.parametrize(
    ("candidate", "promoted"),
    [
        # Cut to < MIN_PROMOTION_TIME: 124 checkpoints, 61 trading days -> a candidate.
        (pi.miner(n_checkpoints=124, trading_days=61), True),
        # One day short of the minimum.
        (pi.miner(n_checkpoints=122, trading_days=60), False),
        # screen_minimum_interaction's base cases: no checkpoints / no ledger.
        (pi.miner(n_checkpoints=0, trading_days=0, min_mdd=None), False),
        (pi.no_ledger(first_order_time_ms=pi.UNIT_START, n_positions=20), False),
    ],
)
def test_screen_minimum_interaction(
    cpm: ChallengePeriodManager, candidate: dict[str, Any], promoted: bool
) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py
    ::test_screen_minimum_interaction."""
    now = pi.MIN_PROMOTION_TIME
    summary = unit_refresh(cpm, now, trial=0.75, candidate=candidate)
    assert summary["eliminated"] == {}
    assert summary["promoted"] == (["miner"] if promoted else [])
    expected_bucket = MinerBucket.MAINCOMP if promoted else MinerBucket.CHALLENGE
    assert cpm.get_miner_bucket("miner") is expected_bucket
    assert summary["demoted"] == ["miner25"]


def test_not_enough_days(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_unit.py::test_not_enough_days."""
    now = pi.BEFORE_PROMOTION_TIME
    candidate = pi.miner(n_checkpoints=120, trading_days=59)
    summary = unit_refresh(cpm, now, trial=None, candidate=candidate)
    assert summary["promoted"] == []
    assert summary["eliminated"] == {}
    assert pi.entry(cpm, "miner") == (MinerBucket.CHALLENGE, pi.UNIT_START)
    assert summary["demoted"] == ["miner25"]


# -- tests/vali_tests/test_challengeperiod_integration.py ------------------------------------
#
# The fixture: 30 MAINCOMP, 5 CHALLENGE, 5 PROBATION at start F; eliminated_* (mdd 0.89) in no
# bucket, joining at the first refresh. No assertion depends on the ranking: scores are not
# given, so nobody is promoted or demoted and the bucket totals are exact.


def integration_refresh(
    cpm: ChallengePeriodManager,
    now: int,
    *,
    miners: Mapping[str, dict[str, Any]] | None = None,
    state: Mapping[str, tuple[str, int]] | None = None,
    plagiarism: Mapping[str, int] | None = None,
    metagraph: list[str] | None = None,
) -> dict[str, Any]:
    pi.place(cpm, pi.integration_buckets(eliminated_in_challenge=False) if state is None else state)
    miner_inputs = pi.integration_miners(RULESET) if miners is None else miners
    hotkeys = list(pi.INTEGRATION_HOTKEYS) if metagraph is None else metagraph
    cpm.submit_refresh_inputs(pi.inputs(hotkeys, miner_inputs, plagiarism=plagiarism))
    return cpm.refresh_now(current_time_ms=now)


def test_full_refresh(cpm: ChallengePeriodManager, em: EliminationManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py::test_full_refresh."""
    now = pi.MAX_OPEN_MS
    for hotkey in pi.CHALLENGE_MINERS:
        assert now - pi.FIRST_ORDER[hotkey] <= pi.CHALLENGE_MAX_MS
    summary = integration_refresh(cpm, now)
    drawdown = {hk: (pi.DRAWDOWN, 11.0) for hk in pi.ELIMINATED_MINERS}
    assert summary["eliminated"] == drawdown
    em.process_eliminations(now)
    assert pi.rows_by_hotkey(em) == drawdown
    for hotkey in pi.ELIMINATED_MINERS:
        assert cpm.get_miner_bucket(hotkey) is None
    assert set(cpm.get_success_miners()) == set(pi.MAINCOMP_MINERS)
    assert set(cpm.get_testing_miners()) == set(pi.CHALLENGE_MINERS)
    assert set(cpm.get_probation_miners()) == set(pi.PROBATION_MINERS)


def test_failing_mechanics(cpm: ChallengePeriodManager, em: EliminationManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py::test_failing_mechanics."""
    now = pi.MAX_OPEN_MS + 61 * pi.DAY_MS + 1  # 11,491,201,000
    summary = integration_refresh(cpm, now)
    em.process_eliminations(now)
    rows = pi.rows_by_hotkey(em)
    for hotkey in pi.ELIMINATED_MINERS:
        assert rows[hotkey] == (pi.DRAWDOWN, 11.0)
    # Not asserted by the original: PROBATION's 60 days are over (F + 60 D < now).
    for hotkey in pi.PROBATION_MINERS:
        assert rows[hotkey] == TIME
    assert set(summary["eliminated"]) == set(pi.ELIMINATED_MINERS) | set(pi.PROBATION_MINERS)
    assert set(cpm.get_testing_miners()) == set(pi.CHALLENGE_MINERS)


def test_single_position_no_ledger(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py
    ::test_single_position_no_ledger."""
    cpm.set_miner_bucket("test_miner", "CHALLENGE", pi.UNIT_START)
    # One open position: F is known, no closed position, no ledger.
    miners = {"test_miner": pi.no_ledger(first_order_time_ms=pi.UNIT_START, n_positions=0)}
    cpm.submit_refresh_inputs(pi.inputs(["test_miner"], miners))
    summary = cpm.refresh_now(current_time_ms=pi.MAX_OPEN_MS)
    assert summary["promoted"] == []
    assert summary["eliminated"] == {}
    assert cpm.get_all_elimination_reasons() == {}
    assert pi.entry(cpm, "test_miner") == (MinerBucket.CHALLENGE, pi.UNIT_START)


def test_promote_testing_miner(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py::test_promote_testing_miner
    (its second half calls the internal promote helper: out of scope)."""
    summary = integration_refresh(cpm, pi.MAX_OPEN_MS)
    assert "challenge_miner1" not in summary["promoted"]
    first = pi.FIRST_ORDER["challenge_miner1"]
    assert pi.entry(cpm, "challenge_miner1") == (MinerBucket.CHALLENGE, first)


def test_refresh_elimination_disk(cpm: ChallengePeriodManager, em: EliminationManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py
    ::test_refresh_elimination_disk."""
    now = pi.FIRST_ORDER["eliminated_miner1"] + pi.CHALLENGE_MAX_MS + 1  # 13,431,273,727
    assert now == 13_431_273_727
    integration_refresh(cpm, now)
    reasons = cpm.get_all_elimination_reasons()
    assert reasons["eliminated_miner1"] == TIME
    for hotkey in pi.ELIMINATED_MINERS[1:]:
        assert reasons[hotkey] == (pi.DRAWDOWN, 11.0)
    # Not asserted by the original: every CHALLENGE and PROBATION miner is past its limit.
    for hotkey in pi.CHALLENGE_MINERS + pi.PROBATION_MINERS:
        assert reasons[hotkey] == TIME
    em.process_eliminations(now)
    rows = pi.rows_by_hotkey(em)
    for hotkey in pi.ELIMINATED_MINERS:
        assert hotkey in rows
        assert cpm.get_miner_bucket(hotkey) is None
    assert rows["eliminated_miner1"] == TIME
    assert not cpm.get_testing_miners()
    assert not cpm.get_probation_miners()


def test_no_positions_miner_filtered(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py
    ::test_no_positions_miner_filtered."""
    now = pi.MAX_OPEN_MS
    state = pi.integration_buckets(eliminated_in_challenge=False)
    state = {hk: e for hk, e in state.items() if e[0] != "CHALLENGE"}
    miners = pi.integration_miners(RULESET)
    for hotkey in ("challenge_miner1", "challenge_miner2"):
        # Positions deleted, ledger kept.
        miners[hotkey] = {**miners[hotkey], "first_order_time_ms": None, "n_positions": 0}
    summary = integration_refresh(cpm, now, miners=miners, state=state)
    for hotkey in ("challenge_miner1", "challenge_miner2"):
        assert pi.entry(cpm, hotkey) == (MinerBucket.CHALLENGE, now)
        assert hotkey not in cpm.get_success_miners()
    for hotkey in pi.CHALLENGE_MINERS[2:]:
        assert pi.entry(cpm, hotkey) == (MinerBucket.CHALLENGE, pi.FIRST_ORDER[hotkey])
    assert summary["eliminated"] == {hk: (pi.DRAWDOWN, 11.0) for hk in pi.ELIMINATED_MINERS}


def test_disjoint_testing_success(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py
    ::test_disjoint_testing_success."""
    integration_refresh(cpm, pi.MAX_OPEN_MS)
    testing, success = cpm.get_testing_miners(), cpm.get_success_miners()
    assert testing and success
    assert not set(testing) & set(success)


def test_addition(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py::test_addition."""
    integration_refresh(cpm, pi.MAX_OPEN_MS)
    # Joining again with every F: MAINCOMP / PROBATION miners are never touched.
    cpm.submit_refresh_inputs(pi.inputs(pi.INTEGRATION_HOTKEYS, pi.integration_miners(RULESET)))
    cpm.refresh_now(current_time_ms=pi.MAX_OPEN_MS)
    testing, success = cpm.get_testing_miners(), cpm.get_success_miners()
    assert not set(testing) & set(success)
    assert set(success) == set(pi.MAINCOMP_MINERS)
    assert set(testing) == set(pi.CHALLENGE_MINERS)


def test_add_miner_no_positions(cpm: ChallengePeriodManager) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py
    ::test_add_miner_no_positions."""
    now = pi.UNIT_START
    new = ["miner_no_positions1", "miner_no_positions2"]
    cpm.submit_refresh_inputs(pi.inputs(new, {}))
    summary = cpm.refresh_now(current_time_ms=now)
    assert summary["added"] == new
    assert cpm.get_testing_miners() == dict.fromkeys(new, now)
    # Again, with ledgers but still no positions: unchanged.
    ledgers = {hk: pi.miner(first_order_time_ms=None, n_positions=0) for hk in new}
    cpm.submit_refresh_inputs(pi.inputs(new, ledgers))
    cpm.refresh_now(current_time_ms=now)
    assert cpm.get_testing_miners() == dict.fromkeys(new, now)
    assert cpm.get_probation_miners() == {}
    assert cpm.get_success_miners() == {}
    # Then every fixture hotkey joins at its F.
    hotkeys = new + pi.INTEGRATION_HOTKEYS
    miners = {**ledgers, **pi.integration_miners(RULESET)}
    cpm.submit_refresh_inputs(pi.inputs(hotkeys, miners))
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
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py::test_refresh_all_eliminated
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
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py
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
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py
    ::test_miner_elimination_reasons_time."""
    now = pi.INTEGRATION_OUTSIDE_OF_CHALLENGE
    integration_refresh(cpm, now)
    em.process_eliminations(now)
    rows = pi.rows_by_hotkey(em)
    assert len(rows) == 15
    # Time is checked before drawdown, so eliminated_* get TIME too (not asserted upstream).
    expected = pi.CHALLENGE_MINERS + pi.PROBATION_MINERS + pi.ELIMINATED_MINERS
    assert rows == dict.fromkeys(expected, TIME)
    assert not set(rows) & set(pi.MAINCOMP_MINERS)


def test_plagiarism_detection_and_elimination(
    cpm: ChallengePeriodManager, em: EliminationManager
) -> None:
    """Port of PTN tests/vali_tests/test_challengeperiod_integration.py
    ::test_plagiarism_detection_and_elimination."""
    flagged = pi.MAX_OPEN_MS
    flags = {"challenge_miner1": flagged}
    integration_refresh(cpm, flagged, plagiarism=flags)
    em.process_eliminations(flagged)
    assert cpm.get_snapshot()["miners"]["challenge_miner1"] == {
        "bucket": "PLAGIARISM",
        "bucket_start_time": flagged,
        "previous_bucket": "CHALLENGE",
        "previous_bucket_start_time": pi.FIRST_ORDER["challenge_miner1"],
    }
    assert em.get_elimination("challenge_miner1") is None

    later = flagged + pi.PLAGIARISM_REVIEW_MS + 1  # 7,430,401,000
    summary = cpm.refresh_now(current_time_ms=later)
    assert summary["eliminated"]["challenge_miner1"] == (pi.PLAGIARISM, -1)
    assert cpm.get_miner_bucket("challenge_miner1") is None
    em.process_eliminations(later)
    row = em.get_elimination("challenge_miner1")
    assert row is not None
    assert row["reason"] == pi.PLAGIARISM
