"""cpm-bench --quick runs end to end and writes every figure and verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import bench
from tools.bench_report import idle_polling

EXPECTED = {
    "machine",
    "single_lookup_us",
    "snapshot_256_us",
    "reason_batches",
    "throughput_calls_per_s",
    "validator_cycle_ms",
    "handoff_latency_ms",
    "server_refresh",
    "mutation_us",
    "auth_us",
    "targets",
    "duration_s",
}


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_quick_run_writes_the_figures(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "figures.json"
    assert bench.main(["--quick", "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    assert results.keys() >= EXPECTED
    # The versions of what every call runs through, so runs can be compared.
    assert {"python", "pyro5", "msgpack", "msgspec", "idle_polling"} <= results["machine"].keys()
    assert set(results["single_lookup_us"]) == {
        "raw_tcp",
        "manager",
        "peer",
        "stock_pyro5",
        "service",
        "service_cached",
        "local_dict",
    }
    assert set(results["reason_batches"]) == {"10", "100", "1000"}
    cycle = results["validator_cycle_ms"]["256"]
    steps = [cycle[f"{step}_ms"] for step in ("submit", "refresh", "elimination_round", "snapshot")]
    assert all(ms > 0 for ms in steps) and sum(steps) < cycle["service_cached_ms"]
    assert set(results["server_refresh"]) == {"ptn-2025-11", "vanta-2025-12"}
    assert set(results["mutation_us"]) == {"fsync", "no_fsync"}
    assert set(results["auth_us"]) == {"off", "on"}
    assert set(results["busy_poll_us"]) == {"off", "on"}
    assert all(row["p50"] > 0 for row in results["busy_poll_us"].values())
    names = [t["name"] for t in results["targets"]]
    assert "auth on: cached lookup p50" in names
    assert any(name.startswith("validator cycle at 256 miners, cached") for name in names)
    assert all({"name", "figure", "limit", "met"} <= t.keys() for t in results["targets"])
    out, err = capfd.readouterr()
    assert "Targets" in out and "idle CPUs: " in out
    # The services it starts and restarts log to files, not over the bench's tables.
    assert "serving at" not in out + err
    assert "cpm.elimination" not in out + err


def test_bad_flags_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--no-such-flag"]) == 2
    assert "cpm-bench" in capsys.readouterr().err


def test_the_machine_says_how_its_idle_cpus_wait(tmp_path: Path) -> None:
    assert idle_polling(tmp_path) == "cpuidle driver unknown"
    cpuidle = tmp_path / "devices/system/cpu/cpuidle"
    cpuidle.mkdir(parents=True)
    (cpuidle / "current_driver").write_text("intel_idle\n")
    assert idle_polling(tmp_path) == "cpuidle driver intel_idle"
    (cpuidle / "current_driver").write_text("haltpoll\n")
    params = tmp_path / "module/haltpoll/parameters"
    params.mkdir(parents=True)
    (params / "guest_halt_poll_ns").write_text("0\n")
    assert idle_polling(tmp_path).endswith("up to 0 ns (off: every idle CPU halts at once)")
    (params / "guest_halt_poll_ns").write_text("200000\n")
    assert idle_polling(tmp_path).endswith("up to 200000 ns (on)")
