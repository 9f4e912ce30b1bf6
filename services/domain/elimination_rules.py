"""The elimination decisions, as pure functions: what a row is, and the handoff.

Handoff (the loss-free transfer of pending reasons from the challenge-period service):
read the pending reasons, write a row for each hotkey that has none, and only then pop
exactly the hotkeys handled, written or skipped. ``plan_handoff`` decides; the service
writes the rows and pops, in that order, so a crash between any two steps leaves the
reasons pending and the next round skips the rows already written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.domain.models import ReasonTuple

Row = dict[str, Any]


def make_row(hotkey: str, reason: str, dd: float | None, t_ms: int) -> Row:
    """A new elimination row, in the validators' shape."""
    return {
        "hotkey": hotkey,
        "reason": reason,
        "dd": None if dd is None else float(dd),
        "elimination_initiated_time_ms": t_ms,
    }


@dataclass(frozen=True, slots=True)
class HandoffPlan:
    """One handoff round: the rows to write, and every hotkey to pop afterwards."""

    new_rows: list[Row]
    added: list[str]
    skipped: list[str]

    @property
    def handled(self) -> list[str]:
        """The hotkeys whose reasons leave the pending set once the rows are durable."""
        return sorted(self.added + self.skipped)


def plan_handoff(
    reasons: Mapping[str, ReasonTuple], rows: Mapping[str, Row], now_ms: int
) -> HandoffPlan:
    """A row at ``now_ms`` for each reason whose hotkey has none; the others are skipped."""
    added = sorted(hk for hk in reasons if hk not in rows)
    skipped = sorted(hk for hk in reasons if hk in rows)
    new_rows = [make_row(hk, reasons[hk][0], reasons[hk][1], now_ms) for hk in added]
    return HandoffPlan(new_rows, added, skipped)
