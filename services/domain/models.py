"""Wire values shared by services and clients: buckets, reasons, miner entries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from services.domain.errors import InvalidInputError, InvalidTypeError


class MinerBucket(str, Enum):
    """The bucket a miner sits in; a member equals its string, and any other Enum's member
    of the same value (the validator's own ``MinerBucket``), in either order."""

    CHALLENGE = "CHALLENGE"
    MAINCOMP = "MAINCOMP"
    PROBATION = "PROBATION"
    PLAGIARISM = "PLAGIARISM"

    def __str__(self) -> str:
        return self.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Enum) and not isinstance(other, MinerBucket):
            return bool(other.value == self.value)
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    # Equal members hash alike: the str's hash, as a str-mixin Enum has by default.
    __hash__ = str.__hash__


class EliminationReason(str, Enum):
    """Why a miner was eliminated; a member equals its string."""

    ZOMBIE = "ZOMBIE"
    PLAGIARISM = "PLAGIARISM"
    MAX_TOTAL_DRAWDOWN = "MAX_TOTAL_DRAWDOWN"
    FAILED_CHALLENGE_PERIOD_TIME = "FAILED_CHALLENGE_PERIOD_TIME"
    FAILED_CHALLENGE_PERIOD_DRAWDOWN = "FAILED_CHALLENGE_PERIOD_DRAWDOWN"
    LIQUIDATED = "LIQUIDATED"

    def __str__(self) -> str:
        return self.value


BUCKET_NAMES = frozenset(b.value for b in MinerBucket)
REASON_NAMES = frozenset(r.value for r in EliminationReason)
MAX_HOTKEY_LENGTH = 256
# A time past the year 2200 is a unit mistake (microseconds, nanoseconds), not a real time.
MAX_TIME_MS = 7_258_118_400_000

ReasonTuple = tuple[str, float]
# A bucket argument: our member, its string, or any Enum member of a bucket's value.
BucketLike = MinerBucket | str | Enum


@dataclass(frozen=True, slots=True)
class MinerEntry:
    """One miner's bucket state: the CHECKPOINT_ENTRY of challengeperiod.json."""

    bucket: MinerBucket
    bucket_start_time: int
    previous_bucket: MinerBucket | None = None
    previous_bucket_start_time: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON / wire form, buckets as plain strings."""
        return {
            "bucket": self.bucket.value,
            "bucket_start_time": self.bucket_start_time,
            "previous_bucket": self.previous_bucket.value if self.previous_bucket else None,
            "previous_bucket_start_time": self.previous_bucket_start_time,
        }

    @classmethod
    def from_wire(cls, raw: Any, where: str = "entry") -> MinerEntry:
        """Parse and check a CHECKPOINT_ENTRY dict; raises InvalidInputError naming ``where``."""
        if not isinstance(raw, dict):
            raise InvalidTypeError(f"{where} must be a dict, got {type(raw).__name__}")
        prev = raw.get("previous_bucket")
        prev_time = raw.get("previous_bucket_start_time")
        return cls(
            bucket=check_bucket(raw.get("bucket"), f"{where}.bucket"),
            bucket_start_time=check_time(
                raw.get("bucket_start_time"), f"{where}.bucket_start_time"
            ),
            previous_bucket=None
            if prev is None
            else check_bucket(prev, f"{where}.previous_bucket"),
            previous_bucket_start_time=(
                None
                if prev_time is None
                else check_time(prev_time, f"{where}.previous_bucket_start_time")
            ),
        )


def entry_from_args(
    bucket: Any, start_time: Any, prev_bucket: Any = None, prev_time: Any = None
) -> MinerEntry:
    """The entry ``set_miner_bucket``'s arguments describe, each checked by name."""
    return MinerEntry(
        check_bucket(bucket, "bucket"),
        check_time(start_time, "start_time"),
        None if prev_bucket is None else check_bucket(prev_bucket, "prev_bucket"),
        None if prev_time is None else check_time(prev_time, "prev_time"),
    )


def check_hotkey(value: Any, name: str = "hotkey") -> str:
    """A hotkey is a non-empty string of at most MAX_HOTKEY_LENGTH characters."""
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value or len(value) > MAX_HOTKEY_LENGTH:
        raise InvalidInputError(f"{name} must be 1 to {MAX_HOTKEY_LENGTH} characters long")
    return value


def check_hotkeys(value: Any, name: str = "hotkeys") -> list[str]:
    """A list, tuple or set of hotkeys."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise InvalidTypeError(f"{name} must be a list of hotkeys, got {type(value).__name__}")
    return [check_hotkey(h, f"{name}[{i}]") for i, h in enumerate(value)]


def check_bucket(value: Any, name: str = "bucket") -> MinerBucket:
    """A MinerBucket member, its string, or any Enum member whose value is a bucket string."""
    if isinstance(value, MinerBucket):
        return value
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be a bucket name, got {type(value).__name__}")
    if value not in BUCKET_NAMES:
        raise InvalidInputError(
            f"{name} must be one of {', '.join(sorted(BUCKET_NAMES))}, got {value!r:.40}"
        )
    return MinerBucket(value)


def check_int(value: Any, name: str) -> int:
    """An int that is not a bool."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def check_time(value: Any, name: str) -> int:
    """Integer milliseconds since the Unix epoch, within a plausible range."""
    check_int(value, name)
    if not 0 <= value <= MAX_TIME_MS:
        raise InvalidInputError(f"{name} must be milliseconds since the epoch, got {value}")
    return int(value)


def check_number(value: Any, name: str) -> float:
    """An int or float (not a bool), finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidTypeError(f"{name} must be a number, got {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInputError(f"{name} must be finite, got {value}")
    return value


def check_reason(value: Any, name: str = "reason") -> ReasonTuple:
    """A (reason, dd) pair: reason one of EliminationReason, dd a number."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidTypeError(f"{name} must be a (reason, dd) pair, got {value!r:.80}")
    reason, dd = value
    if isinstance(reason, EliminationReason):
        reason = reason.value
    if not isinstance(reason, str):
        raise InvalidTypeError(f"{name}[0] must be a reason name, got {type(reason).__name__}")
    if reason not in REASON_NAMES:
        raise InvalidInputError(
            f"{name}[0] must be one of {', '.join(sorted(REASON_NAMES))}, got {reason!r:.80}"
        )
    return (reason, check_number(dd, f"{name}[1]"))


def check_reasons(value: Any, name: str = "reasons") -> dict[str, ReasonTuple]:
    """A {hotkey: (reason, dd)} dict."""
    if not isinstance(value, dict):
        raise InvalidTypeError(
            f"{name} must be a dict of hotkey: (reason, dd), got {type(value).__name__}"
        )
    return {
        check_hotkey(k, f"{name} key"): check_reason(v, f"{name}[{k!r:.40}]")
        for k, v in value.items()
    }


def load_json(text: str | bytes, name: str) -> Any:
    """The document in JSON ``text``; an InvalidInputError naming ``name`` when it is not."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{name} is not valid JSON: {exc}") from None


def listed(names: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` names for a log line, and how many there are when that is more."""
    head = ", ".join(names[:limit])
    return head if len(names) <= limit else f"{head}, ... ({len(names)} in all)"
