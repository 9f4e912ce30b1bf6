"""``cpm-migrate --check`` on a validator's directory, then the services started on it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager, MinerBucket
from tests.processes import start_cpm_server, start_elimination_server
from tools import migrate

FIXTURE = Path(__file__).parent / "fixtures" / "validator"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "validation"
    shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns("README.md"))
    return target


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_check_reports_what_it_loads_and_writes_nothing(tmp_path: Path, capsys) -> None:
    directory = _copy(tmp_path)
    before = _snapshot(directory)
    assert migrate.main(["--check", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "miners: {'CHALLENGE': 2, 'MAINCOMP': 1, 'PLAGIARISM': 1, 'PROBATION': 1}" in out
    assert "departed hotkeys: 367" in out
    assert "float times read as integers for 2 entries" in out
    assert "second row for 5F010" in out and "missing fields (loaded as None): 5F013" in out
    assert "the services can start on this directory" in out
    assert _snapshot(directory) == before  # no lock, no journal, no rewrite


def test_check_as_json(tmp_path: Path, capsys) -> None:
    assert migrate.main(["--check", str(_copy(tmp_path)), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["found"]["eliminations"]["rows"]["MAX_TOTAL_DRAWDOWN"] == 1


def test_a_corrupt_file_is_named_exit_1_and_left_alone(tmp_path: Path, capsys) -> None:
    directory = _copy(tmp_path)
    (directory / "eliminations.json").write_text('{"eliminations": [{"reason": "ZOMBIE"}]}')
    before = _snapshot(directory)
    assert migrate.main(["--check", str(directory)]) == 1
    out = capsys.readouterr().out
    assert "eliminations.json" in out and "would refuse" in out
    assert _snapshot(directory) == before


def test_not_a_directory_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert migrate.main(["--check", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_the_command_runs_as_a_module(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.migrate", "--check", str(_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "can start" in done.stdout


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_the_services_start_on_the_checked_directory(ns_port: int, tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    assert migrate.main(["--check", str(directory)]) == 0
    cp = start_cpm_server(ns_port, directory)
    em = start_elimination_server(ns_port, directory)
    try:
        with (
            ChallengePeriodManager(ns_port=ns_port, timeout_s=10.0) as cpm,
            EliminationManager(ns_port=ns_port, timeout_s=10.0) as elim,
        ):
            assert cpm.get_miner_bucket("5F004xTestMinerHotkeyAbCdEfGhIjKlMnOpQrStUvWxY") is (
                MinerBucket.PLAGIARISM
            )
            assert len(cpm.get_all_miner_hotkeys()) == 5
            row = elim.get_elimination("5F010xTestMinerHotkeyAbCdEfGhIjKlMnOpQrStUvWxY")
            assert row is not None and row["dd"] == 12.5  # the last of the two rows
            assert len(elim.get_departed_hotkeys()) == 367
        # While the services hold the directory, a check says so instead of reading it.
        assert migrate.check(directory).problems and not migrate.check(directory).ok
    finally:
        em.close()
        cp.close()
