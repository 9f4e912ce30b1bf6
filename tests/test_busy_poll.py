"""Buffered, polling connections: the budget, its bounds, whole messages for Pyro5's own
reader, and Pyro5's own client and daemon talking to ours."""

from __future__ import annotations

import itertools
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from Pyro5 import errors as pyro_errors
from Pyro5 import protocol
from Pyro5.api import Proxy, expose
from Pyro5.callcontext import current_context
from Pyro5.socketutil import SocketConnection

from services.domain.errors import InvalidInputError
from services.wire import busy_poll
from services.wire.busy_poll import (
    DEFAULT_BUSY_POLL_US,
    BufferedConnection,
    await_readable,
    budget_from_environment,
    buffered,
)

pytestmark = pytest.mark.timeout(30)


def test_the_budget_comes_from_the_environment_or_is_the_default() -> None:
    assert budget_from_environment({}) == DEFAULT_BUSY_POLL_US
    assert budget_from_environment({"CPM_BUSY_POLL_US": " "}) == DEFAULT_BUSY_POLL_US
    assert budget_from_environment({"CPM_BUSY_POLL_US": "0"}) == 0
    assert budget_from_environment({"CPM_BUSY_POLL_US": "350"}) == 350


@pytest.mark.parametrize("raw", ["fast", "1.5", "-1", "10001"])
def test_a_bad_budget_is_an_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(InvalidInputError, match="CPM_BUSY_POLL_US"):
        budget_from_environment({"CPM_BUSY_POLL_US": raw})


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_polling_ends_as_soon_as_data_arrives(pair: tuple[socket.socket, socket.socket]) -> None:
    reader, writer = pair
    timer = threading.Timer(0.01, writer.send, args=(b"x",))
    start = time.monotonic()
    timer.start()
    assert await_readable(reader, 5.0)
    assert time.monotonic() - start < 2.0
    timer.join()


def test_polling_gives_up_after_its_budget(pair: tuple[socket.socket, socket.socket]) -> None:
    start = time.monotonic()
    assert not await_readable(pair[0], 0.02)
    assert 0.02 <= time.monotonic() - start < 2.0


def test_a_budget_of_zero_does_not_poll(pair: tuple[socket.socket, socket.socket]) -> None:
    pair[1].send(b"x")
    assert not await_readable(pair[0], 0.0)


def test_one_thread_polls_at_a_time(pair: tuple[socket.socket, socket.socket]) -> None:
    """While one thread polls, another blocks at once instead of spinning beside it."""
    other_reader, other_writer = socket.socketpair()
    try:
        polling = threading.Thread(target=await_readable, args=(other_reader, 10.0))
        polling.start()
        deadline = time.monotonic() + 5
        while not busy_poll._poller_slot.locked():
            assert time.monotonic() < deadline, "the first thread never started polling"
            time.sleep(0.001)
        start = time.monotonic()
        assert not await_readable(pair[0], 10.0)
        assert time.monotonic() - start < 1.0
        other_writer.send(b"x")
        polling.join(timeout=5)
        assert not polling.is_alive()
    finally:
        other_reader.close()
        other_writer.close()


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
    return client, server


def _message(seq: int, data: bytes) -> bytes:
    return protocol.SendingMessage(protocol.MSG_RESULT, 0, seq, 4, data).data


def test_only_pyro5_connections_over_plain_tcp_are_buffered() -> None:
    unix_a, unix_b = socket.socketpair()
    client, server = _tcp_pair()
    try:
        unix_conn = SocketConnection(unix_a)
        assert not buffered(unix_conn, 200)
        assert type(unix_conn) is SocketConnection
        assert not buffered(object(), 200)
        conn = SocketConnection(client)
        assert buffered(conn, 200)
        assert isinstance(conn, BufferedConnection)
        assert conn.cpm_busy_poll_s == pytest.approx(200e-6)
    finally:
        for sock in (unix_a, unix_b, client, server):
            sock.close()


def test_a_buffered_connection_hands_pyro5_each_message_whole() -> None:
    """Two messages in one segment, then one trickled in pieces, then one of 3 MB: Pyro5's
    own reader gets each whole, in order."""
    client, server = _tcp_pair()
    try:
        conn = SocketConnection(client)
        buffered(conn, 200)
        server.sendall(_message(1, b"first") + _message(2, b"second"))
        assert protocol.recv_stub(conn).data == b"first"
        assert protocol.recv_stub(conn).data == b"second"
        trickled = _message(3, b"third")

        def trickle() -> None:
            for i in range(0, len(trickled), 5):
                server.sendall(trickled[i : i + 5])
                time.sleep(0.002)

        sender = threading.Thread(target=trickle)
        sender.start()
        assert protocol.recv_stub(conn).data == b"third"
        sender.join(timeout=5)
        big = b"z" * 3_000_000  # more than one MAX_READ
        threading.Thread(target=server.sendall, args=(_message(4, big),)).start()
        message = protocol.recv_stub(conn)
        assert (message.seq, message.data) == (4, big)
        assert conn.cpm_buffer == bytearray()
    finally:
        client.close()
        server.close()


def test_a_long_message_and_the_one_after_it_arrive_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long message goes straight into a buffer of its own (grown once past the trusted
    size), and what follows it in the same segment is the next message, untouched."""
    monkeypatch.setattr(busy_poll, "TRUSTED_SIZE", 300_000)
    client, server = _tcp_pair()
    try:
        conn = SocketConnection(client)
        buffered(conn, 200)
        long = bytes(range(256)) * 4_000  # about 1 MB: past both READ_SIZE and TRUSTED_SIZE
        sent = _message(1, long) + _message(2, b"after")
        sender = threading.Thread(target=server.sendall, args=(sent,))
        sender.start()
        assert protocol.recv_stub(conn).data == long
        assert protocol.recv_stub(conn).data == b"after"
        sender.join(timeout=5)
        assert conn.cpm_buffer == bytearray()
    finally:
        client.close()
        server.close()


def test_a_header_claiming_a_huge_message_costs_at_most_the_trusted_size() -> None:
    """A header may claim up to Pyro5's MAX_MESSAGE_SIZE and send nothing more: the reader
    holds at most TRUSTED_SIZE for it until that much has come."""
    claimed = 60 << 20
    header = bytearray(_message(1, b"x" * 10))
    struct.pack_into("!I", header, 12, claimed)  # the header's data size
    client, server = _tcp_pair()
    try:
        conn = SocketConnection(client)
        buffered(conn, 0)
        server.sendall(bytes(header) + b"x" * 100_000)
        server.close()
        tracemalloc.start()
        try:
            with pytest.raises(pyro_errors.ConnectionClosedError):
                protocol.recv_stub(conn)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < busy_poll.TRUSTED_SIZE + (1 << 20) < claimed
    finally:
        client.close()


def test_a_buffered_connection_raises_pyro5s_errors() -> None:
    client, server = _tcp_pair()
    try:
        conn = SocketConnection(client)
        buffered(conn, 0)
        client.settimeout(0.05)
        with pytest.raises(pyro_errors.TimeoutError):
            conn.recv(10)
        server.sendall(_message(1, b"cut short")[:20])
        server.close()
        with pytest.raises(pyro_errors.ConnectionClosedError):
            protocol.recv_stub(conn)
    finally:
        client.close()


@expose
class EchoObject:
    def echo(self, value: object) -> object:
        return value

    def connection_kind(self) -> str:
        return type(current_context.client).__name__


_STOCK_DAEMON = """
import sys
from Pyro5.api import Daemon, expose

@expose
class Echo:
    def echo(self, value):
        return value

daemon = Daemon(host="127.0.0.1")
print(daemon.register(Echo(), "echo"), flush=True)
daemon.requestLoop()
"""


def test_a_polling_proxy_talks_to_a_stock_pyro5_daemon() -> None:
    """The client side as RemoteTransport sets it up, against Pyro5's own daemon in its
    own process; a reply larger than one read comes back whole."""
    daemon = subprocess.Popen(
        [sys.executable, "-c", _STOCK_DAEMON], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert daemon.stdout is not None
        uri = daemon.stdout.readline().decode().strip()
        with Proxy(uri) as proxy:
            proxy._pyroSerializer = "msgpack"
            proxy._pyroTimeout = 10
            proxy._pyroBind()
            assert buffered(proxy._pyroConnection, 500)
            big = "x" * 300_000
            for value in (1, "two", [3, 4], big):
                assert proxy.echo(value) == value
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_a_stock_proxy_talks_to_a_daemon_whose_connections_poll() -> None:
    """Pyro5's own proxy, against our daemon with buffered, polling connections."""
    from services.shells.hosting import CpmDaemon

    daemon = CpmDaemon(host="127.0.0.1", port=0, busy_poll_us=500)
    uri = daemon.register(EchoObject(), "echo")
    loop = threading.Thread(target=daemon.requestLoop, daemon=True)
    loop.start()
    try:
        with Proxy(uri) as proxy:
            proxy._pyroTimeout = 10
            for value in (1, "two", [3, 4], "y" * 300_000):
                assert proxy.echo(value) == value
            assert proxy.connection_kind() == "BufferedConnection"
    finally:
        daemon.shutdown()
        loop.join(timeout=5)


def test_a_service_refuses_a_bad_busy_poll_flag(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.challengeperiod_manager_server",
            "--busy-poll-us",
            "-5",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "--busy-poll-us must be between 0 and 10000" in result.stderr
    assert "Traceback" not in result.stderr


def test_after_each_missed_poll_more_waits_block_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polls that run out their budget back off (1, 2, 4 ... 64 waits without one); a poll
    that sees the data in time starts over."""
    outcomes: list[bool | None] = []
    polls: list[int] = []
    waits = itertools.count()
    current = [0]

    def fake(sock: object, budget_s: float) -> bool | None:
        polls.append(current[0])
        return outcomes.pop(0) if outcomes else False

    monkeypatch.setattr(busy_poll, "await_readable", fake)
    client, server = _tcp_pair()
    try:
        conn = SocketConnection(client)
        buffered(conn, 200)
        assert isinstance(conn, BufferedConnection)
        for _ in range(300):
            current[0] = next(waits)
            conn._poll()
        gaps = [b - a - 1 for a, b in itertools.pairwise(polls)]
        assert gaps[:8] == [1, 2, 4, 8, 16, 32, 64, 64]
        polls.clear()
        outcomes.extend([True, True, False])
        conn.cpm_skip = 0
        for _ in range(10):
            current[0] = next(waits)
            conn._poll()
        assert polls[:4] == [300, 301, 302, 304]  # two hits, a miss, then one skipped wait
    finally:
        client.close()
        server.close()
