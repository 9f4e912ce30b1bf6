"""``cpm-load`` end to end, short: no errors, invariants hold, restart reads back the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import load

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_short_load_run_has_no_errors_and_keeps_its_invariants(tmp_path: Path, capsys) -> None:
    report_path = tmp_path / "load.json"
    code = load.main(["--clients", "4", "--seconds", "2", "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert code == 0, report["first_errors"]
    assert report["errors"] == 0
    assert report["ops"] > 100
    assert {"has_miner", "set_miner_bucket", "refresh_now"} <= report["per_op"].keys()
    assert report["hotkeys_in_more_than_one_bucket"] == []
    assert report["listings_match_snapshot"] is True
    assert report["restart_matches"] is True
    assert "ops/s" in capsys.readouterr().out


def test_bad_flags_exit_2() -> None:
    assert load.main(["--clients", "0"]) == 2
