"""The state files other programs and backups read are current: in direct mode when each
call returns, in a running service within a second of any acknowledged change."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from tests.processes import start_cpm_server

LAG_BOUND_S = 1.0


def _file_miners(state_dir: Path) -> dict[str, dict]:
    path = state_dir / "challengeperiod.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_direct_mode_files_are_current_when_each_call_returns(tmp_path: Path) -> None:
    with (
        ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cp") as cpm,
        EliminationManager(
            running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=cpm
        ) as em,
    ):
        cpm.set_miner_bucket("a", "MAINCOMP", 5)
        assert _file_miners(tmp_path / "cp") == cpm.to_checkpoint_dict()
        cpm.update_elimination_reasons({"b": ("ZOMBIE", -1)})
        reasons = json.loads((tmp_path / "cp" / "elimination_reasons.json").read_text())
        assert reasons == {"b": ["ZOMBIE", -1]}
        em.append_elimination_row("c", None, "ZOMBIE", 7)
        rows = json.loads((tmp_path / "em" / "eliminations.json").read_text())["eliminations"]
        assert [r["hotkey"] for r in rows] == ["c"]


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_running_service_files_trail_acknowledged_writes_by_under_a_second(
    ns_port: int, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    service = start_cpm_server(ns_port, state_dir)
    acked: list[tuple[float, str]] = []
    acked_lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with ChallengePeriodManager(ns_port=ns_port, timeout_s=10.0) as cpm:
                i = 0
                while not stop.is_set():
                    hotkey = f"w{n}-{i}"
                    cpm.set_miner_bucket(hotkey, "CHALLENGE", 1_000 + i)
                    with acked_lock:
                        acked.append((time.monotonic(), hotkey))
                    i += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    try:
        for thread in writers:
            thread.start()
        checks = 0
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            time.sleep(0.3)
            read_at = time.monotonic()
            on_disk = _file_miners(state_dir)  # atomic renames: always a whole document
            with acked_lock:
                old_enough = [hk for t, hk in acked if t < read_at - LAG_BOUND_S]
            missing = [hk for hk in old_enough if hk not in on_disk]
            assert missing == [], f"{len(missing)} writes acknowledged > 1 s ago not on disk"
            checks += bool(old_enough)
        stop.set()
        for thread in writers:
            thread.join(timeout=15)
        assert errors == [] and checks >= 5 and len(acked) > 100
        time.sleep(LAG_BOUND_S)
        with ChallengePeriodManager(ns_port=ns_port, timeout_s=10.0) as cpm:
            assert _file_miners(state_dir) == cpm.to_checkpoint_dict()
    finally:
        stop.set()
        service.close()
