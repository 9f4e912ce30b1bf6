"""The cost of authentication: the same calls against a service without and with
``CPM_AUTH_TOKEN`` (handshake once per connection, then a MAC on every request and reply).
"""

from __future__ import annotations

import itertools
from typing import Any

from tools.bench_data import hotkey
from tools.bench_env import BenchEnv, scoped_environ
from tools.bench_workloads import interleaved_us, new_reasons, percentiles, time_us

BENCH_TOKEN = "cpm-bench-auth-token"
MODES = ("off", "on")


def auth_cost(env: BenchEnv, n: int, staleness_ms: int) -> dict[str, dict[str, Any]]:
    """Per mode: an uncached and a cached has_miner (p50/p99), and 100 reasons in one call
    (p50/p99), on a fresh challenge-period service (flushing, as by default)."""
    figures: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        with scoped_environ("CPM_AUTH_TOKEN", BENCH_TOKEN if mode == "on" else None):
            env.start_service("challengeperiod")
            figures[mode] = _measure(env, mode, n, staleness_ms)
    return figures


def _measure(env: BenchEnv, mode: str, n: int, staleness_ms: int) -> dict[str, Any]:
    with (
        env.cpm_client() as cpm,
        env.cpm_client(max_staleness_ms=staleness_ms) as cached,
    ):
        for i in range(256):
            cpm.set_miner_bucket(hotkey(i), "CHALLENGE", 1)
        keys = itertools.cycle([hotkey(i) for i in range(256)])
        lookups = interleaved_us(
            {
                "lookup": lambda: cpm.has_miner(next(keys)),
                "cached_lookup": lambda: cached.has_miner(next(keys)),
            },
            n,
        )
        reasons = time_us(new_reasons(cpm, f"a{mode}"), max(20, n // 20))
    return {
        **{name: percentiles(values) for name, values in lookups.items()},
        "reasons_100": percentiles(reasons),
    }
