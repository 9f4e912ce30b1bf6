"""The measurements of ``cpm-bench``: each function times one workload on every design it
applies to and returns plain numbers (microseconds, milliseconds, calls per second, MiB)."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from clients import ChallengePeriodManager, EliminationManager
from services.domain.config import DAY_MS
from tools.bench_data import ValidatorWorkload, hotkey
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
    cycles=10,
    throughput_s=2.0,
    server_sizes=(256, 10_000, 100_000),
    handoffs=3,
)
QUICK = Effort(
    lookups=300,
    batch_reps={10: 5, 100: 5, 1000: 2},
    cycle_sizes=(256,),
    cycles=1,
    throughput_s=0.3,
    server_sizes=(256,),
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


def interleaved_us(
    fns: dict[str, Callable[[], object]], n: int, block: int = 100
) -> dict[str, list[float]]:
    """``n`` timings of each function in microseconds, taken in turns of ``block`` calls.

    On a machine shared with other work the load drifts within seconds; taking the
    designs' samples in alternating blocks keeps their ratios honest, while the calls
    within a block run back to back, warm, as a validator's calls do.
    """
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for done in range(0, n, block):
        for name, fn in fns.items():
            samples[name] += time_us(fn, min(block, n - done), warmup=5)
    return samples


def single_lookups(
    env: BenchEnv, cpm: ChallengePeriodManager, cached: ChallengePeriodManager, n: int
) -> dict[str, dict[str, float]]:
    """One "is this miner known" question: raw TCP, Manager, the peer (BaseManager + pickle),
    stock Pyro5, service, cached, local dict."""
    assert env.echo is not None and env.manager is not None and env.peer is not None
    assert env.stock_pyro5 is not None
    local = {hotkey(i): True for i in range(256)}
    shared = env.manager.dict(local)
    peer, stock = env.peer.proxy, env.stock_pyro5.proxy
    for hk in local:
        peer.set_miner_bucket(hk, "CHALLENGE", 1)
        stock.set_miner_bucket(hk, "CHALLENGE", 1)
    keys = itertools.cycle(sorted(local))
    samples = interleaved_us(
        {
            "raw_tcp": env.echo.round_trip,
            "manager": lambda: next(keys) in shared,
            "peer": lambda: peer.has_miner(next(keys)),
            "stock_pyro5": lambda: stock.has_miner(next(keys)),
            "service": lambda: cpm.has_miner(next(keys)),
            "service_cached": lambda: cached.has_miner(next(keys)),
            "local_dict": lambda: next(keys) in local,
        },
        n,
    )
    return {name: percentiles(values) for name, values in samples.items()}


def _median_us(fn: Callable[[dict[str, Any]], object], batches: list[dict[str, Any]]) -> float:
    timings = []
    for batch in batches:
        start = time.perf_counter()
        fn(batch)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1e6


def reason_batches(
    env: BenchEnv, cpm: ChallengePeriodManager, reps: dict[int, int]
) -> dict[str, dict[str, float]]:
    """Elimination reasons written in batches: one service call vs per-item Manager writes.

    Each design runs its repetitions back to back (as the 100 writes of one Manager batch
    do), so each is measured warm; the blocks follow each other within about a second.
    """
    assert env.manager is not None
    # One long-lived shared dict, as the old design had: a Manager dict made and dropped
    # per batch would keep the Manager process busy with bookkeeping during the timings.
    shared = env.manager.dict()

    def per_item(target: MutableMapping[str, Any], batch: dict[str, Any]) -> None:
        for hk, reason in batch.items():
            target[hk] = reason

    def read_all_clear(batch: dict[str, Any]) -> None:
        dict(shared.copy())
        shared.clear()

    results: dict[str, dict[str, float]] = {}
    for size, count in reps.items():
        # New hotkeys every time: rewriting equal reasons would change nothing on disk.
        batches = [
            {f"r{size}-{rep}-{i}": ("MAX_TOTAL_DRAWDOWN", 12.5) for i in range(size)}
            for rep in range(count)
        ]
        service = _median_us(cpm.update_elimination_reasons, batches)
        assert env.peer is not None
        peer = _median_us(env.peer.proxy.update_elimination_reasons, batches)
        env.peer.proxy.clear_elimination_reasons()
        manager = _median_us(lambda batch: per_item(shared, batch), batches)
        # The old handoff: the writes above are pending; read them all, then clear.
        shared.clear()
        read_clear = []
        for batch in batches:
            shared.update(batch)
            read_clear.append(_median_us(read_all_clear, [batch]))
        results[str(size)] = {
            "service_one_call_us": service,
            "peer_one_call_us": peer,
            "manager_per_item_us": manager,
            "manager_read_all_clear_us": statistics.median(read_clear),
            "local_dict_us": _median_us(lambda batch: per_item({}, batch), batches),
        }
        cpm.clear_elimination_reasons()
    return results


def snapshots(env: BenchEnv, cpm: ChallengePeriodManager, n: int) -> dict[str, dict[str, float]]:
    """A snapshot of the 256 miners the service holds: unchanged (timed in turn with a
    lookup, for the ratio), and right after a change."""
    assert env.manager is not None and env.peer is not None
    miners = cpm.get_snapshot()["miners"]
    shared = env.manager.dict(miners)
    peer = env.peer.proxy
    for hk in miners:
        peer.set_miner_bucket(hk, "CHALLENGE", 1)

    def after_change() -> float:
        cpm.set_miner_bucket(hotkey(0), "CHALLENGE", int(time.time() * 1000))
        start = time.perf_counter()
        cpm.get_snapshot()
        return (time.perf_counter() - start) * 1e6

    keys = itertools.cycle(sorted(miners))
    samples = interleaved_us(
        {
            "service": cpm.get_snapshot,
            "service_lookup": lambda: cpm.has_miner(next(keys)),
            "manager": shared.copy,
            "peer": peer.to_checkpoint_dict,
            "local_dict": lambda: dict(miners),
        },
        max(20, n // 10),
        block=10,
    )
    figures = {name: percentiles(values) for name, values in samples.items()}
    figures["service_after_change"] = percentiles([after_change() for _ in range(max(10, n // 50))])
    return figures


def throughput(cpm: ChallengePeriodManager, threads: int, seconds: float) -> float:
    """Calls per second of ``has_miner`` from ``threads`` threads sharing one client."""

    def lookups(index: int) -> Callable[[], object]:
        keys = itertools.cycle([hotkey(i) for i in range(index, 256 + index)])
        return lambda: cpm.has_miner(next(keys))

    return calls_per_s(lookups, threads, seconds)


def writes_per_s(cpm: ChallengePeriodManager, threads: int, seconds: float) -> float:
    """Calls per second of ``set_miner_bucket`` (each a new miner, so each one a durable
    change) from ``threads`` threads sharing one client."""

    def writes(index: int) -> Callable[[], object]:
        keys = (f"{hotkey(index)}-{i}" for i in itertools.count())
        return lambda: cpm.set_miner_bucket(next(keys), "CHALLENGE", 1)

    return calls_per_s(writes, threads, seconds)


def calls_per_s(
    make_call: Callable[[int], Callable[[], object]], threads: int, seconds: float
) -> float:
    """Calls per second from ``threads`` threads, each repeating its ``make_call(index)``."""
    barrier = threading.Barrier(threads + 1)
    counts = [0] * threads
    stop = threading.Event()

    def worker(index: int) -> None:
        call = make_call(index)
        call()  # connect this thread's proxy before the clock starts
        barrier.wait()
        done = 0
        while not stop.is_set():
            call()
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


WRITER_THREADS = 8


def mutation_cost(env: BenchEnv, n: int, seconds: float) -> dict[str, dict[str, float]]:
    """One set_miner_bucket, acknowledged after the flush to the device (the default) and
    after the write to the file system only (--no-fsync), each on a fresh service; the
    writes per second of WRITER_THREADS concurrent writers (which share flushes); and 100
    reasons in one call in either mode, which shows what the flush costs that call."""
    figures: dict[str, dict[str, float]] = {}
    for name, extra in (("fsync", ()), ("no_fsync", ("--no-fsync",))):
        env.start_service("challengeperiod", *extra)
        with env.cpm_client() as cpm:
            figures[name] = percentiles(time_us(_new_miners(cpm), n))
            figures[name]["writes_per_s"] = writes_per_s(cpm, WRITER_THREADS, seconds)
            reasons = time_us(new_reasons(cpm, name), max(20, n))
            figures[name]["reasons_100_p50"] = percentiles(reasons)["p50"]
    return figures


def new_reasons(cpm: ChallengePeriodManager, tag: str) -> Callable[[], object]:
    """A call adding 100 new reasons each time (hotkeys named after ``tag``)."""
    batches = (
        {f"{tag}-{rep}-{i}": ("MAX_TOTAL_DRAWDOWN", 12.5) for i in range(100)}
        for rep in itertools.count()
    )
    return lambda: cpm.update_elimination_reasons(next(batches))


def _new_miners(cpm: ChallengePeriodManager) -> Callable[[], object]:
    """A call placing a new miner each time (an unchanged entry would write nothing)."""
    keys = (hotkey(i) for i in itertools.count())
    return lambda: cpm.set_miner_bucket(next(keys), "CHALLENGE", 1)


def server_refresh(env: BenchEnv, size: int, ruleset: str) -> dict[str, float]:
    """A fresh service at ``size`` miners under ``ruleset``: first and steady refresh times,
    and its RSS."""
    env.start_service("challengeperiod", "--ruleset", ruleset)
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
