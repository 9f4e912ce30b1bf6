"""What busy polling buys and costs: uncached ``has_miner`` against a service and client
that block at once (``--busy-poll-us 0``, ``CPM_BUSY_POLL_US=0``) and against ones that
poll first (the defaults), with the CPU both processes spend per call."""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clients import ChallengePeriodManager
from services.wire.busy_poll import DEFAULT_BUSY_POLL_US, ENV_VAR
from tools.bench_data import hotkey
from tools.bench_env import BenchEnv, scoped_environ
from tools.bench_workloads import percentiles, time_us

MODES = {"off": 0, "on": DEFAULT_BUSY_POLL_US}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _lookup(cpm: ChallengePeriodManager, keys: Iterator[str]) -> bool:
    return cpm.has_miner(next(keys))


def busy_poll_cost(env: BenchEnv, n: int) -> dict[str, dict[str, Any]]:
    """Per mode: has_miner p50/p99 in µs, and the client's and the service's CPU µs per
    call, over ``n`` calls (at least 3,000) on a fresh challenge-period service."""
    figures: dict[str, dict[str, Any]] = {}
    # CPU time is counted in clock ticks (10 ms): enough calls for a few hundred of them.
    calls = max(n, 3000)
    for mode, budget_us in MODES.items():
        env.start_service("challengeperiod", "--busy-poll-us", str(budget_us))
        with scoped_environ(ENV_VAR, str(budget_us)), env.cpm_client() as cpm:
            for i in range(256):
                cpm.set_miner_bucket(hotkey(i), "CHALLENGE", 1)
            keys = itertools.cycle([hotkey(i) for i in range(256)])
            pid = env.pid("challengeperiod")
            client_start, service_start = time.process_time(), _cpu_s(pid)
            samples = time_us(functools.partial(_lookup, cpm, keys), calls)
            client_cpu = time.process_time() - client_start
            service_cpu = _cpu_s(pid) - service_start
        figures[mode] = {
            **percentiles(samples),
            # The warm-up calls ran inside the CPU window too: divide by all of them.
            "client_cpu_us": client_cpu / (calls + 50) * 1e6,
            "service_cpu_us": service_cpu / (calls + 50) * 1e6,
        }
    return figures
