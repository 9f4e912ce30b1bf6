"""With CPM_AUTH_TOKEN, the name server changes names only with the token's proof.

Attack: any local process could register, replace or remove ChallengePeriodManagerServer
in an open name server (and a client would then talk to whatever it finds). Each test here
fails with Pyro5's plain NameServer in GuardedNameServer's place.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from Pyro5.api import Proxy
from Pyro5.callcontext import current_context

from clients import ChallengePeriodManager
from nameserver import EmbeddedNameServer
from services.shells.registration import name_change_proof
from services.wire.auth import NAME_PROOF_ANNOTATION, name_proof
from tests.processes import free_port, start_cpm_server, start_nameserver, wait_until

pytestmark = pytest.mark.timeout(60)

TOKEN = "name-server-test-token"
NAME = "ChallengePeriodManagerServer"
URI = "PYRO:ChallengePeriodManagerServer@127.0.0.1:1"


@pytest.fixture
def guarded() -> Iterator[Proxy]:
    with EmbeddedNameServer(auth_token=TOKEN) as ns, Proxy(ns.uri) as proxy:
        yield proxy


def test_registration_without_the_proof_is_refused(guarded: Proxy) -> None:
    with pytest.raises(PermissionError, match="requires CPM_AUTH_TOKEN's proof"):
        guarded.register(NAME, URI)
    assert NAME not in guarded.list()


def test_registration_with_the_proof_works_and_lookups_stay_open(guarded: Proxy) -> None:
    with name_change_proof(TOKEN, "register", NAME):
        guarded.register(NAME, URI)
    with Proxy(guarded._pyroUri) as anyone:  # no proof needed to look up or list
        assert str(anyone.lookup(NAME)) == URI and NAME in anyone.list()


@pytest.mark.parametrize("op", ["remove", "replace"])
def test_an_impostor_cannot_replace_or_remove_a_name(guarded: Proxy, op: str) -> None:
    with name_change_proof(TOKEN, "register", NAME):
        guarded.register(NAME, URI)
    with pytest.raises(PermissionError):
        if op == "remove":
            guarded.remove(NAME)
        else:
            guarded.register(NAME, "PYRO:impostor@127.0.0.1:2")
    assert str(guarded.lookup(NAME)) == URI


def test_a_wrong_token_or_a_replayed_proof_is_refused(guarded: Proxy) -> None:
    with name_change_proof("another-token", "register", NAME), pytest.raises(PermissionError):
        guarded.register(NAME, URI)
    proof = name_proof(TOKEN, "register", NAME)
    current_context.annotations = {NAME_PROOF_ANNOTATION: proof}
    try:
        guarded.register(NAME, URI)
        with pytest.raises(PermissionError, match="replayed"):
            guarded.register(NAME, URI)
        # A proof for one name does not change another.
        current_context.annotations = {NAME_PROOF_ANNOTATION: name_proof(TOKEN, "register", "x")}
        with pytest.raises(PermissionError, match="wrong auth token"):
            guarded.register(NAME, URI)
    finally:
        current_context.annotations = {}


@pytest.mark.integration
def test_services_with_the_token_register_in_a_guarded_name_server(tmp_path: Path) -> None:
    port = free_port()
    env = {"CPM_AUTH_TOKEN": TOKEN}
    ns = start_nameserver(port, env=env)
    try:
        assert "names change only with CPM_AUTH_TOKEN's proof" in ns.output()
        service = start_cpm_server(port, tmp_path / "state", env=env)
        try:
            with ChallengePeriodManager(ns_port=port, auth_token=TOKEN) as cpm:
                wait_until(lambda: cpm.health_check()["status"] in ("ok", "degraded"), 10, "up")
            with Proxy(f"PYRO:Pyro.NameServer@127.0.0.1:{port}") as impostor:
                with pytest.raises(PermissionError):
                    impostor.register(NAME, "PYRO:impostor@127.0.0.1:2")
                assert "impostor" not in str(impostor.lookup(NAME))
        finally:
            service.close()
    finally:
        ns.close()


def test_an_empty_token_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nameserver", "--port", str(free_port())],
        env={"CPM_AUTH_TOKEN": "", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "CPM_AUTH_TOKEN is set but empty" in done.stderr
