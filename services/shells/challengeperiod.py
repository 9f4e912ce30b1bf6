"""ChallengePeriodManagerServer: the challenge-period state behind a Pyro5 API.

The exposed class is a thin shell: it checks every argument (another client may not be
ours), calls ``ChallengePeriodState`` and ``challengeperiod_rules``, and encodes results for
the wire. The refresh loop runs beside the RPC threads; the state's lock keeps every call
and every refresh whole.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from Pyro5.api import behavior, expose

from services.domain import challengeperiod_rules, fast_checks
from services.domain.config import VANTA_2025_12, RulesConfig
from services.domain.models import (
    MinerBucket,
    check_bucket,
    check_hotkey,
    check_hotkeys,
    check_time,
    entry_from_args,
)
from services.domain.refresh_inputs import EMPTY_INPUTS, RefreshInputs
from services.domain.timeutil import now_ms
from services.shells.challengeperiod_exchange import BulkExchange
from services.shells.eliminated_view import EliminatedSource, EliminatedView
from services.shells.gc_pause import paused_gc
from services.shells.problems import health_fields, overdue
from services.storage.challengeperiod_files import open_store
from services.storage.challengeperiod_state import ChallengePeriodState
from services.storage.failure_log import FailureLog
from services.storage.folder import FileFolder
from services.wire import codec
from services.wire.errors import rpc
from services.wire.names import CHALLENGEPERIOD_SERVICE

log = logging.getLogger("cpm.challengeperiod")


@behavior(instance_mode="single")
class ChallengePeriodManagerServer(BulkExchange):
    """The challenge-period service object; each ``*_rpc`` method is one client call."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        rules: RulesConfig = VANTA_2025_12,
        fsync: bool = False,
        eliminated_source: EliminatedSource | None = None,
        clock: Callable[[], int] = now_ms,
        fold_every_change: bool = False,
    ) -> None:
        self.rules = rules
        self._state = ChallengePeriodState(
            open_store(Path(state_dir), fsync=fsync, fold_every_change=fold_every_change)
        )
        self._folder = FileFolder(self._state)
        self._eliminated = EliminatedView(eliminated_source)
        self._clock = clock
        self._inputs: RefreshInputs | None = None
        self._inputs_text: str | None = None
        self._inputs_seq = 0
        # Names these inputs apart from any before a restart, for changes made from them.
        self._inputs_epoch = secrets.token_hex(8)
        self._last_refresh_ms: int | None = None
        self._last_refresh_duration_ms: float | None = None
        self._refresh_lock = threading.Lock()
        self._loop_stop = threading.Event()
        self._refresh_failures = FailureLog(log, "the refresh loop's refresh")
        self._loop: threading.Thread | None = None
        # Monotonic times for the overdue check: a refresh_now at a simulated time counts too.
        self._loop_interval_ms: int | None = None
        self._inputs_at: float | None = None
        self._refreshed_at: float | None = None

    metrics_label = "bucket"

    def metrics_sample(self) -> dict[str, tuple[str, Any]]:
        """The state's figures for a Prometheus scrape (not exposed: the metrics port's)."""
        with self._state.lock:
            per_bucket = {b.value: 0 for b in MinerBucket}
            for entry in self._state.miners.values():
                per_bucket[entry.bucket.value] += 1
            pending = len(self._state.reasons)
        last = self._last_refresh_ms
        age = float("nan") if last is None else max(0.0, (self._clock() - last) / 1000)
        duration = self._last_refresh_duration_ms
        return {
            "cpm_miners": ("Miners per bucket", per_bucket),
            "cpm_pending_elimination_reasons": ("Reasons not yet recorded as rows", pending),
            "cpm_last_refresh_age_seconds": ("Seconds since the last refresh's time", age),
            "cpm_last_refresh_duration_seconds": (
                "Server-side duration of the last refresh",
                float("nan") if duration is None else duration / 1000,
            ),
            "cpm_refused_inputs_changes": (
                "Submitted inputs changes made from other inputs, since start",
                self.inputs_changes_refused,
            ),
            "cpm_mismatched_inputs_changes": (
                "Submitted inputs changes refused because they made another document than "
                "the client's (a fault; the whole document followed), since start",
                self.inputs_changes_mismatched,
            ),
        }

    @expose
    @rpc
    def health_check_rpc(self) -> dict[str, Any]:
        """Liveness and counts."""
        counts = self._state.counts()
        problems = ["elimination service unreachable"] if self._eliminated.down else []
        interval = self._loop_interval_ms
        if interval is not None and overdue(
            self._refreshed_at, self._inputs_at, interval, time.monotonic()
        ):
            problems.append(f"refresh overdue: none for over {2 * interval} ms since inputs came")
        return {
            **health_fields(self._state.store, problems),
            "service": CHALLENGEPERIOD_SERVICE,
            "ruleset": self.rules.name,
            "pid": os.getpid(),
            "timestamp_ms": self._clock(),
            "last_refresh_ms": self._last_refresh_ms,
            "last_refresh_duration_ms": self._last_refresh_duration_ms,
            "inputs_seq": self._inputs_seq,
            **counts,
        }

    # -- lifecycle, not exposed ---------------------------------------------------------

    def start_refresh_loop(self, interval_ms: int) -> None:
        """Refresh every ``interval_ms`` with the latest submitted inputs, in a thread."""
        self._loop_interval_ms = interval_ms
        self._loop = threading.Thread(
            target=self._refresh_loop, args=(interval_ms,), name="refresh-loop", daemon=True
        )
        self._loop.start()

    def _refresh_loop(self, interval_ms: int) -> None:
        waiting_logged = False
        while not self._loop_stop.wait(interval_ms / 1000):
            if self._inputs is None:
                if not waiting_logged:
                    log.info("no refresh inputs submitted yet; the refresh loop waits for them")
                    waiting_logged = True
                continue
            try:
                summary = self._refresh(self._clock())
            except Exception as exc:
                self._refresh_failures.failed(exc, traceback=not isinstance(exc, OSError))
                continue
            self._refresh_failures.succeeded()
            if summary["promoted"] or summary["demoted"] or summary["eliminated"]:
                log.info(
                    "refresh: %d promoted, %d demoted, %d eliminated, %d added, %d pruned",
                    len(summary["promoted"]),
                    len(summary["demoted"]),
                    len(summary["eliminated"]),
                    len(summary["added"]),
                    len(summary["pruned"]),
                )

    @property
    def has_eliminated_source(self) -> bool:
        """True when the service knows where to learn eliminated hotkeys from."""
        return self._eliminated.has_source

    def set_eliminated_source(self, source: EliminatedSource) -> None:
        """Learn eliminated hotkeys from ``source`` (wires a direct-mode pair together)."""
        self._eliminated.set_source(source)

    def start_background(self) -> None:
        """Start the refresh loop at the configured interval, and the file folder."""
        self._folder.start()
        self.start_refresh_loop(self.rules.refresh_interval_ms)

    def close(self) -> None:
        """Stop the refresh loop and fold the journal into the state files."""
        self._loop_stop.set()
        if self._loop is not None:
            self._loop.join(timeout=10)
        self._eliminated.close()
        self._folder.stop()
        self._state.close()

    # -- elimination reasons ------------------------------------------------------------

    @expose
    @rpc
    def get_all_elimination_reasons_rpc(self) -> str:
        """{hotkey: [reason, dd]} as JSON."""
        with self._state.lock:
            return codec.dumps_checked(self._state.reasons)

    @expose
    @rpc
    def has_elimination_reasons_rpc(self) -> bool:
        """True when any reason is pending."""
        return bool(self._state.reasons)

    @expose
    @rpc
    def clear_elimination_reasons_rpc(self) -> None:
        """Drop every pending reason."""
        self._state.clear_reasons()

    @expose
    @rpc
    def update_elimination_reasons_rpc(self, reasons: Any) -> int:
        """Merge reasons in (dict.update); returns the number pending."""
        checked = (
            fast_checks.decode_reasons(reasons)
            if isinstance(reasons, str)
            else fast_checks.reasons(reasons)
        )
        return self._state.update_reasons(checked)

    @expose
    @rpc
    def pop_elimination_reasons_rpc(self, hotkeys: Any = None) -> str:
        """Remove and return all pending reasons, or those of ``hotkeys``, as JSON."""
        wanted = None if hotkeys is None else check_hotkeys(codec.loads_arg(hotkeys, "hotkeys"))
        return codec.dumps_checked(self._state.pop_reasons(wanted))

    # -- miners -------------------------------------------------------------------------

    @expose
    @rpc
    def has_miner_rpc(self, hotkey: Any) -> bool:
        """True when the hotkey is in any bucket."""
        return check_hotkey(hotkey) in self._state.miners

    @expose
    @rpc
    def get_miner_bucket_rpc(self, hotkey: Any) -> str | None:
        """The miner's bucket name, or None."""
        entry = self._state.miners.get(check_hotkey(hotkey))
        return None if entry is None else entry.bucket.value

    @expose
    @rpc
    def get_miner_start_time_rpc(self, hotkey: Any) -> int | None:
        """The miner's bucket start time, or None."""
        entry = self._state.miners.get(check_hotkey(hotkey))
        return None if entry is None else entry.bucket_start_time

    @expose
    @rpc
    def get_hotkeys_by_bucket_rpc(self, bucket: Any) -> str:
        """Hotkeys of one bucket, as a JSON list."""
        return codec.dumps_checked(list(self._state.hotkeys_in(check_bucket(bucket))))

    @expose
    @rpc
    def get_all_miner_hotkeys_rpc(self) -> str:
        """Every hotkey in any bucket, as a JSON list."""
        with self._state.lock:
            return codec.dumps_checked(list(self._state.miners))

    @expose
    @rpc
    def set_miner_bucket_rpc(
        self,
        hotkey: Any,
        bucket: Any,
        start_time: Any,
        prev_bucket: Any = None,
        prev_time: Any = None,
    ) -> bool:
        """Place or replace a miner; True when it was new."""
        entry = entry_from_args(bucket, start_time, prev_bucket, prev_time)
        return self._state.set_miner(check_hotkey(hotkey), entry)

    @expose
    @rpc
    def remove_miner_rpc(self, hotkey: Any) -> bool:
        """Remove a miner; True when it existed."""
        return self._state.remove_miner(check_hotkey(hotkey))

    @expose
    @rpc
    def get_miner_previous_bucket_rpc(self, hotkey: Any) -> str | None:
        """The bucket the miner was in before its current one, or None."""
        entry = self._state.miners.get(check_hotkey(hotkey))
        previous = None if entry is None else entry.previous_bucket
        return None if previous is None else previous.value

    @expose
    @rpc
    def get_miner_previous_time_rpc(self, hotkey: Any) -> int | None:
        """When the miner entered its previous bucket, or None."""
        entry = self._state.miners.get(check_hotkey(hotkey))
        return None if entry is None else entry.previous_bucket_start_time

    @expose
    @rpc
    def get_testing_miners_rpc(self) -> str:
        """{hotkey: start} of CHALLENGE, as JSON."""
        return codec.dumps_checked(self._state.hotkeys_in(MinerBucket.CHALLENGE))

    @expose
    @rpc
    def get_success_miners_rpc(self) -> str:
        """{hotkey: start} of MAINCOMP, as JSON."""
        return codec.dumps_checked(self._state.hotkeys_in(MinerBucket.MAINCOMP))

    @expose
    @rpc
    def get_probation_miners_rpc(self) -> str:
        """{hotkey: start} of PROBATION, as JSON."""
        return codec.dumps_checked(self._state.hotkeys_in(MinerBucket.PROBATION))

    @expose
    @rpc
    def get_plagiarism_miners_rpc(self) -> str:
        """{hotkey: start} of PLAGIARISM, as JSON."""
        return codec.dumps_checked(self._state.hotkeys_in(MinerBucket.PLAGIARISM))

    @expose
    @rpc
    def get_snapshot_rpc(self, since: Any = None) -> dict[str, Any] | str:
        """One consistent view: ``body`` is the JSON of version, miners and reasons. Given
        ``since`` = [epoch, version] of a view the caller holds: one JSON document with
        only the ``changes`` when the service can tell them, else the ``body``."""
        checked = codec.check_since(since)
        kind, text = self._state.snapshot_since(checked)
        timestamp, epoch = self._clock(), self._state.changes.epoch
        if checked is None:
            return {"timestamp_ms": timestamp, "epoch": epoch, kind: text}
        return f'{{"timestamp_ms":{timestamp:d},"epoch":"{epoch}","{kind}":{text}}}'

    # -- refresh ------------------------------------------------------------------------

    @expose
    @rpc
    def refresh_now_rpc(self, current_time_ms: Any = None) -> dict[str, Any]:
        """Run one refresh now (at ``current_time_ms`` if given); returns its summary."""
        now = (
            self._clock()
            if current_time_ms is None
            else check_time(current_time_ms, "current_time_ms")
        )
        return self._refresh(now)

    def _refresh(self, now: int) -> dict[str, Any]:
        started = time.perf_counter()
        eliminated = self._eliminated.current()
        with self._refresh_lock, paused_gc():
            with self._state.lock:
                outcome = challengeperiod_rules.refresh(
                    self._state.miners,
                    self._state.reasons,
                    eliminated,
                    self._inputs or EMPTY_INPUTS,
                    now,
                    self.rules,
                )
                self._state.apply_refresh(outcome)
                self._last_refresh_ms = now
                self._refreshed_at = time.monotonic()
            # Server-side cost of the whole refresh, the flush included (cpm-bench's figure).
            self._last_refresh_duration_ms = round((time.perf_counter() - started) * 1000, 3)
        # The folder brings the files up to date within its interval (0.5 s). Folding at
        # once would flush the files while the validator's next calls (the elimination
        # round right after a refresh) flush their changes, and slow them by a third.
        # One line per decision, for the loop's refreshes and refresh_now alike.
        for hotkey, note in outcome.notes:
            log.info("refresh at %d: %s %s", now, hotkey, note)
        return {
            "duration_ms": self._last_refresh_duration_ms,
            "promoted": outcome.promoted,
            "demoted": outcome.demoted,
            "eliminated": {hk: list(r) for hk, r in outcome.new_reasons.items()},
            "added": outcome.added,
            "pruned": outcome.pruned,
            "plagiarism": outcome.plagiarism,
        }
