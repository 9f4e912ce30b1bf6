"""The handoff decision as a pure function (RULES.md "Elimination handoff")."""

from __future__ import annotations

from services.domain.elimination_rules import make_row, plan_handoff


def test_a_row_for_each_new_reason_and_every_hotkey_popped() -> None:
    rows = {"old": make_row("old", "ZOMBIE", None, 1)}
    reasons = {"new": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 12.5), "old": ("PLAGIARISM", -1)}
    plan = plan_handoff(reasons, rows, 99)
    assert plan.new_rows == [
        {
            "hotkey": "new",
            "reason": "FAILED_CHALLENGE_PERIOD_DRAWDOWN",
            "dd": 12.5,
            "elimination_initiated_time_ms": 99,
        }
    ]
    assert (plan.added, plan.skipped, plan.handled) == (["new"], ["old"], ["new", "old"])
    assert rows == {"old": make_row("old", "ZOMBIE", None, 1)}  # inputs untouched


def test_nothing_pending_plans_nothing() -> None:
    plan = plan_handoff({}, {}, 5)
    assert (plan.new_rows, plan.handled) == ([], [])
