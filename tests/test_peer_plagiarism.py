"""Ports of both reference repos' tests/vali_tests/test_plagiarism.py, each under its rule set.

Fixture (same in PTN ``c6885610`` and Vanta ``bead3ecf``): metagraph ``test_miner1..3`` +
``plagiarism_miner``; ``test_miner1`` MAINCOMP, ``test_miner2`` PROBATION, ``test_miner3``
CHALLENGE, all at T, ``plagiarism_miner`` PLAGIARISM at T (from PROBATION at T - 14 D); no
positions, no ledgers. T is the wall clock upstream, fixed here. The originals drive the
plagiarism steps alone through mocks or internal helpers; a port is one refresh at T with
``scores`` not given (so the ledger-less MAINCOMP miner is not re-ranked) and a plagiarism
map that keeps ``plagiarism_miner`` flagged wherever the original does not whitelist it
(a real refresh restores every PLAGIARISM miner missing from the map).

Out of scope: PTN test_plagiarism_unit.py and test_plagiarism_integration.py (plagiarism
detection over order streams; our input is the detector's output), and
``test_slack_notifications_disabled_during_tests`` (notifications).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from clients import ChallengePeriodManager, MinerBucket
from tests import peer_inputs as pi

T = 1_760_000_000_000
REVIEW = pi.PLAGIARISM_REVIEW_MS  # 1,209,600,000
METAGRAPH = ["test_miner1", "test_miner2", "test_miner3", "plagiarism_miner"]


@pytest.fixture(params=pi.RULESETS)
def cpm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChallengePeriodManager]:
    with ChallengePeriodManager(
        running_unit_tests=True, state_dir=tmp_path / "cp", ruleset=request.param
    ) as client:
        client.set_miner_bucket("test_miner1", "MAINCOMP", T)
        client.set_miner_bucket("test_miner2", "PROBATION", T)
        client.set_miner_bucket("test_miner3", "CHALLENGE", T)
        client.set_miner_bucket("plagiarism_miner", "PLAGIARISM", T, "PROBATION", T - REVIEW)
        yield client


def refresh(cpm: ChallengePeriodManager, flags: Mapping[str, int], now: int = T) -> dict[str, Any]:
    miners = {hk: pi.no_ledger() for hk in METAGRAPH}
    cpm.submit_refresh_inputs(pi.inputs(METAGRAPH, miners, plagiarism=flags))
    return cpm.refresh_now(current_time_ms=now)


def full_entry(cpm: ChallengePeriodManager, hotkey: str) -> dict[str, Any] | None:
    entry: dict[str, Any] | None = cpm.get_snapshot()["miners"].get(hotkey)
    return entry


def plain(bucket: str, start: int) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "bucket_start_time": start,
        "previous_bucket": None,
        "previous_bucket_start_time": None,
    }


def moved(start: int, previous: str, previous_start: int) -> dict[str, Any]:
    return {
        "bucket": "PLAGIARISM",
        "bucket_start_time": start,
        "previous_bucket": previous,
        "previous_bucket_start_time": previous_start,
    }


def test_update_plagiarism_miners_new_plagiarists(cpm: ChallengePeriodManager) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_update_plagiarism_miners_new_plagiarists."""
    summary = refresh(cpm, {"test_miner1": T, "test_miner2": T, "plagiarism_miner": T})
    assert full_entry(cpm, "test_miner1") == moved(T, "MAINCOMP", T)
    assert full_entry(cpm, "test_miner2") == moved(T, "PROBATION", T)
    assert full_entry(cpm, "plagiarism_miner") == moved(T, "PROBATION", T - REVIEW)
    assert cpm.get_miner_bucket("test_miner3") is MinerBucket.CHALLENGE
    assert summary["eliminated"] == {}


def test_update_plagiarism_miners_whitelisted_promotion(cpm: ChallengePeriodManager) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_update_plagiarism_miners_whitelisted_promotion."""
    summary = refresh(cpm, {})
    assert full_entry(cpm, "plagiarism_miner") == plain("PROBATION", T - REVIEW)
    assert summary["eliminated"] == {}


@pytest.mark.parametrize(
    ("flagged", "eliminated"),
    [
        (T - REVIEW - 1000, True),  # the original: 1 s past the review period
        (T - REVIEW - 1, True),
        (T - REVIEW, False),  # strict >: exactly 14 D is not enough
    ],
)
def test_prepare_plagiarism_elimination_miners(
    cpm: ChallengePeriodManager, flagged: int, eliminated: bool
) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_prepare_plagiarism_elimination_miners."""
    summary = refresh(cpm, {"plagiarism_miner": flagged})
    if eliminated:
        assert summary["eliminated"] == {"plagiarism_miner": (pi.PLAGIARISM, -1)}
        assert cpm.get_all_elimination_reasons() == {"plagiarism_miner": (pi.PLAGIARISM, -1)}
        assert cpm.get_miner_bucket("plagiarism_miner") is None
    else:
        assert summary["eliminated"] == {}
        assert cpm.get_miner_bucket("plagiarism_miner") is MinerBucket.PLAGIARISM


def test_prepare_plagiarism_elimination_miners_not_in_active(
    cpm: ChallengePeriodManager,
) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_prepare_plagiarism_elimination_miners_not_in_active."""
    summary = refresh(cpm, {"non_active_miner": T - REVIEW - 1000, "plagiarism_miner": T})
    assert summary["eliminated"] == {}
    assert cpm.get_all_elimination_reasons() == {}
    assert cpm.get_miner_bucket("non_active_miner") is None
    assert cpm.get_miner_bucket("plagiarism_miner") is MinerBucket.PLAGIARISM


def test_demote_plagiarism_in_memory(cpm: ChallengePeriodManager) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_demote_plagiarism_in_memory."""
    refresh(cpm, {"test_miner1": T, "test_miner2": T, "plagiarism_miner": T})
    plagiarists = cpm.get_plagiarism_miners()
    assert plagiarists["test_miner1"] == T
    assert plagiarists["test_miner2"] == T
    assert cpm.get_miner_bucket("test_miner1") is MinerBucket.PLAGIARISM
    assert cpm.get_miner_bucket("test_miner2") is MinerBucket.PLAGIARISM


def test_promote_plagiarism_to_previous_bucket_in_memory(cpm: ChallengePeriodManager) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_promote_plagiarism_to_previous_bucket_in_memory."""
    refresh(cpm, {})
    assert cpm.get_miner_bucket("plagiarism_miner") is MinerBucket.PROBATION
    assert cpm.get_miner_start_time("plagiarism_miner") == T - REVIEW
    assert cpm.get_plagiarism_miners() == {}


def test_update_plagiarism_miners_whitelisted_promotion_non_existant(
    cpm: ChallengePeriodManager,
) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_update_plagiarism_miners_whitelisted_promotion_non_existant."""
    summary = refresh(cpm, {})
    assert cpm.get_miner_bucket("non_existant") is None
    assert summary["eliminated"] == {}
    assert cpm.get_miner_bucket("plagiarism_miner") is MinerBucket.PROBATION


def test_demote_plagiarism_empty_list(cpm: ChallengePeriodManager) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_demote_plagiarism_empty_list."""
    summary = refresh(cpm, {"plagiarism_miner": T})
    assert full_entry(cpm, "test_miner1") == plain("MAINCOMP", T)
    assert full_entry(cpm, "test_miner2") == plain("PROBATION", T)
    assert full_entry(cpm, "test_miner3") == plain("CHALLENGE", T)
    assert summary["eliminated"] == {}


def test_promote_plagiarism_empty_list(cpm: ChallengePeriodManager) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_promote_plagiarism_empty_list."""
    refresh(cpm, {"plagiarism_miner": T})
    assert full_entry(cpm, "plagiarism_miner") == moved(T, "PROBATION", T - REVIEW)


def test_get_bucket_methods(cpm: ChallengePeriodManager) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py::test_get_bucket_methods."""
    assert cpm.get_plagiarism_miners() == {"plagiarism_miner": T}
    assert cpm.get_success_miners() == {"test_miner1": T}
    assert cpm.get_probation_miners() == {"test_miner2": T}
    assert cpm.get_testing_miners() == {"test_miner3": T}


def test_integration_full_plagiarism_flow(cpm: ChallengePeriodManager) -> None:
    """Port of PTN and Vanta tests/vali_tests/test_plagiarism.py
    ::test_integration_full_plagiarism_flow."""
    refresh(cpm, {"test_miner3": T, "plagiarism_miner": T})
    assert full_entry(cpm, "test_miner3") == moved(T, "CHALLENGE", T)

    refresh(cpm, {"plagiarism_miner": T})
    assert full_entry(cpm, "test_miner3") == plain("CHALLENGE", T)

    refresh(cpm, {"test_miner3": T, "plagiarism_miner": T})
    assert cpm.get_miner_bucket("test_miner3") is MinerBucket.PLAGIARISM

    summary = refresh(cpm, {"test_miner3": T - REVIEW - 1000, "plagiarism_miner": T})
    assert summary["eliminated"] == {"test_miner3": (pi.PLAGIARISM, -1)}
    assert cpm.get_miner_bucket("test_miner3") is None
    assert cpm.get_miner_bucket("plagiarism_miner") is MinerBucket.PLAGIARISM
