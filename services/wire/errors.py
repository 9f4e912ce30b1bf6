"""The error table, used in both directions.

Only built-in exceptions cross the wire (serpent and every other Pyro5 serializer know
them), so a service raises ``to_builtin_error(exc)`` for each of the project's errors and a
client turns what arrives back into the project's tree with ``from_wire_error``. One table
serves both; its order matters, since ``InvalidTypeError`` is an ``InvalidInputError`` and
``ConnectionError`` and ``PermissionError`` are ``OSError``\\s.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import Pyro5.errors

from services.domain.errors import (
    AuthenticationError,
    CpmError,
    InvalidInputError,
    InvalidTypeError,
    RemoteError,
    ServiceUnavailableError,
    StateWriteError,
)
from services.wire.session import guarded

F = TypeVar("F", bound=Callable[..., Any])

# (the project's error, the built-in exception that carries it), most specific first.
ERROR_TABLE: tuple[tuple[type[CpmError], type[Exception]], ...] = (
    (InvalidTypeError, TypeError),
    (InvalidInputError, ValueError),
    (AuthenticationError, PermissionError),
    (ServiceUnavailableError, ConnectionError),
    (StateWriteError, OSError),
)


def to_builtin_error(exc: CpmError) -> Exception:
    """The built-in exception that carries ``exc`` across the wire."""
    for ours, builtin in ERROR_TABLE:
        if isinstance(exc, ours):
            return builtin(str(exc))
    return RuntimeError(str(exc))


def from_wire_error(exc: BaseException) -> BaseException:
    """The project's exception for an error a service call raised (remote or local)."""
    if isinstance(exc, CpmError):
        return exc
    message = str(exc)
    if isinstance(exc, Pyro5.errors.SecurityError):
        return AuthenticationError(message)
    if isinstance(exc, Pyro5.errors.CommunicationError):
        return ServiceUnavailableError(message)
    for ours, builtin in ERROR_TABLE:
        if isinstance(exc, builtin):
            return ours(message)
    return RemoteError(f"{type(exc).__name__}: {message}")


def rpc(method: F) -> F:
    """The service boundary: the project's errors become built-in ones, and on an
    authenticated connection each call is checked and its reply sealed (``wire.session``)."""

    name = method.__name__

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            try:
                return method(*args, **kwargs)
            except CpmError as exc:
                raise to_builtin_error(exc) from None

        # Over an authenticated connection the request is checked and the reply sealed.
        return guarded(name, run, args[1:], kwargs)

    wrapper.cpm_rpc = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
