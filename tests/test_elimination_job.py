"""The elimination round, process_eliminations(now): RULES.md's steps and examples 20-24, and
the reference elimination tests ported through the public clients in direct mode."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clients import ChallengePeriodManager, EliminationManager
from services.domain import elimination_rules as er
from services.domain.config import PTN_2025_11, VANTA_2025_12
from tests.hosting import pair_of

pytestmark = pytest.mark.timeout(60)

D = 86_400_000
NOW = 1_750_000_000_000
LOSING, WINNING = 0.89, 0.99
CORE = [
    "miner_mdd",
    "miner_regular",
    "miner_zombie",
    "miner_plagiarist",
    "miner_challenge_fail",
    "miner_liquidated",
]


def miner(min_mdd: float | None, n_cp: int = 240, start: int | None = 0) -> dict[str, Any]:
    """One miner's inputs: a ledger of ``n_cp`` checkpoints whose lowest ratio is ``min_mdd``."""
    return {
        "first_order_time_ms": 0,  # not after the ledger's start: not a re-registration
        "n_positions": 1,
        "ledger_start_ms": start,
        "n_checkpoints": n_cp,
        "min_mdd": min_mdd,
        "trading_days": 120,
    }


def submit(
    cpm: ChallengePeriodManager,
    metagraph: list[str],
    miners: dict[str, dict[str, Any]],
    miner_dirs: list[str] | None = None,
) -> None:
    """One validator cycle's inputs, to the challenge-period service only."""
    cpm.submit_refresh_inputs(
        {"metagraph_hotkeys": metagraph, "miners": miners, "miner_dir_hotkeys": miner_dirs}
    )


def core_miners() -> dict[str, dict[str, Any]]:
    """The reference core setup's ledgers: mdd and challenge_fail losing, the rest winning."""
    return {
        hk: miner(LOSING if hk in ("miner_mdd", "miner_challenge_fail") else WINNING) for hk in CORE
    }


def core_setup(cpm: ChallengePeriodManager) -> None:
    """The reference core setup: five MAINCOMP miners, one in CHALLENGE for 61 D 8 h."""
    for hk in CORE:
        if hk == "miner_challenge_fail":
            cpm.set_miner_bucket(hk, "CHALLENGE", NOW - 61 * D - 8 * 3_600_000)
        else:
            cpm.set_miner_bucket(hk, "MAINCOMP", 0)
    submit(cpm, CORE, core_miners(), CORE)


@pytest.fixture(params=["direct", "network"])
def pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ChallengePeriodManager, EliminationManager]]:
    """Both clients: in direct mode, or over TCP to both services (real Pyro5 daemons on
    port 0, each wired to a client of its peer as the launchers wire them)."""
    if request.param == "direct":
        yield request.getfixturevalue("direct_pair")
        return
    if request.node.get_closest_marker("state_files"):
        pytest.skip("reads or reopens the direct-mode state files; the network run cannot")
    with pair_of("remote", VANTA_2025_12, tmp_path / "network") as clients:
        yield clients


@pytest.fixture
def core(pair):
    core_setup(pair[0])
    return pair


# -- the pure decisions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_mdd", "pct"),
    [(None, 0.0), (1.0, 0.0), (1.5, 0.0), (0.0, 100.0), (-0.2, 100.0), (0.75, 25.0)],
)
def test_drawdown_percent_clips_the_ratio(min_mdd, pct) -> None:
    assert er.drawdown_percent(min_mdd) == pct


def test_dd_is_rounded_as_numpy_does() -> None:
    assert er.round_dd(er.drawdown_percent(0.89605)) == 10.4
    assert er.round_dd(er.drawdown_percent(0.89)) == 11.0
    assert er.round_dd(er.drawdown_percent(0.8999)) == 10.01


@pytest.mark.parametrize(
    ("lost", "previous", "anomalous"),
    [
        (10, 40, False),
        (10, 41, False),
        (15, 50, True),
        (11, 100, False),
        (30, 100, True),
        (11, 40, True),
        (0, 0, False),
        (11, 0, False),
    ],
)
def test_anomalous_loss_needs_both_the_count_and_the_share(lost, previous, anomalous) -> None:
    assert er.is_anomalous_loss(lost, previous, VANTA_2025_12) is anomalous


def test_an_empty_metagraph_is_unknown_for_every_step() -> None:
    rows = {"old": er.make_row("old", "ZOMBIE", None, 0)}
    plan = er.plan_departed(frozenset({"a"}), [], {}, NOW, VANTA_2025_12)
    assert plan.new_entries == {} and plan.previous == frozenset({"a"})
    assert er.plan_zombies(["z"], [], {}, (), NOW, VANTA_2025_12) == []
    assert er.plan_expiry(rows, [], NOW, VANTA_2025_12) == []


def test_the_development_hotkey_is_never_a_zombie_in_vanta() -> None:
    candidates = ["DEVELOPMENT", "z"]
    vanta = er.plan_zombies(candidates, ["other"], {}, (), NOW, VANTA_2025_12)
    ptn = er.plan_zombies(candidates, ["other"], {}, (), NOW, PTN_2025_11)
    assert [r["hotkey"] for r in vanta] == ["z"]
    assert [r["hotkey"] for r in ptn] == ["DEVELOPMENT", "z"]


def test_a_row_without_a_time_never_expires() -> None:
    rows = {
        "old": {"hotkey": "old", "reason": None, "dd": None, "elimination_initiated_time_ms": None}
    }
    assert er.plan_expiry(rows, ["other"], NOW, VANTA_2025_12) == []


# -- RULES.md examples 20-24 ----------------------------------------------------------------


def test_example_20_pending_reasons_merge_across_refreshes(pair) -> None:
    cpm, em = pair
    cpm.update_elimination_reasons({"A": ("FAILED_CHALLENGE_PERIOD_TIME", -1)})
    cpm.set_miner_bucket("B", "CHALLENGE", NOW - D)
    submit(cpm, ["A", "B"], {"B": {**miner(0.88, start=NOW - D), "first_order_time_ms": NOW - D}})
    cpm.refresh_now(NOW)
    assert cpm.get_all_elimination_reasons() == {
        "A": ("FAILED_CHALLENGE_PERIOD_TIME", -1),
        "B": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 12.0),
    }
    assert sorted(em.process_eliminations(NOW)["added"]) == ["A", "B"]
    assert em.get_elimination("B")["dd"] == 12.0


def test_example_21_maincomp_drawdown_row_and_probation_reason(pair) -> None:
    cpm, em = pair
    cpm.set_miner_bucket("M", "MAINCOMP", 0)
    cpm.set_miner_bucket("P", "PROBATION", NOW - D)
    submit(cpm, ["M", "P"], {"M": miner(0.88), "P": miner(0.88)})
    assert em.process_eliminations(NOW)["added"] == ["M"]
    assert em.get_elimination("M") == {
        "hotkey": "M",
        "reason": "MAX_TOTAL_DRAWDOWN",
        "dd": 12.0,
        "elimination_initiated_time_ms": NOW,
    }
    assert em.get_elimination("P") is None
    cpm.refresh_now(NOW)
    assert em.process_eliminations(NOW + 1)["added"] == ["P"]
    assert em.get_elimination("P")["reason"] == "FAILED_CHALLENGE_PERIOD_DRAWDOWN"


@pytest.mark.parametrize(
    ("now", "metagraph", "deleted"),
    [
        (NOW + 2 * D - 1, ["other"], []),
        (NOW + 2 * D, ["other"], ["H"]),
        (NOW + 2 * D, ["other", "H"], []),
    ],
)
def test_example_22_expiry(pair, now, metagraph, deleted) -> None:
    cpm, em = pair
    cpm.set_miner_bucket("H", "MAINCOMP", 0)
    em.append_elimination_row("H", 11.0, "MAX_TOTAL_DRAWDOWN", NOW)
    submit(cpm, metagraph, {})
    assert em.process_eliminations(now)["deleted"] == deleted
    assert em.is_eliminated("H") is not deleted
    assert cpm.has_miner("H") is not deleted


def test_example_23_zombie(pair) -> None:
    cpm, em = pair
    submit(cpm, ["other"], {}, ["Z", "other"])
    assert em.process_eliminations(NOW)["added"] == ["Z"]
    assert em.get_elimination("Z") == {
        "hotkey": "Z",
        "reason": "ZOMBIE",
        "dd": None,
        "elimination_initiated_time_ms": NOW,
    }
    submit(cpm, ["other", "Y"], {}, ["Y"])
    assert em.process_eliminations(NOW)["added"] == []


@pytest.mark.parametrize(
    ("previous", "lost", "recorded"),
    [(100, 11, 11), (100, 30, 0), (20, 10, 10), (40, 11, 0), (40, 10, 10), (41, 10, 10)],
)
def test_example_24_departed(pair, previous, lost, recorded) -> None:
    """RULES.md example 24; with 40/10 and 41/10 also the ports of Vanta
    tests/vali_tests/test_reregistration.py::test_anomaly_threshold_boundary and
    ::test_below_anomaly_threshold_boundary."""
    cpm, em = pair
    hotkeys = [f"miner_{i}" for i in range(previous)]
    submit(cpm, hotkeys, {}, [])
    em.process_eliminations(NOW)
    submit(cpm, hotkeys[lost:], {}, [])
    em.process_eliminations(NOW + 1)
    departed = em.get_departed_hotkeys()
    assert len(departed) == recorded
    if recorded:
        assert departed["miner_0"] == {"detected_ms": NOW + 1}
        submit(cpm, hotkeys, {}, [])
        assert em.is_hotkey_re_registered("miner_0") is True


# -- Vanta / PTN tests/vali_tests/test_elimination_core.py ----------------------------------


def test_basic_mdd_elimination(core) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_core.py::test_basic_mdd_elimination."""
    _, em = core
    assert em.process_eliminations(NOW) == {"added": ["miner_mdd"], "skipped": [], "deleted": []}
    assert [r["hotkey"] for r in em.get_eliminations()] == ["miner_mdd"]
    assert em.get_elimination("miner_mdd")["dd"] == 11.0
    assert em.get_elimination("miner_challenge_fail") is None  # CHALLENGE: not this step's


def test_zombie_elimination_basic(core) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_core.py::test_zombie_elimination_basic."""
    cpm, em = core
    em.process_eliminations(NOW)
    submit(cpm, ["unrelated"], core_miners(), CORE)  # an empty metagraph would be "unknown"
    result = em.process_eliminations(NOW + 1)
    assert sorted(result["added"]) == sorted(hk for hk in CORE if hk != "miner_mdd")
    assert em.get_elimination("miner_mdd")["reason"] == "MAX_TOTAL_DRAWDOWN"
    for hk in result["added"]:
        assert em.get_elimination(hk)["reason"] == "ZOMBIE"
        assert em.get_elimination(hk)["dd"] is None
    assert len(em.get_eliminations()) == 6
    assert em.get_departed_hotkeys() == {hk: {"detected_ms": NOW + 1} for hk in CORE}


def test_mdd_elimination_comprehensive(core) -> None:
    """Port of PTN tests/vali_tests/test_elimination_core.py::test_mdd_elimination_comprehensive."""
    _, em = core
    em.process_eliminations(NOW)
    assert em.get_elimination("miner_mdd") == {
        "hotkey": "miner_mdd",
        "reason": "MAX_TOTAL_DRAWDOWN",
        "dd": 11.0,
        "elimination_initiated_time_ms": NOW,
    }


def test_challenge_period_elimination(core) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_core.py::test_challenge_period_elimination."""  # noqa: E501
    cpm, em = core
    cpm.update_elimination_reasons(
        {"miner_challenge_fail": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 0.08)}
    )
    result = em.process_eliminations(NOW)
    assert set(result["added"]) == {"miner_challenge_fail", "miner_mdd"}
    assert result["skipped"] == []
    row = em.get_elimination("miner_challenge_fail")
    assert row["reason"] == "FAILED_CHALLENGE_PERIOD_DRAWDOWN"
    assert row["dd"] == 0.08 and row["elimination_initiated_time_ms"] == NOW
    assert cpm.get_all_elimination_reasons() == {}


def test_perf_ledger_elimination(core) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_core.py::test_perf_ledger_elimination."""
    _, em = core
    prices = {"BTCUSD": 55000, "ETHUSD": 2800}
    assert em.append_elimination_row("miner_liquidated", 0.15, "LIQUIDATED", NOW, prices)
    assert em.process_eliminations(NOW)["added"] == ["miner_mdd"]
    assert em.get_elimination("miner_liquidated")["price_info"] == prices


@pytest.mark.state_files
def test_elimination_persistence(core, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_core.py::test_elimination_persistence."""
    _, em = core
    em.append_elimination_row("miner_mdd", 0.12, "MAX_TOTAL_DRAWDOWN", NOW - 5)
    em.close()
    document = json.loads((tmp_path / "em" / "eliminations.json").read_text())
    assert [(r["hotkey"], r["dd"]) for r in document["eliminations"]] == [("miner_mdd", 0.12)]
    with EliminationManager(running_unit_tests=True, state_dir=tmp_path / "em") as again:
        assert again.get_eliminations() == [
            er.make_row("miner_mdd", "MAX_TOTAL_DRAWDOWN", 0.12, NOW - 5)
        ]


def test_elimination_row_generation(pair) -> None:
    """Port of PTN tests/vali_tests/test_elimination_core.py::test_elimination_row_generation."""
    _, em = pair
    em.append_elimination_row("miner_mdd", 0.15, "MAX_TOTAL_DRAWDOWN", t_ms=NOW)
    row = em.get_elimination("miner_mdd")
    assert (row["hotkey"], row["dd"], row["reason"]) == ("miner_mdd", 0.15, "MAX_TOTAL_DRAWDOWN")
    assert row["elimination_initiated_time_ms"] == NOW
    em.append_elimination_row("later", None, "ZOMBIE")
    assert em.get_elimination("later")["elimination_initiated_time_ms"] > NOW


def test_elimination_sync(pair) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_core.py::test_elimination_sync."""
    _, em = pair
    row = er.make_row("miner_mdd", "MAX_TOTAL_DRAWDOWN", 0.12, NOW)
    assert em.sync_eliminations([row]) == []
    assert em.get_eliminations() == [row]


def test_is_zombie_hotkey(core) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_core.py::test_is_zombie_hotkey."""
    cpm, em = core
    submit(cpm, [hk for hk in CORE if hk != "miner_zombie"], core_miners(), CORE)
    assert em.process_eliminations(NOW)["added"] == ["miner_mdd", "miner_zombie"]
    assert em.get_elimination("miner_zombie")["reason"] == "ZOMBIE"


def test_hotkey_in_eliminations(pair) -> None:
    """Port of PTN tests/vali_tests/test_elimination_core.py::test_hotkey_in_eliminations."""
    _, em = pair
    em.append_elimination_row("miner_mdd", 0.12, "MAX_TOTAL_DRAWDOWN", NOW)
    assert em.get_elimination("miner_mdd")["reason"] == "MAX_TOTAL_DRAWDOWN"
    assert em.get_elimination("non_existent") is None


def test_multiple_eliminations_same_miner(core) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_core.py::test_multiple_eliminations_same_miner."""  # noqa: E501
    _, em = core
    em.append_elimination_row("miner_mdd", 0.12, "MAX_TOTAL_DRAWDOWN", NOW)
    assert em.process_eliminations(NOW)["added"] == []
    assert em.get_elimination("miner_mdd")["dd"] == 0.12
    assert em.append_elimination_row("miner_mdd", 0.5, "MAX_TOTAL_DRAWDOWN", NOW) is False
    assert len(em.get_eliminations()) == 1


def test_elimination_deletion_after_timeout(core) -> None:
    """Port of PTN tests/vali_tests/test_elimination_core.py::test_elimination_deletion_after_timeout."""  # noqa: E501
    cpm, em = core
    submit(cpm, CORE, core_miners(), [*CORE, "old_miner"])
    em.append_elimination_row("old_miner", 0.15, "MAX_TOTAL_DRAWDOWN", NOW - 2 * D - 8 * 3_600_000)
    result = em.process_eliminations(NOW)
    assert result["deleted"] == ["old_miner"] and result["added"] == ["miner_mdd"]
    assert em.get_elimination("old_miner") is None
    # The validator deletes the miner's data from ``deleted``; until its next inputs stop
    # listing the hotkey, the next round must not make it a zombie again.
    assert em.process_eliminations(NOW + 1)["added"] == []


def test_elimination_with_no_positions(core) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_core.py::test_elimination_with_no_positions."""  # noqa: E501
    cpm, em = core
    miners = core_miners()
    miners["miner_mdd"] = {**miners["miner_mdd"], "first_order_time_ms": None, "n_positions": 0}
    submit(cpm, CORE, miners, [hk for hk in CORE if hk != "miner_mdd"])
    assert em.process_eliminations(NOW)["added"] == ["miner_mdd"]
    assert em.get_elimination("miner_mdd")["dd"] == 11.0


# -- Vanta / PTN tests/vali_tests/test_elimination_manager.py --------------------------------


def test_elimination_for_mdd(pair) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_manager.py::test_elimination_for_mdd."""
    cpm, em = pair
    both = ["miner_mdd", "miner_regular"]
    for hk in both:
        cpm.set_miner_bucket(hk, "MAINCOMP", 0)
    miners = {"miner_mdd": miner(LOSING, 180), "miner_regular": miner(WINNING, 180)}
    submit(cpm, both, miners, both)
    assert em.process_eliminations(NOW)["added"] == ["miner_mdd"]
    submit(cpm, ["unrelated"], miners, both)
    assert em.process_eliminations(NOW + 1)["added"] == ["miner_regular"]
    assert em.get_elimination("miner_mdd")["reason"] == "MAX_TOTAL_DRAWDOWN"
    assert em.get_elimination("miner_regular")["dd"] is None
    assert len(em.get_eliminations()) == 2
    assert em.get_departed_hotkeys() == {hk: {"detected_ms": NOW + 1} for hk in both}


@pytest.mark.state_files
def test_race_concurrent_append_elimination_row_disk_corruption(pair, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_manager.py::test_race_concurrent_append_elimination_row_disk_corruption."""  # noqa: E501
    _, em = pair
    errors: list[BaseException] = []

    def append(i: int) -> None:
        try:
            em.append_elimination_row(f"race_miner_{i}", 0.08, "MAX_TOTAL_DRAWDOWN", 1000 + i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(em.get_eliminations()) == 20
    em.close()
    document = json.loads((tmp_path / "em" / "eliminations.json").read_text())
    assert len(document["eliminations"]) == 20


def test_race_sync_eliminations_clear_window(pair) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_manager.py::test_race_sync_eliminations_clear_window."""  # noqa: E501
    _, em = pair
    for i in range(50):
        em.append_elimination_row(f"initial_{i}", 0.1, "ZOMBIE", NOW)
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(len(em.get_eliminations()))

    reader = threading.Thread(target=read)
    reader.start()
    new = [
        {**er.make_row(f"synced_{i}", "PLAGIARISM", 0.10, NOW), "price_info": {}, "return_info": {}}
        for i in range(30)
    ]
    removed = em.sync_eliminations(new)
    stop.set()
    reader.join()
    assert 0 not in seen
    assert sorted(removed) == sorted(f"initial_{i}" for i in range(50))
    assert em.get_eliminations() == new


def test_race_iteration_during_modification_crash(core) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_manager.py::test_race_iteration_during_modification_crash."""  # noqa: E501
    _, em = core
    for i in range(50):
        em.append_elimination_row(f"iter_miner_{i}", 0.1, "ZOMBIE", NOW)
    results: list[dict[str, list[str]]] = []
    rounds = threading.Thread(target=lambda: results.append(em.process_eliminations(NOW)))
    rounds.start()
    for i in range(50, 70):
        em.append_elimination_row(f"new_miner_{i}", 0.1, "ZOMBIE", NOW)
    rounds.join()
    assert results[0]["deleted"] == []
    assert len(em.get_eliminations()) == 71


def test_race_concurrent_departed_hotkeys_updates(pair) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_manager.py::test_race_concurrent_departed_hotkeys_updates."""  # noqa: E501
    cpm, em = pair
    hotkeys = [f"departed_test_{i}" for i in range(10)]
    submit(cpm, hotkeys, {}, [])
    em.process_eliminations(NOW)
    submit(cpm, hotkeys[5:], {}, [])
    threads = [threading.Thread(target=em.process_eliminations, args=(NOW + 1,)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert em.get_departed_hotkeys() == {hk: {"detected_ms": NOW + 1} for hk in hotkeys[:5]}


# -- Vanta / PTN tests/vali_tests/test_elimination_integration.py ----------------------------

FLOW = [
    "healthy_miner",
    "mdd_miner",
    "plagiarist_miner",
    "challenge_fail_miner",
    "zombie_miner",
    "liquidated_miner",
    "new_miner",
]


@pytest.fixture
def flow(pair):
    cpm, _ = pair
    for hk in FLOW:
        if hk == "challenge_fail_miner":
            cpm.set_miner_bucket(hk, "CHALLENGE", NOW - 61 * D - D)
        elif hk == "new_miner":
            cpm.set_miner_bucket(hk, "CHALLENGE", NOW - D)
        else:
            cpm.set_miner_bucket(hk, "MAINCOMP", 0)
    return pair


def flow_miners() -> dict[str, dict[str, Any]]:
    """Vanta's ledgers: mdd and challenge_fail losing, the rest winning."""
    losing = ("mdd_miner", "challenge_fail_miner")
    return {hk: miner(LOSING if hk in losing else WINNING) for hk in FLOW}


@pytest.mark.state_files
def test_complete_elimination_flow(flow, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_integration.py::test_complete_elimination_flow."""  # noqa: E501
    cpm, em = flow
    submit(cpm, FLOW, flow_miners(), FLOW)
    assert em.process_eliminations(NOW)["added"] == ["mdd_miner"]
    submit(cpm, [hk for hk in FLOW if hk != "zombie_miner"], flow_miners(), FLOW)
    assert em.process_eliminations(NOW + 1)["added"] == ["zombie_miner"]
    assert set(em.get_departed_hotkeys()) == {"zombie_miner"}
    cpm.update_elimination_reasons(
        {"challenge_fail_miner": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 0.08)}
    )
    assert em.process_eliminations(NOW + 2)["added"] == ["challenge_fail_miner"]
    prices = {"BTCUSD": 45000, "ETHUSD": 2200}
    em.append_elimination_row("liquidated_miner", 0.20, "LIQUIDATED", NOW + 3, prices)
    assert em.process_eliminations(NOW + 3)["added"] == []
    eliminated = {"mdd_miner", "zombie_miner", "challenge_fail_miner", "liquidated_miner"}
    assert em.get_eliminated_hotkeys() == eliminated
    em.close()
    with EliminationManager(running_unit_tests=True, state_dir=tmp_path / "em") as again:
        assert again.get_eliminated_hotkeys() == eliminated


def test_concurrent_elimination_scenarios(flow) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_integration.py::test_concurrent_elimination_scenarios."""  # noqa: E501
    cpm, em = flow
    submit(cpm, FLOW, flow_miners(), FLOW)
    em.append_elimination_row("liquidated_miner", 0.25, "LIQUIDATED", NOW, price_info={})
    cpm.update_elimination_reasons({"challenge_fail_miner": ("FAILED_CHALLENGE_PERIOD_TIME", -1)})
    result = em.process_eliminations(NOW)
    assert set(result["added"]) == {"challenge_fail_miner", "mdd_miner"}
    assert em.get_elimination("challenge_fail_miner")["dd"] == -1
    assert em.get_elimination("liquidated_miner")["reason"] == "LIQUIDATED"


def test_elimination_recovery_flow(flow) -> None:
    """Port of PTN tests/vali_tests/test_elimination_integration.py::test_elimination_recovery_flow."""  # noqa: E501
    cpm, em = flow
    for min_mdd in (0.91, 0.9001507, 0.90):
        submit(cpm, FLOW, {"healthy_miner": miner(min_mdd)}, FLOW)
        assert em.process_eliminations(NOW)["added"] == []
    submit(cpm, FLOW, {"healthy_miner": miner(0.8999)}, FLOW)
    assert em.process_eliminations(NOW)["added"] == ["healthy_miner"]
    assert em.get_elimination("healthy_miner")["dd"] == 10.01


def test_elimination_timing_and_delays(flow) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_integration.py::test_elimination_timing_and_delays."""  # noqa: E501
    cpm, em = flow
    submit(cpm, FLOW, {}, [*FLOW, "old_eliminated_miner"])
    em.append_elimination_row("old_eliminated_miner", 0.15, "MAX_TOTAL_DRAWDOWN", NOW - 3 * D)
    assert em.process_eliminations(NOW)["deleted"] == ["old_eliminated_miner"]
    assert em.get_elimination("old_eliminated_miner") is None


@pytest.mark.state_files
def test_elimination_state_consistency(pair, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_persistence_recovery.py::test_elimination_state_consistency."""  # noqa: E501
    _, em = pair
    em.append_elimination_row("persistent_miner_1", 0.11, "MAX_TOTAL_DRAWDOWN", NOW)
    em.append_elimination_row("persistent_miner_2", None, "ZOMBIE", NOW - D)
    memory = em.get_eliminations()
    em.close()
    document = json.loads((tmp_path / "em" / "eliminations.json").read_text())
    assert document["eliminations"] == memory and len(memory) == 2


@pytest.mark.state_files
def test_departed_file_format(pair, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_departed_file_format."""
    cpm, em = pair
    submit(cpm, ["normal_miner", "deregistered_miner"], {}, [])
    em.process_eliminations(NOW)
    submit(cpm, ["normal_miner"], {}, [])
    em.process_eliminations(NOW + 1)
    em.close()
    document = json.loads((tmp_path / "em" / "departed_hotkeys.json").read_text())
    assert isinstance(document["departed_hotkeys"], dict)
    assert document["departed_hotkeys"]["deregistered_miner"] == {"detected_ms": NOW + 1}
