"""The elimination service's side of ``get_elimination_inputs``: the answer's JSON decoded
by msgspec, with the inputs straight into ``RefreshInputs`` (see
``services.shells.elimination_feed`` for what the answer holds).

The elimination steps read the metagraph, the miners' facts and ``miner_dir_hotkeys``
only, so the scores, plagiarism and asset selections (half the document or more) are
skipped by the decoder, not built: the ``RefreshInputs`` here carries None for them. The
challenge-period service checked the whole document when it was submitted. An answer of
``get_elimination_changes`` may carry ``changes`` instead, decoded into ``InputsChanges``,
and their ``digest``.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from services.domain.errors import InvalidInputError
from services.domain.inputs_changes import InputsChanges, elimination_part
from services.domain.refresh_inputs import (
    EliminationInputs,
    parse_refresh_inputs,
)


class _Answer(msgspec.Struct):
    since: list[Any]
    ruleset: str
    maincomp: list[str]
    inputs: EliminationInputs | msgspec.UnsetType | None = msgspec.UNSET
    changes: InputsChanges | msgspec.UnsetType = msgspec.UNSET
    digest: int | msgspec.UnsetType = msgspec.UNSET


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
            raw["inputs"] = elimination_part(parse_refresh_inputs(raw["inputs"]))
        if isinstance(raw, dict) and "changes" in raw:
            try:
                raw["changes"] = msgspec.convert(raw["changes"], InputsChanges)
            except msgspec.ValidationError as exc:
                raise InvalidInputError(f"the elimination inputs' changes: {exc}") from None
        return raw if isinstance(raw, dict) else {"answer": raw}
    result: dict[str, Any] = {
        "since": answer.since,
        "ruleset": answer.ruleset,
        "maincomp": answer.maincomp,
    }
    if answer.inputs is not msgspec.UNSET:
        result["inputs"] = None if answer.inputs is None else elimination_part(answer.inputs)
    if answer.changes is not msgspec.UNSET:
        result["changes"] = answer.changes
    if answer.digest is not msgspec.UNSET:
        result["digest"] = answer.digest
    return result
