"""Long runs, only with ``--soak``: the kill storm and the 16-client load for minutes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_elimination_integration import run_kill_storm
from tools import load

pytestmark = [pytest.mark.soak, pytest.mark.integration]


@pytest.mark.timeout(600)
def test_kill_storm_for_three_minutes(ns_port: int, tmp_path: Path) -> None:
    run_kill_storm(ns_port, tmp_path / "cpm", tmp_path / "em", seconds=180)


@pytest.mark.timeout(300)
def test_sixteen_clients_for_a_minute_without_an_error(tmp_path: Path) -> None:
    report_path = tmp_path / "load.json"
    code = load.main(["--clients", "16", "--seconds", "60", "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert code == 0, report["first_errors"]
    assert report["errors"] == 0 and report["restart_matches"] is True
