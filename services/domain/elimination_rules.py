"""The elimination decisions, as pure functions: what a row is, the handoff, and the other
steps of a round (departed hotkeys, MAX_TOTAL_DRAWDOWN, ZOMBIE, expiry).

Handoff (the loss-free transfer of pending reasons from the challenge-period service):
read the pending reasons, write a row for each hotkey that has none, and only then pop
exactly the hotkeys handled, written or skipped. ``plan_handoff`` decides; the service
writes the rows and pops, in that order, so a crash between any two steps leaves the
reasons pending and the next round skips the rows already written.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.domain.challengeperiod_rules import drawdown_percent, has_scoring_ledger, round_dd
from services.domain.config import RulesConfig
from services.domain.errors import InvalidTypeError
from services.domain.models import ReasonTuple, check_hotkey, check_number, check_time
from services.domain.refresh_inputs import MinerInputs

Row = dict[str, Any]


def make_row(
    hotkey: str,
    reason: str,
    dd: float | None,
    t_ms: int,
    price_info: dict[str, Any] | None = None,
    return_info: dict[str, Any] | None = None,
) -> Row:
    """A new elimination row, in the validators' shape; the two dicts only when given."""
    row: Row = {
        "hotkey": hotkey,
        "reason": reason,
        "dd": None if dd is None else float(dd),
        "elimination_initiated_time_ms": t_ms,
    }
    if price_info is not None:
        row["price_info"] = price_info
    if return_info is not None:
        row["return_info"] = return_info
    return row


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


# -- the round's other steps (RULES.md "process_eliminations(now)", steps 1, 4, 5, 6) ------


def check_row_dict(value: Any, name: str) -> Any:
    """A dict of built-ins kept in a row (price_info, return_info), or None."""
    if value is not None and not isinstance(value, dict):
        raise InvalidTypeError(f"{name} must be a dict or None, got {type(value).__name__}")
    return value


def check_given_rows(value: Any, name: str = "rows") -> dict[str, Row]:
    """Rows a caller hands in whole: each a dict with a hotkey; a duplicate: the last wins."""
    if not isinstance(value, (list, tuple)):
        raise InvalidTypeError(f"{name} must be a list of rows, got {type(value).__name__}")
    rows: dict[str, Row] = {}
    for i, raw in enumerate(value):
        if not isinstance(raw, dict):
            raise InvalidTypeError(f"{name}[{i}] must be a dict, got {type(raw).__name__}")
        hotkey = check_hotkey(raw.get("hotkey"), f"{name}[{i}].hotkey")
        reason = raw.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise InvalidTypeError(f"{name}[{i}].reason must be a string or None")
        dd = raw.get("dd")
        if dd is not None:
            check_number(dd, f"{name}[{i}].dd")
        t = raw.get("elimination_initiated_time_ms")
        if t is not None:
            check_time(t, f"{name}[{i}].elimination_initiated_time_ms")
        row = {"reason": None, "dd": None, "elimination_initiated_time_ms": None, **raw}
        rows.pop(hotkey, None)  # the last duplicate wins, at its own position
        rows[hotkey] = row
    return rows


def is_anomalous_loss(lost: int, previous: int, rules: RulesConfig) -> bool:
    """True when so many hotkeys vanish at once that the metagraph itself is suspect."""
    if lost == 0 or previous == 0:
        return False
    return lost > rules.departed_anomaly_min_lost and (
        lost / previous >= rules.departed_anomaly_min_fraction
    )


@dataclass(frozen=True, slots=True)
class DepartedPlan:
    """One departed step: the new entries, the next ``previous``, and whether it was skipped."""

    new_entries: dict[str, dict[str, int]]
    previous: frozenset[str] | None
    lost: list[str]
    anomalous: bool


def plan_departed(
    previous: frozenset[str] | None,
    metagraph: Iterable[str],
    departed: Mapping[str, Any],
    now_ms: int,
    rules: RulesConfig,
) -> DepartedPlan:
    """Step 1: who newly left the metagraph; an empty metagraph is unknown and changes nothing."""
    current = frozenset(metagraph)
    if not current:
        return DepartedPlan({}, previous, [], False)
    if previous is None:  # the first metagraph seen is the baseline
        return DepartedPlan({}, current, [], False)
    lost = sorted(previous - current)
    if is_anomalous_loss(len(lost), len(previous), rules):
        return DepartedPlan({}, current, lost, True)
    new = {hk: {"detected_ms": now_ms} for hk in lost if hk not in departed}
    return DepartedPlan(new, current, lost, False)


def plan_drawdown(
    maincomp: Iterable[str],
    miners: Mapping[str, MinerInputs],
    rows: Mapping[str, Row],
    now_ms: int,
    rules: RulesConfig,
) -> list[Row]:
    """Step 4: a MAX_TOTAL_DRAWDOWN row for each MAINCOMP miner with a scoring ledger too deep."""
    new: list[Row] = []
    for hk in maincomp:
        m = miners.get(hk)
        if m is None or hk in rows or not has_scoring_ledger(m):
            continue
        pct = drawdown_percent(m.min_mdd)
        if pct >= rules.max_drawdown_percent:  # compared unrounded, as the reference does
            new.append(make_row(hk, "MAX_TOTAL_DRAWDOWN", round_dd(pct), now_ms))
    return new


def plan_zombies(
    candidates: Iterable[str],
    metagraph: Iterable[str],
    rows: Mapping[str, Row],
    recently_expired: Container[str],
    now_ms: int,
    rules: RulesConfig,
) -> list[Row]:
    """Step 5: a ZOMBIE row (dd None) for each candidate out of the metagraph, unless it
    has a row with a reason (the reference's test: a row whose reason is None or empty
    shields nothing, and the ZOMBIE row replaces it).

    A hotkey whose row just expired is left alone while the validator still lists it: the
    reference deletes its miner data in the same call, so it is never a zombie again.
    Vanta's development hotkey is never a zombie.
    """
    current = frozenset(metagraph)
    if not current:
        return []
    new: list[Row] = []
    for hk in dict.fromkeys(candidates):
        if hk in current or hk in recently_expired:
            continue
        row = rows.get(hk)
        if row is not None and row.get("reason"):
            continue
        if hk == rules.development_hotkey:
            continue
        new.append(make_row(hk, "ZOMBIE", None, now_ms))
    return new


def expired_to_forget(
    expired: Iterable[str], candidates: Iterable[str], metagraph: Iterable[str]
) -> list[str]:
    """Expired hotkeys no longer shielded from step 5: their data is gone, or they are back."""
    current, listed = frozenset(metagraph), frozenset(candidates)
    if not current:
        return []
    return sorted(hk for hk in expired if hk not in listed or hk in current)


def plan_expiry(
    rows: Mapping[str, Row], metagraph: Iterable[str], now_ms: int, rules: RulesConfig
) -> list[str]:
    """Step 6: rows at least ``elimination_expiry_ms`` old whose hotkey left the metagraph.

    A row without a time (an old file's) never expires: its age is unknown.
    """
    current = frozenset(metagraph)
    if not current:
        return []
    expiry_ms = rules.elimination_expiry_ms
    return [
        hk for hk, row in rows.items() if old_enough(row, now_ms, expiry_ms) and hk not in current
    ]


def row_time(row: Row) -> float | None:
    """The row's elimination time, or None when it is not a number (an old file's row)."""
    t = row.get("elimination_initiated_time_ms")
    return t if isinstance(t, (int, float)) else None


def old_enough(row: Row, now_ms: int, expiry_ms: int) -> bool:
    """The row is at least ``expiry_ms`` old at ``now_ms`` (never, without a time)."""
    t = row_time(row)
    return t is not None and now_ms - t >= expiry_ms
