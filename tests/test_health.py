"""Degraded health (peer down, refresh overdue, state dir refusing writes) and cpm-health."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clients import ChallengePeriodManager, EliminationManager
from services.shells.challengeperiod import ChallengePeriodManagerServer
from services.shells.problems import overdue
from services.storage import durable_store
from tests.peer_inputs import inputs
from tests.processes import (
    free_port,
    start_cpm_server,
    start_elimination_server,
    start_nameserver,
    start_stack,
    wait_until,
)
from tools import health

HEALTH = [sys.executable, "-m", "tools.health"]


def _cpm_health(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HEALTH, *args], capture_output=True, text=True, timeout=30)


@pytest.mark.timeout(30)
def test_a_refused_write_degrades_until_a_write_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ChallengePeriodManagerServer(tmp_path)
    try:
        assert server.health_check_rpc()["status"] == "ok"

        def full(fd: int, data: bytes) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(durable_store, "_write_all", full)
        with pytest.raises(OSError):
            server.set_miner_bucket_rpc("a", "CHALLENGE", 1000)
        report = server.health_check_rpc()
        assert report["status"] == "degraded"
        assert report["problems"] == [
            f"state dir {tmp_path} refused a write: No space left on device"
        ]
        monkeypatch.undo()
        assert server.set_miner_bucket_rpc("a", "CHALLENGE", 1000) is True
        assert server.health_check_rpc()["status"] == "ok"
        assert server.health_check_rpc()["state_dir"] == str(tmp_path.resolve())
    finally:
        server.close()


@pytest.mark.timeout(30)
def test_a_refresh_overdue_after_inputs_came_is_degraded(tmp_path: Path) -> None:
    assert not overdue(None, None, 100, 10.0)  # no inputs: nothing is due
    assert not overdue(None, 9.9, 100, 10.0)
    assert overdue(None, 9.0, 100, 10.0)
    assert not overdue(9.95, 9.0, 100, 10.0)
    server = ChallengePeriodManagerServer(tmp_path)
    try:
        server.start_refresh_loop(60_000)
        server.submit_refresh_inputs_rpc(inputs(["a"], {}))
        assert server.health_check_rpc()["status"] == "ok"
        server._inputs_at = (server._inputs_at or 0) - 300  # five minutes without a refresh
        report = server.health_check_rpc()
        assert report["status"] == "degraded"
        assert report["problems"][0].startswith("refresh overdue")
        server.refresh_now_rpc()
        assert server.health_check_rpc()["status"] == "ok"
    finally:
        server.close()


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_each_service_is_degraded_while_its_peer_is_down(tmp_path: Path) -> None:
    ns_port = free_port()
    ns = start_nameserver(ns_port)
    cpm_proc = start_cpm_server(ns_port, tmp_path / "cpm")
    em_proc = None
    try:
        with ChallengePeriodManager(ns_port=ns_port) as cpm:
            cpm.refresh_now()  # asks the elimination service, which is not there
            report = cpm.health_check()
            assert report["status"] == "degraded"
            assert report["problems"] == ["elimination service unreachable"]
            em_proc = start_elimination_server(ns_port, tmp_path / "em")
            # Retried in the background, so no refresh waits on the missing service.
            wait_until(lambda: cpm.health_check()["status"] == "ok", 15, "ok again")
        cpm_proc.kill()
        with EliminationManager(ns_port=ns_port) as em:
            wait_until(lambda: em.health_check()["status"] == "degraded", 15, "degraded")
            assert em.health_check()["problems"] == ["challenge-period service unreachable"]
    finally:
        if em_proc is not None:
            em_proc.close()
        cpm_proc.close()
        ns.close()


def test_judge_names_each_reason() -> None:
    ok: dict[str, Any] = {"status": "ok", "problems": [], "last_refresh_ms": 10_000}
    bad: dict[str, Any] = {"status": "degraded", "problems": ["state dir x refused a write"]}
    assert health.judge(ok, ok, None, 20_000) == []
    assert health.judge(ok, bad, None, 20_000) == [
        "elimination service is degraded: state dir x refused a write"
    ]
    assert health.judge(ok, ok, 5.0, 20_000) == ["last refresh 10 s ago (over 5 s)"]
    assert health.judge(ok, ok, 15.0, 20_000) == []


@pytest.mark.timeout(30)
def test_cpm_health_exits_2_with_one_line_when_nothing_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert health.main(["--ns-port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cpm-health: unreachable" in err
    assert health.main(["--max-refresh-age-s", "0"]) == 2  # a usage error


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_cpm_health_exit_codes_against_a_stack(tmp_path: Path) -> None:
    port = free_port()
    stack = start_stack(port, tmp_path / "state")
    try:
        # The elimination service may have asked its peer before that one registered.
        wait_until(lambda: _cpm_health("--ns-port", str(port)).returncode == 0, 15, "ok")
        ok = _cpm_health("--ns-port", str(port), "--json")
        assert ok.returncode == 0, ok.stderr
        doc = json.loads(ok.stdout)
        assert doc["challengeperiod"]["status"] == doc["elimination"]["status"] == "ok"
        never = _cpm_health("--ns-port", str(port), "--max-refresh-age-s", "3600")
        assert never.returncode == 1
        assert "has not refreshed yet" in never.stderr
        with ChallengePeriodManager(ns_port=port) as cpm:
            cpm.refresh_now()
        assert _cpm_health("--ns-port", str(port), "--max-refresh-age-s", "3600").returncode == 0
        assert stack.terminate(timeout_s=30) == 0
        down = _cpm_health("--ns-port", str(port))
        assert down.returncode == 2
        assert len(down.stderr.strip().splitlines()) == 1
    finally:
        stack.close()
    version = _cpm_health("--version")
    assert version.returncode == 0 and "cpm-health" in version.stdout
