"""Attack: connections that never send a handshake hold the service's workers.

Before: 80 silent TCP connections took every worker for the 60 s idle timeout and every
legitimate call stopped. Now an accepted connection must finish its handshake within
--handshake-timeout-s; only then does the idle timeout apply. Each test fails with the
idle timeout as the handshake deadline.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from Pyro5 import protocol
from Pyro5.api import Proxy

from clients import ChallengePeriodManager
from tests.processes import free_port, start_cpm_server, wait_until
from tests.test_metrics import scrape

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FLAGS = ("--handshake-timeout-s", "1", "--idle-timeout-s", "30")


def test_a_connection_without_a_handshake_is_dropped_at_the_deadline(
    ns_port: int, tmp_path: Path
) -> None:
    service = start_cpm_server(ns_port, tmp_path / "state", *FLAGS)
    try:
        with socket.create_connection(("127.0.0.1", service.port()), timeout=10) as silent:
            started = time.monotonic()
            while silent.recv(4096):  # Pyro5 says why (a failed handshake), then closes
                pass
            assert time.monotonic() - started < 5  # closed by the service, not our timeout
    finally:
        service.close()


def test_silent_connections_do_not_lock_out_clients(ns_port: int, tmp_path: Path) -> None:
    service = start_cpm_server(ns_port, tmp_path / "state", *FLAGS, "--max-connections", "4")
    silent = [socket.create_connection(("127.0.0.1", service.port()), timeout=10) for _ in range(4)]
    try:
        time.sleep(1.5)  # past the handshake deadline: their workers are free again
        with ChallengePeriodManager(ns_port=ns_port, timeout_s=5.0) as cpm:
            assert cpm.has_miner("a") is False
    finally:
        for sock in silent:
            sock.close()
        service.close()


def test_an_authenticated_idle_session_outlives_the_handshake_deadline(
    ns_port: int, tmp_path: Path
) -> None:
    service = start_cpm_server(ns_port, tmp_path / "state", *FLAGS)
    try:
        uri = service.uri()
        with Proxy(uri) as proxy:  # a stock proxy: it does not reconnect by itself
            assert proxy.has_miner_rpc("a") is False
            time.sleep(2)  # idle for twice the handshake deadline
            assert proxy.has_miner_rpc("a") is False
    finally:
        service.close()


def _closed_within(sock: socket.socket, seconds: float, trickle: bool) -> float | None:
    """Seconds until the service closes ``sock`` (sending a byte each 0.3 s when
    ``trickle``); None if it is still open after ``seconds``."""
    started = time.monotonic()
    sock.settimeout(0.3)
    while time.monotonic() - started < seconds:
        try:
            if trickle:
                sock.sendall(b"x")
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - started
    return None


def test_a_handshake_trickled_a_byte_at_a_time_is_dropped_at_the_deadline(
    ns_port: int, tmp_path: Path
) -> None:
    """Before, each byte restarted the socket timeout: one byte a second held a worker.
    The drop is logged (once) and counted in the metrics."""
    metrics_port = free_port()
    service = start_cpm_server(
        ns_port, tmp_path / "state", *FLAGS, "--metrics-port", str(metrics_port)
    )
    try:
        header = protocol.SendingMessage(protocol.MSG_CONNECT, 0, 0, 1, b"x" * 1000).data[:40]
        with socket.create_connection(("127.0.0.1", service.port()), timeout=10) as sock:
            sock.sendall(header)  # a handshake of 1,000 bytes is announced, then trickles
            closed = _closed_within(sock, 4.0, trickle=True)
        assert closed is not None and closed < 3.0, closed
        assert service.alive()
        wait_until(lambda: "before its handshake: too slow" in service.errors(), 5, "the log")
        assert scrape(metrics_port)['cpm_handshake_drops_total{reason="slow"}'] == 1
    finally:
        service.close()


def test_a_full_pool_says_no_free_workers_within_a_second_behind_a_silent_client(
    ns_port: int, tmp_path: Path
) -> None:
    """Pyro5 reads a turned-away client's handshake on its accept loop: before, one silent
    client there held every new connection for the whole handshake deadline (4 s here)."""
    service = start_cpm_server(
        ns_port, tmp_path / "state", "--handshake-timeout-s", "4", "--max-connections", "2"
    )
    uri = service.uri()
    holders = [Proxy(uri), Proxy(uri)]
    try:
        for proxy in holders:
            proxy._pyroBind()  # both workers are now held by authenticated sessions
        with socket.create_connection(("127.0.0.1", service.port()), timeout=10):
            time.sleep(0.1)  # the silent one reaches the accept loop first
            started = time.monotonic()
            late = Proxy(uri)
            late._pyroTimeout = 10
            with pytest.raises(Exception, match="no free workers"):
                late._pyroBind()
            waited = time.monotonic() - started
        assert waited < 2.0, f"the answer took {waited:.1f} s"
    finally:
        for proxy in holders:
            proxy._pyroRelease()
        service.close()
