"""2-way SSL with tools/make-certs.sh and Pyro5's own SSL settings, all on 127.0.0.1.

Pyro5 keeps SSL settings (and its SSL contexts) process-wide, so every party here is a
separate process configured through PYRO_SSL* environment variables, as an operator
would run it across hosts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import closed_by_server, free_port, start_cpm_server, start_nameserver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parent.parent

CLIENT_SCRIPT = """
import sys
from clients import ChallengePeriodManager
with ChallengePeriodManager(ns_port=int(sys.argv[1]), timeout_s=5) as c:
    c.set_miner_bucket("over-ssl", "CHALLENGE", 1)
    print("bucket", c.get_miner_bucket("over-ssl"))
"""


def ssl_env(certs: Path, *, server: bool, client_cert: bool = True) -> dict[str, str]:
    env = {"PYRO_SSL": "true", "PYRO_SSL_CACERTS": str(certs / "ca.crt")}
    if client_cert:
        env |= {
            "PYRO_SSL_CLIENTCERT": str(certs / "client.crt"),
            "PYRO_SSL_CLIENTKEY": str(certs / "client.key"),
        }
    if server:
        env |= {
            "PYRO_SSL_SERVERCERT": str(certs / "server.crt"),
            "PYRO_SSL_SERVERKEY": str(certs / "server.key"),
            "PYRO_SSL_REQUIRECLIENTCERT": "true",
        }
    return env


needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl command"
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private CA with server and client certificates, made by tools/make-certs.sh."""
    certs = tmp_path_factory.mktemp("tls") / "certs"
    subprocess.run(
        ["bash", str(ROOT / "tools" / "make-certs.sh"), str(certs)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return certs


def run_client(port: int, ssl: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The client script as an operator's process with these PYRO_SSL* settings."""
    return subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT, str(port)],
        cwd=ROOT,
        env=_env(ssl),
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_openssl
def test_two_way_ssl_serves_clients_with_a_certificate_and_refuses_others(
    certs: Path, tmp_path: Path
) -> None:
    port = free_port()
    ns = start_nameserver(port, env=ssl_env(certs, server=True))
    server = start_cpm_server(port, tmp_path / "state", env=ssl_env(certs, server=True))
    try:
        good = run_client(port, ssl_env(certs, server=False))
        assert good.returncode == 0, good.stderr
        assert "bucket CHALLENGE" in good.stdout
        no_cert = run_client(port, ssl_env(certs, server=False, client_cert=False))
        assert no_cert.returncode != 0
        assert "ServiceUnavailableError" in no_cert.stderr
        plain = run_client(port, {})
        assert plain.returncode != 0
        assert server.alive()  # refusing them did not take the service down
    finally:
        server.close()
        ns.close()


def _env(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYRO_SSL")}
    return base | extra


@needs_openssl
def test_silent_and_trickling_connections_do_not_lock_clients_out_of_tls_listeners(
    certs: Path, tmp_path: Path
) -> None:
    """Attack: TCP connections to the TLS ports that never finish a TLS handshake.

    Before: Python's TLS listener runs each TLS handshake inside accept(), on Pyro5's one
    accept loop and without a deadline, so a single silent connection to the name server
    locked every client out, for as long as it stayed open. Now the TLS handshake runs in
    the connection's worker within the handshake deadline, as the Pyro5 handshake does.
    """
    port = free_port()
    ns = start_nameserver(port, env=ssl_env(certs, server=True))
    server = start_cpm_server(
        port, tmp_path / "state", "--handshake-timeout-s", "1", env=ssl_env(certs, server=True)
    )
    service_port = server.port()
    attackers = [
        socket.create_connection(("127.0.0.1", p), timeout=10) for p in (port, port, service_port)
    ]
    try:
        client = run_client(port, ssl_env(certs, server=False))
        assert client.returncode == 0, client.stderr[-2000:]
        assert "bucket CHALLENGE" in client.stdout
        started = time.monotonic()
        assert closed_by_server(attackers[2], 5)  # the silent one, at its deadline
        assert time.monotonic() - started < 5
        trickle = socket.create_connection(("127.0.0.1", service_port), timeout=10)
        attackers.append(trickle)
        started = time.monotonic()
        while time.monotonic() - started < 5:
            try:
                trickle.send(b"\x16")  # a TLS record's first byte, one at a time
            except OSError:
                break
            time.sleep(0.2)
        assert time.monotonic() - started < 5, "a trickled TLS handshake was never dropped"
        assert server.alive() and ns.alive()
    finally:
        for sock in attackers:
            sock.close()
        server.close()
        ns.close()
