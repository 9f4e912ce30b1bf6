"""``cpm-bench``: the services side by side with the floor (raw TCP), the peer design
(BaseManager + pickle), the Manager dicts and a local dict, in one run, with each
performance target marked met or not met.

Starts every process it needs and stops them all by PID, also on Ctrl-C; prints rich
tables and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from tools import extras

try:
    from rich.console import Console
except ModuleNotFoundError as _exc:  # the "tools" extra is not installed
    raise SystemExit(extras.missing(_exc, "cpm-bench")) from None

from services.domain.config import RULESETS
from services.launch import cli
from tools import bench_auth, bench_busy_poll
from tools import bench_cycles as cycles
from tools import bench_workloads as work
from tools.bench_data import ValidatorWorkload
from tools.bench_env import BenchEnv
from tools.bench_report import evaluate, machine, render, targets_json

CACHE_STALENESS_MS = 50


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.ArgumentParser(prog="cpm-bench", description=cli.summary(__doc__))
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--output", default="bench-results.json", help="JSON file to write [%(default)s]"
    )
    return parser.parse_args(argv)


def run(effort: work.Effort, console: Console) -> dict[str, Any]:
    """Every workload, in one run; returns the figures."""
    results: dict[str, Any] = {"machine": machine(), "quick": effort is work.QUICK}
    with BenchEnv() as env:
        cpm = env.cpm_client()
        elim = env.elimination_client()
        cached = env.cpm_client(max_staleness_ms=CACHE_STALENESS_MS)
        try:
            console.log("placing 256 miners")
            setup = ValidatorWorkload(256)
            cpm.submit_refresh_inputs(setup.inputs())
            cpm.refresh_now(setup.now(0))
            console.log("single lookups")
            results["single_lookup_us"] = work.single_lookups(env, cpm, cached, effort.lookups)
            console.log("snapshots")
            results["snapshot_256_us"] = work.snapshots(env, cpm, effort.lookups)
            console.log("reason batches")
            results["reason_batches"] = work.reason_batches(env, cpm, effort.batch_reps)
            console.log("throughput")
            results["throughput_calls_per_s"] = {
                str(n): work.throughput(cpm, n, effort.throughput_s) for n in (1, 4, 16)
            }
            results["validator_cycle_ms"] = {}
            for size in effort.cycle_sizes:
                console.log(f"validator cycles at {size:,} miners")
                results["validator_cycle_ms"][str(size)] = cycles.validator_cycles(
                    env, (cpm, cached, elim), size, effort.cycles
                )
            console.log("elimination handoff")
            results["handoff_latency_ms"] = work.handoff_latency(cpm, elim, effort.handoffs)
        finally:
            for client in (cpm, cached, elim):
                client.close()
        console.log("authentication off and on")
        results["auth_us"] = bench_auth.auth_cost(env, effort.lookups, CACHE_STALENESS_MS)
        console.log("busy polling off and on")
        results["busy_poll_us"] = bench_busy_poll.busy_poll_cost(env, effort.lookups)
        console.log("a mutation's cost, flushed to the device or not")
        results["mutation_us"] = work.mutation_cost(env, effort.lookups // 10, effort.throughput_s)
        # Sized refreshes start from clean state on both services: the reasons written
        # above became thousands of rows, which every refresh would be told of first.
        env.start_service("elimination")
        results["server_refresh"] = {}
        for rules in RULESETS:
            sizes = results["server_refresh"][rules] = {}
            for size in effort.server_sizes:
                console.log(f"server-side refresh at {size:,} miners, rule set {rules}")
                sizes[str(size)] = work.server_refresh(env, size, rules)
    return results


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (whatever the verdicts), 1 when it failed."""
    try:
        args = _parse(argv)
    except cli.UsageError as exc:
        return cli.fail(str(exc), cli.EXIT_USAGE)
    console = Console(stderr=True)
    _stop_on_sigterm()
    started = time.perf_counter()
    try:
        results = run(work.QUICK if args.quick else work.DEFAULT, console)
    except KeyboardInterrupt:
        console.print("cpm-bench: interrupted; every process it started is stopped")
        return cli.EXIT_OK
    results["duration_s"] = round(time.perf_counter() - started, 1)
    targets = evaluate(results)
    results["targets"] = targets_json(targets)
    Console().print(render(results, targets))
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"figures written to {args.output} ({results['duration_s']} s)")
    return cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
