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
Once the handshake is accepted, the socket behaves as any other.
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


class GuardedSocket(socket.socket):
    """A connection's socket, held to its handshake's deadline and byte budget until opened."""

    __slots__ = ("cpm_budget", "cpm_deadline", "cpm_on_drop", "cpm_open")
    cpm_deadline: float
    cpm_budget: int
    cpm_open: bool
    cpm_on_drop: DropListener | None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """``socket.recv``; before the handshake is accepted, within its limits."""
        if self.cpm_open:
            return super().recv(bufsize, flags)
        left = self.cpm_deadline - time.monotonic()
        if left <= 0:
            self._dropped("slow")
            raise TimeoutError("the handshake was not completed within its deadline")
        if self.cpm_budget <= 0:
            self._dropped("large")
            raise ConnectionAbortedError("the handshake is larger than this service accepts")
        self.settimeout(left)
        try:
            data = super().recv(min(bufsize, self.cpm_budget), flags)
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


class GuardingListener(socket.socket):
    """A listening socket whose accepted connections are ``GuardedSocket``s."""

    __slots__ = ()

    def accept(self) -> tuple[socket.socket, Any]:
        """``socket.accept``, handing out a GuardedSocket with the listener's limits."""
        fd, address = self._accept()  # type: ignore[attr-defined]
        sock = GuardedSocket(self.family, self.type, self.proto, fileno=fd)
        if socket.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        limits = _LIMITS[self]
        deadline_s = limits.deadline_s
        if not limits.has_free_worker():
            deadline_s = min(deadline_s, FULL_POOL_DEADLINE_S)
        sock.cpm_open = False
        sock.cpm_on_drop = limits.on_drop
        sock.cpm_budget = limits.max_bytes
        sock.cpm_deadline = time.monotonic() + deadline_s
        return sock, address


def guard_handshakes(
    transport_server: Any,
    deadline_s: float,
    max_bytes: int,
    on_drop: DropListener | None = None,
) -> bool:
    """Give ``transport_server`` (a Pyro5 daemon's ``transportServer``) these limits on
    every connection until its handshake is accepted; False when its socket cannot be
    guarded (TLS, or a Unix socket), which then keeps Pyro5's own behaviour. ``on_drop``
    hears of each connection dropped: its reason ("slow", "large") and its peer."""
    sock = getattr(transport_server, "sock", None)
    if type(sock) is not socket.socket or isinstance(sock, ssl.SSLSocket):
        return False
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    pool = getattr(transport_server, "pool", None)

    def has_free_worker() -> bool:
        if pool is None:
            return True
        return bool(pool.idle) or pool.num_workers() < pyro_config.THREADPOOL_SIZE

    _LIMITS[sock] = _Limits(deadline_s, max_bytes, has_free_worker, on_drop)
    sock.__class__ = GuardingListener  # same layout: socket.socket with no new slots
    return True


def open_connection(conn: Any) -> None:
    """The daemon accepted ``conn``'s handshake: lift the limits."""
    sock = getattr(conn, "sock", None)
    if isinstance(sock, GuardedSocket):
        sock.cpm_open = True
