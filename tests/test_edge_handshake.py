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
from Pyro5.api import Proxy

from clients import ChallengePeriodManager
from tests.processes import Proc, start_cpm_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FLAGS = ("--handshake-timeout-s", "1", "--idle-timeout-s", "30")


def _port_of(proc: Proc) -> int:
    uri = proc.output().split("serving at ", 1)[1].split(",", 1)[0]
    return int(uri.rsplit(":", 1)[1])


def test_a_connection_without_a_handshake_is_dropped_at_the_deadline(
    ns_port: int, tmp_path: Path
) -> None:
    service = start_cpm_server(ns_port, tmp_path / "state", *FLAGS)
    try:
        with socket.create_connection(("127.0.0.1", _port_of(service)), timeout=10) as silent:
            started = time.monotonic()
            while silent.recv(4096):  # Pyro5 says why (a failed handshake), then closes
                pass
            assert time.monotonic() - started < 5  # closed by the service, not our timeout
    finally:
        service.close()


def test_silent_connections_do_not_lock_out_clients(ns_port: int, tmp_path: Path) -> None:
    service = start_cpm_server(ns_port, tmp_path / "state", *FLAGS, "--max-connections", "4")
    silent = [
        socket.create_connection(("127.0.0.1", _port_of(service)), timeout=10) for _ in range(4)
    ]
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
        uri = f"PYRO:ChallengePeriodManagerServer@127.0.0.1:{_port_of(service)}"
        with Proxy(uri) as proxy:  # a stock proxy: it does not reconnect by itself
            assert proxy.has_miner_rpc("a") is False
            time.sleep(2)  # idle for twice the handshake deadline
            assert proxy.has_miner_rpc("a") is False
    finally:
        service.close()
