"""Reaching a Pyro5 name server: its address, a bounded connect and a ping.

Used by clients (to look services up), by the service shells (to register) and by the
launchers; the name server itself lives in ``nameserver/``.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import Pyro5.client
import Pyro5.core
import Pyro5.errors

from services.domain.errors import ServiceUnavailableError


@dataclass(frozen=True)
class NameServerAddress:
    """Where a name server listens."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def ping_nameserver(address: NameServerAddress, timeout_s: float = 1.0) -> bool:
    """True when a Pyro5 name server answers at ``address`` within about ``timeout_s``."""
    try:
        proxy = connect_nameserver(address, timeout_s)
    except ServiceUnavailableError:
        return False
    proxy._pyroRelease()
    return True


def connect_nameserver(address: NameServerAddress, timeout_s: float = 5.0) -> Pyro5.client.Proxy:
    """A proxy bound to the name server at ``address``, else ServiceUnavailableError."""
    # The proxy keeps timeout_s as its call timeout, so a later call cannot hang forever.
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
    deadline = time.monotonic() + timeout_s
    proxy: Pyro5.client.Proxy | None = None
    try:
        proxy = Pyro5.client.Proxy(f"PYRO:{Pyro5.core.NAMESERVER_NAME}@{address}")
        proxy._pyroTimeout = timeout_s
        proxy._pyroBind()
        # Binding may have used most of the budget; the check gets only what is left of it.
        proxy._pyroTimeout = max(deadline - time.monotonic(), 0.05)
        proxy.ping()
    except (Pyro5.errors.PyroError, OSError, AttributeError) as exc:
        if proxy is not None:
            proxy._pyroRelease()
        reason = _describe_failure(exc, timeout_s)
        raise ServiceUnavailableError(
            f"no Pyro5 name server answers at {address} ({reason})"
        ) from exc
    proxy._pyroTimeout = timeout_s
    return proxy


def _describe_failure(exc: BaseException, timeout_s: float) -> str:
    """A short reason for a failed contact, from the most telling error in the chain."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for error in chain:
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, (TimeoutError, Pyro5.errors.TimeoutError)):
            return f"no answer within {timeout_s:g} s"
        if isinstance(error, socket.gaierror):
            return f"unknown host: {error.strerror}"
    for error in chain:
        if isinstance(error, Pyro5.errors.ProtocolError):
            return "not a Pyro5 server"
        if isinstance(error, Pyro5.errors.ConnectionClosedError):
            return "connection closed by the peer"
        if isinstance(error, AttributeError):
            return "not a name server"
        # A Pyro5 daemon without the name server object rejects the handshake.
        if isinstance(error, Pyro5.errors.CommunicationError) and "rejected:" in str(error):
            return f"not a name server: {str(error).split('rejected:', 1)[1].strip()}"
        if isinstance(error, OSError) and error.strerror:
            return error.strerror[:1].lower() + error.strerror[1:]
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text
