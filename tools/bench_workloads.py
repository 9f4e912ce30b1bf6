"""The measurements of ``cpm-bench``: each function times one workload on every design it
applies to and returns plain numbers (microseconds, milliseconds, calls per second, MiB)."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clients import ChallengePeriodManager, EliminationManager
from services.config import DAY_MS
from tools.bench_data import ValidatorWorkload, dict_cycle, hotkey
from tools.bench_env import BenchEnv, rss_mb


@dataclass(frozen=True)
class Effort:
    """How long to measure: the default run, or a short smoke run with ``--quick``."""

    lookups: int
    batch_reps: dict[int, int]
    cycle_sizes: tuple[int, ...]
    cycles: int
    throughput_s: float
    server_sizes: tuple[int, ...]
    handoffs: int


DEFAULT = Effort(
    lookups=3000,
    batch_reps={10: 60, 100: 40, 1000: 8},
    cycle_sizes=(256, 10_000),
    cycles=3,
    throughput_s=2.0,
    server_sizes=(256, 10_000, 100_000),
    handoffs=3,
)
QUICK = Effort(
    lookups=300,
    batch_reps={10: 5, 100: 5, 1000: 2},
    cycle_sizes=(256, 2_000),
    cycles=1,
    throughput_s=0.3,
    server_sizes=(256, 2_000),
    handoffs=1,
)


def time_us(fn: Callable[[], object], n: int, warmup: int = 50) -> list[float]:
    """``n`` timings of ``fn()`` in microseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    timer = time.perf_counter
    samples = []
    for _ in range(n):
        start = timer()
        fn()
        samples.append((timer() - start) * 1e6)
    return samples


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 of some timings."""
    ordered = sorted(samples)
    return {
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def single_lookups(
    env: BenchEnv, cpm: ChallengePeriodManager, cached: ChallengePeriodManager, n: int
) -> dict[str, dict[str, float]]:
    """One "is this miner known" question: raw TCP, Manager, service, cached, local dict."""
    assert env.echo is not None and env.manager is not None
    local = {hotkey(i): True for i in range(256)}
    shared = env.manager.dict(local)
    keys = itertools.cycle(sorted(local))
    return {
        "raw_tcp": percentiles(time_us(env.echo.round_trip, n)),
        "manager": percentiles(time_us(lambda: next(keys) in shared, n)),
        "service": percentiles(time_us(lambda: cpm.has_miner(next(keys)), n)),
        "service_cached": percentiles(time_us(lambda: cached.has_miner(next(keys)), n)),
        "local_dict": percentiles(time_us(lambda: next(keys) in local, n)),
    }


def reason_batches(
    env: BenchEnv, cpm: ChallengePeriodManager, reps: dict[int, int]
) -> dict[str, dict[str, float]]:
    """Elimination reasons written in batches: one service call vs per-item Manager writes."""
    assert env.manager is not None
    results: dict[str, dict[str, float]] = {}
    counter = itertools.count()
    for size, count in reps.items():
        service, manager, local, read_clear = [], [], [], []
        for _ in range(count):
            # New hotkeys every time: rewriting equal reasons would change nothing on disk.
            rep = next(counter)
            batch = {f"r{rep}-{i}": ("MAX_TOTAL_DRAWDOWN", 12.5) for i in range(size)}
            start = time.perf_counter()
            cpm.update_elimination_reasons(batch)
            service.append(time.perf_counter() - start)
            shared = env.manager.dict()
            start = time.perf_counter()
            for hk, reason in batch.items():
                shared[hk] = reason
            manager.append(time.perf_counter() - start)
            start = time.perf_counter()
            dict(shared.copy())
            shared.clear()
            read_clear.append(time.perf_counter() - start)
            plain: dict[str, Any] = {}
            start = time.perf_counter()
            for hk, reason in batch.items():
                plain[hk] = reason
            local.append(time.perf_counter() - start)
        cpm.clear_elimination_reasons()
        results[str(size)] = {
            "service_one_call_us": statistics.median(service) * 1e6,
            "manager_per_item_us": statistics.median(manager) * 1e6,
            "manager_read_all_clear_us": statistics.median(read_clear) * 1e6,
            "local_dict_us": statistics.median(local) * 1e6,
        }
    return results


def snapshots(env: BenchEnv, cpm: ChallengePeriodManager, n: int) -> dict[str, dict[str, float]]:
    """A snapshot of the 256 miners the service holds: unchanged, and right after a change."""
    assert env.manager is not None
    miners = cpm.get_snapshot()["miners"]
    shared = env.manager.dict(miners)

    def after_change() -> float:
        cpm.set_miner_bucket(hotkey(0), "CHALLENGE", int(time.time() * 1000))
        start = time.perf_counter()
        cpm.get_snapshot()
        return (time.perf_counter() - start) * 1e6

    return {
        "service": percentiles(time_us(cpm.get_snapshot, max(20, n // 10))),
        "service_after_change": percentiles([after_change() for _ in range(max(10, n // 50))]),
        "manager": percentiles(time_us(shared.copy, max(20, n // 10))),
        "local_dict": percentiles(time_us(lambda: dict(miners), max(20, n // 10))),
    }


def validator_cycles(
    env: BenchEnv,
    cpm: ChallengePeriodManager,
    elim: EliminationManager,
    size: int,
    cycles: int,
) -> dict[str, float]:
    """Whole validator cycles at ``size`` miners, in milliseconds (median after a warm-up)."""
    assert env.manager is not None
    workload = ValidatorWorkload(size)
    shared = (env.manager.dict(), env.manager.dict(), env.manager.dict())
    local: tuple[dict[str, Any], ...] = ({}, {}, {})
    timings: dict[str, list[float]] = {"service": [], "manager": [], "local_dict": []}
    for cycle in range(cycles + 1):
        inputs, now, signals = workload.inputs(), workload.now(cycle), workload.signals()
        start = time.perf_counter()
        cpm.submit_refresh_inputs(inputs)
        cpm.refresh_now(now)
        elim.process_eliminations(now)
        cpm.get_snapshot()
        for hk in signals:
            cpm.has_miner(hk)
        service = time.perf_counter() - start
        start = time.perf_counter()
        dict_cycle(shared[0], shared[1], shared[2], inputs, now, signals)
        manager = time.perf_counter() - start
        start = time.perf_counter()
        dict_cycle(local[0], local[1], local[2], inputs, now, signals)
        plain = time.perf_counter() - start
        if cycle > 0:  # the first cycle places every miner: a one-off, not the steady state
            timings["service"].append(service * 1e3)
            timings["manager"].append(manager * 1e3)
            timings["local_dict"].append(plain * 1e3)
        workload.advance()
    return {f"{name}_ms": statistics.median(values) for name, values in timings.items()}


def throughput(cpm: ChallengePeriodManager, threads: int, seconds: float) -> float:
    """Calls per second of ``has_miner`` from ``threads`` threads sharing one client."""
    barrier = threading.Barrier(threads + 1)
    counts = [0] * threads
    stop = threading.Event()

    def worker(index: int) -> None:
        keys = itertools.cycle([hotkey(i) for i in range(index, 256 + index)])
        cpm.has_miner(hotkey(0))  # connect this thread's proxy before the clock starts
        barrier.wait()
        done = 0
        while not stop.is_set():
            cpm.has_miner(next(keys))
            done += 1
        counts[index] = done

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def handoff_latency(
    cpm: ChallengePeriodManager, elim: EliminationManager, reps: int
) -> list[float]:
    """Milliseconds from ``refresh_now`` producing a reason to its row being visible."""
    now = int(time.time() * 1000)
    names = [f"handoff-{i}" for i in range(reps)]
    cpm.submit_refresh_inputs({"metagraph_hotkeys": names, "miners": {}})
    latencies = []
    for name in names:
        cpm.set_miner_bucket(name, "CHALLENGE", now - 100 * DAY_MS)
        start = time.perf_counter()
        summary = cpm.refresh_now(now)
        assert name in summary["eliminated"], summary
        while not elim.is_eliminated(name):
            time.sleep(0.002)
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"{name} was not handed off within 30 s")
        latencies.append((time.perf_counter() - start) * 1e3)
    return latencies


def server_refresh(env: BenchEnv, size: int) -> dict[str, float]:
    """A fresh service at ``size`` miners: first and steady refresh times, and its RSS."""
    env.start_service("challengeperiod")
    workload = ValidatorWorkload(size)
    with env.cpm_client(timeout_s=120.0) as cpm:
        first = _timed_refresh(cpm, workload, 0)
        steady = []
        for cycle in (1, 2, 3):
            workload.advance()
            steady.append(_timed_refresh(cpm, workload, cycle))
    return {
        "first_refresh_ms": first,
        "refresh_ms": statistics.median(steady),
        "rss_mb": rss_mb(env.pid("challengeperiod")),
    }


def _timed_refresh(cpm: ChallengePeriodManager, workload: ValidatorWorkload, cycle: int) -> float:
    cpm.submit_refresh_inputs(workload.inputs())
    start = time.perf_counter()
    summary = cpm.refresh_now(workload.now(cycle))
    wall_ms = (time.perf_counter() - start) * 1e3
    # The service's own measure of the refresh, without the round trip and the summary's
    # encoding; older services without it are measured from here.
    return float(summary.get("duration_ms", wall_ms))
