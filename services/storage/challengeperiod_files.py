"""The challenge-period service's files: ``challengeperiod.json`` (the validators' format,
legacy ``{"testing", "success"}`` shape read too) and ``elimination_reasons.json``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.domain.models import MinerBucket, MinerEntry, ReasonTuple, check_hotkey, check_reason
from services.storage.durable_store import DurableStore, TableFile

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
            isinstance(group, dict) and all(isinstance(v, int) for v in group.values())
            for group in raw.values()
        )
    )


def decode_miners(raw: Any) -> dict[str, MinerEntry]:
    """Parse challengeperiod.json, current or legacy shape."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object of hotkeys, got {type(raw).__name__}")
    if _is_legacy(raw):
        miners: dict[str, MinerEntry] = {}
        for key, bucket in _LEGACY_KEYS.items():
            for hotkey, start in raw.get(key, {}).items():
                miners[check_hotkey(hotkey)] = MinerEntry(bucket, start)
        return miners
    return {
        check_hotkey(hotkey): MinerEntry.from_wire(entry, f"entry {hotkey!r}")
        for hotkey, entry in raw.items()
    }


def encode_miners(miners: Mapping[str, MinerEntry]) -> dict[str, Any]:
    """challengeperiod.json document."""
    return {hotkey: entry.to_wire() for hotkey, entry in miners.items()}


def decode_reasons(raw: Any) -> dict[str, ReasonTuple]:
    """Parse elimination_reasons.json: {hotkey: [reason, dd]}."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object of hotkeys, got {type(raw).__name__}")
    return {check_hotkey(k): check_reason(v, f"reason of {k!r}") for k, v in raw.items()}


def encode_reasons(reasons: Mapping[str, ReasonTuple]) -> dict[str, list[Any]]:
    """elimination_reasons.json document."""
    return {hotkey: list(reason) for hotkey, reason in reasons.items()}


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
                list,
                lambda raw: check_reason(raw),
            ),
        ],
        fsync=fsync,
        fold_every_change=fold_every_change,
    )
