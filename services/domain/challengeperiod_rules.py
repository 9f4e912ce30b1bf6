"""One challenge-period refresh (docs/RULES.md steps 1-12) as pure functions.

No I/O, no locks, no Pyro5: the service owns the state and the pending reasons, calls
``refresh`` under its own lock and writes the outcome to disk (step 13) before reporting
it. Each step takes plain values and returns new ones, never mutating its arguments. The
scoring behind steps 7-8 lives in ``services.domain.scoring``; every number and switch is a
field of the rule set's ``RulesConfig``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import Enum

from msgspec.structs import replace

from services.domain.config import RankingPool, RulesConfig
from services.domain.models import EliminationReason, MinerBucket, MinerEntry, ReasonTuple
from services.domain.refresh_inputs import NO_MINER_INPUTS, MinerInputs, RefreshInputs
from services.domain.scoring import qualify

Buckets = dict[str, MinerEntry]

# The dd of a reason that is not about drawdown.
NO_DRAWDOWN = -1
_INSPECTED = (MinerBucket.CHALLENGE, MinerBucket.PROBATION)
_JOIN_SKIPS = frozenset({MinerBucket.MAINCOMP, MinerBucket.PROBATION, MinerBucket.PLAGIARISM})


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """One refresh's result: the complete new bucket state and what changed (lists sorted)."""

    miners: Buckets
    new_reasons: dict[str, ReasonTuple]
    promoted: list[str]
    demoted: list[str]
    added: list[str]
    pruned: list[str]
    plagiarism: list[str] = field(default_factory=list)
    # One line per decision, for the operator's log: (hotkey, what happened and why).
    notes: list[tuple[str, str]] = field(default_factory=list)


class Verdict(Enum):
    """Step 6's outcome for a miner it does not eliminate."""

    SKIP = "skip"
    RANKED = "ranked"  # in the ranking pool, not (yet) promotable
    CANDIDATE = "candidate"  # in the ranking pool and promotable


def refresh(
    miners: Mapping[str, MinerEntry],
    pending_reasons: Mapping[str, ReasonTuple],
    eliminated_hotkeys: AbstractSet[str],
    inputs: RefreshInputs,
    now_ms: int,
    config: RulesConfig,
) -> RefreshOutcome:
    """Apply steps 1-12 at ``now_ms``; the arguments are left untouched."""
    # Eliminated or about to be: out of the buckets, and kept from joining them. Built once
    # (the eliminated hotkeys are thousands on a long-running validator).
    excluded = frozenset(eliminated_hotkeys)
    if pending_reasons:
        excluded = excluded | pending_reasons.keys()
    state, moved = apply_plagiarism_flags(miners, inputs.plagiarism, now_ms)
    state = remove(state, excluded)
    first_orders = first_order_times(inputs, config)
    state, added = join_metagraph(state, inputs.metagraph_hotkeys, first_orders, excluded, now_ms)
    verdicts, reasons = inspect_miners(state, inputs, first_orders, now_ms, config)
    promoted: list[str] = []
    demoted: list[str] = []
    if verdicts is not None and inputs.scores is not None:
        promoted, demoted = decide(state, verdicts, inputs, config)
    # A plagiarism reason overrides an inspection reason of the same refresh, as in the code.
    reasons.update(plagiarism_eliminations(state, inputs.plagiarism, now_ms, config))
    state = dict(state)
    for hotkey in promoted:
        state[hotkey] = MinerEntry(MinerBucket.MAINCOMP, now_ms)
    for hotkey in demoted:
        state[hotkey] = MinerEntry(MinerBucket.PROBATION, now_ms)
    state = remove(state, reasons.keys())
    state, pruned = prune(state, inputs.metagraph_hotkeys)
    notes = _notes(miners, moved, promoted, demoted, reasons, pruned)
    return RefreshOutcome(state, reasons, promoted, demoted, added, pruned, moved, notes)


def remove(miners: Mapping[str, MinerEntry], hotkeys: AbstractSet[str]) -> Buckets:
    """Steps 3 and 11: a copy of ``miners`` without ``hotkeys``, in the same order.

    A refresh removes a few hotkeys from many thousands: copying the dict (one C call) and
    deleting those few is several times faster than rebuilding it entry by entry.
    """
    state = dict(miners)
    # A set's own intersection walks the smaller side; ``keys() & frozenset`` walks the
    # frozenset, thousands of eliminated hotkeys on a long-running validator.
    if isinstance(hotkeys, (set, frozenset)):
        gone: AbstractSet[str] = hotkeys.intersection(miners)
    else:
        gone = miners.keys() & hotkeys
    for hotkey in gone:
        del state[hotkey]
    return state


def apply_plagiarism_flags(
    miners: Mapping[str, MinerEntry], flags: Mapping[str, int] | None, now_ms: int
) -> tuple[Buckets, list[str]]:
    """Step 2: flagged miners move to PLAGIARISM, cleared ones go back; returns the moved."""
    state = dict(miners)
    if flags is None:
        # The plagiarism source was unavailable: an unknown flag is not a cleared flag.
        return state, []
    moved: list[str] = []
    for hotkey, entry in miners.items():
        flagged = hotkey in flags
        if flagged and entry.bucket is not MinerBucket.PLAGIARISM:
            state[hotkey] = MinerEntry(
                MinerBucket.PLAGIARISM, now_ms, entry.bucket, entry.bucket_start_time
            )
            moved.append(hotkey)
        elif (
            not flagged
            and entry.bucket is MinerBucket.PLAGIARISM
            # Without a previous bucket the reference code cannot restore it: it stays.
            and entry.previous_bucket is not None
            and entry.previous_bucket_start_time is not None
        ):
            state[hotkey] = MinerEntry(entry.previous_bucket, entry.previous_bucket_start_time)
            moved.append(hotkey)
    return state, sorted(moved)


def first_order_times(inputs: RefreshInputs, config: RulesConfig) -> dict[str, int]:
    """Each metagraph hotkey's first order, when it has one: the map every step reads.

    The reference builds it from the positions of the metagraph's hotkeys only, so a hotkey
    that left since the last refresh has none, even while the validator still holds its
    positions. Vanta leaves its development hotkey out.
    """
    miners = inputs.miners
    development = config.development_hotkey
    times: dict[str, int] = {}
    for hotkey in inputs.metagraph_hotkeys:
        miner = miners.get(hotkey)
        if miner is not None and miner.first_order_time_ms is not None:
            times[hotkey] = miner.first_order_time_ms
    if development is not None:
        times.pop(development, None)
    return times


def join_metagraph(
    miners: Mapping[str, MinerEntry],
    metagraph_hotkeys: Iterable[str],
    first_orders: Mapping[str, int],
    excluded: AbstractSet[str],
    now_ms: int,
) -> tuple[Buckets, list[str]]:
    """Step 4: registered hotkeys outside the other buckets enter or re-time CHALLENGE."""
    state = dict(miners)
    added: list[str] = []
    for hotkey in metagraph_hotkeys:
        if hotkey in excluded:
            continue
        entry = state.get(hotkey)
        if entry is not None and entry.bucket in _JOIN_SKIPS:
            continue
        first_order = first_orders.get(hotkey)
        if entry is None:
            added.append(hotkey)
            state[hotkey] = MinerEntry(
                MinerBucket.CHALLENGE, now_ms if first_order is None else first_order
            )
        elif first_order is not None and entry.bucket_start_time != first_order:
            # The challenge is measured from the first order, known once the miner trades.
            state[hotkey] = MinerEntry(MinerBucket.CHALLENGE, first_order)
    return state, sorted(added)


def drawdown_percent(min_mdd: float | None) -> float:
    """The worst drawdown in percent; None (no checkpoint recorded one) counts as none."""
    if min_mdd is None or min_mdd >= 1:
        return 0.0
    if min_mdd <= 0:
        return 100.0
    return (1 - min_mdd) * 100


def round_dd(pct: float) -> float:
    """``pct`` to two decimals the way numpy rounds (scale, round half even, unscale).

    The reference rounds a numpy float, and that differs from Python's exact ``round(x, 2)``
    for some values: 10.395 becomes 10.4 there, 10.39 here. The recorded dd must match.
    """
    return round(pct * 100) / 100


def has_scoring_ledger(miner: MinerInputs) -> bool:
    """A ledger with at least one checkpoint that was not invalidated."""
    return miner.n_checkpoints >= 1 and miner.ledger_start_ms is not None


def inspect_miner(
    entry: MinerEntry,
    miner: MinerInputs,
    has_selection: bool,
    someone_traded: bool,
    now_ms: int,
    config: RulesConfig,
) -> Verdict | ReasonTuple:
    """Step 6 for one CHALLENGE or PROBATION miner: the first rule that applies wins."""
    ledger_start = miner.ledger_start_ms
    first_order = miner.first_order_time_ms
    scoring = has_scoring_ledger(miner)
    if (
        scoring
        and someone_traded
        and ledger_start is not None
        and (first_order is None or ledger_start < first_order)
    ):
        # A ledger older than the positions belongs to the hotkey's previous registration.
        return Verdict.SKIP
    limit = (
        config.challenge_period_max_ms
        if entry.bucket is MinerBucket.CHALLENGE
        else config.probation_max_ms
    )
    end = entry.bucket_start_time + limit
    if config.time_limit_grace_ms is not None:
        end = max(end, config.time_limit_grace_ms)
    if now_ms > end:
        return (EliminationReason.FAILED_CHALLENGE_PERIOD_TIME.value, NO_DRAWDOWN)
    if config.positions_screen and miner.n_positions == 0:
        return Verdict.SKIP
    if not scoring:
        return Verdict.SKIP
    pct = drawdown_percent(miner.min_mdd)
    if pct >= config.max_drawdown_percent:
        return (EliminationReason.FAILED_CHALLENGE_PERIOD_DRAWDOWN.value, round_dd(pct))
    start = config.asset_selection_start_ms
    if start is not None and now_ms >= start and not has_selection:
        return Verdict.SKIP
    if miner.trading_days >= config.min_trading_days:
        return Verdict.CANDIDATE
    return Verdict.RANKED if config.ranking_pool is RankingPool.RANK_ELIGIBLE else Verdict.SKIP


def inspect_miners(
    miners: Mapping[str, MinerEntry],
    inputs: RefreshInputs,
    first_orders: Mapping[str, int],
    now_ms: int,
    config: RulesConfig,
) -> tuple[dict[str, Verdict] | None, dict[str, ReasonTuple]]:
    """Step 5-6: verdicts of the inspected miners (None when there are none) and reasons."""
    inspected = [(hk, e) for hk, e in miners.items() if e.bucket in _INSPECTED]
    if not inspected:
        # No CHALLENGE or PROBATION miner: no promotion, no demotion, as in the code.
        return None, {}
    selections = inputs.asset_selections or {}
    someone_traded = bool(first_orders)
    # PTN's positions screen reads the positions of the metagraph's hotkeys only.
    registered = frozenset(inputs.metagraph_hotkeys) if config.positions_screen else None
    verdicts: dict[str, Verdict] = {}
    reasons: dict[str, ReasonTuple] = {}
    for hotkey, entry in inspected:
        miner = inputs.miners.get(hotkey, NO_MINER_INPUTS)
        first_order = first_orders.get(hotkey)
        if first_order != miner.first_order_time_ms:
            miner = replace(miner, first_order_time_ms=first_order)
        if registered is not None and miner.n_positions and hotkey not in registered:
            miner = replace(miner, n_positions=0)
        verdict = inspect_miner(entry, miner, hotkey in selections, someone_traded, now_ms, config)
        if isinstance(verdict, tuple):
            reasons[hotkey] = verdict
        else:
            verdicts[hotkey] = verdict
    return verdicts, reasons


def decide(
    miners: Mapping[str, MinerEntry],
    verdicts: Mapping[str, Verdict],
    inputs: RefreshInputs,
    config: RulesConfig,
) -> tuple[list[str], list[str]]:
    """Steps 7-9: rank MAINCOMP with the pool's other members; the promoted and demoted."""
    assert inputs.scores is not None
    maincomp = [hk for hk, e in miners.items() if e.bucket is MinerBucket.MAINCOMP]
    ranked = [hk for hk, v in verdicts.items() if v is not Verdict.SKIP]
    pool = set(maincomp) | set(ranked)
    # Only pool members with a scoring ledger are scored: the reference ranks ledgers.
    scorable = {hk for hk in pool if has_scoring_ledger(inputs.miners.get(hk, NO_MINER_INPUTS))}
    if config.lone_pool_scores_nobody and len(scorable) <= 1:
        qualified: set[str] = set()
    else:
        qualified = qualify(inputs.scores, scorable, inputs.asset_selections or {}, config)
    promotable = {hk for hk, v in verdicts.items() if v is Verdict.CANDIDATE}
    promoted = sorted((qualified - set(maincomp)) & promotable)
    demoted = sorted(set(maincomp) - qualified)
    return promoted, demoted


def plagiarism_eliminations(
    miners: Mapping[str, MinerEntry],
    flags: Mapping[str, int] | None,
    now_ms: int,
    config: RulesConfig,
) -> dict[str, ReasonTuple]:
    """Step 10: miners in any bucket whose plagiarism flag is older than the review period."""
    if flags is None:
        return {}
    return {
        hotkey: (EliminationReason.PLAGIARISM.value, NO_DRAWDOWN)
        for hotkey, flagged_ms in flags.items()
        if hotkey in miners and now_ms - flagged_ms > config.plagiarism_review_period_ms
    }


def prune(
    miners: Mapping[str, MinerEntry], metagraph_hotkeys: Iterable[str]
) -> tuple[Buckets, list[str]]:
    """Step 12: drop the miners that left the metagraph; returns the new state and the pruned."""
    registered = set(metagraph_hotkeys)
    if not registered:
        # An empty metagraph means the chain could not be read, not that every miner left.
        return dict(miners), []
    pruned = sorted(miners.keys() - registered)
    return remove(miners, set(pruned)), pruned


def _notes(
    before: Mapping[str, MinerEntry],
    moved: list[str],
    promoted: list[str],
    demoted: list[str],
    reasons: Mapping[str, ReasonTuple],
    pruned: list[str],
) -> list[tuple[str, str]]:
    def was(hotkey: str) -> str:
        entry = before.get(hotkey)
        return "none" if entry is None else entry.bucket.value

    notes = [(hk, f"plagiarism flag changed: {was(hk)} moved") for hk in moved]
    notes += [(hk, f"{was(hk)} -> MAINCOMP: promoted (qualified in a class)") for hk in promoted]
    notes += [(hk, "MAINCOMP -> PROBATION: demoted (qualified in no class)") for hk in demoted]
    notes += [(hk, f"{was(hk)} -> eliminated: {r} (dd {dd})") for hk, (r, dd) in reasons.items()]
    notes += [(hk, f"{was(hk)} -> removed: left the metagraph") for hk in pruned]
    return notes
