"""Running a service: the Pyro5 daemon, its name-server registration, and a clean stop.

The registration itself (``NameRegistration``, ``ServiceInfo``) is in
``services.shells.registration``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from Pyro5.api import Daemon

from services.domain.errors import AuthenticationError
from services.shells.registration import NameRegistration, ServiceInfo
from services.wire.auth import ClientVerifier
from services.wire.busy_poll import buffered
from services.wire.handshake_guard import guard_handshakes, open_connection, peer_address
from services.wire.naming import NameServerAddress
from services.wire.serializers import (
    HANDSHAKE_DEADLINE_S,
    HANDSHAKE_MAX_BYTES,
    connection_closed,
    handshake_accepted,
    handshake_budget,
    serves_handshakes,
)
from services.wire.session import open_session, reply_annotations

log = logging.getLogger(__name__)


class CpmDaemon(Daemon):
    """A Pyro5 daemon that, given a verifier, admits only clients that prove the auth token."""

    def __init__(
        self,
        *,
        verifier: ClientVerifier | None = None,
        idle_timeout_s: float | None = None,
        handshake_timeout_s: float = HANDSHAKE_DEADLINE_S,
        handshake_max_bytes: int = HANDSHAKE_MAX_BYTES,
        busy_poll_us: int = 0,
        **kwargs: Any,
    ) -> None:
        self._verifier = verifier
        # Until its handshake is accepted a connection is held to the guard's limits
        # (below); then its socket gets the idle timeout.
        self._idle_timeout_s = idle_timeout_s
        # Told of each refused connection, and of each one dropped before its handshake
        # with the reason (the metrics count them).
        self.on_refused: Callable[[], object] | None = None
        self.on_dropped: Callable[[str], object] | None = None
        self._drops = DropLog()
        super().__init__(**kwargs)
        # The whole handshake within its deadline, and its raw bytes within a budget
        # (twice what the serializers decode, so a slightly large one is told why).
        guard_handshakes(
            self.transportServer,
            handshake_timeout_s,
            handshake_budget(handshake_max_bytes),
            self._dropped,
        )
        self._busy_poll_us = busy_poll_us

    def validateHandshake(self, conn: Any, data: Any) -> Any:
        """Check the client's proof; the answer carries the service's own proof."""
        if self._verifier is None:
            answer = super().validateHandshake(conn, data)
        else:
            answer, key = self._check(conn, data)
            # Every later call on this connection must be authenticated under the key.
            open_session(conn, key)
        open_connection(conn)
        # From now on the connection reads whole messages, polling before it blocks.
        buffered(conn, self._busy_poll_us)
        if self._idle_timeout_s is not None:
            conn.sock.settimeout(self._idle_timeout_s)
        handshake_accepted()
        return answer

    def clientDisconnect(self, conn: Any) -> None:
        """Pyro5's hook when a connection ends: its worker thread starts afresh."""
        connection_closed()
        super().clientDisconnect(conn)

    def _dropped(self, reason: str, peer: str) -> None:
        self._drops.dropped(reason, peer)
        if self.on_dropped is not None:
            self.on_dropped(reason)

    def annotations(self) -> dict[str, bytes]:
        """Pyro5's hook for each reply's annotations: the reply's MAC on a session."""
        return reply_annotations()

    def _check(self, conn: Any, data: Any) -> tuple[dict[str, str], bytes]:
        try:
            return self._verifier.answer(data)  # type: ignore[union-attr]
        except AuthenticationError as exc:
            log.warning("refused a connection from %s: %s", peer_address(conn.sock), exc)
            if self.on_refused is not None:
                self.on_refused()
            raise


class DropLog:
    """Connections dropped before their handshake, logged without flooding: the first at
    once, then at most one line a minute with the count of each reason since."""

    INTERVAL_S = 60.0
    WHY = {"slow": "too slow", "large": "too large"}

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._since: dict[str, int] = {}

    def dropped(self, reason: str, peer: str) -> None:
        """One connection from ``peer`` dropped for ``reason``."""
        with self._lock:
            now = self._clock()
            self._since[reason] = self._since.get(reason, 0) + 1
            if self._last is not None and now - self._last < self.INTERVAL_S:
                return
            counts, self._since = self._since, {}
            first = self._last is None
            self._last = now
        if first:
            log.warning(
                "dropped a connection from %s before its handshake: %s",
                peer,
                self.WHY.get(reason, reason),
            )
        else:
            summary = ", ".join(f"{self.WHY.get(r, r)}: {n}" for r, n in sorted(counts.items()))
            log.warning(
                "dropped connections before their handshake since the last line (%s)", summary
            )


class ServiceHost:
    """A daemon serving one object, registered by name; ``stop()`` undoes it all."""

    def __init__(
        self,
        obj: object,
        info: ServiceInfo,
        *,
        host: str,
        port: int,
        ns_address: NameServerAddress,
        auth_token: str | None = None,
        idle_timeout_s: float | None = None,
        handshake_timeout_s: float = HANDSHAKE_DEADLINE_S,
        handshake_max_bytes: int = HANDSHAKE_MAX_BYTES,
        busy_poll_us: int = 0,
    ) -> None:
        verifier = None if not auth_token else ClientVerifier(auth_token, info.name)
        self.daemon = CpmDaemon(
            host=host,
            port=port,
            verifier=verifier,
            idle_timeout_s=idle_timeout_s,
            handshake_timeout_s=handshake_timeout_s,
            handshake_max_bytes=handshake_max_bytes,
            busy_poll_us=busy_poll_us,
        )
        self.uri = str(self.daemon.register(obj, objectId=info.name))
        self.registration = NameRegistration(ns_address, info, self.uri)
        self._loop = threading.Thread(target=self._serve, name="pyro-daemon", daemon=True)

    def _serve(self) -> None:
        serves_handshakes()
        self.daemon.requestLoop()

    @property
    def location(self) -> str:
        """host:port the daemon listens on."""
        return str(self.daemon.locationStr)

    def start(self) -> None:
        """Serve requests and register the name."""
        self._loop.start()
        self.registration.start()

    def stop(self) -> None:
        """Unregister, then stop serving."""
        self.registration.stop()
        self.daemon.shutdown()
        self._loop.join(timeout=5)
