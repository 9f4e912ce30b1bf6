"""Batch argument checks with a fast path: one tight loop accepts the common well-formed
batch; anything it does not accept goes to the precise checks of ``services.models``,
which raise the error naming the bad field (or accept what the fast loop was too strict
for). The result is always exactly what the precise check returns.

``check_reasons`` builds a field name (an f-string) for every item before it knows the
item is fine; for 100 reasons that is most of an update's cost.
"""

from __future__ import annotations

import math
from typing import Any

from services.models import (
    MAX_HOTKEY_LENGTH,
    REASON_NAMES,
    ReasonTuple,
    check_reasons,
)
from services.refresh_inputs import parse_refresh_inputs, refresh_inputs_to_wire
from services.wire import dumps

_PAIRS = (tuple, list)
_PAIR_TYPES = frozenset(_PAIRS)
_STR = frozenset({str})
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


def reasons_json(value: Any, name: str = "reasons") -> str:
    """A reasons argument as JSON text for the wire, screened on the caller's side.

    Only the shape that JSON would get wrong silently (non-str keys, values that are not
    pairs) is screened here, with C-level passes; reason names and numbers are checked by
    the service, which must check them anyway, and whose errors reach the caller as the
    same ValueError / TypeError naming the parameter.
    """
    if (
        type(value) is dict
        and set(map(type, value)) <= _STR
        and set(map(type, value.values())) <= _PAIR_TYPES
    ):
        try:
            return dumps(value)
        except (TypeError, ValueError):
            pass
    return dumps(check_reasons(value, name))


def refresh_inputs_json(value: Any) -> str:
    """A ``submit_refresh_inputs`` document as JSON text for the wire.

    The service parses and checks the whole document anyway (any client may call it), and
    its errors reach the caller as the same ValueError / TypeError naming the field; so the
    caller's side only screens, with C-level passes, what JSON would change silently:
    hotkey-keyed mappings whose keys are not all str. Anything unusual is parsed here.
    """
    if _plain_inputs(value):
        try:
            return dumps(value)
        except (TypeError, ValueError):
            pass
    return dumps(refresh_inputs_to_wire(parse_refresh_inputs(value)))


def _str_keys(mapping: Any) -> bool:
    return type(mapping) is dict and set(map(type, mapping)) <= _STR


def _plain_inputs(value: Any) -> bool:
    if type(value) is not dict or not _str_keys(value.get("miners")):
        return False
    plagiarism = value.get("plagiarism")
    if plagiarism is not None and not _str_keys(plagiarism):
        return False
    scores = value.get("scores")
    if scores is None:
        return True
    if type(scores) is not dict:
        return False
    for asset_class in scores.values():
        if type(asset_class) is not dict or not _str_keys(asset_class.get("penalties", {})):
            return False
        metrics = asset_class.get("metrics")
        if type(metrics) is not dict:
            return False
        if not all(type(m) is dict and _str_keys(m.get("scores")) for m in metrics.values()):
            return False
    return True
