"""Waiting for the next message by polling the socket for a moment before blocking.

On a virtual machine an idle CPU halts, and waking a halted CPU when a packet arrives
costs more than a whole call's work: on the 2-core development VM a round trip to a
trivial stock Pyro5 object took 110-145 µs when both sides blocked in ``recv`` and about
40 µs when both polled for a moment first (docs/PERFORMANCE.md, "Busy polling"). So a
socket of ours, before it blocks in ``recv``, polls for up to a budget of microseconds
(``--busy-poll-us`` on a service, ``CPM_BUSY_POLL_US`` for a client): a client while the
service works on its call, a service's worker while its client prepares the next one.

What it costs is bounded: one thread per process polls at a time (the others block at
once), each wait polls for at most the budget, and a budget of 0 turns it off. A polling
thread gives up the GIL at every poll, so the process's other threads run meanwhile. The
socket's own timeout and everything Pyro5 does after ``recv`` are unchanged.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from functools import cache

from services.domain.errors import InvalidInputError

DEFAULT_BUSY_POLL_US = 200
MAX_BUSY_POLL_US = 10_000
ENV_VAR = "CPM_BUSY_POLL_US"

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


def await_readable(sock: socket.socket, budget_s: float) -> bool:
    """Poll ``sock`` for up to ``budget_s`` seconds; True once it is readable.

    False without polling when the budget is 0 or another thread of this process is
    polling already; the caller then blocks in ``recv`` as it would have anyway.
    """
    if budget_s <= 0 or not _poller_slot.acquire(blocking=False):
        return False
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


class BusyPollingSocket(socket.socket):
    """A connected socket whose ``recv`` polls for ``cpm_busy_poll_s`` before blocking.

    It adds no slots, so a socket made elsewhere (by Pyro5's proxy) can take this class
    (see ``busy_polling``); the budget is a class attribute of a subclass per budget.
    """

    __slots__ = ()
    cpm_busy_poll_s = 0.0

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """``socket.recv``, after polling for a moment when nothing has arrived yet."""
        await_readable(self, self.cpm_busy_poll_s)
        return super().recv(bufsize, flags)


@cache
def _class_for(budget_us: int) -> type[BusyPollingSocket]:
    return type(
        "BusyPollingSocket",
        (BusyPollingSocket,),
        {"__slots__": (), "cpm_busy_poll_s": budget_us / 1e6},
    )


def busy_polling(sock: object, budget_us: int) -> bool:
    """Make a plain connected TCP socket poll for ``budget_us`` before it blocks in
    ``recv``; False (and the socket left as it was) for TLS, Unix and other sockets, or
    a budget of 0."""
    if budget_us <= 0 or type(sock) is not socket.socket:
        return False
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    sock.__class__ = _class_for(budget_us)  # same layout: socket.socket with no new slots
    return True
