"""Authentication: a shared token proven both ways in the connect handshake."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from Pyro5.api import Daemon, Proxy, expose

from clients import ChallengePeriodManager, EliminationManager
from services.domain.errors import AuthenticationError
from services.launch.run import is_loopback
from services.wire.auth import ClientVerifier, check_server_answer, client_hello
from tests.processes import Proc, start_cpm_server, start_elimination_server, wait_until

TOKEN = "s3cret-token-for-tests"
ENV = {"CPM_AUTH_TOKEN": TOKEN}
SERVICE = "ChallengePeriodManagerServer"


def test_verifier_accepts_a_good_hello_and_answers_with_its_proof() -> None:
    hello = client_hello(TOKEN, SERVICE)
    answer, key = ClientVerifier(TOKEN, SERVICE).answer(hello)
    assert check_server_answer(TOKEN, hello, answer) == key  # raises if the proof is wrong
    with pytest.raises(AuthenticationError):
        check_server_answer("other", hello, answer)
    # Each handshake gets its own key: the service's nonce is fresh.
    again = client_hello(TOKEN, SERVICE)
    assert ClientVerifier(TOKEN, SERVICE).answer(again)[1] != key


@pytest.mark.parametrize(
    ("hello", "reason"),
    [
        ("hello", "authentication required"),
        ({"scheme": "cpm-hmac-sha256-v2", "nonce": "n"}, "malformed"),
        (client_hello("wrong-token", "ChallengePeriodManagerServer"), "wrong auth token"),
        (client_hello(TOKEN, "EliminationManagerServer"), "replayed to another service"),
    ],
)
def test_verifier_refuses(hello: object, reason: str) -> None:
    with pytest.raises(AuthenticationError, match=reason):
        ClientVerifier(TOKEN, SERVICE).answer(hello)


def test_verifier_refuses_a_replayed_or_stale_hello() -> None:
    verifier = ClientVerifier(TOKEN, SERVICE, max_skew_ms=1000)
    hello = client_hello(TOKEN, SERVICE)
    verifier.answer(hello)
    with pytest.raises(AuthenticationError, match="replayed"):
        verifier.answer(hello)
    stale = client_hello(TOKEN, SERVICE, t_ms=time.time_ns() // 1_000_000 - 10_000)
    with pytest.raises(AuthenticationError, match="too old"):
        verifier.answer(stale)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.fixture
def secured(ns_port: int, tmp_path: Path) -> Iterator[Proc]:
    proc = start_cpm_server(ns_port, tmp_path / "state", env=ENV)
    yield proc
    proc.close()


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_right_token_works_and_wrong_or_missing_token_is_refused(
    ns_port: int, secured: Proc
) -> None:
    with ChallengePeriodManager(ns_port=ns_port, auth_token=TOKEN) as good:
        good.set_miner_bucket("a", "CHALLENGE", 1)
    for token in ("wrong", ""):
        with (
            ChallengePeriodManager(ns_port=ns_port, auth_token=token) as bad,
            pytest.raises(PermissionError, match="CPM_AUTH_TOKEN"),
        ):
            bad.has_miner("a")
    with ChallengePeriodManager(ns_port=ns_port, auth_token=TOKEN) as good:
        assert good.has_miner("a") is True  # the service kept serving
    log = secured.errors()
    assert log.count("refused a connection from 127.0.0.1:") == 2
    assert "wrong auth token" in log and "authentication required" in log
    assert TOKEN not in log and TOKEN not in secured.output()


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_both_services_hand_off_with_auth_on(ns_port: int, secured: Proc, tmp_path: Path) -> None:
    em_proc = start_elimination_server(ns_port, tmp_path / "em", env=ENV)
    try:
        with (
            ChallengePeriodManager(ns_port=ns_port, auth_token=TOKEN) as cpm,
            EliminationManager(ns_port=ns_port, auth_token=TOKEN) as em,
        ):
            cpm.update_elimination_reasons({"x": ("ZOMBIE", -1)})
            wait_until(lambda: em.is_eliminated("x"), 10, "the authenticated handoff")
    finally:
        em_proc.close()
    assert "refused a connection" not in secured.errors()


class Impostor:
    """Registered under the service's name; records any call that reaches it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @expose
    def has_miner_rpc(self, hotkey: str) -> bool:
        self.calls.append(hotkey)
        return True


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_client_refuses_an_impostor_before_sending_any_call(ns_port: int) -> None:
    impostor = Impostor()
    daemon = Daemon(host="127.0.0.1", port=0)
    uri = daemon.register(impostor, objectId="ChallengePeriodManagerServer")
    loop = threading.Thread(target=daemon.requestLoop, daemon=True)
    loop.start()
    try:
        with Proxy(f"PYRO:Pyro.NameServer@127.0.0.1:{ns_port}") as ns:
            ns.register("ChallengePeriodManagerServer", uri)
        with (
            ChallengePeriodManager(ns_port=ns_port, auth_token=TOKEN) as client,
            pytest.raises(PermissionError, match="did not prove"),
        ):
            client.has_miner("secret-hotkey")
        assert impostor.calls == []
    finally:
        daemon.shutdown()
        loop.join(timeout=10)


@pytest.mark.integration
@pytest.mark.timeout(30)
def test_without_token_a_non_loopback_address_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.challengeperiod_manager_server",
            "--host",
            "0.0.0.0",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=20,
        env={k: v for k, v in os.environ.items() if k != "CPM_AUTH_TOKEN"},
    )
    assert result.returncode == 2
    assert "without CPM_AUTH_TOKEN" in result.stderr and "--insecure" in result.stderr
