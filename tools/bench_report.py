"""``cpm-bench``'s verdicts and output: targets from the figures, rich tables, the machine.

``evaluate`` and ``render`` are pure (figures in, data or renderables out); only
``tools.bench.main`` prints and writes files.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table

from tools.bench_cycles import CYCLE_STEPS
from tools.bench_workloads import WRITER_THREADS


@dataclass(frozen=True)
class Target:
    """One performance goal, with this run's figure."""

    name: str
    figure: str
    limit: str
    met: bool


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def _vs_stock(lookup: dict[str, Any]) -> Target:
    """Our call path (buffered, polling connections) against stock Pyro5, one run."""
    ours, stock = lookup["service"]["p50"], lookup.get("stock_pyro5", {}).get("p50", 0.0)
    speedup = _ratio(stock, ours)
    return Target(
        "single uncached lookup p50 vs stock Pyro5 (its Daemon and Proxy, msgpack)",
        f"{speedup:.2f}x faster ({ours:.0f} µs vs {stock:.0f} µs)",
        "≥ 1.5x",
        speedup >= 1.5,
    )


def evaluate(results: dict[str, Any]) -> list[Target]:
    """Each performance target, met or not, from one run's figures."""
    lookup = results["single_lookup_us"]
    raw = lookup["raw_tcp"]["p50"]
    service = lookup["service"]["p50"]
    cached = lookup["service_cached"]["p50"]
    batch = results["reason_batches"]["100"]
    speedup = _ratio(batch["manager_per_item_us"], batch["service_one_call_us"])
    snapshot = results["snapshot_256_us"]["service"]["p50"]
    lookup_alongside = results["snapshot_256_us"]["service_lookup"]["p50"]
    peer = lookup["peer"]["p50"]
    four = results["throughput_calls_per_s"]["4"]
    handoff = max(results["handoff_latency_ms"])
    targets = [
        _vs_peer("single uncached lookup p50 vs the peer (BaseManager + pickle)", service, peer),
        _vs_peer(
            "100 reasons in one call vs the peer's one call",
            batch["service_one_call_us"],
            batch["peer_one_call_us"],
        ),
        _vs_stock(lookup),
        Target(
            "single lookup p50 vs raw TCP",
            f"{service:.0f} µs = {_ratio(service, raw):.1f}x raw {raw:.0f} µs",
            "≤ 5x",
            _ratio(service, raw) <= 5,
        ),
        Target(
            "100 reasons: one call vs 100 Manager writes",
            f"{speedup:.0f}x faster ({batch['service_one_call_us']:.0f} µs vs "
            f"{batch['manager_per_item_us']:.0f} µs)",
            "≥ 20x",
            speedup >= 20,
        ),
        Target(
            "snapshot of 256 miners vs single lookup",
            f"{snapshot:.0f} µs = {_ratio(snapshot, lookup_alongside):.1f}x lookup "
            f"({lookup_alongside:.0f} µs, timed in turn)",
            "≤ 2x",
            _ratio(snapshot, lookup_alongside) <= 2,
        ),
        Target(
            "throughput, 4 client threads",
            f"{four:,.0f} calls/s",
            "≥ 5,000 calls/s",
            four >= 5000,
        ),
        Target("cached lookup p50", f"{cached:.1f} µs", "≤ 2 µs", cached <= 2),
        Target("elimination handoff (max)", f"{handoff:.0f} ms", "≤ 2,000 ms", handoff <= 2000),
    ]
    targets += _cycle_targets(results)
    targets += _auth_targets(results, peer, batch["peer_one_call_us"])
    for ruleset, sizes in results["server_refresh"].items():
        if "10000" not in sizes:
            continue
        ten_k = sizes["10000"]["refresh_ms"]
        targets.append(
            Target(
                f"refresh of 10,000 miners ({ruleset})", f"{ten_k:.1f} ms", "≤ 50 ms", ten_k <= 50
            )
        )
        if "100000" in sizes:
            # "About linear": the promotion step ranks scores by sorting (n log n) and big
            # dicts miss the CPU cache more, so a miner may cost up to twice as much at 100k.
            per_miner = _ratio(sizes["100000"]["refresh_ms"], ten_k) / 10
            targets.append(
                Target(
                    f"refresh 100k vs 10k, cost per miner ({ruleset})",
                    f"{per_miner:.2f}x ({sizes['100000']['refresh_ms']:.0f} ms at 100k)",
                    "≤ 2x",
                    per_miner <= 2,
                )
            )
    return targets


def _cycle_targets(results: dict[str, Any]) -> list[Target]:
    """The validator cycle against the Manager-dict design, cached and uncached reads."""
    targets = []
    for size, row in results["validator_cycle_ms"].items():
        for column, label, goal in (
            ("service_cached_ms", "cached reads", 5.0),
            ("service_ms", "uncached reads", 2.0),
        ):
            speedup = _ratio(row["manager_ms"], row[column])
            targets.append(
                Target(
                    f"validator cycle at {int(size):,} miners, {label}, vs Manager dicts",
                    f"{speedup:.2f}x faster ({row[column]:.1f} ms vs {row['manager_ms']:.1f} ms)",
                    f"≥ {goal:g}x",
                    speedup >= goal,
                )
            )
    return targets


def _auth_targets(results: dict[str, Any], peer_lookup: float, peer_batch: float) -> list[Target]:
    """The lookup, cached-lookup and 100-reason targets again, with authentication on."""
    on = results.get("auth_us", {}).get("on")
    if on is None:
        return []
    lookup, cached = on["lookup"]["p50"], on["cached_lookup"]["p50"]
    batch = on["reasons_100"]["p50"]
    return [
        _vs_peer("auth on: single uncached lookup p50 vs the peer", lookup, peer_lookup),
        _vs_peer("auth on: 100 reasons in one call vs the peer's one call", batch, peer_batch),
        Target("auth on: cached lookup p50", f"{cached:.1f} µs", "≤ 2 µs", cached <= 2),
    ]


def _vs_peer(name: str, ours: float, peer: float) -> Target:
    """A call of ours against the peer's same call: met when no slower."""
    ratio = _ratio(ours, peer)
    return Target(name, f"{ours:.0f} µs = {ratio:.2f}x peer {peer:.0f} µs", "≤ 1.0x", ratio <= 1.0)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "pyro5": version("Pyro5"),
        "serpent": version("serpent"),
        "msgpack": version("msgpack"),
        "msgspec": version("msgspec"),
        "idle_polling": idle_polling(),
    }


def idle_polling(sysfs: Path = Path("/sys")) -> str:
    """How this machine's idle CPUs wait, which decides what a call that wakes one costs
    (README, "Busy polling"): the cpuidle driver, and a KVM guest's halt polling."""
    try:
        driver = (sysfs / "devices/system/cpu/cpuidle/current_driver").read_text().strip()
    except OSError:
        return "cpuidle driver unknown"
    try:
        ns = (sysfs / "module/haltpoll/parameters/guest_halt_poll_ns").read_text().strip()
    except OSError:
        return f"cpuidle driver {driver}"
    state = "off: every idle CPU halts at once" if ns == "0" else "on"
    return f"cpuidle driver {driver}, guest halt polling up to {ns} ns ({state})"


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table


def render(results: dict[str, Any], targets: list[Target]) -> Group:
    """Every figure of one run, side by side, with ratios and the targets."""
    lookup = results["single_lookup_us"]
    raw = lookup["raw_tcp"]["p50"]
    t1 = _table("Single lookup (has_miner), µs", ["design", "p50", "p99", "x raw TCP"])
    for name, row in lookup.items():
        t1.add_row(name, f"{row['p50']:.1f}", f"{row['p99']:.1f}", f"{_ratio(row['p50'], raw):.2f}")
    t1.caption = f"idle CPUs: {results['machine'].get('idle_polling', 'not recorded')}"
    t2 = _table(
        "Elimination reasons in batches, µs (median)",
        [
            "batch",
            "service, 1 call",
            "peer, 1 call",
            "Manager, per item",
            "speed-up",
            "Manager read+clear",
            "dict",
        ],
    )
    for size, row in results["reason_batches"].items():
        t2.add_row(
            size,
            f"{row['service_one_call_us']:.0f}",
            f"{row['peer_one_call_us']:.0f}",
            f"{row['manager_per_item_us']:.0f}",
            f"{_ratio(row['manager_per_item_us'], row['service_one_call_us']):.1f}x",
            f"{row['manager_read_all_clear_us']:.0f}",
            f"{row['local_dict_us']:.0f}",
        )
    t3 = _table("Snapshot of 256 miners, µs", ["design", "p50", "p99"])
    for name, row in results["snapshot_256_us"].items():
        t3.add_row(name, f"{row['p50']:.0f}", f"{row['p99']:.0f}")
    t4 = _table(
        "Validator cycle, ms (median)",
        ["miners", "service", "service, cached reads", "Manager", "dict", "Manager/cached"],
    )
    for size, row in results["validator_cycle_ms"].items():
        t4.add_row(
            size,
            f"{row['service_ms']:.1f}",
            f"{row['service_cached_ms']:.1f}",
            f"{row['manager_ms']:.1f}",
            f"{row['local_dict_ms']:.1f}",
            f"{_ratio(row['manager_ms'], row['service_cached_ms']):.1f}x",
        )
    t4.caption = "service cycle's steps (" + " / ".join(CYCLE_STEPS).replace("_", " ") + "), ms: "
    t4.caption += "; ".join(
        f"{size}: " + " / ".join(f"{row[f'{step}_ms']:.1f}" for step in CYCLE_STEPS)
        for size, row in results["validator_cycle_ms"].items()
        if all(f"{step}_ms" in row for step in CYCLE_STEPS)
    )
    t5 = _table("Throughput, has_miner", ["client threads", "calls/s"])
    for threads, rate in results["throughput_calls_per_s"].items():
        t5.add_row(threads, f"{rate:,.0f}")
    t_mut = _table(
        "set_miner_bucket, and 100 reasons in one call",
        [
            "acknowledged after",
            "p50 µs",
            "p99 µs",
            f"writes/s, {WRITER_THREADS} threads",
            "100 reasons p50 µs",
        ],
    )
    for name, row in results.get("mutation_us", {}).items():
        label = "flush to the device (default)" if name == "fsync" else "file system (--no-fsync)"
        t_mut.add_row(
            label,
            f"{row['p50']:.0f}",
            f"{row['p99']:.0f}",
            f"{row['writes_per_s']:,.0f}",
            f"{row.get('reasons_100_p50', float('nan')):.0f}",
        )
    t6 = _table("Server side", ["rule set", "miners", "refresh ms", "first refresh ms", "RSS MiB"])
    for ruleset, size, row in (
        (ruleset, size, row)
        for ruleset, sizes in results["server_refresh"].items()
        for size, row in sizes.items()
    ):
        t6.add_row(
            ruleset,
            f"{int(size):,}",
            f"{row['refresh_ms']:.1f}",
            f"{row['first_refresh_ms']:.1f}",
            f"{row['rss_mb']:.0f}",
        )
    handoff = results["handoff_latency_ms"]
    t6.caption = "handoff latency ms: " + ", ".join(f"{v:.0f}" for v in handoff)
    t_auth = _table(
        "Authentication, µs (p50; the service flushes each change)",
        ["call", "auth off", "auth on", "on / off"],
    )
    auth = results.get("auth_us", {})
    if "off" in auth and "on" in auth:
        for name, label in (
            ("lookup", "has_miner, uncached"),
            ("cached_lookup", "has_miner, cached"),
            ("reasons_100", "100 reasons in one call"),
        ):
            off, on = auth["off"][name]["p50"], auth["on"][name]["p50"]
            t_auth.add_row(label, f"{off:.1f}", f"{on:.1f}", f"{_ratio(on, off):.2f}x")
    t_poll = _table(
        "Busy polling, uncached has_miner (µs; CPU per call of each process)",
        ["busy poll", "p50", "p99", "client CPU", "service CPU"],
    )
    for mode, row in results.get("busy_poll_us", {}).items():
        t_poll.add_row(
            mode,
            f"{row['p50']:.1f}",
            f"{row['p99']:.1f}",
            f"{row['client_cpu_us']:.1f}",
            f"{row['service_cpu_us']:.1f}",
        )
    t7 = _table("Targets", ["target", "this run", "goal", "verdict"])
    for target in targets:
        verdict = "[green]met[/]" if target.met else "[red]not met[/]"
        t7.add_row(target.name, target.figure, target.limit, verdict)
    return Group(t1, t2, t3, t4, t5, t_mut, t_auth, t_poll, t6, t7)


def targets_json(targets: list[Target]) -> list[dict[str, Any]]:
    """The targets as JSON-ready dicts."""
    return [asdict(t) for t in targets]
