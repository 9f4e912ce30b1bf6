"""Every ChallengePeriodManager method, in direct mode and over a real network proxy."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, MinerBucket
from services.domain.errors import InvalidInputError, InvalidTypeError

pytestmark = pytest.mark.timeout(60)

CH, MC, PB, PL = "CHALLENGE", "MAINCOMP", "PROBATION", "PLAGIARISM"


@pytest.fixture(params=["direct", "remote"])
def client(request: pytest.FixtureRequest) -> ChallengePeriodManager:
    name = "direct_client" if request.param == "direct" else "network_client"
    return request.getfixturevalue(name)


def test_health_check_reports_counts(client: ChallengePeriodManager) -> None:
    client.set_miner_bucket("a", CH, 1000)
    client.update_elimination_reasons({"b": ("ZOMBIE", -1)})
    health = client.health_check()
    assert health["status"] == "ok"
    assert isinstance(health["timestamp_ms"], int) and health["timestamp_ms"] > 1_600_000_000_000
    assert health["active_miners_count"] == 1
    assert health["elimination_reasons_count"] == 1


def test_set_miner_bucket_new_then_update_replaces_whole_entry(
    client: ChallengePeriodManager,
) -> None:
    assert client.set_miner_bucket("a", PL, 5000, MC, 1000) is True
    snap = client.get_snapshot()["miners"]["a"]
    assert snap == {
        "bucket": MinerBucket.PLAGIARISM,
        "bucket_start_time": 5000,
        "previous_bucket": MinerBucket.MAINCOMP,
        "previous_bucket_start_time": 1000,
    }
    assert client.set_miner_bucket("a", MinerBucket.CHALLENGE, 6000) is False
    snap = client.get_snapshot()["miners"]["a"]
    assert snap["bucket"] is MinerBucket.CHALLENGE
    assert snap["previous_bucket"] is None and snap["previous_bucket_start_time"] is None


def test_lookups_return_members_and_none(client: ChallengePeriodManager) -> None:
    client.set_miner_bucket("a", MC, 1234)
    bucket = client.get_miner_bucket("a")
    assert bucket is MinerBucket.MAINCOMP and bucket == "MAINCOMP"
    assert client.get_miner_bucket("zz") is None
    assert client.get_miner_start_time("a") == 1234
    assert client.get_miner_start_time("zz") is None
    assert client.has_miner("a") is True
    assert client.has_miner("zz") is False


def test_bucket_listings(client: ChallengePeriodManager) -> None:
    for hotkey, bucket, start in [("c1", CH, 1), ("c2", CH, 2), ("m1", MC, 3), ("p1", PB, 4)]:
        client.set_miner_bucket(hotkey, bucket, start)
    client.set_miner_bucket("x1", PL, 5, CH, 1)
    assert sorted(client.get_hotkeys_by_bucket(MinerBucket.CHALLENGE)) == ["c1", "c2"]
    assert client.get_hotkeys_by_bucket("MAINCOMP") == ["m1"]
    assert sorted(client.get_all_miner_hotkeys()) == ["c1", "c2", "m1", "p1", "x1"]
    assert client.get_testing_miners() == {"c1": 1, "c2": 2}
    assert client.get_success_miners() == {"m1": 3}
    assert client.get_probation_miners() == {"p1": 4}
    assert client.get_plagiarism_miners() == {"x1": 5}


def test_remove_miner(client: ChallengePeriodManager) -> None:
    client.set_miner_bucket("a", CH, 1)
    assert client.remove_miner("a") is True
    assert client.remove_miner("a") is False
    assert client.has_miner("a") is False


def test_elimination_reasons_merge_pop_and_clear(client: ChallengePeriodManager) -> None:
    assert client.has_elimination_reasons() is False
    assert client.update_elimination_reasons({"a": ("ZOMBIE", -1), "b": ("LIQUIDATED", 12.5)}) == 2
    assert client.update_elimination_reasons({"a": ("PLAGIARISM", -1), "c": ("ZOMBIE", -1)}) == 3
    assert client.get_all_elimination_reasons() == {
        "a": ("PLAGIARISM", -1),
        "b": ("LIQUIDATED", 12.5),
        "c": ("ZOMBIE", -1),
    }
    assert client.has_elimination_reasons() is True
    assert client.pop_elimination_reasons(["b", "unknown"]) == {"b": ("LIQUIDATED", 12.5)}
    assert client.pop_elimination_reasons() == {"a": ("PLAGIARISM", -1), "c": ("ZOMBIE", -1)}
    assert client.pop_elimination_reasons() == {}
    client.update_elimination_reasons({"d": ("ZOMBIE", -1)})
    client.clear_elimination_reasons()
    assert client.get_all_elimination_reasons() == {}


def test_reason_values_come_back_as_tuples(client: ChallengePeriodManager) -> None:
    client.update_elimination_reasons({"a": ["MAX_TOTAL_DRAWDOWN", 11.0]})  # type: ignore[dict-item]
    reasons = client.get_all_elimination_reasons()
    assert reasons["a"] == ("MAX_TOTAL_DRAWDOWN", 11.0)
    assert isinstance(reasons["a"], tuple)


def test_snapshot_version_grows_on_every_change(client: ChallengePeriodManager) -> None:
    v0 = client.get_snapshot()["version"]
    client.set_miner_bucket("a", CH, 1)
    v1 = client.get_snapshot()["version"]
    client.update_elimination_reasons({"b": ("ZOMBIE", -1)})
    v2 = client.get_snapshot()["version"]
    client.remove_miner("a")
    snap = client.get_snapshot()
    assert v0 < v1 < v2 < snap["version"]
    assert snap["miners"] == {}
    assert snap["elimination_reasons"] == {"b": ("ZOMBIE", -1)}
    assert set(snap) == {"version", "timestamp_ms", "miners", "elimination_reasons"}


def test_submit_refresh_inputs_sequence_and_refresh_summary(client: ChallengePeriodManager) -> None:
    seq1 = client.submit_refresh_inputs({"metagraph_hotkeys": ["a"], "miners": {}})
    seq2 = client.submit_refresh_inputs({"metagraph_hotkeys": ["a", "b"], "miners": {}})
    assert seq2 == seq1 + 1
    summary = client.refresh_now(current_time_ms=10_000)
    assert set(summary) >= {"promoted", "demoted", "eliminated", "added", "pruned"}
    assert sorted(summary["added"]) == ["a", "b"]
    assert client.get_testing_miners() == {"a": 10_000, "b": 10_000}


def test_malformed_inputs_refused_and_last_good_inputs_stay(
    client: ChallengePeriodManager,
) -> None:
    client.submit_refresh_inputs({"metagraph_hotkeys": ["good"], "miners": {}})
    with pytest.raises(ValueError, match="metagraph_hotkeys"):
        client.submit_refresh_inputs({"miners": {}})
    client.refresh_now(current_time_ms=10_000)
    assert client.get_all_miner_hotkeys() == ["good"]


@pytest.mark.parametrize(
    ("call", "exc", "names"),
    [
        (lambda c: c.set_miner_bucket(5, CH, 1), TypeError, "hotkey"),
        (lambda c: c.set_miner_bucket("a", "NOPE", 1), ValueError, "bucket"),
        (lambda c: c.set_miner_bucket("a", CH, "1"), TypeError, "start_time"),
        (lambda c: c.set_miner_bucket("a", CH, -5), ValueError, "start_time"),
        (lambda c: c.set_miner_bucket("a", CH, 1, "BAD"), ValueError, "prev_bucket"),
        (lambda c: c.set_miner_bucket("a", CH, 1, MC, 1.5), TypeError, "prev_time"),
        (lambda c: c.set_miner_bucket("", CH, 1), ValueError, "hotkey"),
        (lambda c: c.get_hotkeys_by_bucket("nope"), ValueError, "bucket"),
        (lambda c: c.has_miner(None), TypeError, "hotkey"),
        (lambda c: c.update_elimination_reasons({"a": ("BOGUS", 1)}), ValueError, "reasons"),
        (lambda c: c.update_elimination_reasons({"a": ("ZOMBIE",)}), TypeError, "reasons"),
        (lambda c: c.update_elimination_reasons(["a"]), TypeError, "reasons"),
        (
            lambda c: c.update_elimination_reasons({"a": ("ZOMBIE", float("nan"))}),
            ValueError,
            "reasons",
        ),
        (lambda c: c.pop_elimination_reasons("abc"), TypeError, "hotkeys"),
        (lambda c: c.refresh_now(current_time_ms="now"), TypeError, "current_time_ms"),
        (lambda c: c.submit_refresh_inputs([]), TypeError, "inputs"),
    ],
)
def test_bad_arguments_name_the_parameter_and_change_nothing(
    client: ChallengePeriodManager, call, exc, names
) -> None:
    client.set_miner_bucket("keep", MC, 1)
    client.update_elimination_reasons({"r": ("ZOMBIE", -1)})
    before = client.get_snapshot()
    with pytest.raises(exc, match=names):
        call(client)
    after = client.get_snapshot()
    assert after["version"] == before["version"]
    assert after["miners"] == before["miners"]
    assert after["elimination_reasons"] == before["elimination_reasons"]


def test_direct_mode_state_and_version_survive_reopen(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with ChallengePeriodManager(running_unit_tests=True, state_dir=state) as c:
        c.set_miner_bucket("a", PB, 77)
        c.update_elimination_reasons({"b": ("ZOMBIE", -1)})
        version = c.get_snapshot()["version"]
    with ChallengePeriodManager(running_unit_tests=True, state_dir=state) as c:
        snap = c.get_snapshot()
        assert snap["version"] == version
        assert snap["miners"]["a"]["bucket"] is MinerBucket.PROBATION
        assert snap["elimination_reasons"] == {"b": ("ZOMBIE", -1)}
        c.remove_miner("a")
        assert c.get_snapshot()["version"] > version


def test_direct_mode_without_state_dir_uses_a_private_temp_dir() -> None:
    client = ChallengePeriodManager(running_unit_tests=True)
    client.set_miner_bucket("a", CH, 1)
    assert client.has_miner("a")
    client.close()


def test_errors_are_the_projects_tree(direct_client: ChallengePeriodManager) -> None:
    with pytest.raises(InvalidTypeError):
        direct_client.has_miner(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        direct_client.get_hotkeys_by_bucket("x")


@pytest.mark.integration
def test_proxies_of_ended_threads_are_released(network_client: ChallengePeriodManager) -> None:
    def one_call() -> None:
        network_client.has_miner("a")

    for _ in range(5):
        thread = threading.Thread(target=one_call)
        thread.start()
        thread.join()
    network_client.has_miner("a")  # a new thread's connection prunes the ended ones
    transport = network_client._remote
    assert len(transport._proxies) <= 2  # this thread's, and at most the last ended one's


def test_refresh_reports_its_server_side_duration(client: ChallengePeriodManager) -> None:
    client.submit_refresh_inputs({"metagraph_hotkeys": ["a"], "miners": {}})
    summary = client.refresh_now()
    assert summary["added"] == ["a"]
    assert isinstance(summary["duration_ms"], float) and summary["duration_ms"] >= 0
    assert client.health_check()["last_refresh_duration_ms"] == summary["duration_ms"]
