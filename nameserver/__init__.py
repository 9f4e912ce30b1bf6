"""The Pyro5 name server through which clients find the services by name.

``EmbeddedNameServer`` runs Pyro5's own ``NameServerDaemon`` in a background thread (used
by ``cpm-nameserver``, ``cpm-stack`` and the tests); ``ping_nameserver`` and
``connect_nameserver`` reach any Pyro5 name server, embedded or not. Nothing here touches
``Pyro5.config``: the defaults Pyro5 ships with are what every part of the project expects.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import Pyro5.client
import Pyro5.core
import Pyro5.errors
import Pyro5.nameserver

from services.errors import ServiceUnavailableError

__all__ = [
    "EmbeddedNameServer",
    "NameServerAddress",
    "connect_nameserver",
    "parse_storage",
    "ping_nameserver",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NameServerAddress:
    """Where a name server listens."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_storage(text: str) -> str:
    """Validate a ``--storage`` value (``memory`` or ``sql:PATH``) and return it."""
    if text == "memory":
        return text
    # Pyro5's SqlStorage refuses sqlite's ":memory:" database, so refuse it here, early.
    if text.startswith("sql:") and text[4:] not in ("", ":memory:"):
        return text
    raise ValueError(f"--storage must be 'memory' or 'sql:PATH', got {text!r}")


class _NameServerDaemon(Pyro5.nameserver.NameServerDaemon):
    """Pyro5's name server daemon, remembering its client connections so stop() can end them."""

    def __init__(self, host: str, port: int, storage: str) -> None:
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        self._dropping = False
        super().__init__(host, port, storage=storage)

    # validateHandshake / clientDisconnect: Pyro5's hook names, hence camelCase.
    def validateHandshake(self, conn: Any, data: Any) -> Any:
        with self._connections_lock:
            # A client accepted just before shutdown must not slip past drop_connections.
            if self._dropping:
                raise Pyro5.errors.CommunicationError("name server is stopping")
            self._connections.add(conn)
        return super().validateHandshake(conn, data)

    def clientDisconnect(self, conn: Any) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def drop_connections(self) -> None:
        """Wake every worker blocked on a client so a stopped server answers nobody."""
        with self._connections_lock:
            self._dropping = True
            connections = list(self._connections)
        for conn in connections:
            # shutdown, not close: the worker thread owns the socket and closes it itself
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)


class EmbeddedNameServer:
    """A real Pyro5 name server (no broadcast responder) serving from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, storage: str = "memory") -> None:
        # Listening once this returns. Raises OSError when the address cannot be bound and
        # sqlite3.Error when an sql storage cannot be opened: launchers map them to exit codes.
        self._storage = parse_storage(storage)
        self._daemon = _NameServerDaemon(host, port, self._storage)
        bound_port = int(self._daemon.sock.getsockname()[1])
        self._address = NameServerAddress(host, bound_port)
        self._uri = str(self._daemon.uriFor(self._daemon.nameserver))
        self._stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._serve, name=f"nameserver-{self._address}", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> NameServerAddress:
        """The host and the bound port (the real one when 0 was asked for)."""
        return self._address

    @property
    def uri(self) -> str:
        """The name server's own URI, ``PYRO:Pyro.NameServer@host:port``."""
        return self._uri

    @property
    def storage(self) -> str:
        """The storage in use: ``memory`` or ``sql:PATH``."""
        return self._storage

    @property
    def running(self) -> bool:
        """True until stop() is called or the request loop dies."""
        return self._thread.is_alive() and not self._stopping.is_set()

    def _serve(self) -> None:
        try:
            # Our own loop condition too: a stop() racing the start of requestLoop (which
            # clears Pyro5's shutdown flag) must still end the loop.
            self._daemon.requestLoop(loopCondition=lambda: not self._stopping.is_set())
        except Exception:
            if not self._stopping.is_set():
                log.exception("name server request loop at %s failed", self._address)

    def stop(self) -> None:
        """Stop serving, close the storage and wait for the thread; safe to call twice."""
        with self._stop_lock:
            if not self._stopping.is_set():
                self._stopping.set()
                self._daemon.shutdown()
                self._daemon.drop_connections()
            self._thread.join()

    def __enter__(self) -> EmbeddedNameServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


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
