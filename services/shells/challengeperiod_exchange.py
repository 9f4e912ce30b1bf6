"""What other parties take from, or give to, the challenge-period state in bulk.

A mixin of ``ChallengePeriodManagerServer``: the validator's checkpoints (auto-sync and
restore replace every miner at once), the validator's refresh inputs, and the elimination
service's feed (the latest inputs and the MAINCOMP set, only when they changed, and the
removal of expired hotkeys).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

from Pyro5.api import expose

from services.domain.config import RulesConfig
from services.domain.errors import InvalidInputError
from services.domain.inputs_changes import (
    InputsChanges,
    StaleChanges,
    elimination_changes,
    elimination_digest,
    inputs_digest,
)
from services.domain.models import MinerBucket, check_hotkeys
from services.domain.refresh_inputs import (
    EMPTY_INPUTS,
    RefreshInputs,
    decode_refresh_inputs,
    decode_refresh_inputs_packed,
    encode_refresh_inputs,
    parse_refresh_inputs,
)
from services.domain.submit_changes import (
    SubmitChanges,
    apply_submit_changes,
    decode_submit_changes,
)
from services.shells.elimination_feed import Since, check_since, elimination_reply
from services.storage.challengeperiod_files import decode_miners, encode_miners
from services.storage.challengeperiod_state import ChallengePeriodState
from services.wire import codec
from services.wire.errors import rpc

log = logging.getLogger("cpm.challengeperiod")


def _changes_and_digest(
    seq: int, fed: RefreshInputs, current: RefreshInputs
) -> tuple[InputsChanges, int | None]:
    """The elimination service's changes from ``fed`` to ``current``, and the digest of
    the inputs they make there."""
    return elimination_changes(seq, fed, current), elimination_digest(current)


class BulkExchange:
    """Checkpoint sync and the elimination feed; the state is the server's."""

    rules: RulesConfig
    _state: ChallengePeriodState
    _inputs: RefreshInputs | None
    _inputs_text: str | None
    _inputs_seq: int
    _inputs_epoch: str
    _refresh_lock: threading.Lock
    _inputs_at: float | None
    # The inputs (seq, document) last sent to the elimination service, whole or as changes.
    _fed: tuple[int, RefreshInputs] | None = None
    # Submitted changes made from other inputs than the ones held (the whole document
    # followed): a few after restarts; steadily more when two clients take turns.
    inputs_changes_refused = 0
    # Of those, the ones whose rebuilt document had another digest than the client's: a
    # fault in the rebuilding.
    inputs_changes_mismatched = 0

    # -- the validator's refresh inputs --------------------------------------------------

    @expose
    @rpc
    def submit_refresh_inputs_rpc(self, inputs: Any) -> int:
        """Keep ``inputs`` (JSON text or the plain document) for the next refreshes;
        returns their sequence number."""
        if isinstance(inputs, str):
            # Handed on to the elimination service as they came: checked, never re-encoded.
            return self._keep_inputs(decode_refresh_inputs(inputs), inputs)
        return self._keep_inputs(parse_refresh_inputs(inputs), None)

    @expose
    @rpc
    def submit_packed_refresh_inputs_rpc(self, inputs: Any) -> int:
        """``submit_refresh_inputs`` with the document as msgpack bytes (what our client
        sends: less to encode, send and decode than the JSON text)."""
        if not isinstance(inputs, (bytes, bytearray)):
            raise InvalidInputError(f"inputs must be msgpack bytes, got {type(inputs).__name__}")
        return self._keep_inputs(decode_refresh_inputs_packed(bytes(inputs)), None)

    @expose
    @rpc
    def submit_checked_refresh_changes_rpc(self, changes: Any, digest: Any) -> list[Any] | None:
        """Keep the inputs that ``changes`` (msgpack bytes, see ``submit_changes``) make
        from the ones held, when their ``inputs_digest`` is ``digest``; returns [epoch, seq]
        to make the next changes from, or None when they were made from other inputs or
        made another document (send the whole document)."""
        if not isinstance(changes, (bytes, bytearray)):
            raise InvalidInputError(f"changes must be msgpack bytes, got {type(changes).__name__}")
        if isinstance(digest, bool) or not isinstance(digest, int) or not 0 <= digest < 1 << 32:
            raise InvalidInputError(f"digest must be a CRC-32, got {digest!r:.40}")
        decoded = decode_submit_changes(bytes(changes))
        kept = self._keep_changes(decoded, digest)
        if kept is not None:
            return [self._inputs_epoch, kept]
        with self._refresh_lock:
            self.inputs_changes_refused += 1
        return None

    def _keep_changes(self, decoded: SubmitChanges, digest: int) -> int | None:
        """Keep the inputs ``decoded`` makes and return their seq; None when it was made
        from other inputs than the ones held, or made a document whose digest is not
        ``digest``. Applied outside the lock."""
        with self._refresh_lock:
            seq, held = self._inputs_seq, self._inputs
        if decoded.epoch is not None and (
            held is None or (decoded.epoch, decoded.core.base) != (self._inputs_epoch, seq)
        ):
            return None
        try:
            rebuilt = apply_submit_changes(held or EMPTY_INPUTS, decoded)
        except StaleChanges as exc:
            log.warning("inputs changes refused, the whole document is asked for: %s", exc)
            return None
        made = inputs_digest(rebuilt)
        if made != digest:
            # A fault in the rebuilding (none is known): nothing is decided on a document
            # the validator did not check. The client sends the whole document next.
            with self._refresh_lock:
                self.inputs_changes_mismatched += 1
            log.error(
                "inputs changes made another document than the client's (digest %s, "
                "expected %s); not kept, the whole document is asked for",
                made,
                digest,
            )
            return None
        with self._refresh_lock:
            if decoded.epoch is not None and self._inputs_seq != seq:
                return None  # another submit came in meanwhile
            return self._keep_locked(rebuilt, None)

    def _keep_inputs(self, parsed: RefreshInputs, text: str | None) -> int:
        with self._refresh_lock:
            return self._keep_locked(parsed, text)

    def _keep_locked(self, parsed: RefreshInputs, text: str | None) -> int:
        """Keep ``parsed`` (and its JSON ``text``, if it came as that); returns its seq."""
        self._inputs = parsed
        self._inputs_text = text  # None: encoded when a full feed answer needs it
        self._inputs_seq += 1
        if self._inputs_at is None:
            self._inputs_at = time.monotonic()
        return self._inputs_seq

    def _inputs_json(self) -> str | None:
        """The inputs held as JSON text, encoded once when first needed; the caller holds
        the refresh lock."""
        if self._inputs_text is None and self._inputs is not None:
            self._inputs_text = encode_refresh_inputs(self._inputs)
        return self._inputs_text

    # -- the validator's checkpoints -----------------------------------------------------

    @expose
    @rpc
    def export_state_rpc(self) -> str:
        """Every state file's document at one instant, as JSON (``cpm-backup``)."""
        return codec.dumps_checked(self._state.export())

    @expose
    @rpc
    def to_checkpoint_dict_rpc(self) -> str:
        """{hotkey: CHECKPOINT_ENTRY} of every miner, as JSON."""
        with self._state.lock:
            return codec.dumps_checked(encode_miners(self._state.miners))

    @expose
    @rpc
    def sync_challenge_period_data_rpc(self, checkpoint: Any) -> int:
        """Replace every miner by ``checkpoint`` (current or legacy shape) at once; returns
        how many miners there are now. A malformed checkpoint changes nothing."""
        raw = codec.loads_arg(checkpoint, "checkpoint_dict")
        try:
            miners = decode_miners(raw)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"checkpoint_dict: {exc}") from None
        if not miners:
            # The reference logs this too and then syncs anyway: an empty sync clears all.
            log.warning("sync_challenge_period_data with no miners: every miner is removed")
        removed = self._state.replace_miners(miners)
        log.info("synced %d miners (%d removed)", len(miners), len(removed))
        return len(miners)

    @expose
    @rpc
    def clear_all_miners_rpc(self) -> int:
        """Remove every miner; returns how many there were."""
        return len(self._state.replace_miners({}))

    # -- what the elimination service takes from here -----------------------------------

    @expose
    @rpc
    def get_elimination_inputs_rpc(self, since: Any = None) -> str | None:
        """The elimination service's view since ``since`` (see ``elimination_feed``)."""
        return self._elimination_answer(check_since(since), with_changes=False)

    @expose
    @rpc
    def get_elimination_changes_rpc(self, since: Any = None) -> str | None:
        """``get_elimination_inputs``, with only what changed in the inputs when the caller
        holds the ones sent to it last (see ``elimination_feed``)."""
        return self._elimination_answer(check_since(since), with_changes=True)

    def _elimination_answer(self, since: Since | None, *, with_changes: bool) -> str | None:
        with self._refresh_lock:
            with self._state.lock:
                here = (self._state.changes.epoch, self._inputs_seq, self._state.version)
                maincomp: list[str] = []  # only an answer that says something carries it
                if since != here:
                    maincomp = list(self._state.hotkeys_in(MinerBucket.MAINCOMP))
            fed, current = self._fed, self._inputs
            changes = None  # the reply checks that the caller's epoch is this one
            if with_changes and fed and current is not None and since and since[1] == fed[0]:
                changes = functools.partial(_changes_and_digest, fed[0], fed[1], current)
            reply = elimination_reply(
                since, here, self.rules.name, maincomp, self._inputs_json, changes
            )
            if with_changes and current is not None and (since is None or since[:2] != here[:2]):
                self._fed = (self._inputs_seq, current)
            return reply

    @expose
    @rpc
    def remove_miners_rpc(self, hotkeys: Any) -> int:
        """Remove these miners from the buckets; returns how many were in one."""
        return self._state.remove_miners(check_hotkeys(codec.loads_arg(hotkeys, "hotkeys")))
