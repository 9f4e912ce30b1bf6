"""EliminationManagerServer: elimination rows behind a Pyro5 API.

The handoff from the challenge-period service is decided by
``services.domain.elimination_rules.plan_handoff``; this shell reads, writes the rows
durably, then pops exactly the hotkeys handled, in that order. The service polls
``has_elimination_reasons`` (one small call) every ``--poll-interval-ms``: polling keeps the
dependency one-way, so either service can start, stop or restart alone.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from Pyro5.api import behavior, expose

from services.domain.elimination_rules import make_row, plan_handoff
from services.domain.errors import InvalidInputError, ServiceUnavailableError
from services.domain.models import (
    check_hotkey,
    check_hotkeys,
    check_reason,
    check_time,
)
from services.domain.ports import ChallengePeriodPort
from services.domain.timeutil import now_ms
from services.storage.elimination_state import EliminationState, open_store
from services.wire import codec
from services.wire.errors import rpc
from services.wire.names import ELIMINATION_SERVICE

log = logging.getLogger("cpm.elimination")

DEFAULT_POLL_INTERVAL_MS = 500
MAX_BACKOFF_MS = 2_000


@behavior(instance_mode="single")
class EliminationManagerServer:
    """The elimination service object; each ``*_rpc`` method is one client call."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        fsync: bool = False,
        reasons_source: ChallengePeriodPort | None = None,
        clock: Callable[[], int] = now_ms,
        poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS,
    ) -> None:
        self._state = EliminationState(open_store(Path(state_dir), fsync=fsync))
        self._source = reasons_source
        self._clock = clock
        self.poll_interval_ms = poll_interval_ms
        self._handoff_lock = threading.Lock()
        self._source_down = False
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None

    # -- lifecycle, not exposed -----------------------------------------------------------

    def start_background(self) -> None:
        """Poll the challenge-period service for pending reasons, in a thread."""
        self._loop = threading.Thread(target=self._poll_loop, name="handoff-loop", daemon=True)
        self._loop.start()

    def _poll_loop(self) -> None:
        delay_ms = self.poll_interval_ms
        while not self._stop.wait(delay_ms / 1000):
            try:
                if self._source is not None and self._source.has_elimination_reasons():
                    self._process(self._clock())
                self._mark_source(up=True)
                delay_ms = self.poll_interval_ms
            except ServiceUnavailableError as exc:
                self._mark_source(up=False, reason=str(exc))
                delay_ms = min(delay_ms * 2, MAX_BACKOFF_MS)
            except Exception:
                log.exception("handoff round failed; retrying")
                delay_ms = min(delay_ms * 2, MAX_BACKOFF_MS)

    def _mark_source(self, *, up: bool, reason: str = "") -> None:
        if up and self._source_down:
            log.info("challenge-period service answers again")
        elif not up and not self._source_down:
            log.warning("challenge-period service unavailable (%s); retrying with backoff", reason)
        self._source_down = not up

    def close(self) -> None:
        """Stop polling and fold the journal into eliminations.json."""
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout=10)
        self._state.close()

    # -- RPC ------------------------------------------------------------------------------

    @expose
    def health_check_rpc(self) -> dict[str, Any]:
        """Liveness and counts."""
        return {
            "status": "ok",
            "service": ELIMINATION_SERVICE,
            "pid": os.getpid(),
            "timestamp_ms": self._clock(),
            "eliminations_count": len(self._state.rows),
            "version": self._state.version,
            "challengeperiod_reachable": not self._source_down,
        }

    @expose
    def get_eliminations_rpc(self) -> str:
        """Every row, as JSON."""
        return codec.dumps(self._state.all_rows())

    @expose
    def get_eliminated_hotkeys_rpc(self) -> str:
        """Every eliminated hotkey, as a JSON list."""
        return codec.dumps(self._state.hotkeys())

    @expose
    @rpc
    def get_elimination_rpc(self, hotkey: Any) -> dict[str, Any] | None:
        """The hotkey's row, or None."""
        row = self._state.rows.get(check_hotkey(hotkey))
        return None if row is None else dict(row)

    @expose
    @rpc
    def is_eliminated_rpc(self, hotkey: Any) -> bool:
        """True when the hotkey has a row."""
        return check_hotkey(hotkey) in self._state.rows

    @expose
    @rpc
    def append_elimination_row_rpc(
        self, hotkey: Any, current_dd: Any, reason: Any, t_ms: Any = None
    ) -> bool:
        """Add a row unless the hotkey has one; True when added."""
        checked_reason, dd = check_reason((reason, current_dd), "reason")
        t = self._clock() if t_ms is None else check_time(t_ms, "t_ms")
        return self._state.append(make_row(check_hotkey(hotkey), checked_reason, dd, t))

    @expose
    @rpc
    def delete_eliminations_rpc(self, hotkeys: Any) -> int:
        """Remove the rows of ``hotkeys``; returns how many were removed."""
        return self._state.delete(check_hotkeys(codec.loads_arg(hotkeys, "hotkeys")))

    @expose
    @rpc
    def process_eliminations_rpc(self, current_time_ms: Any = None) -> dict[str, list[str]]:
        """Take the pending reasons from the challenge-period service and record them."""
        t = (
            self._clock()
            if current_time_ms is None
            else check_time(current_time_ms, "current_time_ms")
        )
        return self._process(t)

    def _process(self, t_ms: int) -> dict[str, list[str]]:
        if self._source is None:
            raise InvalidInputError("no challenge-period service is configured as the source")
        with self._handoff_lock:
            reasons = self._source.get_all_elimination_reasons()
            if not reasons:
                return {"added": [], "skipped": []}
            with self._state.lock:
                plan = plan_handoff(reasons, self._state.rows, t_ms)
                self._state.append_all(plan.new_rows)
            # Only now that the rows are durable may the reasons leave the pending set; a
            # refresh that added reasons since the read keeps them, as only these are popped.
            self._source.pop_elimination_reasons(plan.handled)
        if plan.added:
            shown = ", ".join(plan.added[:3]) + (", …" if len(plan.added) > 3 else "")
            log.info("recorded %d eliminations: %s", len(plan.added), shown)
        return {"added": plan.added, "skipped": plan.skipped}
