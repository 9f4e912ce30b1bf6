"""The challenge-period service's files: ``challengeperiod.json`` (the validators' format,
legacy ``{"testing", "success"}`` shape read too) and ``elimination_reasons.json``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from services.domain.models import (
    MinerBucket,
    MinerEntry,
    ReasonTuple,
    check_hotkey,
    check_reason,
    listed,
)
from services.storage.atomic_files import json_file_bytes
from services.storage.durable_store import DurableStore, TableFile

log = logging.getLogger("cpm.challengeperiod")

CHALLENGEPERIOD_FILE = "challengeperiod.json"
REASONS_FILE = "elimination_reasons.json"
_LEGACY_KEYS = {"testing": MinerBucket.CHALLENGE, "success": MinerBucket.MAINCOMP}


def _is_legacy(raw: dict[str, Any]) -> bool:
    # Legacy files map "testing"/"success" to {hotkey: start}; current files map hotkeys to
    # entry dicts, whose values are never plain ints.
    return (
        bool(raw)
        and set(raw) <= set(_LEGACY_KEYS)
        and all(
            isinstance(group, dict) and all(_is_time_value(v) for v in group.values())
            for group in raw.values()
        )
    )


_TIME_FIELDS = ("bucket_start_time", "previous_bucket_start_time")


def _integral(value: Any) -> Any:
    """An integral float time (as the reference's code sometimes writes) as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_time_value(value: Any) -> bool:
    """An int time, or an integral float one (not a bool)."""
    return isinstance(_integral(value), int) and not isinstance(value, bool)


def decode_miners(raw: Any) -> dict[str, MinerEntry]:
    """Parse challengeperiod.json, current or legacy shape.

    What the validators' own code writes loads: integral float times become ints (one
    warning names the entries). A bucket that is not one of the four, or a time that is not
    a time, is refused.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object of hotkeys, got {type(raw).__name__}")
    fixed: list[str] = []
    if _is_legacy(raw):
        miners: dict[str, MinerEntry] = {}
        for key, bucket in _LEGACY_KEYS.items():
            for hotkey, start in raw.get(key, {}).items():
                miners[check_hotkey(hotkey)] = MinerEntry(bucket, _integral(start))
        return miners
    miners = {}
    for hotkey, entry in raw.items():
        if isinstance(entry, dict) and any(
            _integral(entry.get(f)) is not entry.get(f) for f in _TIME_FIELDS
        ):
            entry = {**entry, **{f: _integral(entry.get(f)) for f in _TIME_FIELDS if f in entry}}
            fixed.append(str(hotkey))
        hotkey = check_hotkey(hotkey)  # first: the message below quotes it
        miners[hotkey] = MinerEntry.from_wire(entry, f"entry {hotkey!r}")
    if fixed:
        log.warning(
            "%s: float times read as integers for %d entries: %s",
            CHALLENGEPERIOD_FILE,
            len(fixed),
            listed(fixed, 5),
        )
    return miners


def encode_miners(miners: Mapping[str, MinerEntry]) -> dict[str, Any]:
    """challengeperiod.json document."""
    return {hotkey: entry.to_wire() for hotkey, entry in miners.items()}


def decode_reasons(raw: Any) -> dict[str, ReasonTuple]:
    """Parse elimination_reasons.json: {hotkey: [reason, dd]}."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object of hotkeys, got {type(raw).__name__}")
    return {check_hotkey(k): check_reason(v, f"reason of {k!r}") for k, v in raw.items()}


def encode_reasons(reasons: Mapping[str, ReasonTuple]) -> dict[str, ReasonTuple]:
    """elimination_reasons.json document (each (reason, dd) tuple is a JSON list)."""
    return dict(reasons)


def _file_bytes(document: Any) -> bytes:
    """A state file's JSON by msgspec: the standard library's values (each float bit for
    bit), about six times sooner; non-ASCII text keeps the standard library's escapes."""
    data = msgspec.json.encode(document, order="sorted")
    return data if data.isascii() else json_file_bytes(document)


def open_store(
    state_dir: Path, *, fsync: bool = False, fold_every_change: bool = False
) -> DurableStore:
    """The challenge-period service's durable store over ``state_dir``."""
    return DurableStore(
        state_dir,
        "challengeperiod",
        [
            TableFile(
                "miners",
                CHALLENGEPERIOD_FILE,
                encode_miners,
                decode_miners,
                MinerEntry.to_wire,
                lambda raw: MinerEntry.from_wire(raw),
            ),
            TableFile(
                "reasons",
                REASONS_FILE,
                encode_reasons,
                decode_reasons,
                None,  # (reason, dd): journalled as the JSON list it is
                lambda raw: check_reason(raw),
            ),
        ],
        fsync=fsync,
        fold_every_change=fold_every_change,
        # Every number in these tables is checked finite (times, and each reason's dd).
        encode_line=msgspec.json.encode,
        encode_file=_file_bytes,
    )
