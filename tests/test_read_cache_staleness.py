"""No cached answer is older than max_staleness_ms, while the state changes underneath.

A writer (its own client, so nothing invalidates the readers' copies) moves one miner's
start time up by one per call and records when each call was acknowledged. Readers with
a cached client check every answer: it must be at least the newest value acknowledged
more than max_staleness_ms before the read started, and never a value not written yet.
"""

from __future__ import annotations

import bisect
import threading
import time

import pytest

from clients import ChallengePeriodManager
from tests.processes import Proc

STALENESS_MS = 40
RUN_S = 2.0


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_no_answer_older_than_the_bound(ns_port: int, cpm_process: Proc) -> None:
    acked_at: list[float] = []  # acked_at[i] = monotonic time value i + 1 was acknowledged
    stop = threading.Event()
    violations: list[str] = []
    checked = [0, 0]

    def write() -> None:
        with ChallengePeriodManager(ns_port=ns_port, timeout_s=5.0) as writer:
            value = 0
            while not stop.is_set():
                value += 1
                writer.set_miner_bucket("moving", "CHALLENGE", value)
                acked_at.append(time.monotonic())
                time.sleep(0.001)

    def read(index: int, cached: ChallengePeriodManager) -> None:
        while not stop.is_set():
            started = time.monotonic()
            acked = len(acked_at)  # values 1..acked are acknowledged by now
            answer = cached.get_miner_start_time("moving")
            # Newest value acknowledged more than the bound before this read started.
            required = bisect.bisect_left(acked_at[:acked], started - STALENESS_MS / 1000)
            got = answer or 0
            if got < required:
                violations.append(f"read at {started:.3f} got {got}, needed >= {required}")
            if got > len(acked_at) + 1:
                violations.append(f"got {got}, but only {len(acked_at)} were written")
            checked[index] += 1
            time.sleep(0.0002)  # spinning readers would starve the writer of the GIL

    writer = threading.Thread(target=write)
    writer.start()
    with ChallengePeriodManager(
        ns_port=ns_port, timeout_s=5.0, max_staleness_ms=STALENESS_MS
    ) as cached:
        readers = [threading.Thread(target=read, args=(i, cached)) for i in range(2)]
        for reader in readers:
            reader.start()
        time.sleep(RUN_S)
        stop.set()
        for reader in readers:
            reader.join(timeout=10)
    writer.join(timeout=10)
    assert not violations, violations[:5]
    assert len(acked_at) > 50 and min(checked) > 100, (len(acked_at), checked)
