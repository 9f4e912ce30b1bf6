"""The elimination service's side of ``get_elimination_inputs``: the answer's JSON decoded
by msgspec, with the inputs straight into ``RefreshInputs`` (see
``services.shells.elimination_feed`` for what the answer holds)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from services.domain.errors import InvalidInputError
from services.domain.refresh_inputs import RefreshInputs, parse_refresh_inputs


class _Answer(msgspec.Struct):
    since: list[Any]
    ruleset: str
    maincomp: list[str]
    inputs: RefreshInputs | msgspec.UnsetType | None = msgspec.UNSET


_DECODER = msgspec.json.Decoder(_Answer)


def decode_elimination_inputs(text: str) -> dict[str, Any]:
    """The answer as a dict: ``since``, ``ruleset``, ``maincomp``, and ``inputs`` (a
    RefreshInputs, or None) when the answer carries them."""
    try:
        answer = _DECODER.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        # Off the fast path: plain JSON, and the precise checks name what is wrong.
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"the elimination inputs are not valid JSON: {exc}") from None
        if isinstance(raw, dict) and raw.get("inputs") is not None:
            raw["inputs"] = parse_refresh_inputs(raw["inputs"])
        return raw if isinstance(raw, dict) else {"answer": raw}
    result: dict[str, Any] = {
        "since": answer.since,
        "ruleset": answer.ruleset,
        "maincomp": answer.maincomp,
    }
    if answer.inputs is not msgspec.UNSET:
        result["inputs"] = answer.inputs
    return result
