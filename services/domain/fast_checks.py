"""Reason batches checked by msgspec's C code: one pass accepts the common well-formed
batch; anything it does not accept goes to the precise checks of ``services.domain.models``,
which raise the error naming the bad field (or accept what the schema was too strict for:
an ``EliminationReason`` member, an int past 64 bits). The result is always exactly what
the precise check returns.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal

import msgspec

from services.domain.models import (
    MAX_HOTKEY_LENGTH,
    REASON_NAMES,
    ReasonTuple,
    check_reasons,
    load_json,
)

_Hotkey = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_HOTKEY_LENGTH)]
_Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
# Literal of every reason name (built from the enum, so a new reason is never missed).
_ReasonName = Literal.__getitem__(tuple(sorted(REASON_NAMES)))
# dd stays as given: an int stays an int, as the precise check leaves it.
_BATCH = dict[_Hotkey, tuple[_ReasonName, int | _Finite]]  # type: ignore[valid-type]
_BATCH_DECODER = msgspec.json.Decoder(_BATCH)


def reasons(value: Any, name: str = "reasons") -> dict[str, ReasonTuple]:
    """Like ``models.check_reasons``: a {hotkey: (reason, dd)} dict, reason names as str."""
    try:
        return msgspec.convert(value, _BATCH)
    except msgspec.ValidationError:
        return check_reasons(value, name)


def decode_reasons(text: str | bytes, name: str = "reasons") -> dict[str, ReasonTuple]:
    """``reasons`` of a batch sent as JSON text."""
    try:
        return _BATCH_DECODER.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    return check_reasons(load_json(text, name), name)
