"""2-way SSL with tools/make-certs.sh and Pyro5's own SSL settings, all on 127.0.0.1.

Pyro5 keeps SSL settings (and its SSL contexts) process-wide, so every party here is a
separate process configured through PYRO_SSL* environment variables, as an operator
would run it across hosts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import free_port, start_cpm_server, start_nameserver

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


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_two_way_ssl_serves_clients_with_a_certificate_and_refuses_others(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    subprocess.run(
        ["bash", str(ROOT / "tools" / "make-certs.sh"), str(certs)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    ns = start_nameserver(port, env=ssl_env(certs, server=True))
    server = start_cpm_server(port, tmp_path / "state", env=ssl_env(certs, server=True))
    try:
        good = subprocess.run(
            [sys.executable, "-c", CLIENT_SCRIPT, str(port)],
            cwd=ROOT,
            env=_env(ssl_env(certs, server=False)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert good.returncode == 0, good.stderr
        assert "bucket CHALLENGE" in good.stdout
        no_cert = subprocess.run(
            [sys.executable, "-c", CLIENT_SCRIPT, str(port)],
            cwd=ROOT,
            env=_env(ssl_env(certs, server=False, client_cert=False)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert no_cert.returncode != 0
        assert "ServiceUnavailableError" in no_cert.stderr
        plain = subprocess.run(
            [sys.executable, "-c", CLIENT_SCRIPT, str(port)],
            cwd=ROOT,
            env=_env({}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert plain.returncode != 0
        assert server.alive()  # refusing them did not take the service down
    finally:
        server.close()
        ns.close()


def _env(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYRO_SSL")}
    return base | extra
