"""The challenge-period state: miners and pending elimination reasons in local dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from services.domain.challengeperiod_rules import RefreshOutcome
from services.domain.models import MinerBucket, MinerEntry, ReasonTuple
from services.storage.durable_state import DurableState
from services.storage.durable_store import DurableStore, Op


class ChallengePeriodState(DurableState):
    """Miners by hotkey and pending reasons; thread-safe, durable, versioned."""

    tracked = ("miners", "reasons")

    def __init__(self, store: DurableStore) -> None:
        super().__init__(store)
        self.miners: dict[str, MinerEntry] = self.tables["miners"]
        self.reasons: dict[str, ReasonTuple] = self.tables["reasons"]
        self._snapshot_cache: tuple[int, str] | None = None

    # -- reads ---------------------------------------------------------------------------

    def hotkeys_in(self, bucket: MinerBucket) -> dict[str, int]:
        """{hotkey: bucket_start_time} of one bucket."""
        with self.lock:
            return {hk: e.bucket_start_time for hk, e in self.miners.items() if e.bucket is bucket}

    def snapshot_json(self) -> str:
        """Miners, reasons and version as one JSON document, cached per version."""
        with self.lock:
            cached = self._snapshot_cache
            if cached is not None and cached[0] == self.version:
                return cached[1]
            # Every number here is checked finite: msgspec's encoder is safe (no NaN).
            body = msgspec.json.encode(
                {
                    "version": self.version,
                    "miners": {hk: e.to_wire() for hk, e in self.miners.items()},
                    "elimination_reasons": self.reasons,
                }
            ).decode()
            self._snapshot_cache = (self.version, body)
            return body

    def snapshot_since(self, since: tuple[str, int] | None) -> tuple[str, str]:
        """What a client holding ``since`` = (epoch, version) lacks: (kind, JSON text).

        Kind ``"changes"``: the version and, per table, each key changed since then with
        its current value (null when deleted). Kind ``"body"``: the whole snapshot, when
        ``since`` is None, from another epoch, or older than the log. Either is one
        consistent view, taken under the lock.
        """
        with self.lock:
            keys = self.changed_since(since)
            if keys is None:
                return "body", self.snapshot_json()
            miners, reasons = self.miners, self.reasons
            changed_miners = {}
            for hk in keys.get("miners", ()):
                entry = miners.get(hk)
                changed_miners[hk] = None if entry is None else entry.to_wire()
            changed_reasons = {hk: reasons.get(hk) for hk in keys.get("reasons", ())}
            changes = {
                "version": self.version,
                "miners": changed_miners,
                "elimination_reasons": changed_reasons,
            }
            return "changes", msgspec.json.encode(changes).decode()

    def set_miner(self, hotkey: str, entry: MinerEntry) -> bool:
        """Place or replace one miner; True when it was new."""
        with self.lock:
            is_new = hotkey not in self.miners
            if self.miners.get(hotkey) != entry:
                self._commit([("set", "miners", hotkey, entry)])
            return is_new

    def remove_miner(self, hotkey: str) -> bool:
        """Remove one miner; True when it existed."""
        return self.remove_miners([hotkey]) == 1

    def remove_miners(self, hotkeys: Iterable[str]) -> int:
        """Remove these miners in one durable change; returns how many existed."""
        with self.lock:
            wanted = dict.fromkeys(hotkeys)
            ops: list[Op] = [("del", "miners", hk) for hk in wanted if hk in self.miners]
            self._commit(ops)
            return len(ops)

    def replace_miners(self, miners: Mapping[str, MinerEntry]) -> list[str]:
        """Replace every miner at once, in one durable change; returns the hotkeys removed."""
        with self.lock:
            current = self.miners
            removed = [hk for hk in current if hk not in miners]
            ops: list[Op] = [("del", "miners", hk) for hk in removed]
            ops += [("set", "miners", hk, e) for hk, e in miners.items() if current.get(hk) != e]
            self._commit(ops)
            return removed

    def update_reasons(self, reasons: Mapping[str, ReasonTuple]) -> int:
        """dict.update the pending reasons, as one change; returns how many are pending."""
        with self.lock:
            current = self.reasons
            if current.keys().isdisjoint(reasons):
                changed = reasons  # all new: the usual batch, no per-item comparison
            else:
                changed = {hk: r for hk, r in reasons.items() if current.get(hk) != r}
            if changed:
                self._commit([("merge", "reasons", dict(changed))])
            return len(current)

    def clear_reasons(self) -> None:
        """Drop every pending reason."""
        with self.lock:
            self._commit([("del", "reasons", hk) for hk in self.reasons])

    def pop_reasons(self, hotkeys: Iterable[str] | None) -> dict[str, ReasonTuple]:
        """Remove and return all pending reasons, or only those of ``hotkeys``."""
        with self.lock:
            wanted = self.reasons.keys() if hotkeys is None else set(hotkeys) & self.reasons.keys()
            taken = {hk: self.reasons[hk] for hk in wanted}
            self._commit([("del", "reasons", hk) for hk in taken])
            return taken

    def apply_refresh(self, outcome: RefreshOutcome) -> None:
        """Replace the miners by a refresh's result and merge its new reasons."""
        with self.lock:
            current = self.miners
            ops: list[Op] = [("del", "miners", hk) for hk in current.keys() - outcome.miners.keys()]
            # An unchanged miner is the very same entry object: `is` settles it before the
            # dataclass __eq__ has to compare four fields.
            ops += [
                ("set", "miners", hk, e)
                for hk, e in outcome.miners.items()
                if (old := current.get(hk)) is not e and old != e
            ]
            ops += [
                ("set", "reasons", hk, r)
                for hk, r in outcome.new_reasons.items()
                if hk not in self.reasons
            ]
            self._commit(ops)

    def counts(self) -> dict[str, Any]:
        """Numbers for health checks."""
        with self.lock:
            return {
                "version": self.version,
                "active_miners_count": len(self.miners),
                "elimination_reasons_count": len(self.reasons),
            }
