"""``cpm-bench``'s validator cycles: the service design (uncached and cached reads), the
Manager-dict design and a local dict, one after the other in each cycle, on the same
simulated validator's inputs."""

from __future__ import annotations

import functools
import operator
import statistics
import time
from typing import Any

from clients import ChallengePeriodManager, EliminationManager
from tools.bench_data import ValidatorWorkload, dict_cycle
from tools.bench_env import BenchEnv

# The calls of the service cycle before its lookups, each timed on its own.
CYCLE_STEPS = ("submit", "refresh", "elimination_round", "snapshot")


def validator_cycles(
    env: BenchEnv,
    clients: tuple[ChallengePeriodManager, ChallengePeriodManager, EliminationManager],
    size: int,
    cycles: int,
) -> dict[str, float]:
    """Whole validator cycles at ``size`` miners, in milliseconds (median after a warm-up).

    ``clients``: the plain client, one with the read cache, and the elimination client.
    ``service_ms`` asks the service once per signal; ``service_cached_ms`` is the same
    cycle with the signals' lookups answered by the cached client (on the same state);
    ``submit_ms`` and the other steps are the service cycle's calls before the lookups.
    """
    assert env.manager is not None
    cpm, cached, elim = clients
    workload = ValidatorWorkload(size)
    shared = (env.manager.dict(), env.manager.dict(), env.manager.dict())
    local: tuple[dict[str, Any], ...] = ({}, {}, {})
    names = ("service", "service_cached", "manager", "local_dict", *CYCLE_STEPS)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for cycle in range(cycles + 1):
        inputs, now, signals = workload.inputs(), workload.now(cycle), workload.signals()
        calls = (
            functools.partial(cpm.submit_refresh_inputs, inputs),
            functools.partial(cpm.refresh_now, now),
            functools.partial(elim.process_eliminations, now),
            cpm.get_snapshot,
        )
        marks = [time.perf_counter()]
        for call in calls:
            call()
            marks.append(time.perf_counter())
        core = marks[-1] - marks[0]
        figures = dict(zip(CYCLE_STEPS, map(operator.sub, marks[1:], marks[:-1]), strict=True))
        figures["service"] = core + _lookups_s(cpm, signals)
        figures["service_cached"] = core + _lookups_s(cached, signals)
        start = time.perf_counter()
        dict_cycle(shared[0], shared[1], shared[2], inputs, now, signals)
        figures["manager"] = time.perf_counter() - start
        start = time.perf_counter()
        dict_cycle(local[0], local[1], local[2], inputs, now, signals)
        figures["local_dict"] = time.perf_counter() - start
        if cycle > 0:  # the first cycle places every miner: a one-off, not the steady state
            for name in names:
                timings[name].append(figures[name] * 1e3)
        workload.advance()
    return {f"{name}_ms": statistics.median(values) for name, values in timings.items()}


def _lookups_s(client: ChallengePeriodManager, signals: list[str]) -> float:
    start = time.perf_counter()
    for hk in signals:
        client.has_miner(hk)
    return time.perf_counter() - start
