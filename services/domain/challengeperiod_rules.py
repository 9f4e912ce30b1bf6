"""RULES.md "One refresh at time now", steps 1-8, as pure functions over the bucket state.

No I/O, no locks, no Pyro5: the service owns the state and the pending reasons, calls
``refresh`` under its own lock and writes the outcome to disk (step 9) before reporting it.
Each step takes and returns plain dicts and never mutates its arguments, so it can be
tested alone; the scoring behind step 5 lives in ``services.domain.scoring``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import Enum

from services.domain.config import RulesConfig
from services.domain.models import EliminationReason, MinerBucket, MinerEntry, ReasonTuple
from services.domain.refresh_inputs import (
    NO_MINER_INPUTS,
    AssetClassScores,
    MinerInputs,
    RefreshInputs,
)
from services.domain.scoring import qualify

Buckets = dict[str, MinerEntry]

# The dd of a reason that is not about drawdown.
NO_DRAWDOWN = -1
_INSPECTED = frozenset({MinerBucket.CHALLENGE, MinerBucket.PROBATION})


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """One refresh's result: the complete new bucket state and what changed (lists sorted)."""

    miners: Buckets
    new_reasons: dict[str, ReasonTuple]
    promoted: list[str]
    demoted: list[str]
    added: list[str]
    pruned: list[str]


class Verdict(Enum):
    """Step 4's outcome for a miner it does not eliminate."""

    SKIP = "skip"
    CANDIDATE = "candidate"


def refresh(
    miners: Mapping[str, MinerEntry],
    pending_reasons: Mapping[str, ReasonTuple],
    eliminated_hotkeys: AbstractSet[str],
    inputs: RefreshInputs,
    now_ms: int,
    config: RulesConfig,
) -> RefreshOutcome:
    """Apply steps 1-8 of RULES.md at ``now_ms``; the arguments are left untouched."""
    eliminated = frozenset(eliminated_hotkeys) | pending_reasons.keys()
    state = remove_eliminated(miners, eliminated)
    state = apply_plagiarism_flags(state, inputs.plagiarism, now_ms)
    state, added = join_metagraph(
        state, inputs.metagraph_hotkeys, inputs.miners, eliminated, now_ms
    )
    candidates, reasons = inspect_miners(state, inputs.miners, now_ms, config)
    state, promoted, demoted = promote_and_demote(state, candidates, inputs.scores, now_ms, config)
    # As in the validators, a plagiarism reason overrides a step-4 reason of the same refresh.
    # Only a flagged hotkey that joined in step 3, after step 2 ran, can have both.
    reasons.update(plagiarism_eliminations(state, inputs.plagiarism, now_ms, config))
    state, new_reasons = merge_eliminations(state, reasons, pending_reasons)
    state, pruned = prune(state, inputs.metagraph_hotkeys)
    return RefreshOutcome(state, new_reasons, promoted, demoted, added, pruned)


def remove_eliminated(miners: Mapping[str, MinerEntry], eliminated: AbstractSet[str]) -> Buckets:
    """Step 1: drop the hotkeys that are eliminated or have a pending reason."""
    return _without(miners, miners.keys() & eliminated)


def _without(miners: Mapping[str, MinerEntry], hotkeys: Iterable[str]) -> Buckets:
    """A copy of ``miners`` without ``hotkeys``, in the same order.

    A refresh removes a few hotkeys from many thousands: copying the dict (one C call) and
    deleting those few is several times faster than rebuilding it entry by entry.
    """
    state = dict(miners)
    for hotkey in hotkeys:
        del state[hotkey]
    return state


def apply_plagiarism_flags(
    miners: Mapping[str, MinerEntry], flags: Mapping[str, int] | None, now_ms: int
) -> Buckets:
    """Step 2: flagged miners move to PLAGIARISM, cleared ones return to where they were."""
    state = dict(miners)
    if flags is None:
        # The plagiarism source was unavailable: an unknown flag is not a cleared flag.
        return state
    for hotkey, entry in miners.items():
        flagged = hotkey in flags
        if flagged and entry.bucket is not MinerBucket.PLAGIARISM:
            state[hotkey] = MinerEntry(
                MinerBucket.PLAGIARISM, now_ms, entry.bucket, entry.bucket_start_time
            )
        elif not flagged and entry.bucket is MinerBucket.PLAGIARISM:
            state[hotkey] = _restore_from_plagiarism(entry, now_ms)
    return state


def _restore_from_plagiarism(entry: MinerEntry, now_ms: int) -> MinerEntry:
    if entry.previous_bucket is None or entry.previous_bucket_start_time is None:
        # An entry that lost its origin (hand-edited or older state) would otherwise stay in
        # PLAGIARISM forever, with no flag left to end it; it starts the challenge afresh.
        return MinerEntry(MinerBucket.CHALLENGE, now_ms)
    return MinerEntry(entry.previous_bucket, entry.previous_bucket_start_time)


def join_metagraph(
    miners: Mapping[str, MinerEntry],
    metagraph_hotkeys: Iterable[str],
    miner_inputs: Mapping[str, MinerInputs],
    eliminated: AbstractSet[str],
    now_ms: int,
) -> tuple[Buckets, list[str]]:
    """Step 3: registered hotkeys outside the other buckets enter CHALLENGE; returns the added."""
    state = dict(miners)
    added: list[str] = []
    for hotkey in metagraph_hotkeys:
        if hotkey in eliminated:
            continue
        entry = state.get(hotkey)
        if entry is not None and entry.bucket is not MinerBucket.CHALLENGE:
            continue
        first_order = miner_inputs.get(hotkey, NO_MINER_INPUTS).first_order_time_ms
        if entry is None:
            added.append(hotkey)
            start = now_ms if first_order is None else first_order
            state[hotkey] = MinerEntry(MinerBucket.CHALLENGE, start)
        elif first_order is not None and entry.bucket_start_time != first_order:
            # The challenge is measured from the first order, which is known only once the
            # miner trades (or changes when its positions are rebuilt).
            state[hotkey] = MinerEntry(MinerBucket.CHALLENGE, first_order)
    return state, sorted(added)


def drawdown_percent(min_mdd: float | None) -> float:
    """The worst drawdown in percent; None (no checkpoint recorded one) counts as none."""
    if min_mdd is None or min_mdd >= 1:
        return 0.0
    if min_mdd <= 0:
        return 100.0
    return (1 - min_mdd) * 100


def inspect_miner(
    entry: MinerEntry, miner: MinerInputs, now_ms: int, config: RulesConfig
) -> Verdict | ReasonTuple:
    """Step 4 for one CHALLENGE or PROBATION miner: the first rule that applies wins."""
    ledger_start = miner.ledger_start_ms
    first_order = miner.first_order_time_ms
    if ledger_start is not None and (first_order is None or ledger_start < first_order):
        # A ledger older than the positions belongs to the hotkey's previous registration;
        # judging the new miner on it would be wrong, so wait until the data agree.
        return Verdict.SKIP
    if entry.bucket is MinerBucket.CHALLENGE:
        limit_ms = config.challenge_period_max_ms
    else:
        limit_ms = config.probation_max_ms
    if now_ms > entry.bucket_start_time + limit_ms:
        return (EliminationReason.FAILED_CHALLENGE_PERIOD_TIME.value, NO_DRAWDOWN)
    if miner.n_positions == 0 or miner.n_checkpoints == 0:
        return Verdict.SKIP
    pct = drawdown_percent(miner.min_mdd)
    if pct >= config.max_drawdown_percent:
        return (EliminationReason.FAILED_CHALLENGE_PERIOD_DRAWDOWN.value, round(pct, 2))
    if miner.trading_days < config.min_trading_days:
        return Verdict.SKIP
    return Verdict.CANDIDATE


def inspect_miners(
    miners: Mapping[str, MinerEntry],
    miner_inputs: Mapping[str, MinerInputs],
    now_ms: int,
    config: RulesConfig,
) -> tuple[list[str], dict[str, ReasonTuple]]:
    """Step 4 for every CHALLENGE and PROBATION miner: the sorted candidates and new reasons."""
    candidates: list[str] = []
    reasons: dict[str, ReasonTuple] = {}
    for hotkey, entry in miners.items():
        if entry.bucket not in _INSPECTED:
            continue
        verdict = inspect_miner(entry, miner_inputs.get(hotkey, NO_MINER_INPUTS), now_ms, config)
        if verdict is Verdict.CANDIDATE:
            candidates.append(hotkey)
        elif isinstance(verdict, tuple):
            reasons[hotkey] = verdict
    return sorted(candidates), reasons


def promote_and_demote(
    miners: Mapping[str, MinerEntry],
    candidates: Iterable[str],
    scores: Mapping[str, AssetClassScores] | None,
    now_ms: int,
    config: RulesConfig,
) -> tuple[Buckets, list[str], list[str]]:
    """Step 5: returns the new state, the promoted candidates and the demoted MAINCOMP miners."""
    state = dict(miners)
    candidate_set = set(candidates)
    # MAINCOMP is re-ranked only when a candidate could take a place in it.
    if not candidate_set or scores is None:
        return state, [], []
    maincomp = {hk for hk, entry in miners.items() if entry.bucket is MinerBucket.MAINCOMP}
    result = qualify(
        scores,
        maincomp | candidate_set,
        rank=config.promotion_threshold_rank,
        temperature=config.softmax_temperature,
    )
    promoted = sorted(candidate_set & result.qualified)
    # A MAINCOMP miner absent from every class was not evaluated, which is not a failure.
    demoted = sorted((maincomp & result.scored) - result.qualified)
    for hotkey in promoted:
        state[hotkey] = MinerEntry(MinerBucket.MAINCOMP, now_ms)
    for hotkey in demoted:
        state[hotkey] = MinerEntry(MinerBucket.PROBATION, now_ms)
    return state, promoted, demoted


def plagiarism_eliminations(
    miners: Mapping[str, MinerEntry],
    flags: Mapping[str, int] | None,
    now_ms: int,
    config: RulesConfig,
) -> dict[str, ReasonTuple]:
    """Step 6: miners whose plagiarism flag is older than the review period."""
    if flags is None:
        return {}
    return {
        hotkey: (EliminationReason.PLAGIARISM.value, NO_DRAWDOWN)
        for hotkey, flagged_ms in flags.items()
        if hotkey in miners and now_ms - flagged_ms > config.plagiarism_review_period_ms
    }


def merge_eliminations(
    miners: Mapping[str, MinerEntry],
    reasons: Mapping[str, ReasonTuple],
    pending_reasons: Mapping[str, ReasonTuple],
) -> tuple[Buckets, dict[str, ReasonTuple]]:
    """Step 7: the state without the eliminated miners, and the reasons not already pending."""
    # A pending reason has not been written by the elimination service yet; replacing it
    # would change the row it is about to write.
    new_reasons = {hk: reason for hk, reason in reasons.items() if hk not in pending_reasons}
    return _without(miners, miners.keys() & reasons.keys()), new_reasons


def prune(
    miners: Mapping[str, MinerEntry], metagraph_hotkeys: Iterable[str]
) -> tuple[Buckets, list[str]]:
    """Step 8: drop the miners that left the metagraph; returns the new state and the pruned."""
    registered = set(metagraph_hotkeys)
    if not registered:
        # An empty metagraph means the chain could not be read, not that every miner left.
        return dict(miners), []
    pruned = sorted(miners.keys() - registered)
    return _without(miners, pruned), pruned
