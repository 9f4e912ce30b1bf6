"""The change from the inputs the challenge-period service holds to the validator's next
document: what the client submits in place of the whole document.

Between two cycles a validator's document mostly repeats itself: a few hotkeys registered
or left, a few miners' facts moved, and the scores, which are new every cycle, keyed by the
same hotkeys as before. So a change carries the elimination part as ``InputsChanges`` does
(each hotkey sequence whole or as the positions that differ, only the miners whose facts
are new or differ), and each score mapping as its keys' change and all its values: the keys
are usually the metagraph's hotkeys, in its order, and then go as one flag.

A change names the inputs it was made from by the service's inputs epoch (new each time the
service starts) and sequence number. A change from nothing (no epoch) is a whole document
in the same form, which is how a client starts. ``apply_submit_changes(held,
submit_changes(epoch, seq, held, new))`` is ``new``, order included (ties in the scoring
fall by order). A change that does not fit the document it is applied to raises
``StaleChanges``; the service then answers None, and the client sends the whole document.

Each change travels with ``inputs_digest`` (in ``inputs_changes``) of the document the
client checked, and the service keeps what it rebuilt only when its own digest of it is
the same: the decisions are taken on the validator's document or not at all, whatever a
fault in the rebuilding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from services.domain.errors import InvalidInputError
from services.domain.inputs_changes import (
    InputsChanges,
    SequenceChange,
    StaleChanges,
    apply_changes,
    apply_sequence_change,
    elimination_changes,
    sequence_change,
)
from services.domain.refresh_inputs import (
    EMPTY_INPUTS,
    MANY_HOTKEYS,
    AssetClassScores,
    Finite,
    Hotkey,
    MetricScores,
    RefreshInputs,
    TimeMs,
    distinct_hotkeys,
)


class KeyedValues(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A {hotkey: float} mapping: its keys (None: the metagraph's hotkeys, in its order;
    else the change from the same mapping's keys before) and every value, in key order."""

    keys: SequenceChange | None
    values: Annotated[tuple[Finite, ...], MANY_HOTKEYS]


class MetricChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    weight: Finite
    scores: KeyedValues


class ClassChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    metrics: dict[Hotkey, MetricChange]
    penalties: KeyedValues


class SubmitChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """From the inputs (``epoch``, ``core.base``) to the next document; ``epoch`` None:
    from no inputs at all. ``plagiarism`` and ``asset_selections`` go whole unless
    ``*_same`` says they are the held ones."""

    epoch: str | None
    core: InputsChanges
    scores: dict[Hotkey, ClassChange] | None
    plagiarism: Annotated[dict[Hotkey, TimeMs], MANY_HOTKEYS] | None = None
    plagiarism_same: bool = False
    asset_selections: Annotated[dict[Hotkey, Hotkey], MANY_HOTKEYS] | None = None
    asset_selections_same: bool = False


_DECODER = msgspec.msgpack.Decoder(SubmitChanges)
_ENCODER = msgspec.msgpack.Encoder()


def _keyed(
    old: Mapping[str, float] | None, new: Mapping[str, float], metagraph: tuple[str, ...]
) -> KeyedValues:
    keys = tuple(new)
    values = tuple(new.values())
    if keys == metagraph:
        return KeyedValues(None, values)
    return KeyedValues(sequence_change(tuple(old or ()), keys, shifts=True), values)


def _unkeyed(
    old: Mapping[str, float] | None, change: KeyedValues, metagraph: tuple[str, ...]
) -> dict[str, float]:
    if change.keys is None:
        keys = metagraph
    else:
        keys = apply_sequence_change(tuple(old or ()), change.keys)
    rebuilt = dict(zip(keys, change.values, strict=False))
    if len(keys) != len(change.values) or len(rebuilt) != len(keys):
        raise StaleChanges(f"{len(change.values)} values for {len(keys)} keys")
    return rebuilt


def _held_class(
    scores: Mapping[str, AssetClassScores] | None, name: str
) -> tuple[Mapping[str, MetricScores], Mapping[str, float] | None]:
    """The metrics and penalties of asset class ``name`` in the document before, if any."""
    held = (scores or {}).get(name)
    return ({}, None) if held is None else (held.metrics, held.penalties)


def _held_scores(metrics: Mapping[str, MetricScores], metric: str) -> Mapping[str, float] | None:
    held = metrics.get(metric)
    return None if held is None else held.scores


def submit_changes(
    epoch: str | None, seq: int, old: RefreshInputs, new: RefreshInputs
) -> SubmitChanges:
    """The change from ``old`` (inputs ``epoch``/``seq``; EMPTY_INPUTS with no epoch) to
    ``new``."""
    metagraph = new.metagraph_hotkeys
    scores = None
    if new.scores is not None:
        scores = {}
        for name, now in new.scores.items():
            was_metrics, was_penalties = _held_class(old.scores, name)
            metrics = {
                metric: MetricChange(
                    score.weight, _keyed(_held_scores(was_metrics, metric), score.scores, metagraph)
                )
                for metric, score in now.metrics.items()
            }
            scores[name] = ClassChange(metrics, _keyed(was_penalties, now.penalties, metagraph))
    plagiarism_same = old.plagiarism == new.plagiarism and old.plagiarism is not None
    selections_same = (
        old.asset_selections == new.asset_selections and old.asset_selections is not None
    )
    return SubmitChanges(
        epoch=epoch,
        core=elimination_changes(seq, old, new, shifts=True),
        scores=scores,
        plagiarism=None if plagiarism_same else new.plagiarism,
        plagiarism_same=plagiarism_same,
        asset_selections=None if selections_same else new.asset_selections,
        asset_selections_same=selections_same,
    )


def apply_submit_changes(old: RefreshInputs, changes: SubmitChanges) -> RefreshInputs:
    """``old`` changed by ``changes`` (made from it); StaleChanges when they do not fit,
    InvalidInputError when the document they make repeats a hotkey in a list."""
    if changes.epoch is None:
        old = EMPTY_INPUTS
    core = apply_changes(old, changes.core)
    metagraph = core.metagraph_hotkeys
    scores = None
    if changes.scores is not None:
        scores = {}
        for name, change in changes.scores.items():
            was_metrics, was_penalties = _held_class(old.scores, name)
            metrics = {
                metric: MetricScores(
                    moved.weight,
                    _unkeyed(_held_scores(was_metrics, metric), moved.scores, metagraph),
                )
                for metric, moved in change.metrics.items()
            }
            penalties = _unkeyed(was_penalties, change.penalties, metagraph)
            scores[name] = AssetClassScores(metrics, penalties)
    rebuilt = RefreshInputs(
        metagraph_hotkeys=metagraph,
        miners=core.miners,
        scores=scores,
        plagiarism=old.plagiarism if changes.plagiarism_same else changes.plagiarism,
        asset_selections=(
            old.asset_selections if changes.asset_selections_same else changes.asset_selections
        ),
        miner_dir_hotkeys=core.miner_dir_hotkeys,
    )
    if not distinct_hotkeys(rebuilt):
        raise InvalidInputError("the changed inputs name a hotkey twice in a hotkey list")
    return rebuilt


def encode_submit_changes(changes: SubmitChanges) -> bytes | None:
    """The msgpack bytes of ``changes``; None for an int past 64 bits (JSON text only)."""
    try:
        return _ENCODER.encode(changes)
    except OverflowError:
        return None


def decode_submit_changes(data: bytes) -> SubmitChanges:
    """The changes in msgpack ``data``; InvalidInputError naming what msgspec refused."""
    try:
        return _DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInputError(f"inputs changes: {exc}") from None
