"""The real ``cpm-nameserver`` and ``cpm-server`` processes, driven through the client."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from Pyro5.api import Proxy

from clients import ChallengePeriodManager, MinerBucket
from tests.processes import (
    BIN,
    Proc,
    command,
    free_port,
    start_cpm_server,
    start_nameserver,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CPM = "services.challengeperiod_manager_server"
EM = "services.elimination_manager_server"


def test_client_finds_service_by_name_and_nsc_lists_it(ns_port: int, cpm_process: Proc) -> None:
    with ChallengePeriodManager(ns_port=ns_port) as client:
        assert client.health_check()["status"] == "ok"
    listing = subprocess.run(
        [str(BIN / "pyro5-nsc"), "-n", "127.0.0.1", "-p", str(ns_port), "list"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout
    assert (
        "ChallengePeriodManagerServer --> PYRO:ChallengePeriodManagerServer@127.0.0.1:" in listing
    )


def test_sigterm_exits_zero_and_unregisters(ns_port: int, cpm_process: Proc) -> None:
    assert cpm_process.terminate() == 0
    with (
        ChallengePeriodManager(ns_port=ns_port, timeout_s=2) as client,
        pytest.raises(ConnectionError, match="no service named ChallengePeriodManagerServer"),
    ):
        client.health_check()


def _signal_a_worker_thread(pid: int, signum: int) -> None:
    """Send ``signum`` to one of ``pid``'s threads other than its main thread, as the kernel
    may when a process is signalled (systemd's stop, the stack's parent-death signal)."""
    tgkill = ctypes.CDLL(None, use_errno=True).tgkill
    for tid in sorted(int(t) for t in os.listdir(f"/proc/{pid}/task")):
        if tid != pid and tgkill(pid, tid, signum) == 0:
            return
    raise AssertionError(f"no worker thread of {pid} took the signal")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads by tid: Linux only")
def test_sigterm_taken_by_a_worker_thread_still_stops_the_service(cpm_process: Proc) -> None:
    _signal_a_worker_thread(cpm_process.pid, signal.SIGTERM)
    assert cpm_process.popen.wait(timeout=10) == 0
    assert "stopping ChallengePeriodManagerServer" in cpm_process.errors() + cpm_process.output()


def test_restart_on_same_state_dir_keeps_everything(ns_port: int, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_cpm_server(ns_port, state)
    try:
        with ChallengePeriodManager(ns_port=ns_port) as client:
            client.set_miner_bucket("a", MinerBucket.PLAGIARISM, 5000, "MAINCOMP", 1000)
            client.set_miner_bucket("b", "CHALLENGE", 7000)
            client.update_elimination_reasons({"c": ("ZOMBIE", -1)})
            before = client.get_snapshot()
        assert first.terminate() == 0
    finally:
        first.close()
    second = start_cpm_server(ns_port, state)
    try:
        with ChallengePeriodManager(ns_port=ns_port) as client:
            after = client.get_snapshot()
        assert after["miners"] == before["miners"]
        assert after["elimination_reasons"] == before["elimination_reasons"]
        assert after["version"] >= before["version"]
    finally:
        second.close()
    on_disk = json.loads((state / "challengeperiod.json").read_text())
    assert on_disk["a"] == {
        "bucket": "PLAGIARISM",
        "bucket_start_time": 5000,
        "previous_bucket": "MAINCOMP",
        "previous_bucket_start_time": 1000,
    }


def test_client_reconnects_after_server_restart_on_a_new_port(ns_port: int, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_cpm_server(ns_port, state)
    client = ChallengePeriodManager(ns_port=ns_port)
    try:
        client.set_miner_bucket("a", "CHALLENGE", 1)
        first.kill()
        second = start_cpm_server(ns_port, state)
        try:
            wait_until(lambda: _registered_pid_matches(ns_port, second), 10, "re-registration")
            assert client.has_miner("a") is True  # read-only: retried on the new address
        finally:
            second.close()
    finally:
        client.close()
        first.close()


def _registered_pid_matches(ns_port: int, proc: Proc) -> bool:
    uri = proc.uri()
    with Proxy(f"PYRO:Pyro.NameServer@127.0.0.1:{ns_port}") as ns:
        return str(ns.lookup("ChallengePeriodManagerServer")) == uri


def test_sigkill_during_writes_loses_no_acknowledged_write(ns_port: int, tmp_path: Path) -> None:
    state = tmp_path / "state"
    server = start_cpm_server(ns_port, state)
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        with ChallengePeriodManager(ns_port=ns_port, timeout_s=5) as client:
            for i in range(100_000):
                if stop.is_set():
                    return
                hotkey = f"hk{i}"
                try:
                    client.set_miner_bucket(hotkey, "CHALLENGE", 1000 + i)
                    client.update_elimination_reasons({f"r{i}": ("ZOMBIE", -1)})
                except ConnectionError:
                    return
                acknowledged.append(hotkey)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: len(acknowledged) >= 200, 30, "200 acknowledged writes")
        server.kill()
        stop.set()
        thread.join(timeout=30)
    finally:
        server.close()
    assert not thread.is_alive()
    restarted = start_cpm_server(ns_port, state)
    try:
        with ChallengePeriodManager(ns_port=ns_port) as client:
            snap = client.get_snapshot()
    finally:
        restarted.close()
    missing = [hk for hk in acknowledged if hk not in snap["miners"]]
    assert missing == []
    missing_reasons = [hk for hk in acknowledged if f"r{hk[2:]}" not in snap["elimination_reasons"]]
    assert missing_reasons == []
    for name in ("challengeperiod.json", "elimination_reasons.json", "challengeperiod.meta.json"):
        json.loads((state / name).read_text())  # every file is whole, valid JSON
    assert not list(state.glob("*.tmp")), "a temp file was left behind"


def test_unreachable_nameserver_raises_connection_error_quickly() -> None:
    port = free_port()
    client = ChallengePeriodManager(ns_port=port, timeout_s=2)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        client.has_miner("a")
    assert time.monotonic() - started < 5
    client.close()


JOURNAL_WITH_A_BAD_MIDDLE_LINE = '{"v":1,"ops":[]}\nnot json\n{"v":2,"ops":[]}\n'


@pytest.mark.parametrize(
    ("module", "filename", "content", "message"),
    [
        (CPM, "challengeperiod.json", '{"hk": {"bucket": "NOT_A_BUCKET"', "not valid JSON"),
        (
            CPM,
            "challengeperiod.json",
            '{"hk": {"bucket": "NOPE", "bucket_start_time": 1}}',
            "wrong shape",
        ),
        (CPM, "elimination_reasons.json", '{"hk": ["NOT_A_REASON", 1]}', "wrong shape"),
        (CPM, "challengeperiod.journal", JOURNAL_WITH_A_BAD_MIDDLE_LINE, "line 2 is corrupt"),
        (EM, "eliminations.json", '{"eliminations": {}}', "wrong shape"),
        (EM, "eliminations.json", "[", "not valid JSON"),
    ],
)
def test_corrupt_state_file_exits_1_naming_it_and_is_not_overwritten(
    ns_port: int, tmp_path: Path, module: str, filename: str, content: str, message: str
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    corrupt = state / filename
    corrupt.write_text(content)
    proc = Proc(command(module, ns_port, state))
    try:
        assert proc.popen.wait(timeout=30) == 1
        errors = proc.errors()
        assert filename in errors and message in errors
        assert "Traceback" not in errors
        assert len(errors.strip().splitlines()) == 1
    finally:
        proc.close()
    assert corrupt.read_text() == content


def test_legacy_state_file_is_read(ns_port: int, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "challengeperiod.json").write_text('{"testing": {"t1": 100}, "success": {"s1": 200}}')
    server = start_cpm_server(ns_port, state)
    try:
        with ChallengePeriodManager(ns_port=ns_port) as client:
            assert client.get_testing_miners() == {"t1": 100}
            assert client.get_success_miners() == {"s1": 200}
    finally:
        server.close()


def test_bad_flags_exit_2_with_one_line() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.challengeperiod_manager_server",
            "--refresh-interval-ms",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--refresh-interval-ms" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_server_started_before_nameserver_registers_when_it_answers(tmp_path: Path) -> None:
    port = free_port()
    server = start_cpm_server(port, tmp_path / "state")
    try:
        ns = start_nameserver(port)
        try:
            with ChallengePeriodManager(ns_port=port) as client:
                wait_until(
                    lambda: _answers(client), 10, "registration after the name server came up"
                )
            assert server.errors().count("does not answer") == 1
        finally:
            ns.close()
    finally:
        server.close()


def _answers(client: ChallengePeriodManager) -> bool:
    try:
        return client.health_check()["status"] == "ok"
    except ConnectionError:
        return False


def test_refresh_loop_runs_by_itself(ns_port: int, tmp_path: Path) -> None:
    server = start_cpm_server(ns_port, tmp_path / "state", "--refresh-interval-ms", "100")
    try:
        with ChallengePeriodManager(ns_port=ns_port) as client:
            client.submit_refresh_inputs({"metagraph_hotkeys": ["j1", "j2"], "miners": {}})
            wait_until(
                lambda: sorted(client.get_all_miner_hotkeys()) == ["j1", "j2"],
                10,
                "the refresh loop to place the metagraph hotkeys",
            )
            assert client.health_check()["last_refresh_ms"] is not None
    finally:
        server.close()


def test_spawn_server_starts_and_close_stops_it(ns_port: int, tmp_path: Path) -> None:
    client = ChallengePeriodManager(ns_port=ns_port, spawn_server=True, state_dir=tmp_path / "s")
    spawned = client._spawned
    assert spawned is not None
    assert client.set_miner_bucket("a", "CHALLENGE", 1) is True
    client.close()
    assert spawned.process.poll() == 0
    assert (tmp_path / "s" / "challengeperiod.json").exists()


def test_foreign_client_gets_server_side_validation(ns_port: int, cpm_process: Proc) -> None:
    with Proxy(f"PYRONAME:ChallengePeriodManagerServer@127.0.0.1:{ns_port}") as raw:
        with pytest.raises(ValueError, match="bucket"):
            raw.set_miner_bucket_rpc("a", "WRONG", 1)
        with pytest.raises(TypeError, match="hotkey"):
            raw.has_miner_rpc(["x"])
        with pytest.raises(ValueError, match="reasons"):
            raw.update_elimination_reasons_rpc({"a": ("NOPE", 1)})
        with pytest.raises(ValueError, match="inputs"):
            raw.submit_refresh_inputs_rpc("{not json")
        assert json.loads(raw.get_snapshot_rpc()["body"])["miners"] == {}


def test_a_second_service_on_the_same_state_dir_is_refused(
    ns_port: int, cpm_process: Proc, tmp_path: Path
) -> None:
    second = Proc(command(CPM, ns_port, tmp_path / "state"))
    try:
        assert second.popen.wait(timeout=30) == 1
        assert f"in use by another process (pid {cpm_process.pid})" in second.errors()
    finally:
        second.close()
    with ChallengePeriodManager(ns_port=ns_port) as client:
        assert client.health_check()["pid"] == cpm_process.pid  # the first one still serves
