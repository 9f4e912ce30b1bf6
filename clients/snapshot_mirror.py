"""A client's copy of the challenge-period state, kept current by asking only for changes.

``sync(fetch)`` calls ``get_snapshot_rpc(since)`` with the epoch and version the copy
holds; the service answers with the keys changed since then (usually none or a few), or
with everything when it cannot tell. ``get_snapshot`` is built from the copy right after a
sync, so it is exactly as current as the service's answer; ``ReadCache`` serves lookups
from it between syncs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from services.domain.models import MinerBucket, ReasonTuple

# One miner as get_snapshot shows it: bucket, bucket_start_time, previous_bucket and
# previous_bucket_start_time, the buckets as MinerBucket. Never changed in place.
Entry = dict[str, Any]
Fetch = Callable[["list[Any] | None"], "dict[str, Any] | str"]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _entry(raw: dict[str, Any]) -> Entry:
    prev = raw["previous_bucket"]
    return {
        "bucket": MinerBucket(raw["bucket"]),
        "bucket_start_time": raw["bucket_start_time"],
        "previous_bucket": None if prev is None else MinerBucket(prev),
        "previous_bucket_start_time": raw["previous_bucket_start_time"],
    }


class SnapshotMirror:
    """Miners and pending reasons as of ``version``; see the module docstring.

    Thread-safe: syncs run one at a time; the tables are replaced or patched under a lock
    that readers of more than one key hold too.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self.epoch: str | None = None
        self.version = -1
        self.timestamp_ms = 0
        # In get_snapshot's shape, so a snapshot copies each entry (a C-level copy)
        # instead of building every dict anew.
        self.miners: dict[str, Entry] = {}
        self.reasons: dict[str, ReasonTuple] = {}
        self._by_bucket: dict[MinerBucket, dict[str, int]] | None = None

    def sync(self, fetch: Fetch, clock: Callable[[], float] = time.monotonic) -> float:
        """Bring the copy up to the service's state; returns ``clock()`` read at the start.

        Every change the service acknowledged before that moment is in the copy afterwards.
        """
        with self._sync_lock:
            since = None if self.epoch is None else [self.epoch, self.version]
            started = clock()
            reply = fetch(since)
            self._apply(reply)
            return started

    def _apply(self, raw_reply: dict[str, Any] | str) -> None:
        # A reply to since=None is a dict holding JSON text; to a since, one JSON document.
        reply: dict[str, Any] = _json(raw_reply)
        if "changes" in reply:
            changes = _json(reply["changes"])
            miners = {
                hk: None if raw is None else _entry(raw) for hk, raw in changes["miners"].items()
            }
            reasons = changes["elimination_reasons"]
            with self.lock:
                for hk, entry in miners.items():
                    if entry is None:
                        self.miners.pop(hk, None)
                    else:
                        self.miners[hk] = entry
                for hk, reason in reasons.items():
                    if reason is None:
                        self.reasons.pop(hk, None)
                    else:
                        self.reasons[hk] = (reason[0], reason[1])
                self._update(reply, changes["version"], touched=bool(miners))
            return
        body = _json(reply["body"])
        fresh_miners = {hk: _entry(raw) for hk, raw in body["miners"].items()}
        fresh_reasons = {hk: (r[0], r[1]) for hk, r in body["elimination_reasons"].items()}
        with self.lock:
            self.miners, self.reasons = fresh_miners, fresh_reasons
            self._update(reply, body["version"], touched=True)

    def _update(self, reply: dict[str, Any], version: int, *, touched: bool) -> None:
        self.epoch = reply.get("epoch")
        self.version = version
        self.timestamp_ms = reply["timestamp_ms"]
        if touched:
            self._by_bucket = None

    def snapshot(self) -> dict[str, Any]:
        """The public ``get_snapshot`` value: fresh dicts the caller may change."""
        with self.lock:
            return {
                "version": self.version,
                "timestamp_ms": self.timestamp_ms,
                "miners": {hk: entry.copy() for hk, entry in self.miners.items()},
                "elimination_reasons": dict(self.reasons),
            }

    def bucket_times(self, bucket: MinerBucket) -> dict[str, int]:
        """{hotkey: bucket_start_time} of one bucket, a fresh dict."""
        with self.lock:
            if self._by_bucket is None:
                # One pass builds every bucket; it is redone only after miners changed.
                by_bucket: dict[MinerBucket, dict[str, int]] = {b: {} for b in MinerBucket}
                for hk, entry in self.miners.items():
                    by_bucket[entry["bucket"]][hk] = entry["bucket_start_time"]
                self._by_bucket = by_bucket
            return dict(self._by_bucket[bucket])
