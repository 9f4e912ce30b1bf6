"""How our connections receive: a whole message in one read, after polling for a moment.

Pyro5 reads each message in three ``recv`` calls (the first six bytes of the header, the
rest of it, then annotations and data), and Python precedes each with a ``poll`` when the
socket has a timeout. ``BufferedConnection`` is Pyro5's own ``SocketConnection`` with one
change: it reads whatever has arrived, up to 64 KiB at a time, into a buffer and hands
Pyro5 the bytes it asks for from there. Pyro5 still parses every message itself.

On a virtual machine an idle CPU halts, and waking a halted CPU when a packet arrives
costs more than a small call's whole work: on the 2-core development VM a round trip to
a trivial stock Pyro5 object took 110-145 µs when both sides blocked in ``recv`` and about
40 µs when both polled for a moment first (docs/PERFORMANCE.md, "Busy polling"). So with
its buffer empty a connection polls the socket for up to a budget of microseconds before
it blocks (``--busy-poll-us`` on a service, ``CPM_BUSY_POLL_US`` for a client): a client
while the service works on its call, a service's connection while its client prepares
the next one.

What polling costs is bounded: one thread per process polls at a time (the others block at
once), each wait polls for at most the budget, a connection whose polls keep running out
stops polling for a while (``BufferedConnection._poll``), and a budget of 0 turns it off.
A polling thread gives up the GIL at every poll, so the process's other threads run
meanwhile. The socket's timeout is unchanged. Only plain TCP connections are buffered and
poll.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from Pyro5 import errors as pyro_errors
from Pyro5.socketutil import SocketConnection

from services.domain.errors import InvalidInputError

DEFAULT_BUSY_POLL_US = 200
MAX_BUSY_POLL_US = 10_000
ENV_VAR = "CPM_BUSY_POLL_US"
READ_SIZE = 65536
MAX_READ = 1 << 20
# A message longer than this is read into a buffer of its own size only once this much of
# it has come: a header may claim up to Pyro5's MAX_MESSAGE_SIZE and send nothing after.
TRUSTED_SIZE = 8 << 20
MAX_SKIP = 64

# One poller per process: a second waiting thread blocks at once instead of polling too.
_poller_slot = threading.Lock()
_timer = time.perf_counter


def check_budget_us(value: object, source: str) -> int:
    """A busy-poll budget in microseconds, or InvalidInputError naming ``source``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{source} must be a whole number of microseconds, got {value!r}")
    if not 0 <= value <= MAX_BUSY_POLL_US:
        raise InvalidInputError(f"{source} must be between 0 and {MAX_BUSY_POLL_US}, got {value}")
    return value


def budget_from_environment(environ: dict[str, str] | None = None) -> int:
    """The client's budget: ``CPM_BUSY_POLL_US``, or the default when it is unset."""
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_BUSY_POLL_US
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(
            f"{ENV_VAR} must be a whole number of microseconds, got {raw!r}"
        ) from None
    return check_budget_us(value, ENV_VAR)


def await_readable(sock: Any, budget_s: float) -> bool | None:
    """Poll ``sock`` for up to ``budget_s`` seconds: True once it is readable, False when
    the budget ran out first, None when it did not poll (a budget of 0, or another thread
    of this process is polling already); the caller then blocks in ``recv`` as usual."""
    if budget_s <= 0 or not _poller_slot.acquire(blocking=False):
        return None
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        deadline = _timer() + budget_s
        while not poller.poll(0):
            if _timer() >= deadline:
                return False
        return True
    finally:
        _poller_slot.release()


T = TypeVar("T")


def _read(read: Callable[..., T], *args: Any) -> T:
    """``read(*args)``, its timeout and loss raised as the errors Pyro5's own ``recv``
    raises (a plain call: this runs for every message)."""
    try:
        return read(*args)
    except TimeoutError:
        raise pyro_errors.TimeoutError("receiving: timeout") from None
    except OSError as exc:
        raise pyro_errors.ConnectionClosedError(f"receiving: connection lost: {exc}") from None


class BufferedConnection(SocketConnection):
    """Pyro5's ``SocketConnection``, reading whole messages and polling before it blocks.

    A connection Pyro5 made takes this class (see ``buffered``) once its handshake is
    done; ``cpm_buffer`` holds bytes read but not yet handed out.
    """

    cpm_busy_poll_s = 0.0
    cpm_buffer: bytearray
    # Waits to go without polling, and how many the next miss skips (see _poll).
    cpm_skip = 0
    cpm_backoff = 0

    def recv(self, size: int) -> bytes:
        """Exactly ``size`` bytes, as Pyro5's ``recv``; its errors on timeout and loss."""
        buffer = self.cpm_buffer
        if size - len(buffer) > READ_SIZE:
            # Pyro5 takes any bytes-like payload; a bytearray spares a copy of it.
            return self._recv_long(size)  # type: ignore[return-value]
        while len(buffer) < size:
            if not buffer:
                self._poll()
            # At least a read's worth; at most MAX_READ, whatever size a header claims
            # (recv allocates the whole size it is given, even when a byte arrives).
            chunk = _read(self.sock.recv, min(max(READ_SIZE, size - len(buffer)), MAX_READ))
            if not chunk:
                raise pyro_errors.ConnectionClosedError("receiving: not enough data")
            buffer += chunk
        data = bytes(buffer[:size])
        del buffer[:size]
        return data

    def _recv_long(self, size: int) -> bytearray:
        """A long message read straight into one buffer of its size.

        Gathering megabytes in the shared buffer, then copying them out and cutting them
        off, cost 4 ms of a 3.8 MB message's 14 (the validator's inputs at 10,000 miners).
        Nothing past the message is read: the buffer holds only what came before it.
        """
        out = bytearray(min(size, TRUSTED_SIZE))
        got = len(self.cpm_buffer)
        out[:got] = self.cpm_buffer
        self.cpm_buffer.clear()
        if not got:
            self._poll()
        while got < size:
            if got == len(out):  # TRUSTED_SIZE bytes came: the rest will too
                whole = bytearray(size)
                whole[:got] = out
                out = whole
            n = _read(self.sock.recv_into, memoryview(out)[got:])
            if not n:
                raise pyro_errors.ConnectionClosedError("receiving: not enough data")
            got += n
        return out

    def _poll(self) -> None:
        """Poll before blocking, unless polling has stopped paying on this connection.

        A poll that runs out its budget is worse than none: the other side was not about to
        answer, and on a VM whose host has packed both vCPUs onto one CPU, a polling side
        even keeps the other from running (both sides polling after 10 ms pauses made a
        call 420 µs instead of 95). So after each miss the next 1, 2, 4 ... up to
        MAX_SKIP waits block at once; a poll that sees the data in time starts over.
        """
        if self.cpm_skip > 0:
            self.cpm_skip -= 1
            return
        outcome = await_readable(self.sock, self.cpm_busy_poll_s)
        if outcome is False:
            self.cpm_backoff = min(max(1, self.cpm_backoff * 2), MAX_SKIP)
            self.cpm_skip = self.cpm_backoff
        elif outcome:
            self.cpm_backoff = 0


def buffered(conn: Any, budget_us: int) -> bool:
    """Make a Pyro5 connection over plain TCP a ``BufferedConnection`` polling for
    ``budget_us`` (0: not at all); False, and the connection left as it was, for TLS,
    Unix sockets and anything that is not Pyro5's ``SocketConnection``."""
    sock = getattr(conn, "sock", None)
    if type(conn) is not SocketConnection or not isinstance(sock, socket.socket):
        return False
    if hasattr(sock, "getpeercert") or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    conn.__class__ = BufferedConnection
    conn.cpm_buffer = bytearray()
    conn.cpm_busy_poll_s = budget_us / 1e6
    return True
