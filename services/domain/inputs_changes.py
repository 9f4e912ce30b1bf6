"""The change from one document's elimination part to the next: what the challenge-period
service sends the elimination service in place of the whole document, when the latter
holds the document before.

The elimination steps read the metagraph, the miners' facts and the miner dirs (see
``EliminationInputs``). Between two cycles most of that is unchanged: a few hotkeys
registered or left, a few miners' facts moved. The scores, which change every cycle, are
not read there at all. So a change carries each hotkey sequence either whole or as the
positions that differ (same length only), the miners' keys as the metagraph's when they are
the same sequence, and only the miners whose facts are new or differ.

``apply_changes(old, elimination_changes(old, new))`` is ``new``'s elimination part, order
included (the rows a round writes follow the order of the miners and of the metagraph).
A change that does not fit the document it is applied to raises ``StaleChanges``; the
elimination service then asks for the whole document. It asks for it too when the
document it rebuilt has another ``elimination_digest`` than the one the change came with:
its decisions (zombies, departures) are taken on the validator's metagraph or not at all.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from itertools import compress
from operator import ne, not_
from typing import Annotated

import msgspec

from services.domain.refresh_inputs import (
    MANY_HOTKEYS,
    MAX_METAGRAPH_HOTKEYS,
    EliminationInputs,
    Hotkey,
    MinerInputs,
    RefreshInputs,
    encode_refresh_inputs_packed,
)

# Past this share of differing positions the whole sequence is smaller to send.
MAX_EDIT_SHARE = 0.25
Position = Annotated[int, msgspec.Meta(ge=0, lt=MAX_METAGRAPH_HOTKEYS)]


class StaleChanges(ValueError):
    """A change that does not fit the document held: ask for the whole document."""


class SequenceChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A hotkey sequence: ``whole``, or the ``length``-long sequence before with the hotkey
    at each position of ``at`` replaced, or with the positions of ``drop`` left out and
    ``tail`` added at the end (hotkeys that left and hotkeys that joined).

    The fields left at their defaults are not sent, so a receiver from before ``drop`` and
    ``tail`` reads every change that does not use them.
    """

    whole: Annotated[tuple[Hotkey, ...], MANY_HOTKEYS] | None = None
    length: Position | None = None
    at: Annotated[tuple[tuple[Position, Hotkey], ...], MANY_HOTKEYS] = ()
    drop: Annotated[tuple[Position, ...], MANY_HOTKEYS] = ()
    tail: Annotated[tuple[Hotkey, ...], MANY_HOTKEYS] = ()


class InputsChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """From the document of inputs seq ``base`` to the next one held, elimination part only.

    ``miner_keys`` None: the miners' keys are the metagraph's hotkeys, in its order.
    ``miner_dirs`` None: the document has no ``miner_dir_hotkeys``.
    """

    base: int
    metagraph: SequenceChange
    miner_keys: SequenceChange | None
    miners: Annotated[dict[Hotkey, MinerInputs], MANY_HOTKEYS]
    miner_dirs: SequenceChange | None


def sequence_change(
    old: Sequence[str], new: tuple[str, ...], *, shifts: bool = False
) -> SequenceChange:
    """What turns ``old`` into ``new``: the differing positions when there are few, or
    (``shifts``: the receiver reads ``drop`` and ``tail``) the hotkeys that left and those
    added at the end, when that is all that happened."""
    if old == new:
        return SequenceChange(length=len(new))
    if len(old) == len(new):
        differs = list(map(ne, old, new))
        if sum(differs) <= len(new) * MAX_EDIT_SHARE:
            at = tuple((i, new[i]) for i in compress(range(len(new)), differs))
            return SequenceChange(length=len(new), at=at)
    if shifts:
        stays = list(map(set(new).__contains__, old))
        kept = tuple(compress(old, stays))
        if new[: len(kept)] == kept:
            drop = tuple(compress(range(len(old)), map(not_, stays)))
            tail = new[len(kept) :]
            if len(drop) + len(tail) <= len(new) * MAX_EDIT_SHARE:
                return SequenceChange(length=len(old), drop=drop, tail=tail)
    return SequenceChange(whole=new)


def apply_sequence_change(old: tuple[str, ...], change: SequenceChange) -> tuple[str, ...]:
    """``old`` changed by ``change``; StaleChanges when it was made for another sequence."""
    if change.whole is not None:
        return change.whole
    if change.length != len(old):
        raise StaleChanges(f"a change for {change.length} hotkeys, {len(old)} held")
    if change.drop or change.tail:
        stays = bytearray(b"\x01") * len(old)
        for i in change.drop:
            if i >= len(old):
                raise StaleChanges(f"a change dropping position {i} of {len(old)} hotkeys")
            stays[i] = 0
        out = (*compress(old, stays), *change.tail)
        if len(out) > MAX_METAGRAPH_HOTKEYS:
            raise StaleChanges(f"a change to {len(out)} hotkeys")
        return out
    if not change.at:
        return old
    replaced = list(old)
    for i, hk in change.at:
        if i >= len(replaced):
            raise StaleChanges(f"a change at position {i} of {len(replaced)} hotkeys")
        replaced[i] = hk
    return tuple(replaced)


def elimination_changes(
    base: int, old: RefreshInputs, new: RefreshInputs, *, shifts: bool = False
) -> InputsChanges:
    """The change from ``old`` (inputs seq ``base``) to ``new``, elimination part only;
    ``shifts``: see ``sequence_change``."""
    keys = tuple(new.miners)
    miner_keys = None
    if keys != new.metagraph_hotkeys:
        miner_keys = sequence_change(tuple(old.miners), keys, shifts=shifts)
    before = old.miners.get
    changed = {hk: facts for hk, facts in new.miners.items() if before(hk) != facts}
    dirs = None
    if new.miner_dir_hotkeys is not None:
        dirs = sequence_change(old.miner_dir_hotkeys or (), new.miner_dir_hotkeys, shifts=shifts)
    return InputsChanges(
        base=base,
        metagraph=sequence_change(old.metagraph_hotkeys, new.metagraph_hotkeys, shifts=shifts),
        miner_keys=miner_keys,
        miners=changed,
        miner_dirs=dirs,
    )


def apply_changes(old: RefreshInputs, changes: InputsChanges) -> RefreshInputs:
    """``old`` changed by ``changes``: the new document's elimination part (no scores,
    plagiarism or asset selections, as the elimination service holds it)."""
    metagraph = apply_sequence_change(old.metagraph_hotkeys, changes.metagraph)
    if changes.miner_keys is None:
        keys = metagraph
    else:
        keys = apply_sequence_change(tuple(old.miners), changes.miner_keys)
    changed = changes.miners
    facts = {**old.miners, **changed}  # each hotkey's latest, in no useful order
    try:
        miners = dict(zip(keys, map(facts.__getitem__, keys), strict=True))
    except KeyError as exc:
        raise StaleChanges(f"no facts for miner {exc.args[0]!r}") from None
    if len(miners) != len(keys) or any(hk not in miners for hk in changed):
        raise StaleChanges("the changed miners do not match the miners' keys")
    dirs = None
    if changes.miner_dirs is not None:
        dirs = apply_sequence_change(old.miner_dir_hotkeys or (), changes.miner_dirs)
    return RefreshInputs(metagraph, miners, miner_dir_hotkeys=dirs)


def elimination_part(inputs: RefreshInputs | EliminationInputs) -> RefreshInputs:
    """The document as the elimination steps read it: the metagraph, the miners' facts and
    the miner dirs, the rest None."""
    return RefreshInputs(
        inputs.metagraph_hotkeys, inputs.miners, miner_dir_hotkeys=inputs.miner_dir_hotkeys
    )


def inputs_digest(inputs: RefreshInputs) -> int | None:
    """CRC-32 of the document's msgpack bytes (about 2 ms at 10,000 miners); None for an int
    past 64 bits, which goes as the whole JSON text. Both sides encode a document the same
    way, order included, so equal documents give equal digests. It finds a fault, not a
    forger: the session's MAC guards the change itself (``services.wire.session``)."""
    packed = encode_refresh_inputs_packed(inputs)
    return None if packed is None else packed_digest(packed)


def packed_digest(packed: bytes) -> int:
    """``inputs_digest`` of the document ``encode_refresh_inputs_packed`` made ``packed`` of."""
    return zlib.crc32(packed)


def elimination_digest(inputs: RefreshInputs) -> int | None:
    """``inputs_digest`` of the document's ``elimination_part``: what the changes the
    elimination service is fed must rebuild there."""
    return inputs_digest(elimination_part(inputs))
