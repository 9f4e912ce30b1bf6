"""Both services as real processes: the handoff with no call, restarts, and a kill storm."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from tests.processes import start_cpm_server, start_elimination_server, wait_until

pytestmark = [pytest.mark.integration]

D = 86_400_000
STRESS_SECONDS = float(os.environ.get("CPM_STRESS_SECONDS", "8"))


@pytest.fixture
def cpm_state(tmp_path: Path) -> Path:
    return tmp_path / "cpm"


@pytest.fixture
def em_state(tmp_path: Path) -> Path:
    return tmp_path / "em"


@pytest.mark.timeout(60)
def test_refresh_elimination_becomes_a_row_without_a_call(
    ns_port: int, cpm_state: Path, em_state: Path
) -> None:
    cpm_proc = start_cpm_server(ns_port, cpm_state)
    em_proc = start_elimination_server(ns_port, em_state)
    try:
        with (
            ChallengePeriodManager(ns_port=ns_port) as cpm,
            EliminationManager(ns_port=ns_port) as em,
        ):
            cpm.set_miner_bucket("slow", "CHALLENGE", 1000)
            summary = cpm.refresh_now()
            assert summary["eliminated"] == {"slow": ("FAILED_CHALLENGE_PERIOD_TIME", -1)}
            # The 2 s latency itself is measured by cpm-bench; here: it happens with no call.
            wait_until(lambda: em.is_eliminated("slow"), 10, "the row")
            row = em.get_elimination("slow")
            assert row is not None
            assert row["reason"] == "FAILED_CHALLENGE_PERIOD_TIME" and row["dd"] == -1
            wait_until(lambda: not cpm.has_elimination_reasons(), 5, "the reason to be taken")
            # The next refresh learns the hotkey from the elimination service.
            cpm.submit_refresh_inputs({"metagraph_hotkeys": ["slow"], "miners": {}})
            cpm.refresh_now()
            assert cpm.has_miner("slow") is False
    finally:
        em_proc.close()
        cpm_proc.close()


@pytest.mark.timeout(90)
def test_either_service_can_start_first_and_restart(
    ns_port: int, cpm_state: Path, em_state: Path
) -> None:
    em_proc = start_elimination_server(ns_port, em_state)  # before its source exists
    try:
        cpm_proc = start_cpm_server(ns_port, cpm_state)
        try:
            with (
                ChallengePeriodManager(ns_port=ns_port) as cpm,
                EliminationManager(ns_port=ns_port) as em,
            ):
                cpm.update_elimination_reasons({"a": ("ZOMBIE", -1)})
                wait_until(lambda: em.is_eliminated("a"), 10, "row a")
                cpm_proc.kill()
                cpm_proc = start_cpm_server(ns_port, cpm_state)
                cpm.update_elimination_reasons({"b": ("ZOMBIE", -1)})
                wait_until(lambda: em.is_eliminated("b"), 10, "row b after the restart")
                em_proc.kill()
                cpm.update_elimination_reasons({"c": ("ZOMBIE", -1)})
                em_proc = start_elimination_server(ns_port, em_state)
                wait_until(lambda: em.is_eliminated("c"), 10, "row c after the restart")
                assert sorted(r["hotkey"] for r in em.get_eliminations()) == ["a", "b", "c"]
        finally:
            cpm_proc.close()
        assert em_proc.errors().count("challenge-period service unavailable") <= 2
    finally:
        em_proc.close()


class Storm:
    """Producer of eliminations plus a killer that SIGKILLs and restarts either service."""

    def __init__(self, ns_port: int, cpm_state: Path, em_state: Path) -> None:
        self.ns_port = ns_port
        self.cpm_state, self.em_state = cpm_state, em_state
        self.cpm_proc = start_cpm_server(ns_port, cpm_state)
        self.em_proc = start_elimination_server(ns_port, em_state)
        self.reported: set[str] = set()  # acknowledged as eliminated
        self.attempted: set[str] = set()  # every hotkey we tried to eliminate
        # The elimination round's own steps, fed by inputs submitted once per cycle:
        self.zombies: set[str] = set()  # miner data, not registered: a ZOMBIE row each
        self.drawdowns: set[str] = set()  # MAINCOMP at 20 % drawdown: MAX_TOTAL_DRAWDOWN
        # Registered hotkeys with rows far older than the expiry: never deleted.
        self.registered_rows = [f"r{k}" for k in range(5)]
        self.metagraph = [*self.registered_rows, *(f"q{k}" for k in range(10))]
        self.kills = 0
        self.stop = threading.Event()
        self.rng = random.Random(1234)

    def _retry(self, fn, *args):  # the outcome of a failed mutation is unknown: repeat it
        while True:
            try:
                return fn(*args)
            except ConnectionError:
                time.sleep(0.05)

    def inputs(self) -> dict:
        """This cycle's inputs: the late and drawdown miners registered, zombies not."""
        losing = {
            "first_order_time_ms": None,
            "n_positions": 3,
            "ledger_start_ms": 1_000,
            "n_checkpoints": 5,
            "min_mdd": 0.8,
            "trading_days": 3,
        }
        return {
            "metagraph_hotkeys": list(self.metagraph),
            "miners": dict.fromkeys(sorted(self.drawdowns), losing),
            "miner_dir_hotkeys": sorted(self.zombies),
        }

    def produce(self) -> None:
        with (
            ChallengePeriodManager(ns_port=self.ns_port, timeout_s=3) as cpm,
            EliminationManager(ns_port=self.ns_port, timeout_s=3) as em,
        ):
            for hotkey in self.registered_rows:
                self._retry(em.append_elimination_row, hotkey, 0.0, "LIQUIDATED", 1_000)
            i = 0
            while not self.stop.is_set():
                i += 1
                direct = f"z{i}"
                self.attempted.add(direct)
                self._retry(cpm.update_elimination_reasons, {direct: ("ZOMBIE", -1)})
                self.reported.add(direct)
                late = f"t{i}"
                self.attempted.add(late)
                self.metagraph.append(late)  # registered, so it is inspected, not pruned
                self.zombies.add(f"g{i}")
                self._retry(cpm.set_miner_bucket, late, "CHALLENGE", 1000)
                if i % 3 == 0:
                    self.drawdowns.add(f"d{i}")
                    self.metagraph.append(f"d{i}")
                    self._retry(cpm.set_miner_bucket, f"d{i}", "MAINCOMP", 1000)
                self._retry(cpm.submit_refresh_inputs, self.inputs())
                summary = self._retry(cpm.refresh_now)
                self.reported.update(summary["eliminated"])

    def kill_loop(self) -> None:
        while not self.stop.wait(self.rng.uniform(0.3, 0.9)):
            if self.rng.random() < 0.5:
                self.cpm_proc.kill()
                self.cpm_proc.close()
                self.cpm_proc = start_cpm_server(self.ns_port, self.cpm_state)
            else:
                self.em_proc.kill()
                self.em_proc.close()
                self.em_proc = start_elimination_server(self.ns_port, self.em_state)
            self.kills += 1

    def close(self) -> None:
        self.cpm_proc.close()
        self.em_proc.close()


def run_kill_storm(ns_port: int, cpm_state: Path, em_state: Path, seconds: float) -> None:
    """Produce eliminations while SIGKILLing either service; then check nothing was lost."""
    storm = Storm(ns_port, cpm_state, em_state)
    threads = [threading.Thread(target=storm.produce), threading.Thread(target=storm.kill_loop)]
    try:
        for t in threads:
            t.start()
        time.sleep(seconds)
        storm.stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        with (
            ChallengePeriodManager(ns_port=ns_port) as cpm,
            EliminationManager(ns_port=ns_port) as em,
        ):
            cpm.submit_refresh_inputs(storm.inputs())
            cpm.refresh_now()  # eliminates any late miner whose refresh outcome was unknown
            em.process_eliminations()  # a round over the last inputs: zombies, drawdowns
            wait_until(lambda: not cpm.has_elimination_reasons(), 20, "no pending reason")
            rows = em.get_eliminations()
            in_buckets = set(cpm.get_all_miner_hotkeys())
        storm.em_proc.terminate()
    finally:
        storm.close()
    counts = Counter(r["hotkey"] for r in rows)
    duplicates = {hk: n for hk, n in counts.items() if n > 1}
    print(f"\nkill storm: {len(counts)} eliminations, {storm.kills} kills in {seconds:.0f} s")
    assert storm.kills >= 3
    assert len(storm.reported) >= 20
    assert duplicates == {}
    assert storm.reported - counts.keys() == set(), "an acknowledged elimination has no row"
    lost = storm.attempted - counts.keys() - in_buckets
    assert lost == set(), "a hotkey left its bucket without becoming a row"
    on_disk = json.loads((em_state / "eliminations.json").read_text())["eliminations"]
    assert Counter(r["hotkey"] for r in on_disk) == counts
    reasons = {r["hotkey"]: r["reason"] for r in rows}
    assert {hk: reasons.get(hk) for hk in storm.zombies} == dict.fromkeys(storm.zombies, "ZOMBIE")
    assert {hk: reasons.get(hk) for hk in storm.drawdowns} == dict.fromkeys(
        storm.drawdowns, "MAX_TOTAL_DRAWDOWN"
    )
    # Rows far past the expiry whose hotkeys are still registered are never deleted.
    assert {hk: reasons.get(hk) for hk in storm.registered_rows} == dict.fromkeys(
        storm.registered_rows, "LIQUIDATED"
    )


@pytest.mark.timeout(STRESS_SECONDS + 120)
def test_kill_storm_loses_no_elimination_and_writes_none_twice(
    ns_port: int, cpm_state: Path, em_state: Path
) -> None:
    run_kill_storm(ns_port, cpm_state, em_state, STRESS_SECONDS)
