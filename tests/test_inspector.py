"""``cpm-inspect`` as a command: exit codes, ``--json`` and ``--watch`` against real services."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from tests.processes import Proc, free_port, start_cpm_server, start_elimination_server, wait_until
from tests.terminal import PtyProcess
from tools import inspector

INSPECT = [sys.executable, "-m", "tools.inspector"]


def run_inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*INSPECT, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def em_process(ns_port: int, cpm_process: Proc, tmp_path: Path) -> Iterator[Proc]:
    proc = start_elimination_server(ns_port, tmp_path / "state")
    yield proc
    proc.close()


@pytest.fixture
def populated(ns_port: int, remote_client: ChallengePeriodManager, em_process: Proc) -> int:
    cpm = remote_client
    """A running stack holding one miner per bucket and one recorded elimination."""
    cpm.set_miner_bucket("hk_challenge", "CHALLENGE", 1_700_000_000_000)
    cpm.set_miner_bucket("hk_main", "MAINCOMP", 1_700_000_000_000)
    cpm.set_miner_bucket("hk_probation", "PROBATION", 1_700_000_000_000)
    cpm.set_miner_bucket(
        "hk_copycat", "PLAGIARISM", 1_700_000_000_000, "MAINCOMP", 1_690_000_000_000
    )
    with EliminationManager(ns_port=ns_port, timeout_s=5.0) as em:
        em.append_elimination_row("hk_dead", -1, "PLAGIARISM", 1_700_000_000_000)
    return ns_port


@pytest.mark.integration
@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", [[], ["--json"], ["--watch"]])
def test_no_name_server_is_one_line_and_exit_2(mode: list[str]) -> None:
    port = free_port()
    result = run_inspect("--ns-port", str(port), *mode)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"cpm-inspect: no Pyro5 name server answers at 127.0.0.1:{port} (connection refused)"
    ]


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_name_server_without_the_service_is_one_line_and_exit_2(ns_port: int) -> None:
    result = run_inspect("--ns-port", str(ns_port))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"cpm-inspect: no service named ChallengePeriodManagerServer in the name server at "
        f"127.0.0.1:{ns_port}"
    ]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--interval", "0"], "--interval"),
        (["--interval", "-1"], "--interval"),
        (["--interval", "soon"], "--interval"),
        (["--interval", "nan"], "--interval"),
        (["--bucket", "GRAVEYARD"], "--bucket"),
        (["--limit", "0"], "--limit"),
        (["--json", "--watch"], "--watch"),
        (["--ns-port", "70000"], "--ns-port"),
        (["--ns-port", "0"], "--ns-port"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert inspector.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("cpm-inspect: ") and named in line


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_json_against_a_running_stack_has_the_contract_keys(populated: int) -> None:
    result = run_inspect("--ns-port", str(populated), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"health", "miners", "buckets", "elimination_reasons", "eliminations"}
    assert doc["health"]["status"] == "ok"
    assert doc["buckets"] == {
        "CHALLENGE": {"hk_challenge": 1_700_000_000_000},
        "MAINCOMP": {"hk_main": 1_700_000_000_000},
        "PROBATION": {"hk_probation": 1_700_000_000_000},
        "PLAGIARISM": {"hk_copycat": 1_700_000_000_000},
    }
    assert doc["elimination_reasons"] == {}
    assert [(r["hotkey"], r["reason"]) for r in doc["eliminations"]] == [("hk_dead", "PLAGIARISM")]


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_bucket_flag_any_case_filters_json_and_tables(populated: int) -> None:
    result = run_inspect("--ns-port", str(populated), "--json", "--bucket", "maincomp")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["buckets"] == {"MAINCOMP": {"hk_main": 1_700_000_000_000}}
    text = run_inspect("--ns-port", str(populated), "--bucket", "Plagiarism")
    assert text.returncode == 0, text.stderr
    assert "hk_copycat" in text.stdout and "hk_main " not in text.stdout


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_elimination_service_down_gives_null_and_a_clear_line(
    populated: int, em_process: Proc
) -> None:
    assert em_process.terminate() == 0
    doc = run_inspect("--ns-port", str(populated), "--json")
    assert doc.returncode == 0, doc.stderr
    assert json.loads(doc.stdout)["eliminations"] is None
    text = run_inspect("--ns-port", str(populated))
    assert text.returncode == 0, text.stderr
    assert "elimination service unavailable" in text.stdout
    assert "hk_challenge" in text.stdout


def watch(ns_port: int, rows: int = 100, cols: int = 160) -> PtyProcess:
    argv = [*INSPECT, "--ns-port", str(ns_port), "--watch", "--interval", "0.5"]
    return PtyProcess(argv, rows=rows, cols=cols)


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("cols", "rows", "expected"),
    [
        (80, 24, "Nearest deadlines"),
        (120, 40, "Nearest deadlines"),
        (200, 60, "CHALLENGE (1)"),
    ],
)
def test_watch_fits_the_terminals_size(populated: int, cols: int, rows: int, expected: str) -> None:
    term = watch(populated, rows=rows, cols=cols)
    try:
        wait_until(lambda: expected in term.text(), 30, f"the first screen at {cols}x{rows}")
        assert "hk_challenge" in term.text() and "total" in term.text()
        term.signal(signal.SIGINT)
        assert term.wait(15) == 0
    finally:
        term.close()


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_watch_in_a_pty_redraws_after_a_change_and_exits_0_on_sigint(
    populated: int, remote_client: ChallengePeriodManager
) -> None:
    term = watch(populated)
    try:
        wait_until(lambda: "hk_challenge" in term.text(), 30, "the first screen")
        assert "pty_probe_7731" not in term.text()
        mark = term.size()
        remote_client.set_miner_bucket("pty_probe_7731", "PROBATION", 1_700_000_000_000)
        wait_until(lambda: "pty_probe_7731" in term.text(mark), 30, "a redraw with the new miner")
        term.signal(signal.SIGINT)
        assert term.wait(timeout_s=15) == 0
        assert "Traceback" not in term.text()
    finally:
        term.close()


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_watch_shows_reconnecting_and_recovers_after_a_service_restart(
    populated: int, cpm_process: Proc, tmp_path: Path
) -> None:
    term = watch(populated)
    restarted: Proc | None = None
    try:
        wait_until(lambda: f"(pid {cpm_process.pid})" in term.text(), 30, "the first screen")
        cpm_process.kill()
        mark = term.size()
        wait_until(lambda: "reconnecting…" in term.text(mark), 30, "the reconnecting status")
        restarted = start_cpm_server(populated, tmp_path / "state")
        mark = term.size()
        pid = f"(pid {restarted.pid})"
        wait_until(lambda: pid in term.text(mark), 30, "a redraw from the restarted service")
        mark = term.size()

        def clean_frame() -> bool:
            later = term.text(mark)
            return later.count("state version") >= 2 and "reconnecting" not in later

        wait_until(clean_frame, 30, "redraws without the reconnecting status")
        assert "hk_copycat" in term.text(mark)
        term.signal(signal.SIGTERM)
        assert term.wait(timeout_s=15) == 0
    finally:
        term.close()
        if restarted is not None:
            restarted.close()
