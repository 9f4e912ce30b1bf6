"""EliminationManagerServer: elimination rows behind a Pyro5 API, and ``cpm-elimination-server``.

Handoff from the challenge-period service (RULES.md, "Elimination handoff"): read the
pending reasons, write the rows durably, then pop exactly the hotkeys handled. A crash
between any two steps leaves the reasons pending, and the next round skips the rows that
already exist and pops them, so a reason is never lost and never written twice. The
service polls ``has_elimination_reasons`` (one small call) every ``--poll-interval-ms``:
polling keeps the dependency one-way, so either service can start, stop or restart alone.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from Pyro5.api import behavior, expose

from services import wire
from services.cli import UsageError
from services.elimination_state import EliminationState, make_row, open_store
from services.errors import InvalidInputError, ServiceUnavailableError
from services.hosting import ServiceInfo
from services.launch import ServerSettings, ServiceSpec, run_service
from services.models import ReasonTuple, check_hotkey, check_hotkeys, check_reason, check_time
from services.timeutil import now_ms

log = logging.getLogger("cpm.elimination")

SERVICE_NAME = "EliminationManagerServer"
DEFAULT_POLL_INTERVAL_MS = 500
MAX_BACKOFF_MS = 2_000


class ReasonsSource(Protocol):
    """Where pending reasons come from: the challenge-period service's client API."""

    def has_elimination_reasons(self) -> bool: ...

    def get_all_elimination_reasons(self) -> dict[str, ReasonTuple]: ...

    def pop_elimination_reasons(
        self, hotkeys: list[str] | None = None
    ) -> dict[str, ReasonTuple]: ...


@behavior(instance_mode="single")
class EliminationManagerServer:
    """The elimination service object; each ``*_rpc`` method is one client call."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        fsync: bool = False,
        reasons_source: ReasonsSource | None = None,
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
            "service": SERVICE_NAME,
            "pid": os.getpid(),
            "timestamp_ms": self._clock(),
            "eliminations_count": len(self._state.rows),
            "version": self._state.version,
            "challengeperiod_reachable": not self._source_down,
        }

    @expose
    def get_eliminations_rpc(self) -> str:
        """Every row, as JSON."""
        return wire.dumps(self._state.all_rows())

    @expose
    def get_eliminated_hotkeys_rpc(self) -> str:
        """Every eliminated hotkey, as a JSON list."""
        return wire.dumps(self._state.hotkeys())

    @expose
    @wire.rpc
    def get_elimination_rpc(self, hotkey: Any) -> dict[str, Any] | None:
        """The hotkey's row, or None."""
        row = self._state.rows.get(check_hotkey(hotkey))
        return None if row is None else dict(row)

    @expose
    @wire.rpc
    def is_eliminated_rpc(self, hotkey: Any) -> bool:
        """True when the hotkey has a row."""
        return check_hotkey(hotkey) in self._state.rows

    @expose
    @wire.rpc
    def append_elimination_row_rpc(
        self, hotkey: Any, current_dd: Any, reason: Any, t_ms: Any = None
    ) -> bool:
        """Add a row unless the hotkey has one; True when added."""
        checked_reason, dd = check_reason((reason, current_dd), "reason")
        t = self._clock() if t_ms is None else check_time(t_ms, "t_ms")
        return self._state.append(make_row(check_hotkey(hotkey), checked_reason, dd, t))

    @expose
    @wire.rpc
    def delete_eliminations_rpc(self, hotkeys: Any) -> int:
        """Remove the rows of ``hotkeys``; returns how many were removed."""
        return self._state.delete(check_hotkeys(wire.loads_arg(hotkeys, "hotkeys")))

    @expose
    @wire.rpc
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
            added, skipped = self._state.record(reasons, t_ms)
            # Only now that the rows are durable may the reasons leave the pending set; a
            # refresh that added reasons since the read keeps them, as only these are popped.
            self._source.pop_elimination_reasons(sorted(reasons))
        if added:
            shown = ", ".join(added[:3]) + (", …" if len(added) > 3 else "")
            log.info("recorded %d eliminations: %s", len(added), shown)
        return {"added": added, "skipped": skipped}


def _add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--poll-interval-ms",
        type=int,
        default=DEFAULT_POLL_INTERVAL_MS,
        help="how often to ask the challenge-period service for pending reasons [%(default)s]",
    )


def _build(args: argparse.Namespace, settings: ServerSettings) -> EliminationManagerServer:
    from clients.challengeperiod_manager import ChallengePeriodManager

    if args.poll_interval_ms <= 0:
        raise UsageError("--poll-interval-ms must be a positive number of milliseconds")
    source = ChallengePeriodManager(**settings.peer_client_options())
    return EliminationManagerServer(
        settings.state_dir,
        fsync=settings.fsync,
        reasons_source=source,
        poll_interval_ms=args.poll_interval_ms,
    )


SPEC = ServiceSpec(
    prog="cpm-elimination-server",
    description="The elimination service: records what the challenge-period service eliminates.",
    info=ServiceInfo(SERVICE_NAME, frozenset({"cpm", "elimination", "cpm.api.v1"})),
    add_flags=_add_flags,
    build=_build,
)


def main(argv: list[str] | None = None) -> int:
    """``cpm-elimination-server``: run the elimination service until SIGTERM / Ctrl-C."""
    return run_service(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
