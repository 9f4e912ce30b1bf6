"""EliminationManager in direct mode: every method, bad arguments, and the handoff rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from services.domain.models import ReasonTuple

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pair(
    direct_pair: tuple[ChallengePeriodManager, EliminationManager],
) -> tuple[ChallengePeriodManager, EliminationManager]:
    """Both clients in direct mode (the suite's direct_pair)."""
    return direct_pair


def test_append_get_and_delete_rows(pair) -> None:
    _, em = pair
    assert em.append_elimination_row("a", 12.5, "MAX_TOTAL_DRAWDOWN", 1000) is True
    assert em.append_elimination_row("a", 1.0, "ZOMBIE", 2000) is False
    assert em.get_elimination("a") == {
        "hotkey": "a",
        "reason": "MAX_TOTAL_DRAWDOWN",
        "dd": 12.5,
        "elimination_initiated_time_ms": 1000,
    }
    assert em.get_elimination("zz") is None
    assert em.is_eliminated("a") and not em.is_eliminated("zz")
    assert em.get_eliminated_hotkeys() == {"a"}
    assert [r["hotkey"] for r in em.get_eliminations()] == ["a"]
    assert em.health_check()["eliminations_count"] == 1
    assert em.delete_eliminations(["a", "zz"]) == 1
    assert em.get_eliminations() == []


def test_append_without_time_uses_the_current_time(pair) -> None:
    _, em = pair
    em.append_elimination_row("a", -1, "ZOMBIE")
    assert em.get_elimination("a")["elimination_initiated_time_ms"] > 1_600_000_000_000


def test_process_takes_pending_reasons_and_skips_existing_rows(pair) -> None:
    cpm, em = pair
    em.append_elimination_row("old", -1, "ZOMBIE", 1)
    cpm.update_elimination_reasons(
        {"a": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 11.0), "old": ("PLAGIARISM", -1)}
    )
    result = em.process_eliminations(current_time_ms=5000)
    assert result == {"added": ["a"], "skipped": ["old"], "deleted": []}
    assert cpm.get_all_elimination_reasons() == {}
    assert em.get_elimination("a") == {
        "hotkey": "a",
        "reason": "FAILED_CHALLENGE_PERIOD_DRAWDOWN",
        "dd": 11.0,
        "elimination_initiated_time_ms": 5000,
    }
    assert em.get_elimination("old")["reason"] == "ZOMBIE"  # no second row, first kept


def test_refresh_eliminations_become_rows_and_leave_buckets(pair) -> None:
    cpm, em = pair
    cpm.set_miner_bucket("late", "CHALLENGE", 1000)
    cpm.submit_refresh_inputs({"metagraph_hotkeys": ["late"], "miners": {}})
    summary = cpm.refresh_now(current_time_ms=1000 + 90 * 86_400_000 + 1)
    assert summary["eliminated"] == {"late": ("FAILED_CHALLENGE_PERIOD_TIME", -1)}
    em.process_eliminations()
    assert em.is_eliminated("late")
    cpm.refresh_now(current_time_ms=1000 + 91 * 86_400_000)
    assert cpm.has_miner("late") is False  # not re-added: the elimination service knows it


class RacingSource:
    """A challenge-period source whose refresh adds a reason between read and pop."""

    def __init__(self, cpm: ChallengePeriodManager) -> None:
        self.cpm = cpm

    def has_elimination_reasons(self) -> bool:
        return self.cpm.has_elimination_reasons()

    def get_all_elimination_reasons(self) -> dict[str, ReasonTuple]:
        reasons = self.cpm.get_all_elimination_reasons()
        self.cpm.update_elimination_reasons({"late-arrival": ("ZOMBIE", -1)})
        return reasons

    def pop_elimination_reasons(self, hotkeys: list[str] | None = None) -> dict[str, ReasonTuple]:
        return self.cpm.pop_elimination_reasons(hotkeys)

    def get_elimination_changes(
        self, since: list[object] | None = None
    ) -> dict[str, object] | None:
        return self.cpm.get_elimination_changes(since)

    def remove_miners(self, hotkeys: list[str]) -> int:
        return self.cpm.remove_miners(hotkeys)


def test_reason_added_between_read_and_pop_stays_pending(tmp_path: Path) -> None:
    cpm = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cpm")
    em = EliminationManager(
        running_unit_tests=True,
        state_dir=tmp_path / "em",
        challengeperiod_manager=RacingSource(cpm),
    )
    try:
        cpm.update_elimination_reasons({"first": ("ZOMBIE", -1)})
        assert em.process_eliminations() == {"added": ["first"], "skipped": [], "deleted": []}
        assert cpm.get_all_elimination_reasons() == {"late-arrival": ("ZOMBIE", -1)}
    finally:
        em.close()
        cpm.close()


class FailingPop(RacingSource):
    def get_all_elimination_reasons(self) -> dict[str, ReasonTuple]:
        return self.cpm.get_all_elimination_reasons()

    def pop_elimination_reasons(self, hotkeys: list[str] | None = None) -> dict[str, ReasonTuple]:
        raise ConnectionError("challenge-period service died before the pop")


def test_crash_between_write_and_pop_loses_nothing_and_writes_once(tmp_path: Path) -> None:
    cpm = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cpm")
    cpm.update_elimination_reasons({"x": ("ZOMBIE", -1)})
    failing = EliminationManager(
        running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=FailingPop(cpm)
    )
    with pytest.raises(Exception, match="died before the pop"):
        failing.process_eliminations()
    failing.close()
    assert cpm.get_all_elimination_reasons() == {"x": ("ZOMBIE", -1)}  # still pending
    em = EliminationManager(
        running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=cpm
    )
    try:
        assert em.process_eliminations() == {"added": [], "skipped": ["x"], "deleted": []}
        assert cpm.get_all_elimination_reasons() == {}
        assert [r["hotkey"] for r in em.get_eliminations()] == ["x"]
    finally:
        em.close()
        cpm.close()


def test_rows_survive_reopen_in_the_validator_format(tmp_path: Path) -> None:
    with EliminationManager(running_unit_tests=True, state_dir=tmp_path) as em:
        em.append_elimination_row("a", 3.5, "LIQUIDATED", 10)
    document = json.loads((tmp_path / "eliminations.json").read_text())
    assert document == {
        "eliminations": [
            {"hotkey": "a", "reason": "LIQUIDATED", "dd": 3.5, "elimination_initiated_time_ms": 10}
        ]
    }
    with EliminationManager(running_unit_tests=True, state_dir=tmp_path) as em:
        assert em.get_eliminated_hotkeys() == {"a"}


def test_existing_rows_with_extra_keys_are_kept(tmp_path: Path) -> None:
    row = {
        "hotkey": "a",
        "reason": "ZOMBIE",
        "dd": None,
        "elimination_initiated_time_ms": 5,
        "price_info": {"BTCUSD": 1.0},
    }
    (tmp_path / "eliminations.json").write_text(json.dumps({"eliminations": [row]}))
    with EliminationManager(running_unit_tests=True, state_dir=tmp_path) as em:
        assert em.get_elimination("a") == row


@pytest.mark.parametrize(
    ("call", "exc", "names"),
    [
        (lambda em: em.append_elimination_row(1, 1.0, "ZOMBIE"), TypeError, "hotkey"),
        (lambda em: em.append_elimination_row("a", 1.0, "NOT_A_REASON"), ValueError, "reason"),
        (lambda em: em.append_elimination_row("a", "big", "ZOMBIE"), TypeError, "reason"),
        (lambda em: em.append_elimination_row("a", 1.0, "ZOMBIE", "soon"), TypeError, "t_ms"),
        (lambda em: em.delete_eliminations("a"), TypeError, "hotkeys"),
        (lambda em: em.get_elimination(None), TypeError, "hotkey"),
        (lambda em: em.process_eliminations(current_time_ms=-1), ValueError, "current_time_ms"),
    ],
)
def test_bad_arguments_change_nothing(pair, call, exc, names) -> None:
    _, em = pair
    em.append_elimination_row("keep", -1, "ZOMBIE", 1)
    before = em.get_eliminations()
    with pytest.raises(exc, match=names):
        call(em)
    assert em.get_eliminations() == before
