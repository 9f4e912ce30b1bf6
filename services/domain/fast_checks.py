"""Batch argument checks with a fast path: one tight loop accepts the common well-formed
batch; anything it does not accept goes to the precise checks of ``services.domain.models``,
which raise the error naming the bad field (or accept what the fast loop was too strict
for). The result is always exactly what the precise check returns.

``check_reasons`` builds a field name (an f-string) for every item before it knows the
item is fine; for 100 reasons that is most of an update's cost.
"""

from __future__ import annotations

import math
from typing import Any

from services.domain.models import (
    MAX_HOTKEY_LENGTH,
    REASON_NAMES,
    ReasonTuple,
    check_reasons,
)

_PAIRS = (tuple, list)
_NUMBERS = (int, float)


def reasons(value: Any, name: str = "reasons") -> dict[str, ReasonTuple]:
    """Like ``models.check_reasons``: a {hotkey: (reason, dd)} dict, reason names as str."""
    if type(value) is not dict:
        return check_reasons(value, name)
    result: dict[str, ReasonTuple] = {}
    isfinite = math.isfinite
    for hotkey, pair in value.items():
        if (
            type(hotkey) is not str
            or not 0 < len(hotkey) <= MAX_HOTKEY_LENGTH
            or type(pair) not in _PAIRS
            or len(pair) != 2
        ):
            return check_reasons(value, name)
        reason, dd = pair
        if type(reason) is not str or reason not in REASON_NAMES:
            return check_reasons(value, name)  # also turns EliminationReason members into str
        if type(dd) not in _NUMBERS or not isfinite(dd):
            return check_reasons(value, name)
        result[hotkey] = (reason, dd)
    return result
