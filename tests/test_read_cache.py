"""The bounded-staleness read cache, the snapshot mirror under it, and the change log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clients import ChallengePeriodManager, MinerBucket
from clients.read_cache import ReadCache, check_max_staleness_ms
from clients.snapshot_mirror import SnapshotMirror
from services.domain.errors import InvalidInputError, InvalidTypeError
from services.domain.models import MinerEntry
from services.storage.challengeperiod_files import open_store
from services.storage.challengeperiod_state import ChallengePeriodState
from services.storage.change_log import ChangeLog

pytestmark = pytest.mark.timeout(30)


def _entry(bucket: str, start: int) -> dict[str, Any]:
    return MinerEntry(MinerBucket(bucket), start).to_wire()


def _full(version: int, miners: dict[str, Any], epoch: str = "e1") -> dict[str, Any]:
    body = {"version": version, "miners": miners, "elimination_reasons": {}}
    return {"timestamp_ms": 1, "epoch": epoch, "body": json.dumps(body)}


def _changes(version: int, miners: dict[str, Any], reasons: dict[str, Any]) -> str:
    body = {"version": version, "miners": miners, "elimination_reasons": reasons}
    return json.dumps({"timestamp_ms": 2, "epoch": "e1", "changes": body})


class FakeService:
    """Answers get_snapshot_rpc(since) from a list of replies; records the calls."""

    def __init__(self, *replies: dict[str, Any] | str) -> None:
        self.replies = list(replies)
        self.calls: list[Any] = []
        self.during_fetch: Any = None

    def __call__(self, since: Any) -> dict[str, Any] | str:
        self.calls.append(since)
        if self.during_fetch is not None:
            self.during_fetch()
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("value", [0, -1, 3_600_001])
def test_max_staleness_out_of_range_is_a_value_error(value: int) -> None:
    with pytest.raises(InvalidInputError, match="max_staleness_ms"):
        check_max_staleness_ms(value)
    with pytest.raises(ValueError, match="max_staleness_ms"):
        ChallengePeriodManager(running_unit_tests=True, max_staleness_ms=value)


@pytest.mark.parametrize("value", [1.5, "10", True])
def test_max_staleness_of_the_wrong_type_is_a_type_error(value: object) -> None:
    with pytest.raises(InvalidTypeError, match="max_staleness_ms"):
        check_max_staleness_ms(value)


def test_mirror_applies_a_full_view_then_changes() -> None:
    mirror = SnapshotMirror()
    fetch = FakeService(
        _full(3, {"a": _entry("CHALLENGE", 1), "b": _entry("MAINCOMP", 2)}),
        _changes(5, {"a": None, "c": _entry("PROBATION", 3)}, {"x": ["ZOMBIE", -1]}),
    )
    mirror.sync(fetch)
    assert fetch.calls == [None]
    assert mirror.bucket_times(MinerBucket.CHALLENGE) == {"a": 1}
    mirror.sync(fetch)
    assert fetch.calls[1] == ["e1", 3]
    snap = mirror.snapshot()
    assert snap["version"] == 5
    assert set(snap["miners"]) == {"b", "c"}
    assert snap["miners"]["c"]["bucket"] is MinerBucket.PROBATION
    assert snap["elimination_reasons"] == {"x": ("ZOMBIE", -1)}
    assert mirror.bucket_times(MinerBucket.CHALLENGE) == {}
    snap["miners"]["b"]["bucket"] = "changed by the caller"
    mirror.bucket_times(MinerBucket.MAINCOMP)["b"] = 99
    assert mirror.snapshot()["miners"]["b"]["bucket"] is MinerBucket.MAINCOMP
    assert mirror.bucket_times(MinerBucket.MAINCOMP) == {"b": 2}


def test_cache_syncs_only_when_older_than_the_bound() -> None:
    clock = FakeClock()
    fetch = FakeService(_full(1, {"a": _entry("CHALLENGE", 1)}))
    cache = ReadCache(SnapshotMirror(), fetch, max_staleness_ms=100, clock=clock)
    cache.current()
    clock.now += 0.099
    cache.current()
    assert len(fetch.calls) == 1
    clock.now += 0.001  # exactly the bound since the start of the sync: too old
    cache.current()
    assert len(fetch.calls) == 2


def test_bound_counts_from_the_start_of_the_sync() -> None:
    clock = FakeClock()
    fetch = FakeService(_full(1, {}))

    def slow_fetch() -> None:
        clock.now += 0.08

    fetch.during_fetch = slow_fetch
    cache = ReadCache(SnapshotMirror(), fetch, max_staleness_ms=100, clock=clock)
    cache.current()
    clock.now += 0.03  # 110 ms after the sync started, 30 ms after it ended
    cache.current()
    assert len(fetch.calls) == 2


def test_invalidate_forces_a_sync_even_one_already_under_way() -> None:
    clock = FakeClock()
    fetch = FakeService(_full(1, {}))
    cache = ReadCache(SnapshotMirror(), fetch, max_staleness_ms=10_000, clock=clock)
    cache.current()
    cache.invalidate()
    fetch.during_fetch = cache.invalidate  # a write lands while this sync is running
    cache.current()
    fetch.during_fetch = None
    cache.current()  # the sync that raced the write does not count as fresh
    cache.current()
    assert len(fetch.calls) == 3


def test_cached_client_reads_its_own_writes(tmp_path: Path) -> None:
    with ChallengePeriodManager(
        running_unit_tests=True, state_dir=tmp_path, max_staleness_ms=3_600_000
    ) as cpm:
        assert cpm.has_miner("a") is False
        cpm.set_miner_bucket("a", "PROBATION", 7)
        assert cpm.has_miner("a") is True
        assert cpm.get_miner_bucket("a") is MinerBucket.PROBATION
        assert cpm.get_miner_start_time("a") == 7
        assert cpm.get_hotkeys_by_bucket("PROBATION") == ["a"]
        assert cpm.get_probation_miners() == {"a": 7}
        cpm.set_miner_bucket("b", "CHALLENGE", 1)
        cpm.set_miner_bucket("c", "MAINCOMP", 2)
        cpm.set_miner_bucket("d", "PLAGIARISM", 3, "CHALLENGE", 1)
        assert cpm.get_testing_miners() == {"b": 1}
        assert cpm.get_success_miners() == {"c": 2}
        assert cpm.get_plagiarism_miners() == {"d": 3}
        assert cpm.remove_miner("a") is True
        assert cpm.has_miner("a") is False
        assert cpm.get_miner_bucket("a") is None and cpm.get_miner_start_time("a") is None


def test_snapshot_is_the_same_with_or_without_the_local_copy(tmp_path: Path) -> None:
    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as cpm:
        cpm.set_miner_bucket("a", "CHALLENGE", 1)
        first = cpm.get_snapshot()
        cpm.update_elimination_reasons({"z": ("ZOMBIE", -1)})
        cpm.set_miner_bucket("b", "PLAGIARISM", 5, "MAINCOMP", 2)
        second = cpm.get_snapshot()
        reply = cpm._service.get_snapshot_rpc()
        assert isinstance(reply, dict)
        body = json.loads(reply["body"])
    assert first["version"] < second["version"] == body["version"]
    assert second["elimination_reasons"] == {"z": ("ZOMBIE", -1)}
    assert second["miners"]["b"] == {
        "bucket": MinerBucket.PLAGIARISM,
        "bucket_start_time": 5,
        "previous_bucket": MinerBucket.MAINCOMP,
        "previous_bucket_start_time": 2,
    }
    assert set(second["miners"]) == set(body["miners"])


def test_change_log_knows_what_changed_since_a_version() -> None:
    log = ChangeLog(start_version=10, capacity=4)
    log.record(11, "miners", ["a", "b"])
    log.record(12, "reasons", ["a"])
    assert log.keys_since(10) == {"miners": {"a", "b"}, "reasons": {"a"}}
    assert log.keys_since(11) == {"reasons": {"a"}}
    assert log.keys_since(12) == {}
    assert log.keys_since(9) is None and log.keys_since(13) is None
    log.record(13, "miners", ["c", "d"])  # over capacity: version 11 is forgotten
    assert log.keys_since(10) is None
    assert log.keys_since(11) == {"reasons": {"a"}, "miners": {"c", "d"}}


def test_state_sends_changes_or_everything(tmp_path: Path) -> None:
    state = ChallengePeriodState(open_store(tmp_path))
    state.set_miner("a", MinerEntry(MinerBucket.CHALLENGE, 1))
    epoch, version = state.changes.epoch, state.version
    state.set_miner("b", MinerEntry(MinerBucket.MAINCOMP, 2))
    state.remove_miner("a")
    kind, text = state.snapshot_since((epoch, version))
    assert kind == "changes"
    changes = json.loads(text)
    assert changes["miners"] == {"a": None, "b": MinerEntry(MinerBucket.MAINCOMP, 2).to_wire()}
    assert state.snapshot_since(("another-epoch", version))[0] == "body"
    assert state.snapshot_since(None)[0] == "body"
    assert state.snapshot_since((epoch, state.version)) == (
        "changes",
        json.dumps({"version": state.version, "miners": {}, "elimination_reasons": {}}).replace(
            " ", ""
        ),
    )
    state.close()
