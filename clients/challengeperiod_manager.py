"""ChallengePeriodManager: the client a validator imports; one RPC per method."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from clients.base import ServiceClient, lacks_call
from clients.inputs_submitter import InputsSubmitter
from clients.read_cache import ReadCache, check_max_staleness_ms
from clients.snapshot_mirror import SnapshotMirror
from clients.transport import Transport
from services.domain import config, fast_checks
from services.domain.errors import InvalidTypeError, RemoteError
from services.domain.models import (
    BucketLike,
    MinerBucket,
    ReasonTuple,
    check_bucket,
    check_hotkey,
    check_hotkeys,
    check_time,
    entry_from_args,
)
from services.domain.ports import EliminationsPort
from services.domain.refresh_inputs import parse_refresh_inputs
from services.shells.challengeperiod import ChallengePeriodManagerServer
from services.wire.api import CHALLENGEPERIOD_READ_ONLY, ChallengePeriodAPI
from services.wire.codec import dumps_arg, sized_arg
from services.wire.feed import decode_elimination_inputs
from services.wire.names import CHALLENGEPERIOD_SERVICE

T = TypeVar("T")


def _reasons(raw: dict[str, list[Any]]) -> dict[str, ReasonTuple]:
    return {hotkey: (r[0], r[1]) for hotkey, r in raw.items()}


def _plain_buckets(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint whose bucket Enum members (ours or the validator's) are plain strings."""

    def plain(value: Any) -> Any:
        return value.value if isinstance(value, Enum) else value

    return {
        hotkey: {k: plain(v) for k, v in entry.items()} if isinstance(entry, dict) else entry
        for hotkey, entry in checkpoint.items()
    }


class ChallengePeriodManager(ServiceClient[ChallengePeriodAPI]):
    """Client of ChallengePeriodManagerServer (or, in direct mode, an in-process server).

    ``max_staleness_ms`` (off by default) answers the miner lookups and bucket listings
    from a local copy never older than that many milliseconds; see ``clients.read_cache``.
    """

    service_name = CHALLENGEPERIOD_SERVICE
    server_module = "services.challengeperiod_manager_server"
    read_only_methods = CHALLENGEPERIOD_READ_ONLY

    def __init__(
        self,
        *,
        running_unit_tests: bool = False,
        ns_host: str | None = None,
        ns_port: int | None = None,
        spawn_server: bool = False,
        state_dir: str | Path | None = None,
        timeout_s: float = 10.0,
        auth_token: str | None = None,
        elimination_manager: EliminationsPort | None = None,
        ruleset: str | None = None,
        max_staleness_ms: int | None = None,
        transport: Transport | None = None,
    ) -> None:
        staleness = check_max_staleness_ms(max_staleness_ms)
        rules = config.ruleset(ruleset)
        self.spawn_args = ("--ruleset", rules.name)

        def make_server(path: Path) -> ChallengePeriodManagerServer:
            source = None
            if elimination_manager is not None:
                # Ours shares one frozenset until it changes; any other port's set is copied.
                source = getattr(
                    elimination_manager,
                    "get_eliminated_hotkeys_frozen",
                    elimination_manager.get_eliminated_hotkeys,
                )
            return ChallengePeriodManagerServer(
                path, rules=rules, eliminated_source=source, fold_every_change=True
            )

        super().__init__(
            running_unit_tests=running_unit_tests,
            ns_host=ns_host,
            ns_port=ns_port,
            spawn_server=spawn_server,
            state_dir=state_dir,
            timeout_s=timeout_s,
            auth_token=auth_token,
            make_server=make_server,
            transport=transport,
        )
        self._mirror = SnapshotMirror()
        self._submitter = InputsSubmitter(self._service)
        self._cache = (
            None if staleness is None else ReadCache(self._mirror, self._fetch_since, staleness)
        )

    def __enter__(self) -> ChallengePeriodManager:
        return self

    # -- the local copy (get_snapshot, and the read cache when max_staleness_ms is set) ----

    def _fetch_since(self, since: list[Any] | None) -> dict[str, Any] | str:
        reply: dict[str, Any] | str = self._service.get_snapshot_rpc(since)
        return reply

    def _cached(self) -> SnapshotMirror | None:
        """The local copy when reads may come from it (synced if too old), else None."""
        return None if self._cache is None else self._cache.current()

    def _write(self, method: Callable[..., T], *args: Any) -> T:
        """A mutating call; afterwards this client's cached reads see its effect."""
        try:
            return method(*args)
        finally:
            if self._cache is not None:
                self._cache.invalidate()

    # -- elimination reasons --------------------------------------------------------------

    def get_all_elimination_reasons(self) -> dict[str, ReasonTuple]:
        """{hotkey: (reason, dd)} of every pending reason."""
        return _reasons(json.loads(self._service.get_all_elimination_reasons_rpc()))

    def has_elimination_reasons(self) -> bool:
        """True when any reason is pending."""
        return bool(self._service.has_elimination_reasons_rpc())

    def clear_elimination_reasons(self) -> None:
        """Drop every pending reason."""
        self._write(self._service.clear_elimination_reasons_rpc)

    def update_elimination_reasons(self, reasons: dict[str, ReasonTuple]) -> int:
        """Merge ``reasons`` into the pending ones; returns how many are pending."""
        # Checked first, so every dd is finite: msgspec's encoder is safe (JSON has no NaN).
        text = msgspec.json.encode(fast_checks.reasons(reasons, "reasons")).decode()
        arg = sized_arg(text, "reasons")
        return int(self._write(self._service.update_elimination_reasons_rpc, arg))

    def pop_elimination_reasons(self, hotkeys: list[str] | None = None) -> dict[str, ReasonTuple]:
        """Remove and return all pending reasons, or only those of ``hotkeys``, atomically."""
        arg = None if hotkeys is None else dumps_arg(check_hotkeys(hotkeys, "hotkeys"), "hotkeys")
        return _reasons(json.loads(self._write(self._service.pop_elimination_reasons_rpc, arg)))

    # -- miners ---------------------------------------------------------------------------

    def has_miner(self, hotkey: str) -> bool:
        """True when the hotkey is in any bucket."""
        hotkey = check_hotkey(hotkey)
        cached = self._cached()
        if cached is not None:
            return hotkey in cached.miners
        return bool(self._service.has_miner_rpc(hotkey))

    def get_miner_bucket(self, hotkey: str) -> MinerBucket | None:
        """The miner's bucket, or None."""
        hotkey = check_hotkey(hotkey)
        cached = self._cached()
        if cached is not None:
            entry = cached.miners.get(hotkey)
            return None if entry is None else entry["bucket"]
        bucket = self._service.get_miner_bucket_rpc(hotkey)
        return None if bucket is None else MinerBucket(bucket)

    def get_miner_start_time(self, hotkey: str) -> int | None:
        """When the miner entered its bucket (ms), or None."""
        hotkey = check_hotkey(hotkey)
        cached = self._cached()
        if cached is not None:
            entry = cached.miners.get(hotkey)
            return None if entry is None else entry["bucket_start_time"]
        start: int | None = self._service.get_miner_start_time_rpc(hotkey)
        return start

    def get_hotkeys_by_bucket(self, bucket: BucketLike) -> list[str]:
        """Hotkeys in ``bucket``."""
        checked = check_bucket(bucket, "bucket")
        cached = self._cached()
        if cached is not None:
            return list(cached.bucket_times(checked))
        result: list[str] = json.loads(self._service.get_hotkeys_by_bucket_rpc(checked.value))
        return result

    def get_all_miner_hotkeys(self) -> list[str]:
        """Hotkeys in any bucket."""
        result: list[str] = json.loads(self._service.get_all_miner_hotkeys_rpc())
        return result

    def set_miner_bucket(
        self,
        hotkey: str,
        bucket: BucketLike,
        start_time: int,
        prev_bucket: BucketLike | None = None,
        prev_time: int | None = None,
    ) -> bool:
        """Place or replace a miner's whole entry; True when the hotkey was new."""
        entry = entry_from_args(bucket, start_time, prev_bucket, prev_time)
        return bool(
            self._write(
                self._service.set_miner_bucket_rpc,
                check_hotkey(hotkey),
                entry.bucket.value,
                entry.bucket_start_time,
                None if entry.previous_bucket is None else entry.previous_bucket.value,
                entry.previous_bucket_start_time,
            )
        )

    def remove_miner(self, hotkey: str) -> bool:
        """Remove a miner; True when it existed."""
        return bool(self._write(self._service.remove_miner_rpc, check_hotkey(hotkey)))

    def get_miner_previous_bucket(self, hotkey: str) -> MinerBucket | None:
        """The bucket the miner was in before its current one (PLAGIARISM's origin), or None."""
        bucket = self._service.get_miner_previous_bucket_rpc(check_hotkey(hotkey))
        return None if bucket is None else MinerBucket(bucket)

    def get_miner_previous_time(self, hotkey: str) -> int | None:
        """When the miner entered its previous bucket (ms), or None."""
        return self._service.get_miner_previous_time_rpc(check_hotkey(hotkey))

    def to_checkpoint_dict(self) -> dict[str, dict[str, Any]]:
        """{hotkey: CHECKPOINT_ENTRY} with bucket strings, as the validator's checkpoints hold."""
        result: dict[str, dict[str, Any]] = json.loads(self._service.to_checkpoint_dict_rpc())
        return result

    def sync_challenge_period_data(self, checkpoint_dict: dict[str, Any]) -> None:
        """Replace every miner by ``checkpoint_dict`` at once (auto-sync, restore); it may be
        in the current or the legacy ``{"testing", "success"}`` shape."""
        if not isinstance(checkpoint_dict, dict):
            raise InvalidTypeError(
                f"checkpoint_dict must be a dict, got {type(checkpoint_dict).__name__}"
            )
        arg = dumps_arg(_plain_buckets(checkpoint_dict), "checkpoint_dict")
        self._write(self._service.sync_challenge_period_data_rpc, arg)

    def export_state(self) -> dict[str, Any]:
        """{file name: document} of every state file at one instant (``cpm-backup``)."""
        documents: dict[str, Any] = json.loads(self._service.export_state_rpc())
        return documents

    def clear_all_miners(self) -> None:
        """Remove every miner from every bucket."""
        self._write(self._service.clear_all_miners_rpc)

    def refresh(self, current_time: int | None = None) -> dict[str, Any]:
        """The validator's name for ``refresh_now``."""
        return self.refresh_now(current_time)

    def _bucket_times(self, method: Callable[[], str], bucket: MinerBucket) -> dict[str, int]:
        cached = self._cached()
        if cached is not None:
            return cached.bucket_times(bucket)
        result: dict[str, int] = json.loads(method())
        return result

    def get_testing_miners(self) -> dict[str, int]:
        """{hotkey: bucket_start_time} of CHALLENGE."""
        return self._bucket_times(self._service.get_testing_miners_rpc, MinerBucket.CHALLENGE)

    def get_success_miners(self) -> dict[str, int]:
        """{hotkey: bucket_start_time} of MAINCOMP."""
        return self._bucket_times(self._service.get_success_miners_rpc, MinerBucket.MAINCOMP)

    def get_probation_miners(self) -> dict[str, int]:
        """{hotkey: bucket_start_time} of PROBATION."""
        return self._bucket_times(self._service.get_probation_miners_rpc, MinerBucket.PROBATION)

    def get_plagiarism_miners(self) -> dict[str, int]:
        """{hotkey: bucket_start_time} of PLAGIARISM."""
        return self._bucket_times(self._service.get_plagiarism_miners_rpc, MinerBucket.PLAGIARISM)

    def get_snapshot(self) -> dict[str, Any]:
        """Version, time, miners and pending reasons, one consistent view.

        The client keeps the last view it received and asks the service only for what
        changed since (one round trip either way), so the answer is as current as a full
        transfer; see ``clients.snapshot_mirror``.
        """
        if self._cache is not None:
            self._cache.sync()
        else:
            self._mirror.sync(self._fetch_since)
        return self._mirror.snapshot()

    # -- refresh --------------------------------------------------------------------------

    def submit_refresh_inputs(self, inputs: dict[str, Any]) -> int:
        """Hand the service the inputs of the next refreshes; returns their sequence number."""
        # Checked here in full (the error names the field) and again by the service.
        return self._submitter.submit(parse_refresh_inputs(inputs))

    def refresh_now(self, current_time_ms: int | None = None) -> dict[str, Any]:
        """Run one refresh now; returns promoted, demoted, eliminated, added, pruned."""
        arg = None if current_time_ms is None else check_time(current_time_ms, "current_time_ms")
        summary: dict[str, Any] = self._write(self._service.refresh_now_rpc, arg)
        summary["eliminated"] = _reasons(summary["eliminated"])
        return summary

    # -- what the elimination service takes from here -------------------------------------

    def get_elimination_inputs(self, since: list[Any] | None = None) -> dict[str, Any] | None:
        """None when ``since`` (the ``since`` of an earlier answer) is current; else the
        MAINCOMP hotkeys, the rule set, ``since``, and ``inputs`` (a RefreshInputs, or None
        when none were submitted) when they changed."""
        reply = self._service.get_elimination_inputs_rpc(since)
        if reply is None:
            return None
        return decode_elimination_inputs(reply)

    def get_elimination_changes(self, since: list[Any] | None = None) -> dict[str, Any] | None:
        """``get_elimination_inputs``, except that a caller holding the inputs of ``since``
        may get ``changes`` (an InputsChanges to apply to them) in place of ``inputs``."""
        try:
            reply = self._service.get_elimination_changes_rpc(since)
        except RemoteError as exc:
            if not lacks_call(exc, "get_elimination_changes_rpc"):
                raise
            return self.get_elimination_inputs(since)
        if reply is None:
            return None
        return decode_elimination_inputs(reply)

    def remove_miners(self, hotkeys: list[str]) -> int:
        """Remove these miners from the buckets; returns how many were in one."""
        arg = dumps_arg(check_hotkeys(hotkeys, "hotkeys"), "hotkeys")
        return int(self._write(self._service.remove_miners_rpc, arg))
