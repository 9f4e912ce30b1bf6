"""Build the ``submit_refresh_inputs`` document from a validator's own objects.

The validator already holds what a refresh needs: its positions by hotkey and its perf
ledgers. These functions read them by the attributes the reference validators' code uses
(duck-typed, so nothing of the validator is imported here) and return the plain document
of docs/RULES.md:

- a position: ``orders`` (each with ``processed_ms``), ``is_closed_position``, ``open_ms``,
  ``close_ms``;
- a perf ledger: ``cps`` (checkpoints with ``mdd``, ``last_update_ms``, ``accum_ms``) and
  ``start_time_ms``; a hotkey's ledgers may be a bundle ``{"portfolio": ledger, ...}``, of
  which the portfolio ledger is the scoring one.

Scores, plagiarism flags and asset selections come from the validator's scoring, its
plagiarism detector and its asset-selection manager, in the shapes those give:

- scores: the challenge-period manager's scoring call, ``{asset class: {"metrics": {name:
  {"scores": [(hotkey, value), ...], "weight": w}}, "penalties": {hotkey: p}}}`` (a dict of
  scores is taken too; asset classes may be the validator's enum);
- plagiarism: the detector's ``{hotkey: {"time": ms, ...}}``, or ``{hotkey: ms}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from services.domain.errors import InvalidInputError

# A position shorter than this does not count for the positions screen (PTN).
MIN_POSITION_DURATION_MS = 60_000
# A full checkpoint cell is 12 hours; a trading day has exactly two full cells.
FULL_CELL_MS = 43_200_000
CELLS_PER_DAY = 2


def first_order_time_ms(positions: Iterable[Any]) -> int | None:
    """The earliest first order over all positions, open ones too; None without any."""
    times = [p.orders[0].processed_ms for p in positions if p.orders]
    return min(times) if times else None


def screened_positions(positions: Iterable[Any]) -> int:
    """Closed positions that lasted at least a minute."""
    return sum(
        1
        for p in positions
        if p.is_closed_position and p.close_ms - p.open_ms >= MIN_POSITION_DURATION_MS
    )


def scoring_ledger(ledgers: Any) -> Any:
    """The portfolio ledger of a hotkey's ledgers (a bundle or a single ledger), or None."""
    if isinstance(ledgers, Mapping):
        return ledgers.get("portfolio")
    return ledgers


def trading_days(ledger: Any) -> int:
    """UTC dates with exactly two full 12-hour checkpoints (dated by the cell's start)."""
    cells: dict[Any, int] = {}
    for cp in ledger.cps:
        if cp.accum_ms == FULL_CELL_MS:
            start = (cp.last_update_ms - cp.accum_ms) / 1000
            day = datetime.fromtimestamp(start, tz=timezone.utc).date()
            cells[day] = cells.get(day, 0) + 1
    return sum(1 for n in cells.values() if n == CELLS_PER_DAY)


def min_mdd(mdds: Iterable[float]) -> float | None:
    """The lowest checkpoint mdd as the reference reads it: ``np.clip(np.min(mdds), 0, 1)``.

    numpy's min is NaN when any mdd is NaN, and a NaN drawdown never fails the check, so
    that is None here (no drawdown); -inf clips to 0 (100 %), +inf to 1 (none). Python's
    ``min`` would skip a NaN unless it came first, and fail a miner the network keeps.
    """
    values = [float(v) for v in mdds]
    if not values or any(math.isnan(v) for v in values):
        return None
    return min(max(min(values), 0.0), 1.0)


def miner_facts(
    positions: Iterable[Any], ledgers: Any, *, invalidated: bool = False
) -> dict[str, Any]:
    """One miner's entry of ``inputs["miners"]``."""
    positions = list(positions)
    ledger = None if invalidated else scoring_ledger(ledgers)
    facts: dict[str, Any] = {
        "first_order_time_ms": first_order_time_ms(positions),
        "n_positions": screened_positions(positions),
        "ledger_start_ms": None,
        "n_checkpoints": 0,
        "min_mdd": None,
        "trading_days": 0,
    }
    cps = [] if ledger is None else list(ledger.cps)
    if ledger is not None and cps:
        facts["ledger_start_ms"] = int(ledger.start_time_ms)
        facts["n_checkpoints"] = len(cps)
        facts["min_mdd"] = min_mdd(cp.mdd for cp in cps)
        facts["trading_days"] = trading_days(ledger)
    return facts


def _key(value: Any) -> Any:
    """An enum member as its value (the validator's asset classes are enums)."""
    return getattr(value, "value", value)


def _scores_of(name: str, scores: Any) -> Any:
    """One metric's scores as ``{hotkey: value}``, in the order the scoring call gave."""
    if isinstance(scores, Mapping):
        return dict(scores)
    if not isinstance(scores, list | tuple):
        return scores  # left for the document's check to name
    by_hotkey: dict[Any, Any] = {}
    for pair in scores:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise InvalidInputError(f"{name}: each score must be a (hotkey, value) pair")
        hotkey, value = pair
        if hotkey in by_hotkey:
            raise InvalidInputError(f"{name}: hotkey {hotkey!r} is scored twice")
        by_hotkey[hotkey] = value
    return by_hotkey


def scores_document(scores: Mapping[Any, Any]) -> dict[Any, Any]:
    """The document's ``scores`` from the scoring call's per-asset-class output."""
    out: dict[Any, Any] = {}
    for asset_class, part in scores.items():
        if not isinstance(part, Mapping) or not isinstance(part.get("metrics"), Mapping):
            out[_key(asset_class)] = part  # left for the document's check to name
            continue
        metrics = {}
        for name, metric in part["metrics"].items():
            where = f"scores[{_key(asset_class)!r}].metrics[{name!r}]"
            if isinstance(metric, Mapping) and "scores" in metric:
                metric = {**metric, "scores": _scores_of(where, metric["scores"])}
            metrics[name] = metric
        out[_key(asset_class)] = {**part, "metrics": metrics}
    return out


def plagiarism_document(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The document's ``plagiarism``: each flagged hotkey's flag time in ms.

    The detector gives ``{"time": ms, ...}``; a fractional time is rounded down, which
    keeps the reference's ``now - time > period`` decision for an integer ``now``.
    """
    out: dict[str, Any] = {}
    for hotkey, flag in flags.items():
        if isinstance(flag, Mapping):
            if "time" not in flag:
                raise InvalidInputError(f"plagiarism[{hotkey!r}] has no 'time'")
            flag = flag["time"]
        if isinstance(flag, float) and math.isfinite(flag):
            flag = math.floor(flag)
        out[hotkey] = flag
    return out


def build_refresh_inputs(
    metagraph_hotkeys: Iterable[str],
    positions_by_hotkey: Mapping[str, Iterable[Any]],
    ledgers_by_hotkey: Mapping[str, Any],
    *,
    scores: Mapping[Any, Any] | None = None,
    plagiarism: Mapping[str, Any] | None = None,
    asset_selections: Mapping[str, str] | None = None,
    miner_dir_hotkeys: Iterable[str] | None = None,
    invalidated_hotkeys: Iterable[str] = (),
) -> dict[str, Any]:
    """The whole document, for every hotkey that has positions or a ledger.

    A hotkey listed twice in the metagraph counts once, at its first place: the reference
    only iterates the list and tests membership.
    """
    invalidated = set(invalidated_hotkeys)
    hotkeys = dict.fromkeys([*positions_by_hotkey, *ledgers_by_hotkey])
    return {
        "metagraph_hotkeys": list(dict.fromkeys(metagraph_hotkeys)),
        "miners": {
            hk: miner_facts(
                positions_by_hotkey.get(hk, ()),
                ledgers_by_hotkey.get(hk),
                invalidated=hk in invalidated,
            )
            for hk in hotkeys
        },
        "scores": None if scores is None else scores_document(scores),
        "plagiarism": None if plagiarism is None else plagiarism_document(plagiarism),
        "asset_selections": None if asset_selections is None else dict(asset_selections),
        "miner_dir_hotkeys": None if miner_dir_hotkeys is None else list(miner_dir_hotkeys),
    }
