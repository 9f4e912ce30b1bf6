"""Limits on a connection until its handshake is accepted: one deadline for the whole
handshake, and a budget of bytes.

Pyro5 reads a connection's first message before any hook of ours runs, with its socket
timeout restarting at every byte, and up to the 64 MiB message limit. So a daemon of ours
has its listening socket hand out ``GuardedSocket``s: until the daemon accepts the
handshake (``open_connection``), each receive waits at most for what is left of the
handshake deadline, and all of them together get at most ``max_bytes``. A client that
trickles a byte a second is dropped at the deadline; one that sends a huge handshake is
dropped after ``max_bytes``, never buffered whole. When every worker is busy, Pyro5 reads
the turned-away client's handshake on its accept loop before answering "no free workers",
so that client gets at most ``FULL_POOL_DEADLINE_S`` for it, and the answer comes within it.
Once the handshake is accepted, the socket behaves as any other. A TLS listener hands out
``GuardedTLSSocket``s whose TLS handshake runs on their first read, within the same
deadline, instead of inside ``accept`` on Pyro5's accept loop.
"""

from __future__ import annotations

import socket
import ssl
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from Pyro5 import config as pyro_config

FULL_POOL_DEADLINE_S = 1.0
# Told of each connection dropped before its handshake: (reason, peer address).
DropListener = Callable[[str, str], None]


class _HandshakeLimits:
    """The limits a connection is held to until its handshake is accepted (``cpm_open``).

    No ``__slots__`` here: with them it could not be mixed into ``socket.socket``."""

    cpm_deadline: float
    cpm_budget: int
    cpm_open: bool
    cpm_on_drop: DropListener | None

    def _limited(self, read: Callable[[int], bytes], bufsize: int) -> bytes:
        """``read(n)`` within what is left of the deadline and of the byte budget."""
        left = self.cpm_deadline - time.monotonic()
        if left <= 0:
            self._dropped("slow")
            raise TimeoutError("the handshake was not completed within its deadline")
        if self.cpm_budget <= 0:
            self._dropped("large")
            raise ConnectionAbortedError("the handshake is larger than this service accepts")
        self.settimeout(left)  # type: ignore[attr-defined]
        try:
            data = read(min(bufsize, self.cpm_budget))
        except TimeoutError:
            self._dropped("slow")
            raise
        self.cpm_budget -= len(data)
        return data

    def _dropped(self, reason: str) -> None:
        """Tell the listener once that this connection is dropped, and why."""
        listener, self.cpm_on_drop = self.cpm_on_drop, None
        if listener is not None:
            listener(reason, peer_address(self))


class GuardedSocket(_HandshakeLimits, socket.socket):
    """A connection's socket, held to its handshake's deadline and byte budget until opened."""

    __slots__ = ("cpm_budget", "cpm_deadline", "cpm_on_drop", "cpm_open")

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """``socket.recv``; before the handshake is accepted, within its limits."""
        if self.cpm_open:
            return super().recv(bufsize, flags)
        return self._limited(lambda n: socket.socket.recv(self, n, flags), bufsize)


class GuardedTLSSocket(_HandshakeLimits, ssl.SSLSocket):
    """A TLS connection whose TLS handshake runs on its first read, in the worker that
    serves it, and counts against the handshake's deadline with the Pyro5 handshake."""

    cpm_tls_done = False

    def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes:
        """``SSLSocket.recv``; before the handshake is accepted, within its limits."""
        if self.cpm_open:
            return super().recv(bufsize, flags)
        return self._limited(self._tls_read, bufsize)

    def _tls_read(self, size: int) -> bytes:
        if not self.cpm_tls_done:
            self.do_handshake()  # bounded as a whole by the timeout _limited set
            self.cpm_tls_done = True
            left = self.cpm_deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the TLS handshake took the whole deadline")
            self.settimeout(left)
        return ssl.SSLSocket.recv(self, size)


def peer_address(sock: Any) -> str:
    """``host:port`` of a connected socket's peer, for a log line."""
    try:
        host, port = sock.getpeername()[:2]
    except (OSError, AttributeError, ValueError):
        return "an unknown peer"
    return f"{host}:{port}"


@dataclass(frozen=True)
class _Limits:
    deadline_s: float
    max_bytes: int
    has_free_worker: Callable[[], bool]
    on_drop: DropListener | None


_LIMITS: weakref.WeakKeyDictionary[socket.socket, _Limits] = weakref.WeakKeyDictionary()


def _arm(sock: _HandshakeLimits, limits: _Limits) -> None:
    """Start ``sock``'s handshake limits: its deadline from now."""
    deadline_s = limits.deadline_s
    if not limits.has_free_worker():
        deadline_s = min(deadline_s, FULL_POOL_DEADLINE_S)
    sock.cpm_open = False
    sock.cpm_on_drop = limits.on_drop
    sock.cpm_budget = limits.max_bytes
    sock.cpm_deadline = time.monotonic() + deadline_s


class GuardingListener(socket.socket):
    """A listening socket whose accepted connections are ``GuardedSocket``s."""

    __slots__ = ()

    def accept(self) -> tuple[socket.socket, Any]:
        """``socket.accept``, handing out a GuardedSocket with the listener's limits."""
        fd, address = self._accept()  # type: ignore[attr-defined]
        sock = GuardedSocket(self.family, self.type, self.proto, fileno=fd)
        if socket.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        _arm(sock, _LIMITS[self])
        return sock, address


class GuardingTLSListener(ssl.SSLSocket):
    """A TLS listening socket that leaves each TLS handshake to the connection's worker.

    ``SSLSocket.accept`` runs the TLS handshake itself, on Pyro5's accept loop and without
    a deadline: one client that opens a TCP connection and sends nothing stops every later
    client from connecting. This one only accepts the TCP connection; the TLS handshake
    runs on the first read, within the handshake's deadline (``GuardedTLSSocket``).
    """

    def accept(self) -> tuple[ssl.SSLSocket, Any]:
        """The TCP connection, wrapped for TLS with the handshake still to come."""
        raw, address = socket.socket.accept(self)
        tls = self.context.wrap_socket(
            raw,
            server_side=True,
            do_handshake_on_connect=False,
            suppress_ragged_eofs=self.suppress_ragged_eofs,  # type: ignore[attr-defined]
        )
        tls.__class__ = GuardedTLSSocket  # an SSLSocket with no new slots
        assert isinstance(tls, GuardedTLSSocket)
        _arm(tls, _LIMITS[self])
        return tls, address


def guard_handshakes(
    transport_server: Any,
    deadline_s: float,
    max_bytes: int,
    on_drop: DropListener | None = None,
) -> bool:
    """Give ``transport_server`` (a Pyro5 daemon's ``transportServer``) these limits on
    every connection until its handshake is accepted (over TLS, the TLS handshake too);
    False when its socket cannot be guarded (a Unix socket, or a class of socket this
    does not know), which then keeps Pyro5's own behaviour. ``on_drop`` hears of each
    connection dropped: its reason ("slow", "large") and its peer."""
    sock = getattr(transport_server, "sock", None)
    if not isinstance(sock, socket.socket) or type(sock) not in (socket.socket, ssl.SSLSocket):
        return False
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    pool = getattr(transport_server, "pool", None)

    def has_free_worker() -> bool:
        if pool is None:
            return True
        return bool(pool.idle) or pool.num_workers() < pyro_config.THREADPOOL_SIZE

    _LIMITS[sock] = _Limits(deadline_s, max_bytes, has_free_worker, on_drop)
    # The same layout: no new slots on socket.socket or on ssl.SSLSocket.
    sock.__class__ = GuardingTLSListener if isinstance(sock, ssl.SSLSocket) else GuardingListener
    return True


def open_connection(conn: Any) -> None:
    """The daemon accepted ``conn``'s handshake: lift the limits."""
    sock = getattr(conn, "sock", None)
    if isinstance(sock, _HandshakeLimits):
        sock.cpm_open = True
