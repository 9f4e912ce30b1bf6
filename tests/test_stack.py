"""``cpm-stack`` as a real process: name server + both services, one SIGTERM stops all."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from Pyro5.api import Proxy

from clients import ChallengePeriodManager, EliminationManager
from services.domain.errors import ServiceUnavailableError
from tests.processes import BIN, Proc, command, free_port, start_nameserver, start_stack, wait_until
from tools import stack as stack_module
from tools.stack import DEMO_STATE_DIR, Child, _children, _parse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def _child_pids(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _gone(pid: int) -> bool:
    return not _alive(pid)


def test_stack_starts_everything_and_sigterm_stops_all(tmp_path: Path) -> None:
    port = free_port()
    stack = start_stack(port, tmp_path / "state")
    try:
        assert f"name server started at 127.0.0.1:{port}" in stack.output()
        children = _child_pids(stack.pid)
        assert len(children) == 2
        listing = subprocess.run(
            [str(BIN / "pyro5-nsc"), "-n", "127.0.0.1", "-p", str(port), "list"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
        assert "ChallengePeriodManagerServer -->" in listing
        assert "EliminationManagerServer -->" in listing
        with ChallengePeriodManager(ns_port=port) as cpm, EliminationManager(ns_port=port) as em:
            cpm.set_miner_bucket("old", "CHALLENGE", 1000)
            cpm.refresh_now()
            wait_until(lambda: em.is_eliminated("old"), 10, "the handoff inside the stack")
        assert stack.terminate(timeout_s=30) == 0
        for pid in children:
            wait_until(functools.partial(_gone, pid), 10, f"child {pid} to exit")
    finally:
        stack.close()
    assert (tmp_path / "state" / "eliminations.json").exists()


def test_stack_uses_a_running_name_server(tmp_path: Path) -> None:
    port = free_port()
    ns = start_nameserver(port)
    stack = start_stack(port, tmp_path / "state")
    try:
        assert f"using the name server already at 127.0.0.1:{port}" in stack.output()
        assert stack.terminate(timeout_s=30) == 0
        assert ns.alive()
    finally:
        stack.close()
        ns.close()


def test_stack_restarts_a_service_that_dies(tmp_path: Path) -> None:
    port = free_port()
    stack = start_stack(port, tmp_path / "state")
    try:
        with ChallengePeriodManager(ns_port=port) as cpm:
            cpm.set_miner_bucket("kept", "MAINCOMP", 5)
            before = set(_child_pids(stack.pid))
            # Exiting by itself (SIGTERM is handled: exit 0) is restarted; a signal death is not.
            os.kill(cpm.health_check()["pid"], signal.SIGTERM)
            wait_until(lambda: len(set(_child_pids(stack.pid)) - before) == 1, 20, "a restart")
            wait_until(lambda: _has(cpm, "kept"), 20, "the restarted service to answer")
            again = "ChallengePeriodManagerServer ready again"
            wait_until(lambda: again in stack.output(), 10, "the stack to say it is ready again")
        assert stack.terminate(timeout_s=30) == 0
    finally:
        stack.close()


def _has(cpm: ChallengePeriodManager, hotkey: str) -> bool:
    try:
        return cpm.has_miner(hotkey)
    except ConnectionError:
        return False


def test_stack_bad_flag_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.stack", "--refresh-interval-ms", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--refresh-interval-ms" in result.stderr


def test_demo_state_stays_apart_from_the_default_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CPM_STATE_DIR", raising=False)
    assert _parse(["--demo"]).state_dir == DEMO_STATE_DIR
    assert _parse([]).state_dir == "./validation"
    assert _parse(["--demo", "--state-dir", "/tmp/x"]).state_dir == "/tmp/x"
    monkeypatch.setenv("CPM_STATE_DIR", "/tmp/y")
    assert _parse(["--demo"]).state_dir == "/tmp/y"


def test_stack_exits_1_naming_a_child_killed_by_sigkill(tmp_path: Path) -> None:
    port = free_port()
    stack = start_stack(port, tmp_path / "state")
    try:
        with EliminationManager(ns_port=port) as em:
            os.kill(em.health_check()["pid"], signal.SIGKILL)
        assert stack.popen.wait(timeout=20) == 1
        assert "EliminationManagerServer died of SIGKILL" in stack.errors()
    finally:
        stack.close()


class _Down:
    """A client of a service that never answers."""

    def health_check(self) -> dict[str, object]:
        raise ServiceUnavailableError("not there")

    def close(self) -> None:
        pass


def test_a_child_that_keeps_exiting_stops_the_supervision_with_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stack_module, "RESTART_BACKOFF_S", 0.01)
    monkeypatch.setattr(stack_module, "SUPERVISE_POLL_S", 0.01)
    child = Child("Flaky", [sys.executable, "-c", "raise SystemExit(3)"], _Down)  # type: ignore[arg-type]
    child.start()
    assert stack_module._supervise([child], threading.Event()) == 1
    assert len(child.restarts) == stack_module.MAX_RESTARTS_PER_MINUTE
    err = capsys.readouterr().err
    assert "Flaky exited with code 3" in err and "5 restarts within a minute" in err


def test_a_child_that_exited_is_restarted_after_a_growing_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stack_module, "RESTART_BACKOFF_S", 0.2)
    monkeypatch.setattr(stack_module, "SUPERVISE_POLL_S", 0.01)
    child = Child("Flaky", [sys.executable, "-c", "raise SystemExit(0)"], _Down)  # type: ignore[arg-type]
    child.start()
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    assert stack_module._supervise([child], stop) == 0
    gaps = [b - a for a, b in zip(child.restarts, child.restarts[1:], strict=False)]
    assert 1 <= len(child.restarts) <= 3  # 0.2 s, then 0.4 s, then 0.8 s: not a busy loop
    assert all(g >= 0.35 for g in gaps)


def test_the_services_stop_when_the_stack_is_killed(tmp_path: Path) -> None:
    port = free_port()
    stack = start_stack(port, tmp_path / "state")
    children = _child_pids(stack.pid)
    try:
        assert len(children) == 2
        stack.kill()  # SIGKILL: no chance to stop them itself
        for pid in children:
            try:
                wait_until(functools.partial(_gone, pid), 15, f"orphan {pid} to exit")
            except AssertionError as exc:  # what the services said of their stop
                raise AssertionError(f"{exc}; their log:\n{stack.output()[-3000:]}") from None
    finally:
        stack.close()
        for pid in children:  # only ours, by PID, should the tie have failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_service_flags_pass_through_to_the_children() -> None:
    args = _parse(
        [
            "--no-fsync",
            "--max-connections",
            "9",
            "--idle-timeout-s",
            "7",
            "--handshake-timeout-s",
            "2",
            "--poll-interval-ms",
            "90",
        ]
    )
    cp, em = (child.argv for child in _children(args))
    for argv in (cp, em):
        assert "--no-fsync" in argv and argv[argv.index("--max-connections") + 1] == "9"
        assert float(argv[argv.index("--idle-timeout-s") + 1]) == 7
        assert float(argv[argv.index("--handshake-timeout-s") + 1]) == 2
    assert em[em.index("--poll-interval-ms") + 1] == "90" and "--poll-interval-ms" not in cp
    assert "--fsync" in next(c.argv for c in _children(_parse([])))


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_with_a_token_the_stacks_name_server_takes_names_only_with_its_proof(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {"CPM_AUTH_TOKEN": "stack-token"}
    argv = command("tools.stack", port, tmp_path / "state")
    stack = Proc(argv, env=env)
    try:
        stack.wait_for_output("Ctrl-C stops everything", timeout_s=60)
        with ChallengePeriodManager(ns_port=port, auth_token="stack-token") as cpm:
            assert cpm.health_check()["status"] in ("ok", "degraded")
        with (
            Proxy(f"PYRO:Pyro.NameServer@127.0.0.1:{port}") as impostor,
            pytest.raises(PermissionError),
        ):
            impostor.register("ChallengePeriodManagerServer", "PYRO:x@127.0.0.1:1")
        assert stack.terminate(timeout_s=30) == 0
    finally:
        stack.close()
