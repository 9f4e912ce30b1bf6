"""What crosses the wire: errors as built-in exceptions, large values as JSON text.

Serpent decodes with ``ast.literal_eval``, whose cost grows with the number of nodes, so
every value that grows with the number of miners or reasons travels as one JSON string
(decoded by C code on the other side). Arguments of that kind are accepted either as a
JSON string or as the plain structure, so any Pyro5 client can call the service.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from services.errors import (
    AuthenticationError,
    CpmError,
    InvalidInputError,
    InvalidTypeError,
    ServiceUnavailableError,
    StateWriteError,
)

F = TypeVar("F", bound=Callable[..., Any])


MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def dumps(value: Any) -> str:
    """Compact JSON text."""
    return json.dumps(value, separators=(",", ":"))


def dumps_arg(value: Any, name: str) -> str:
    """JSON text of an argument, refused when the service would refuse its message."""
    text = dumps(value)
    if len(text) > MAX_MESSAGE_BYTES:
        raise InvalidInputError(
            f"{name} is {len(text) / 2**20:.0f} MiB as a message; the limit is "
            f"{MAX_MESSAGE_BYTES // 2**20} MiB: send it in parts"
        )
    return text


def loads_arg(value: Any, name: str) -> Any:
    """An argument given as JSON text or as the plain structure."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{name} is not valid JSON: {exc}") from None
    return value


def one_line_json(value: Any) -> str | None:
    """``value`` when it is JSON text on one line (fit for a journal line), else None."""
    if isinstance(value, str) and "\n" not in value and "\r" not in value:
        return value
    return None


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


def to_builtin_error(exc: CpmError) -> Exception:
    """The built-in exception that carries ``exc`` across the wire (serpent knows builtins)."""
    message = str(exc)
    if isinstance(exc, InvalidTypeError):
        return TypeError(message)
    if isinstance(exc, InvalidInputError):
        return ValueError(message)
    if isinstance(exc, AuthenticationError):
        return PermissionError(message)
    if isinstance(exc, ServiceUnavailableError):
        return ConnectionError(message)
    if isinstance(exc, StateWriteError):
        return OSError(message)
    return RuntimeError(message)


def rpc(method: F) -> F:
    """Turn the project's errors into built-in ones at the service boundary."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except CpmError as exc:
            raise to_builtin_error(exc) from None

    return wrapper  # type: ignore[return-value]
