"""The demo feed of ``cpm-stack --demo``: a simulated validator driving the real services.

It keeps a synthetic metagraph (``tools.demo_metagraph``, deterministic for a seed), and
once per tick advances a simulated clock by one day, submits refresh inputs and calls
``refresh_now`` at that simulated time, through the public clients only, as a validator
would. At the default pace (one simulated day per second) a watcher sees miners join,
get promoted and demoted, flagged for plagiarism and eliminated within a minute.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from dataclasses import dataclass
from typing import Any

from clients import ChallengePeriodManager, EliminationManager
from services.domain.errors import CpmError
from services.domain.timeutil import now_ms
from services.wire.naming import NameServerAddress
from tools.demo_metagraph import METAGRAPH_SIZE, Simulation

log = logging.getLogger("cpm.demo")

DEMO_SEED = 4_242
TICK_S = 1.0
CLIENT_TIMEOUT_S = 3.0


@dataclass
class DemoStats:
    """Totals over the demo's refreshes, for its log lines and for tests."""

    refreshes: int = 0
    added: int = 0
    promoted: int = 0
    demoted: int = 0
    eliminated: int = 0

    def count(self, summary: dict[str, Any]) -> None:
        """Add one refresh summary."""
        self.refreshes += 1
        self.added += len(summary["added"])
        self.promoted += len(summary["promoted"])
        self.demoted += len(summary["demoted"])
        self.eliminated += len(summary["eliminated"])


class DemoFeed:
    """The running demo thread; calling it stops nothing by itself but waits for the end."""

    def __init__(
        self,
        ns: NameServerAddress,
        stop: threading.Event,
        *,
        seed: int = DEMO_SEED,
        tick_s: float = TICK_S,
        size: int = METAGRAPH_SIZE,
    ) -> None:
        self.ns = ns
        self.stop = stop
        self.tick_s = tick_s
        self.size = size
        self.rng = random.Random(seed)
        self.stats = DemoStats()
        self.thread = threading.Thread(target=self._run, name="cpm-demo", daemon=True)

    def __call__(self) -> None:
        """Wait for the thread to end (after ``stop`` is set)."""
        self.thread.join(timeout=4 * CLIENT_TIMEOUT_S)
        if self.thread.is_alive():
            log.warning("demo thread did not stop in time; leaving it to exit with the process")

    def _run(self) -> None:
        host, port = self.ns.host, self.ns.port
        cpm = ChallengePeriodManager(ns_host=host, ns_port=port, timeout_s=CLIENT_TIMEOUT_S)
        em = EliminationManager(ns_host=host, ns_port=port, timeout_s=CLIENT_TIMEOUT_S)
        sim: Simulation | None = None
        outage = False
        try:
            while not self.stop.is_set():
                try:
                    if sim is None:
                        sim = self._start(cpm, em)
                    else:
                        sim.advance()
                    cpm.submit_refresh_inputs(sim.inputs())
                    summary = cpm.refresh_now(current_time_ms=sim.now_ms)
                except (CpmError, ConnectionError) as exc:
                    # A restarting service is normal here: the clients find it again by
                    # name on the next tick, and the simulated clock keeps running.
                    if not outage:
                        log.warning("demo: refresh failed (%s); retrying every tick", exc)
                        outage = True
                else:
                    if outage:
                        log.info("demo: refreshes go through again")
                        outage = False
                    sim.mark_eliminated(summary["eliminated"])
                    self.stats.count(summary)
                    self._record_eliminations(em, sim, summary)
                    self._log_progress()
                self.stop.wait(self.tick_s)
        finally:
            cpm.close()
            em.close()

    def _start(self, cpm: ChallengePeriodManager, em: EliminationManager) -> Simulation:
        # Continue after the latest time the service already holds, so a demo restarted
        # on an old state dir never moves the clock backwards; and never reuse a hotkey
        # that is already eliminated, since the service would (rightly) not add it.
        snapshot = cpm.get_snapshot()
        starts = [e["bucket_start_time"] for e in snapshot["miners"].values()]
        last = cpm.health_check().get("last_refresh_ms") or 0
        start = max([now_ms(), last, *starts])
        try:
            avoid = em.get_eliminated_hotkeys()
        except (CpmError, ConnectionError):
            avoid = set()
        sim = Simulation(self.rng, start, self.size, avoid)
        sim.populate()
        log.info(
            "demo: a simulated validator with %d miners, one simulated day every %g s",
            len(sim.miners),
            self.tick_s,
        )
        return sim

    def _record_eliminations(
        self, em: EliminationManager, sim: Simulation, summary: dict[str, Any]
    ) -> None:
        # As a validator would, record new eliminations at its own (simulated) time; the
        # elimination service also does it by itself within a second, at wall-clock time,
        # so a failure here loses nothing.
        if summary["eliminated"]:
            with contextlib.suppress(CpmError, ConnectionError):
                em.process_eliminations(current_time_ms=sim.now_ms)

    def _log_progress(self) -> None:
        if self.stats.refreshes % 10:
            return
        s = self.stats
        log.info(
            "demo: day %d: %d added, %d promoted, %d demoted, %d eliminated so far",
            s.refreshes - 1,
            s.added,
            s.promoted,
            s.demoted,
            s.eliminated,
        )


def start_demo(
    ns: NameServerAddress,
    stop: threading.Event,
    *,
    seed: int = DEMO_SEED,
    tick_s: float = TICK_S,
    size: int = METAGRAPH_SIZE,
) -> DemoFeed:
    """Start the demo thread against the stack at ``ns``; call the result to wait for its end."""
    feed = DemoFeed(ns, stop, seed=seed, tick_s=tick_s, size=size)
    feed.thread.start()
    return feed
