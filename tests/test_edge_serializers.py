"""Attack: a self-referencing ``marshal`` handshake, sent before any authentication.

Each of these two bodies segfaults CPython when ``marshal.loads`` decodes it; Pyro5 decodes
a handshake with whatever serializer the header names. Every daemon we start must answer
with a refusal and keep serving. Removing ``harden_serializers()`` from a launcher makes the
matching test fail: the process dies with SIGSEGV.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from Pyro5 import protocol
from Pyro5.api import Proxy

from clients import ChallengePeriodManager
from services.wire.serializers import REFUSED
from tests.processes import (
    Proc,
    free_port,
    start_cpm_server,
    start_elimination_server,
    start_nameserver,
    start_stack,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

MARSHAL_ID = 2
CRASHING_BODIES = (
    b"\xa8\x01\x00\x00\x00>\x01\x00\x00\x00r\x00\x00\x00\x00",  # tuple <-> frozenset
    b"\xa9\x02N{r\x00\x00\x00\x00N0",  # tuple <-> dict
)


def _attack(port: int) -> list[bytes]:
    """Send each crashing handshake on its own connection; the answers received."""
    answers = []
    for body in CRASHING_BODIES:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            message = protocol.SendingMessage(protocol.MSG_CONNECT, 0, 0, MARSHAL_ID, body)
            sock.sendall(message.data)
            answers.append(sock.recv(4096))
    return answers


def _assert_refused_and_alive(answers: list[bytes], proc: Proc) -> None:
    assert all(REFUSED.encode()[:40] in answer for answer in answers), answers
    assert proc.alive()


def test_name_server_refuses_marshal_and_keeps_serving() -> None:
    port = free_port()
    ns = start_nameserver(port)
    try:
        _assert_refused_and_alive(_attack(port), ns)
    finally:
        ns.close()


@pytest.mark.parametrize("start", [start_cpm_server, start_elimination_server])
def test_services_refuse_marshal_and_keep_serving(start, ns_port: int, tmp_path: Path) -> None:
    service = start(ns_port, tmp_path / "state")
    try:
        _assert_refused_and_alive(_attack(service.port()), service)
    finally:
        service.close()


def test_the_stacks_embedded_name_server_refuses_marshal(tmp_path: Path) -> None:
    port = free_port()
    stack = start_stack(port, tmp_path / "state")
    try:
        _attack(port)
        with ChallengePeriodManager(ns_port=port, timeout_s=5.0) as cpm:
            assert cpm.health_check()["status"] == "ok"  # found by name: the name server lives
        assert stack.alive()
    finally:
        stack.close()


SERPENT_ID = 1
# A well-formed serpent document of about 100 KB; serpent's decoder (ast.literal_eval) needs
# time and memory far beyond its size for it (0.3 s and 35 MB here).
BIG_HANDSHAKE = b"# serpent utf-8 python3.2\n{'handshake': [" + b"(1,2.5,'x')," * 8_500 + b"]}"


def _big_handshake(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        message = protocol.SendingMessage(protocol.MSG_CONNECT, 0, 0, SERPENT_ID, BIG_HANDSHAKE)
        sock.sendall(message.data)
        return sock.recv(4096)


@pytest.mark.parametrize("start", [start_cpm_server, start_elimination_server])
def test_services_refuse_a_big_handshake_before_decoding_it(
    start, ns_port: int, tmp_path: Path
) -> None:
    service = start(ns_port, tmp_path / "state")
    try:
        answer = _big_handshake(service.port())
        assert b"at most 65536 bytes are decoded before a connection is accepted" in answer
        assert service.alive()
        with Proxy(service.uri()) as proxy:  # an ordinary client is still served
            proxy._pyroBind()
    finally:
        service.close()


def test_name_server_refuses_a_big_handshake_before_decoding_it() -> None:
    port = free_port()
    ns = start_nameserver(port)
    try:
        answer = _big_handshake(port)
        assert b"before a connection is accepted" in answer
        assert ns.alive()
    finally:
        ns.close()


HUGE_BODY_BYTES = 32 * 2**20  # declared in the header; under the 64 MiB message limit


@pytest.mark.parametrize("start", [start_cpm_server, start_elimination_server])
def test_a_huge_handshake_is_dropped_after_its_byte_budget(
    start, ns_port: int, tmp_path: Path
) -> None:
    """Before, the service buffered all 32 MiB of such a handshake before looking at it."""
    service = start(ns_port, tmp_path / "state")
    try:
        message = protocol.SendingMessage(
            protocol.MSG_CONNECT, 0, 0, SERPENT_ID, b"x" * HUGE_BODY_BYTES
        ).data
        sent = 0
        with (
            socket.create_connection(("127.0.0.1", service.port()), timeout=10) as sock,
            pytest.raises(OSError),  # reset once the service stops reading
        ):
            while sent < len(message):
                sock.sendall(message[sent : sent + 65536])
                sent += 65536
            sock.recv(1)  # everything went through: the service took it all
            raise AssertionError("the whole handshake was read")
        assert sent < HUGE_BODY_BYTES // 4, f"{sent} bytes were taken"
        assert service.alive()
    finally:
        service.close()
