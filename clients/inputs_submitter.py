"""How the challenge-period client hands the service a validator's refresh inputs.

In order of preference: the change from the inputs the service holds, with the digest of
the document it makes (``services.domain.submit_changes``); the same change from nothing,
when the service holds other inputs or rebuilt another document; the whole document as
msgpack; the whole document as JSON text, for an int past 64 bits or a service from
before the other calls. A call the service lacked is skipped for a while (``LackedCalls``).
"""

from __future__ import annotations

from clients.base import LackedCalls
from services.domain.errors import RemoteError
from services.domain.inputs_changes import packed_digest
from services.domain.refresh_inputs import (
    EMPTY_INPUTS,
    RefreshInputs,
    encode_refresh_inputs,
    encode_refresh_inputs_packed,
)
from services.domain.submit_changes import (
    SubmitChanges,
    encode_submit_changes,
    submit_changes,
)
from services.wire.api import ChallengePeriodAPI
from services.wire.codec import sized_arg

CHANGES_CALL = "submit_checked_refresh_changes_rpc"
PACKED_CALL = "submit_packed_refresh_inputs_rpc"


class InputsSubmitter:
    """Submits checked documents to one challenge-period service."""

    def __init__(self, service: ChallengePeriodAPI) -> None:
        self._service = service
        self.lacked = LackedCalls()
        # (epoch, seq, document) of the inputs last handed over as a change; None before
        # the first, and after a whole document went the other ways.
        self.submitted: tuple[str, int, RefreshInputs] | None = None

    def submit(self, parsed: RefreshInputs) -> int:
        """Hand over ``parsed`` (checked already); returns its sequence number."""
        changes_ok = not self.lacked.skip(CHANGES_CALL)
        packed_ok = not self.lacked.skip(PACKED_CALL)
        packed = None  # stays None for an int past 64 bits, which only JSON text carries
        if changes_ok or packed_ok:
            packed = encode_refresh_inputs_packed(parsed)
        if packed is not None and changes_ok:
            digest = packed_digest(packed)
            held = self.submitted
            if held is not None:  # the change from the inputs the service holds, if it does
                seq = self._changes(submit_changes(*held, parsed), parsed, digest)
                if seq is not None:
                    return seq
            seq = self._changes(submit_changes(None, 0, EMPTY_INPUTS, parsed), parsed, digest)
            if seq is not None:
                return seq
        self.submitted = None
        if packed is not None and packed_ok:
            try:
                return int(
                    self._service.submit_packed_refresh_inputs_rpc(sized_arg(packed, "inputs"))
                )
            except RemoteError as exc:
                if not self.lacked.lacked(exc, PACKED_CALL):
                    raise
        text = sized_arg(encode_refresh_inputs(parsed), "inputs")
        return int(self._service.submit_refresh_inputs_rpc(text))

    def _changes(self, changes: SubmitChanges, parsed: RefreshInputs, digest: int) -> int | None:
        """Hand over ``changes`` (which make ``parsed``, whose digest is ``digest``); None
        when the service holds other inputs than they were made from, rebuilt another
        document, or is from before the call."""
        data = encode_submit_changes(changes)
        if data is None:
            return None
        try:
            reply = self._service.submit_checked_refresh_changes_rpc(
                sized_arg(data, "inputs"), digest
            )
        except RemoteError as exc:
            if not self.lacked.lacked(exc, CHANGES_CALL):
                raise
            return None
        if reply is None:
            return None
        epoch, seq = str(reply[0]), int(reply[1])
        self.submitted = (epoch, seq, parsed)
        return seq
