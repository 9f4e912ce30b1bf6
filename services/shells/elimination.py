"""EliminationManagerServer: elimination rows behind a Pyro5 API.

One round (``process_eliminations``) runs RULES.md's steps in order, each decided by a pure
function of ``services.domain.elimination_rules``: departed hotkeys, the handoff of pending
reasons (read, write the rows durably, then pop exactly the hotkeys handled), the
MAX_TOTAL_DRAWDOWN and ZOMBIE rows, and expiry. Its inputs come from the challenge-period
service (``PeerView``); while that service is down a round does what it can without it (no
handoff, no expiry). The background loop asks ``has_elimination_reasons`` every
``poll_interval_ms`` and runs a round at once when reasons are pending, and every elimination
check interval of the peer's rule set otherwise; polling keeps the dependency one-way, so
either service can start, stop or restart alone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from Pyro5.api import behavior, expose

from services.domain import elimination_rules as rules_
from services.domain.elimination_rules import Row, make_row, plan_handoff
from services.domain.errors import AuthenticationError, InvalidInputError, ServiceUnavailableError
from services.domain.models import check_hotkey, check_hotkeys, check_reason, check_time, listed
from services.domain.ports import ChallengePeriodPort
from services.domain.refresh_inputs import RefreshInputs
from services.domain.timeutil import now_ms
from services.shells.elimination_peer import MISMATCHED_HELP, PeerView
from services.shells.problems import health_fields
from services.storage.elimination_state import EliminationState, open_store
from services.storage.failure_log import FailureLog
from services.storage.folder import FileFolder
from services.wire import codec
from services.wire.errors import rpc
from services.wire.names import ELIMINATION_SERVICE

log = logging.getLogger("cpm.elimination")

DEFAULT_POLL_INTERVAL_MS = 500
MAX_BACKOFF_MS = 2_000

Result = dict[str, list[str]]


def _log_added(rows: list[Row]) -> None:
    for row in rows:
        log.info("eliminated %s: %s, dd %s", row["hotkey"], row["reason"], row["dd"])


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
        check_interval_ms: int | None = None,
        fold_every_change: bool = False,
    ) -> None:
        self._state = EliminationState(
            open_store(Path(state_dir), fsync=fsync, fold_every_change=fold_every_change)
        )
        self._folder = FileFolder(self._state)
        self._round_failures = FailureLog(log, "the elimination round")
        self._source = reasons_source
        self._peer = PeerView(reasons_source)
        self._clock = clock
        self.poll_interval_ms = poll_interval_ms
        # None: the elimination check interval of the peer's rule set.
        self.check_interval_ms = check_interval_ms
        self._round_lock = threading.Lock()
        # The metagraph of the last departed step; not kept across restarts, as the reference.
        self._previous: frozenset[str] | None = None
        self._last_round_end: float | None = None
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None

    # -- lifecycle, not exposed -----------------------------------------------------------

    def start_background(self) -> None:
        """Run rounds in a thread: at once when reasons are pending, else every interval."""
        self._folder.start()
        self._loop = threading.Thread(target=self._poll_loop, name="handoff-loop", daemon=True)
        self._loop.start()

    def _round_due(self) -> bool:
        interval = self.check_interval_ms or self._peer.rules.elimination_check_interval_ms
        end = self._last_round_end
        return end is None or (time.monotonic() - end) * 1000 > interval

    def _poll_loop(self) -> None:
        delay_ms = self.poll_interval_ms
        while not self._stop.wait(delay_ms / 1000):
            pending = False
            try:
                if self._source is not None:
                    pending = self._source.has_elimination_reasons()
                    self._peer.mark(up=True)
            except (ServiceUnavailableError, AuthenticationError) as exc:
                self._peer.mark(up=False, reason=str(exc))
            try:
                if self._source is not None and (pending or self._round_due()):
                    self._process(self._clock())
                delay_ms = (
                    min(delay_ms * 2, MAX_BACKOFF_MS) if self._peer.down else self.poll_interval_ms
                )
            except Exception as exc:
                self._round_failures.failed(exc, traceback=not isinstance(exc, OSError))
                delay_ms = min(delay_ms * 2, MAX_BACKOFF_MS)
            else:
                self._round_failures.succeeded()

    def close(self) -> None:
        """Stop the loop and fold the journal into the state files."""
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout=10)
        self._folder.stop()
        self._state.close()

    # -- RPC ------------------------------------------------------------------------------

    @expose
    @rpc
    def export_state_rpc(self) -> str:
        """Every state file's document at one instant, as JSON (``cpm-backup``)."""
        return codec.dumps(self._state.export())

    metrics_label = "reason"

    def metrics_sample(self) -> dict[str, tuple[str, Any]]:
        """The state's figures for a Prometheus scrape (not exposed: the metrics port's)."""
        with self._state.lock:
            per_reason = Counter(str(row.get("reason")) for row in self._state.rows.values())
            departed = len(self._state.departed)
        return {
            "cpm_eliminations": ("Elimination rows, by reason", per_reason),
            "cpm_departed_hotkeys": ("Hotkeys seen leaving the metagraph", departed),
            "cpm_mismatched_inputs_changes": (MISMATCHED_HELP, self._peer.mismatched),
        }

    @expose
    @rpc
    def health_check_rpc(self) -> dict[str, Any]:
        """Liveness and counts."""
        problems = ["challenge-period service unreachable"] if self._peer.down else []
        return {
            **health_fields(self._state.store, problems),
            "service": ELIMINATION_SERVICE,
            "pid": os.getpid(),
            "timestamp_ms": self._clock(),
            "eliminations_count": len(self._state.rows),
            "departed_count": len(self._state.departed),
            "version": self._state.version,
            "ruleset": self._peer.rules.name,
            "challengeperiod_reachable": not self._peer.down,
        }

    @expose
    @rpc
    def get_eliminations_rpc(self) -> str:
        """Every row, as JSON."""
        return codec.dumps(self._state.all_rows())

    @expose
    @rpc
    def get_eliminated_hotkeys_rpc(self) -> str:
        """Every eliminated hotkey, as a JSON list (what clients before the feed ask)."""
        return codec.dumps(self._state.hotkeys())

    @expose
    @rpc
    def get_eliminated_hotkeys_since_rpc(self, since: Any = None) -> str:
        """Eliminated hotkeys added and removed since [epoch, version], or all, as JSON."""
        return codec.dumps(self._state.hotkeys_since(codec.check_since(since)))

    @expose
    @rpc
    def get_elimination_rpc(self, hotkey: Any) -> dict[str, Any] | None:
        """The hotkey's row, or None."""
        checked = check_hotkey(hotkey)
        with self._state.lock:  # a whole-table replace is never seen half done
            row = self._state.rows.get(checked)
            return None if row is None else dict(row)

    @expose
    @rpc
    def is_eliminated_rpc(self, hotkey: Any) -> bool:
        """True when the hotkey has a row."""
        checked = check_hotkey(hotkey)
        with self._state.lock:
            return checked in self._state.rows

    @expose
    @rpc
    def append_elimination_row_rpc(
        self,
        hotkey: Any,
        current_dd: Any,
        reason: Any,
        t_ms: Any = None,
        price_info: Any = None,
        return_info: Any = None,
    ) -> bool:
        """Add a row unless the hotkey has one; True when added."""
        checked_reason, dd = check_reason((reason, 0 if current_dd is None else current_dd))
        t = self._clock() if t_ms is None else check_time(t_ms, "t_ms")
        prices = rules_.check_row_dict(codec.loads_arg(price_info, "price_info"), "price_info")
        returns = rules_.check_row_dict(codec.loads_arg(return_info, "return_info"), "return_info")
        row = make_row(
            check_hotkey(hotkey),
            checked_reason,
            None if current_dd is None else dd,
            t,
            prices,
            returns,
        )
        added = self._state.append(row)
        if added:
            _log_added([row])
        return added

    @expose
    @rpc
    def delete_eliminations_rpc(self, hotkeys: Any) -> int:
        """Remove the rows of ``hotkeys``; returns how many were removed."""
        return self._state.delete(check_hotkeys(codec.loads_arg(hotkeys, "hotkeys")))

    @expose
    @rpc
    def sync_eliminations_rpc(self, rows: Any) -> str:
        """Replace every row at once; returns the hotkeys removed, as a JSON list."""
        checked = rules_.check_given_rows(codec.loads_arg(rows, "rows"))
        return codec.dumps(self._state.replace_all(checked))

    @expose
    @rpc
    def write_eliminations_to_disk_rpc(self, rows: Any) -> None:
        """Replace every row at once and rewrite eliminations.json now."""
        self._state.replace_all(rules_.check_given_rows(codec.loads_arg(rows, "rows")))
        self._state.fold_into_files()

    @expose
    @rpc
    def is_hotkey_re_registered_rpc(self, hotkey: Any) -> bool:
        """True when the hotkey departed earlier and is in the latest metagraph."""
        if hotkey is None or hotkey == "":
            return False
        if check_hotkey(hotkey) not in self._state.departed:
            return False
        self._peer.sync()  # the latest submitted metagraph, not the last round's
        return hotkey in self._peer.metagraph

    @expose
    @rpc
    def get_departed_hotkeys_rpc(self) -> str:
        """{hotkey: {"detected_ms": int}}, as JSON."""
        with self._state.lock:
            return codec.dumps(self._state.departed)

    @expose
    @rpc
    def get_departed_hotkey_info_rpc(self, hotkey: Any) -> dict[str, Any] | None:
        """{"detected_ms": int} of a departed hotkey, or None."""
        info = self._state.departed.get(check_hotkey(hotkey))
        return None if info is None else dict(info)

    @expose
    @rpc
    def process_eliminations_rpc(self, current_time_ms: Any = None) -> Result:
        """Run one round of the elimination steps now (at ``current_time_ms`` if given)."""
        given = current_time_ms
        return self._process(
            self._clock() if given is None else check_time(given, "current_time_ms")
        )

    # -- one round --------------------------------------------------------------------------

    def _process(self, t_ms: int) -> Result:
        if self._source is None:
            raise InvalidInputError("no challenge-period service is configured as the source")
        with self._round_lock:
            try:
                return self._round(t_ms)
            finally:
                self._last_round_end = time.monotonic()

    def _round(self, t_ms: int) -> Result:
        """The departed step, the handoff, drawdown and zombies, flushed as one change (the
        reasons are read first and popped once their rows are on the device); then expiry."""
        peer_up = self._peer.sync()
        inputs = self._peer.inputs
        reasons: dict[str, Any] = {}
        source = self._source
        if peer_up and source is not None:
            try:
                reasons = source.get_all_elimination_reasons()
            except ServiceUnavailableError as exc:
                self._peer.mark(up=False, reason=str(exc))
                peer_up = False
        handoff = None
        found: list[Row] = []
        with self._state.lock:
            previous = self._departed_step(inputs, t_ms) if inputs is not None else None
            if reasons:
                handoff = plan_handoff(reasons, self._state.rows, t_ms)
                self._state.append_all(handoff.new_rows)
            if inputs is not None:
                found = self._drawdown_and_zombies(inputs, t_ms)
        if inputs is not None:  # the departed entries are on the device: move on
            self._previous = previous
        result: Result = {"added": [], "skipped": [], "deleted": []}
        if handoff is not None and source is not None:
            _log_added(handoff.new_rows)
            result["added"], result["skipped"] = handoff.added, handoff.skipped
            try:
                # A refresh that added reasons since the read keeps them: only these go.
                source.pop_elimination_reasons(handoff.handled)
            except ServiceUnavailableError as exc:
                self._peer.mark(up=False, reason=str(exc))
                peer_up = False
        _log_added(found)
        result["added"] += [row["hotkey"] for row in found]
        if inputs is not None and peer_up:
            try:
                result["deleted"] = self._expiry(inputs, t_ms)
            except ServiceUnavailableError as exc:
                self._peer.mark(up=False, reason=str(exc))
        return result

    def _departed_step(self, inputs: RefreshInputs, t_ms: int) -> frozenset[str] | None:
        """Record the hotkeys that left the metagraph; returns what ``previous`` becomes
        once this is durable (so a failed write is retried next round). The caller holds
        the state lock."""
        plan = rules_.plan_departed(  # the peer's frozenset of the metagraph: not copied
            self._previous, self._peer.metagraph, self._state.departed, t_ms, self._peer.rules
        )
        if plan.anomalous:
            log.warning(
                "%d hotkeys left the metagraph at once; an anomaly, none recorded as departed",
                len(plan.lost),
            )
        self._state.record_departed(plan.new_entries)
        if plan.previous is not None and self._previous is not None:
            back = {hk for hk in plan.previous - self._previous if hk in self._state.departed}
            if back:
                log.warning("departed hotkeys re-registered: %s", listed(sorted(back)))
        return plan.previous

    def _drawdown_and_zombies(self, inputs: RefreshInputs, t_ms: int) -> list[Row]:
        """The drawdown and zombie rows, added; the caller holds the state lock."""
        candidates = inputs.zombie_candidates()
        self._state.forget_expired(
            rules_.expired_to_forget(self._state.expired, candidates, self._peer.metagraph)
        )
        drawdown = rules_.plan_drawdown(
            self._peer.maincomp, inputs.miners, self._state.rows, t_ms, self._peer.rules
        )
        self._state.append_all(drawdown)
        # Decided after the drawdown rows exist: a hotkey gets one row, the first step's.
        zombies = rules_.plan_zombies(
            candidates,
            self._peer.metagraph,
            self._state.rows,
            self._state.expired,
            t_ms,
            self._peer.rules,
        )
        self._state.append_all(zombies)
        return drawdown + zombies

    def _expiry(self, inputs: RefreshInputs, t_ms: int) -> list[str]:
        assert self._source is not None
        with self._state.lock:
            expiring = self._state.expiring(
                self._peer.metagraph, t_ms, self._peer.rules.elimination_expiry_ms
            )
            rows = {hk: self._state.rows[hk] for hk in expiring}
        if not expiring:
            return []
        # Out of the buckets first: if the row went first and this failed, the hotkey would
        # stay in a bucket with no row; this way round a retry finishes the job.
        self._source.remove_miners(expiring)
        deleted = self._state.expire(expiring, t_ms)
        for hk in deleted:
            row = rows[hk]
            log.info("expired the row of %s (%s, dd %s): deleted", hk, row["reason"], row["dd"])
        return deleted
