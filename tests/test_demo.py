"""The demo feed against real services, and ``cpm-stack --demo`` as a whole."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from services.domain.refresh_inputs import parse_refresh_inputs
from services.wire.naming import NameServerAddress
from tests.processes import (
    Proc,
    free_port,
    start_cpm_server,
    start_elimination_server,
    start_stack,
    wait_until,
)
from tools.demo import DemoFeed, start_demo
from tools.demo_metagraph import METRIC_WEIGHTS, Simulation

# The stack's demo setting: the service's own wall-clock refresh must not run mid-test.
NO_SELF_REFRESH = ("--refresh-interval-ms", "86400000")


def test_simulation_is_deterministic_and_its_inputs_are_valid() -> None:
    def run(seed: int) -> dict[str, object]:
        sim = Simulation(random.Random(seed), 1_700_000_000_000, size=50)
        sim.populate()
        for _ in range(20):
            sim.advance()
        return sim.inputs()

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    parsed = parse_refresh_inputs(first)
    assert 0 < len(parsed.metagraph_hotkeys) <= 50
    assert parsed.scores is not None
    assert set(parsed.scores) == {"crypto", "forex"}
    assert set(parsed.scores["crypto"].metrics) == set(METRIC_WEIGHTS)


def test_eliminated_miners_are_never_reissued_as_new_hotkeys() -> None:
    sim = Simulation(random.Random(1), 1_700_000_000_000, size=20)
    sim.populate()
    gone = list(sim.miners)[:5]
    sim.mark_eliminated(gone)
    for _ in range(60):
        sim.advance()
    new = [hk for hk, m in sim.miners.items() if m.registered_ms > 1_700_000_000_000]
    assert new, "60 simulated days register someone"
    assert not set(gone) & set(new)
    assert not set(gone) & set(sim.plagiarism)


@pytest.fixture
def services(ns_port: int, tmp_path: Path) -> Iterator[tuple[Proc, Proc]]:
    cpm = start_cpm_server(ns_port, tmp_path / "state", *NO_SELF_REFRESH)
    em = start_elimination_server(ns_port, tmp_path / "state")
    yield cpm, em
    em.close()
    cpm.close()


@pytest.fixture
def feed(ns_port: int, services: tuple[Proc, Proc]) -> Iterator[tuple[DemoFeed, threading.Event]]:
    stop = threading.Event()
    running = start_demo(NameServerAddress("127.0.0.1", ns_port), stop, tick_s=0.2)
    yield running, stop
    stop.set()
    running()


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_demo_adds_moves_and_eliminates_miners_then_stops(
    ns_port: int, feed: tuple[DemoFeed, threading.Event]
) -> None:
    running, stop = feed
    with (
        ChallengePeriodManager(ns_port=ns_port, timeout_s=5.0) as cpm,
        EliminationManager(ns_port=ns_port, timeout_s=5.0) as em,
    ):
        wait_until(lambda: len(cpm.get_all_miner_hotkeys()) >= 200, 15, "miners to be added")
        wait_until(
            lambda: bool(cpm.get_success_miners() and cpm.get_probation_miners()),
            15,
            "a promotion and a demotion",
        )
        wait_until(lambda: bool(em.get_eliminations()), 15, "an elimination row")
        eliminated = em.get_eliminated_hotkeys()
    # The feed counts a refresh once its reply is back, a moment after other clients can
    # see the refresh's effect in the state.
    wait_until(
        lambda: running.stats.promoted > 0 and running.stats.demoted > 0,
        5,
        "the feed to count the promotion and the demotion",
    )
    stop.set()
    running()
    assert not running.thread.is_alive()
    # Eliminated hotkeys stay out of the buckets while the demo ran.
    with ChallengePeriodManager(ns_port=ns_port, timeout_s=5.0) as cpm:
        assert not eliminated & set(cpm.get_all_miner_hotkeys())


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_demo_survives_a_service_restart(
    ns_port: int,
    tmp_path: Path,
    services: tuple[Proc, Proc],
    feed: tuple[DemoFeed, threading.Event],
) -> None:
    running, _ = feed
    cpm_proc, _ = services
    wait_until(lambda: running.stats.refreshes >= 3, 20, "the demo to refresh")
    cpm_proc.kill()
    restarted = start_cpm_server(ns_port, tmp_path / "state", *NO_SELF_REFRESH)
    try:
        after = running.stats.refreshes
        wait_until(lambda: running.stats.refreshes >= after + 3, 30, "refreshes to resume")
        assert running.thread.is_alive()
    finally:
        restarted.close()


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_stack_demo_feeds_the_stack_and_sigterm_stops_it(tmp_path: Path) -> None:
    port = free_port()
    stack = start_stack(port, tmp_path / "state", "--demo")
    try:

        def moved() -> bool:
            result = subprocess.run(
                [sys.executable, "-m", "tools.inspector", "--ns-port", str(port), "--json"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if result.returncode != 0:
                return False
            doc = json.loads(result.stdout)
            return bool(doc["buckets"]["MAINCOMP"] and doc["eliminations"])

        wait_until(moved, 30, "promotions and eliminations from the demo")
        assert stack.terminate(timeout_s=30) == 0
        assert "demo: a simulated validator" in stack.output()
    finally:
        stack.close()
