"""The Pyro5 name server through which clients find the services by name.

``EmbeddedNameServer`` runs Pyro5's own ``NameServerDaemon`` in a background thread (used
by ``cpm-nameserver``, ``cpm-stack`` and the tests); ``services.wire.naming`` reaches any
Pyro5 name server, embedded or not. Nothing here touches
``Pyro5.config``: the defaults Pyro5 ships with are what every part of the project expects.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from types import TracebackType
from typing import Any

import Pyro5.client
import Pyro5.core
import Pyro5.errors
import Pyro5.nameserver
import Pyro5.server
from Pyro5.callcontext import current_context

from services.domain.errors import AuthenticationError
from services.shells.hosting import DropLog
from services.wire.auth import NameChangeVerifier
from services.wire.handshake_guard import guard_handshakes, open_connection
from services.wire.naming import NameServerAddress
from services.wire.serializers import (
    HANDSHAKE_DEADLINE_S,
    HANDSHAKE_MAX_BYTES,
    handshake_budget,
    serves_handshakes,
)

__all__ = ["EmbeddedNameServer", "parse_storage"]

log = logging.getLogger(__name__)


def parse_storage(text: str) -> str:
    """Validate a ``--storage`` value (``memory`` or ``sql:PATH``) and return it."""
    if text == "memory":
        return text
    # Pyro5's SqlStorage refuses sqlite's ":memory:" database, so refuse it here, early.
    if text.startswith("sql:") and text[4:] not in ("", ":memory:"):
        return text
    raise ValueError(f"--storage must be 'memory' or 'sql:PATH', got {text!r}")


@Pyro5.server.expose
class GuardedNameServer(Pyro5.nameserver.NameServer):
    """Pyro5's name server, taking registrations and removals only with the token's proof.

    Lookups and listing stay open, so ``pyro5-nsc`` and any Pyro5 client still work; only
    changing a name needs the proof (``services.wire.auth``), so no process without the
    token can take over, replace or remove a service's name.
    """

    def __init__(self, storage: Any, verifier: NameChangeVerifier) -> None:
        super().__init__(storage)
        self._verifier = verifier

    def _require(self, op: str, name: str) -> None:
        try:
            self._verifier.check(current_context.annotations, op, name)
        except AuthenticationError as exc:
            log.warning("%s", exc)
            raise PermissionError(str(exc)) from None

    def register(self, name: Any, uri: Any, safe: bool = False, metadata: Any = None) -> Any:
        """Register ``name`` when the call proves the token."""
        self._require("register", str(name))
        return super().register(name, uri, safe, metadata)

    def set_metadata(self, name: Any, metadata: Any) -> Any:
        """Change ``name``'s metadata when the call proves the token."""
        self._require("register", str(name))
        return super().set_metadata(name, metadata)

    def remove(self, name: Any = None, prefix: Any = None, regex: Any = None) -> Any:
        """Remove names when the call proves the token."""
        self._require("remove", str(name if name is not None else prefix or regex))
        return super().remove(name, prefix, regex)


class _NameServerDaemon(Pyro5.nameserver.NameServerDaemon):
    """Pyro5's name server daemon, remembering its client connections so stop() can end them."""

    nameserver: Any  # set by Pyro5's __init__

    def __init__(self, host: str, port: int, storage: str, auth_token: str | None = None) -> None:
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        self._dropping = False
        super().__init__(host, port, storage=storage)
        guard_handshakes(
            self.transportServer,
            HANDSHAKE_DEADLINE_S,
            handshake_budget(HANDSHAKE_MAX_BYTES),
            DropLog().dropped,
        )
        if auth_token:
            # The same storage behind a guarded object, registered in the original's place.
            guarded = GuardedNameServer(self.nameserver.storage, NameChangeVerifier(auth_token))
            self.unregister(Pyro5.core.NAMESERVER_NAME)
            self.register(guarded, Pyro5.core.NAMESERVER_NAME)
            self.nameserver = guarded

    # validateHandshake / clientDisconnect: Pyro5's hook names, hence camelCase.
    def validateHandshake(self, conn: Any, data: Any) -> Any:
        with self._connections_lock:
            # A client accepted just before shutdown must not slip past drop_connections.
            if self._dropping:
                raise Pyro5.errors.CommunicationError("name server is stopping")
            self._connections.add(conn)
        answer = super().validateHandshake(conn, data)
        open_connection(conn)
        return answer

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

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        storage: str = "memory",
        auth_token: str | None = None,
    ) -> None:
        # Listening once this returns. Raises OSError when the address cannot be bound and
        # sqlite3.Error when an sql storage cannot be opened: launchers map them to exit codes.
        # With ``auth_token``, names change only with its proof (GuardedNameServer).
        self._storage = parse_storage(storage)
        self._daemon = _NameServerDaemon(host, port, self._storage, auth_token)
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
        serves_handshakes()
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
