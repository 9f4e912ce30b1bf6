"""The departed-hotkeys file and the list of recently expired hotkeys, as durable tables.

``departed_hotkeys.json`` is the validators' ``{"departed_hotkeys": {hotkey:
{"detected_ms": int}}}``; an older validator's list of hotkeys loads with ``detected_ms`` 0,
and ``{}`` or a null value load as empty. ``eliminations_expired.json`` is ours:
``{"expired_hotkeys": {hotkey: deleted_ms}}``, the hotkeys whose rows expired while the
validator still lists their miner data (see ``elimination_rules.plan_zombies``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.domain.models import check_hotkey

DEPARTED_FILE = "departed_hotkeys.json"
EXPIRED_FILE = "eliminations_expired.json"


def _check_ms(value: Any, what: str) -> int:
    # The reference writes times from Python, so an integral float is a time too.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{what} must be integer milliseconds, got {value!r:.40}")
    return int(value)


def check_departed_entry(raw: Any) -> dict[str, int]:
    """One departed entry: ``{"detected_ms": int}``."""
    if not isinstance(raw, dict) or "detected_ms" not in raw:
        raise ValueError(f'a departed entry must be {{"detected_ms": int}}, got {raw!r:.60}')
    return {**raw, "detected_ms": _check_ms(raw["detected_ms"], "detected_ms")}


def decode_departed(raw: Any) -> dict[str, dict[str, int]]:
    """Parse departed_hotkeys.json into {hotkey: {"detected_ms": int}}."""
    if not isinstance(raw, dict):
        raise ValueError('expected {"departed_hotkeys": {hotkey: {"detected_ms": int}}}')
    value = raw.get("departed_hotkeys")
    if value is None:
        return {}
    if isinstance(value, list):  # the legacy format: when each left is unknown
        return {check_hotkey(hk, "departed hotkey"): {"detected_ms": 0} for hk in value}
    if not isinstance(value, dict):
        raise ValueError("departed_hotkeys must be a dict or a list of hotkeys")
    return {check_hotkey(hk, "departed hotkey"): check_departed_entry(e) for hk, e in value.items()}


def encode_departed(departed: Mapping[str, Any]) -> dict[str, Any]:
    """departed_hotkeys.json document."""
    return {"departed_hotkeys": dict(departed)}


def check_expired_time(raw: Any) -> int:
    """The time a recently expired hotkey's row was deleted."""
    return _check_ms(raw, "an expiry time")


def decode_expired(raw: Any) -> dict[str, int]:
    """Parse eliminations_expired.json into {hotkey: deleted_ms}."""
    if not isinstance(raw, dict) or not isinstance(raw.get("expired_hotkeys", {}), dict):
        raise ValueError('expected {"expired_hotkeys": {hotkey: int}}')
    return {
        check_hotkey(hk, "expired hotkey"): check_expired_time(t)
        for hk, t in raw.get("expired_hotkeys", {}).items()
    }


def encode_expired(expired: Mapping[str, Any]) -> dict[str, Any]:
    """eliminations_expired.json document."""
    return {"expired_hotkeys": dict(expired)}
