"""What crosses the wire: large values as JSON text, arguments checked on arrival.

Serpent decodes with ``ast.literal_eval``, whose cost grows with the number of nodes, so
every value that grows with the number of miners or reasons travels as one JSON string
(decoded by C code on the other side). Arguments of that kind are accepted either as a
JSON string or as the plain structure, so any Pyro5 client can call the service.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from services.domain.errors import (
    InvalidInputError,
    InvalidTypeError,
)
from services.domain.models import load_json
from services.wire.names import MAX_MESSAGE_BYTES

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T", str, bytes)


def dumps(value: Any) -> str:
    """Compact JSON text."""
    return json.dumps(value, separators=(",", ":"))


def dumps_checked(value: Any) -> str:
    """Compact JSON text, by msgspec, of a value whose every number was checked finite
    (msgspec writes a NaN as null, where ``dumps`` writes the standard library's NaN)."""
    return msgspec.json.encode(value).decode()


def dumps_arg(value: Any, name: str) -> str:
    """JSON text of an argument, refused when the service would refuse its message."""
    return sized_arg(dumps(value), name)


def sized_arg(text: T, name: str) -> T:
    """``text`` (or bytes), refused when the service would refuse a message carrying it."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise InvalidInputError(
            f"{name} is {len(text) / 2**20:.0f} MiB as a message; the limit is "
            f"{MAX_MESSAGE_BYTES // 2**20} MiB: send it in parts"
        )
    return text


def loads_arg(value: Any, name: str) -> Any:
    """An argument given as JSON text or as the plain structure."""
    if isinstance(value, str):
        return load_json(value, name)
    return value


def check_since(value: Any) -> tuple[str, int] | None:
    """A ``since`` argument: None, or [epoch, version] of a view the caller holds."""
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not isinstance(value[0], str)
        or isinstance(value[1], bool)
        or not isinstance(value[1], int)
    ):
        raise InvalidTypeError(f"since must be None or [epoch, version], got {value!r:.80}")
    return value[0], value[1]
