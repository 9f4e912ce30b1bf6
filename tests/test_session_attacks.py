"""Attacks on an authenticated session, by a process that holds no token.

The impostor is registered under the service's name. When a client connects, it relays the
client's handshake to the real service and the real service's answer back, so the client's
check of the service's proof passes. From then on it sits between them. Every request and
reply carries a MAC under the session key, which the impostor cannot compute. So it can
forward calls untouched, but it cannot send calls of its own, alter a call, or forge a
reply. A captured handshake does not work against a restarted service either.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from Pyro5.api import Daemon, Proxy, expose

from clients import ChallengePeriodManager
from services import ChallengePeriodManagerServer
from services.domain.errors import AuthenticationError
from services.shells.hosting import ServiceHost
from services.shells.registration import ServiceInfo
from services.wire.names import CHALLENGEPERIOD_SERVICE
from services.wire.naming import NameServerAddress
from services.wire.session import MAC_ANNOTATION, Session
from tests.hosting import embedded_nameserver

pytestmark = pytest.mark.timeout(60)

TOKEN = "session-attack-token"


class Upstream:
    """The impostor's own connection to the real service, made with a relayed hello."""

    def __init__(self, uri: str, hello: Any) -> None:
        captured: dict[str, Any] = {}

        class Capturing(Proxy):
            def _pyroValidateHandshake(self, response: Any) -> None:
                captured["answer"] = response  # checks nothing: it has no token

        self.proxy = Capturing(uri)
        self.proxy._pyroSerializer = "msgpack"
        self.proxy._pyroHandshake = hello
        self.proxy._pyroBind()
        self.answer = captured["answer"]

    def use_here(self) -> Proxy:
        """The proxy, owned by the calling thread."""
        self.proxy._pyroClaimOwnership()
        return self.proxy


class RelayDaemon(Daemon):
    """Answers a client's handshake with the real service's answer to the same hello."""

    def __init__(self, real_uri: str) -> None:
        super().__init__(host="127.0.0.1", port=0)
        self.real_uri = real_uri
        self.upstream: Upstream | None = None
        self.hellos: list[Any] = []

    def validateHandshake(self, conn: Any, data: Any) -> Any:
        self.hellos.append(data)
        self.upstream = Upstream(self.real_uri, data)
        return self.upstream.answer


class RelayedService:
    """What the impostor serves: forwards, alters or forges, as ``mode`` says."""

    def __init__(self, daemon: RelayDaemon) -> None:
        self.daemon = daemon
        self.mode = "forward"

    def _up(self) -> Proxy:
        assert self.daemon.upstream is not None
        return self.daemon.upstream.use_here()

    @expose
    def has_miner_rpc(self, hotkey: str) -> Any:
        if self.mode == "forge":
            return True  # a made-up answer
        # The client's annotations (its MAC) go upstream with the call, and the service's
        # reply annotations come back with the answer: a plain relay is transparent.
        return self._up().has_miner_rpc(hotkey)

    @expose
    def set_miner_bucket_rpc(self, hotkey: str, bucket: str, start: int) -> Any:
        if self.mode == "alter":
            bucket = "MAINCOMP"  # rewrites the client's write on the way
        return self._up().set_miner_bucket_rpc(hotkey, bucket, start)


@contextmanager
def secured(server: ChallengePeriodManagerServer) -> Iterator[ServiceHost]:
    """``server`` with the token, registered in a name server of its own."""
    with embedded_nameserver() as own_ns:
        host = ServiceHost(
            server,
            ServiceInfo(CHALLENGEPERIOD_SERVICE, frozenset({"cpm"})),
            host="127.0.0.1",
            port=0,
            ns_address=own_ns,
            auth_token=TOKEN,
        )
        host.start()
        try:
            yield host
        finally:
            host.stop()


@pytest.fixture()
def real(tmp_path: Path) -> Iterator[tuple[ChallengePeriodManagerServer, ServiceHost]]:
    """The real service."""
    server = ChallengePeriodManagerServer(tmp_path / "real")
    try:
        with secured(server) as host:
            yield server, host
    finally:
        server.close()


@pytest.fixture()
def relay(
    real: tuple[ChallengePeriodManagerServer, ServiceHost],
) -> Iterator[tuple[RelayedService, NameServerAddress]]:
    """The impostor, registered under the service's name in the name server clients use."""
    daemon = RelayDaemon(real[1].uri)
    service = RelayedService(daemon)
    uri = daemon.register(service, objectId=CHALLENGEPERIOD_SERVICE)
    loop = threading.Thread(target=daemon.requestLoop, daemon=True)
    loop.start()
    try:
        with embedded_nameserver() as ns:
            with Proxy(f"PYRO:Pyro.NameServer@{ns.host}:{ns.port}") as proxy:
                proxy.register(CHALLENGEPERIOD_SERVICE, uri)
            yield service, ns
    finally:
        daemon.shutdown()
        loop.join(timeout=10)


def _client(ns: NameServerAddress) -> ChallengePeriodManager:
    return ChallengePeriodManager(ns_host=ns.host, ns_port=ns.port, auth_token=TOKEN)


def test_a_relay_passes_calls_through_but_cannot_send_its_own(
    real: tuple[ChallengePeriodManagerServer, ServiceHost],
    relay: tuple[RelayedService, NameServerAddress],
) -> None:
    server, _ = real
    service, ns = relay
    server.set_miner_bucket_rpc("present", "CHALLENGE", 1)
    with _client(ns) as cpm:
        assert cpm.has_miner("present") is True  # relayed untouched: the MACs check out
        upstream = service.daemon.upstream
        assert upstream is not None
        proxy = upstream.use_here()
        with pytest.raises(PermissionError, match="not authenticated"):
            proxy.set_miner_bucket_rpc("evil", "MAINCOMP", 5)
        with pytest.raises(PermissionError, match="not authenticated"):
            proxy.clear_elimination_reasons_rpc()
    assert server.has_miner_rpc("evil") is False


def test_a_relay_cannot_alter_a_call(
    real: tuple[ChallengePeriodManagerServer, ServiceHost],
    relay: tuple[RelayedService, NameServerAddress],
) -> None:
    server, _ = real
    service, ns = relay
    service.mode = "alter"
    with _client(ns) as cpm, pytest.raises(AuthenticationError, match="not authenticated"):
        cpm.set_miner_bucket("5Fhotkey", "CHALLENGE", 1_000)
    assert server.has_miner_rpc("5Fhotkey") is False


def test_a_relay_cannot_forge_a_reply(
    real: tuple[ChallengePeriodManagerServer, ServiceHost],
    relay: tuple[RelayedService, NameServerAddress],
) -> None:
    service, ns = relay
    service.mode = "forge"
    with _client(ns) as cpm, pytest.raises(AuthenticationError, match="reply to has_miner_rpc"):
        cpm.has_miner("absent")


def test_a_captured_handshake_gives_no_usable_session_after_a_restart(
    tmp_path: Path,
    real: tuple[ChallengePeriodManagerServer, ServiceHost],
    relay: tuple[RelayedService, NameServerAddress],
) -> None:
    service, ns = relay
    with _client(ns) as cpm:
        cpm.has_miner("x")
    hello = service.daemon.hellos[-1]
    # The service as it is after a restart: a new instance that has never seen the nonce.
    again = ChallengePeriodManagerServer(tmp_path / "restarted")
    try:
        with secured(again) as restarted:
            replayed = Upstream(restarted.uri, hello).use_here()
            with pytest.raises(PermissionError, match="not authenticated"):
                replayed.set_miner_bucket_rpc("evil", "MAINCOMP", 5)
            assert again.has_miner_rpc("evil") is False
    finally:
        again.close()


def test_a_client_keeps_the_instance_it_verified_when_the_name_goes_or_changes(
    real: tuple[ChallengePeriodManagerServer, ServiceHost],
) -> None:
    server, host = real
    server.set_miner_bucket_rpc("present", "CHALLENGE", 1)
    ns = host.registration.address
    with _client(ns) as cpm:
        assert cpm.has_miner("present") is True
        host.registration.stop()  # the name is gone, and nobody registers it again...
        with Proxy(f"PYRO:Pyro.NameServer@{ns.host}:{ns.port}") as proxy:
            answers: list[bool] = []
            worker = threading.Thread(target=lambda: answers.append(cpm.has_miner("present")))
            worker.start()  # ...and a new thread's new connection still finds the service
            worker.join(timeout=30)
            # ...or points somewhere else: the verified instance is still the one used.
            proxy.register(CHALLENGEPERIOD_SERVICE, "PYRO:ChallengePeriodManagerServer@127.0.0.1:9")
            assert cpm.has_miner("present") is True
        assert answers == [True]


@pytest.mark.parametrize("key_length", [0, 16, 32, 64, 65, 200])
def test_each_mac_is_hmac_sha256_of_kind_counter_and_payload(key_length: int) -> None:
    """The MACs are standard HMAC-SHA256, whatever the key's length (longer than a block
    is hashed first), so both sides agree with any other implementation of it."""
    key = bytes(range(key_length))
    client, service = Session(key), Session(key)

    def expected(kind: bytes, n: int, payload: bytes) -> bytes:
        return hmac.new(key, kind + n.to_bytes(8, "big") + payload, hashlib.sha256).digest()

    for n, payload in enumerate([b"", b"call", b"x" * 300]):
        sealed = client.seal_request(payload)
        assert sealed == expected(b"q", n, payload)
        service.check_request({MAC_ANNOTATION: sealed}, payload, "call")
        reply = service.seal_reply(payload[::-1])
        assert reply == expected(b"r", n, payload[::-1])
        client.check_reply({MAC_ANNOTATION: reply}, payload[::-1], "call")
    with pytest.raises(AuthenticationError):
        service.check_request({MAC_ANNOTATION: expected(b"q", 0, b"call")}, b"call", "call")
