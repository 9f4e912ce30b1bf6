"""--metrics-port: Prometheus text metrics of a running service, on 127.0.0.1 only."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from clients import AuthenticationError, ChallengePeriodManager, EliminationManager
from tests.processes import (
    command,
    free_port,
    start_cpm_server,
    start_elimination_server,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_calls_state_and_refusals_are_counted(ns_port: int, tmp_path: Path) -> None:
    port = free_port()
    token = {"CPM_AUTH_TOKEN": "metrics-test-token"}
    cp = start_cpm_server(ns_port, tmp_path / "cp", "--metrics-port", str(port), env=token)
    try:
        with ChallengePeriodManager(ns_port=ns_port, auth_token=token["CPM_AUTH_TOKEN"]) as cpm:
            cpm.set_miner_bucket("a", "MAINCOMP", 1)
            cpm.set_miner_bucket("b", "PLAGIARISM", 1, "CHALLENGE", 0)
            for _ in range(3):
                cpm.has_miner("a")
            cpm.update_elimination_reasons({"z": ("ZOMBIE", -1)})
            # Two clients taking turns: each one's change is made from inputs it no
            # longer finds there, so each submit after the first two is refused once.
            other = ChallengePeriodManager(ns_port=ns_port, auth_token=token["CPM_AUTH_TOKEN"])
            with other:
                for client in (cpm, other, cpm, other):
                    client.submit_refresh_inputs({"metagraph_hotkeys": ["a"], "miners": {}})
        with pytest.raises(AuthenticationError):
            ChallengePeriodManager(ns_port=ns_port, auth_token="wrong").has_miner("a")
        samples = scrape(port)
        assert samples['cpm_calls_total{method="has_miner_rpc"}'] == 3
        assert samples['cpm_calls_total{method="set_miner_bucket_rpc"}'] == 2
        assert samples['cpm_call_seconds_count{method="has_miner_rpc"}'] == 3
        assert samples['cpm_miners{bucket="MAINCOMP"}'] == 1
        assert samples['cpm_miners{bucket="PLAGIARISM"}'] == 1
        assert samples["cpm_pending_elimination_reasons"] == 1
        assert samples["cpm_auth_refusals_total"] == 1
        assert samples["cpm_refused_inputs_changes"] == 2
        assert samples["cpm_mismatched_inputs_changes"] == 0  # none rebuilt another document
    finally:
        cp.close()


def test_errors_by_method_and_the_elimination_figures(ns_port: int, tmp_path: Path) -> None:
    port = free_port()
    em = start_elimination_server(ns_port, tmp_path / "em", "--metrics-port", str(port))
    try:
        with EliminationManager(ns_port=ns_port) as client:
            client.append_elimination_row("z", None, "ZOMBIE", 5)
            with pytest.raises(ValueError):
                client._service.get_elimination_rpc("")  # a foreign client's bad call
        wait_until(lambda: 'cpm_eliminations{reason="ZOMBIE"}' in scrape(port), 10, "figures")
        samples = scrape(port)
        assert samples['cpm_eliminations{reason="ZOMBIE"}'] == 1
        assert samples["cpm_mismatched_inputs_changes"] == 0  # a plain count, on the port
        assert (
            samples['cpm_call_errors_total{error="ValueError",method="get_elimination_rpc"}'] == 1
        )
    finally:
        em.close()


def test_a_busy_metrics_port_is_a_usage_error(ns_port: int, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            command(
                "services.challengeperiod_manager_server",
                ns_port,
                tmp_path / "cp",
                "--metrics-port",
                str(port),
            ),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2 and "cannot serve metrics" in done.stderr
