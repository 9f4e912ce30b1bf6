"""The eliminated hotkeys a refresh asks for: after the first answer, only what changed.

The challenge-period service asks before every refresh; with thousands of rows, sending
them all each time made a refresh of 256 miners take 28 ms in ``cpm-bench`` (35,000 rows,
14 ms for the call alone). The client keeps the set it was last sent and the service
sends the hotkeys added and removed since, or all of them when it cannot tell.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager, RemoteError
from clients.transport import MockTransport
from services.domain.config import VANTA_2025_12
from services.storage.change_log import ChangeLog
from services.storage.elimination_state import EliminationState, open_store
from tests.hosting import pair_of, unknown_method
from tests.processes import (
    free_port,
    start_cpm_server,
    start_elimination_server,
    start_nameserver,
)

pytestmark = pytest.mark.timeout(60)

NOW = 1_750_000_000_000


def _state(path: Path) -> EliminationState:
    return EliminationState(open_store(path, fsync=False))


def _row(hotkey: str) -> dict[str, object]:
    return {"hotkey": hotkey, "reason": "ZOMBIE", "dd": 0.0, "elimination_initiated_time_ms": NOW}


def test_the_service_sends_all_then_only_what_changed(tmp_path: Path) -> None:
    state = _state(tmp_path)
    try:
        state.append_all([_row("a"), _row("b")])
        first = state.hotkeys_since(None)
        assert sorted(first["all"]) == ["a", "b"]
        since = (first["since"][0], first["since"][1])
        assert state.hotkeys_since(since) == {"since": first["since"], "added": [], "removed": []}
        state.append_all([_row("c")])
        state.delete(["a"])
        second = state.hotkeys_since(since)
        assert (second["added"], second["removed"]) == (["c"], ["a"])
        assert "all" not in second
        # Another run's epoch, or a version the log no longer covers: everything again.
        assert sorted(state.hotkeys_since(("another-epoch", since[1]))["all"]) == ["b", "c"]
        state.changes = ChangeLog(state.version, capacity=1)
        state.append_all([_row("d"), _row("e")])
        assert sorted(state.hotkeys_since(since)["all"]) == ["b", "c", "d", "e"]
    finally:
        state.close()


@pytest.mark.parametrize("mode", ["direct", "network"])
def test_the_client_set_follows_every_kind_of_change(mode: str, tmp_path: Path) -> None:
    with pair_of(mode, VANTA_2025_12, tmp_path) as (_cpm, em):
        assert em.get_eliminated_hotkeys() == set()
        em.append_elimination_row("a", 1.0, "MAX_TOTAL_DRAWDOWN", NOW)
        em.append_elimination_row("b", 1.0, "MAX_TOTAL_DRAWDOWN", NOW)
        assert em.get_eliminated_hotkeys() == {"a", "b"}
        em.delete_eliminations(["a"])
        assert em.get_eliminated_hotkeys() == {"b"}
        em.sync_eliminations([_row("x"), _row("y")])
        assert em.get_eliminated_hotkeys() == {"x", "y"}
        # A second client's first answer is the whole set; the first one gets changes only.
        other_since = em._since
        reply = em._service.get_eliminated_hotkeys_since_rpc(other_since)
        assert '"all"' not in reply
        assert em.get_eliminated_hotkeys() == {row["hotkey"] for row in em.get_eliminations()}


@pytest.mark.parametrize("mode", ["direct", "network"])
def test_the_refresh_reads_one_frozenset_until_the_set_changes(mode: str, tmp_path: Path) -> None:
    """With thousands of eliminated hotkeys, copying them for each refresh cost more than
    asking: the set the refresh gets is the same object while nothing changed."""
    with pair_of(mode, VANTA_2025_12, tmp_path) as (_cpm, em):
        em.append_elimination_row("a", 1.0, "MAX_TOTAL_DRAWDOWN", NOW)
        first = em.get_eliminated_hotkeys_frozen()
        assert em.get_eliminated_hotkeys_frozen() is first == frozenset({"a"})
        em.append_elimination_row("b", 1.0, "MAX_TOTAL_DRAWDOWN", NOW)
        second = em.get_eliminated_hotkeys_frozen()
        assert second == {"a", "b"} and first == {"a"}  # the earlier answer is untouched
        mine = em.get_eliminated_hotkeys()
        mine.add("mutated by the caller")
        assert em.get_eliminated_hotkeys_frozen() is second


def _refresh_follows_a_row_added_then_deleted(
    cpm: ChallengePeriodManager, em: EliminationManager
) -> None:
    """Miner m, in the metagraph: a refresh takes it out while it has a row, and keeps it
    once the row is deleted."""
    em.append_elimination_row("m", 1.0, "MAX_TOTAL_DRAWDOWN", NOW)
    cpm.set_miner_bucket("m", "CHALLENGE", NOW)
    cpm.refresh_now(NOW)
    assert not cpm.has_miner("m")
    em.delete_eliminations(["m"])
    cpm.set_miner_bucket("m", "CHALLENGE", NOW)
    cpm.refresh_now(NOW + 1)
    assert cpm.has_miner("m")


def test_a_direct_pair_refresh_follows_rows_added_and_deleted(tmp_path: Path) -> None:
    cpm = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cp")
    em = EliminationManager(
        running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=cpm
    )
    try:
        cpm.submit_refresh_inputs({"metagraph_hotkeys": ["m"], "miners": {}})
        _refresh_follows_a_row_added_then_deleted(cpm, em)
    finally:
        em.close()
        cpm.close()


@pytest.mark.integration
def test_the_services_refresh_with_changes_and_after_a_restart(tmp_path: Path) -> None:
    """Real processes: the challenge-period service's refresh follows a row added, then
    deleted; after the elimination service restarts (a new epoch), with a row written
    while it was down, both its clients are sent the whole set again."""
    ns_port = free_port()
    ns = start_nameserver(ns_port)
    em_dir = tmp_path / "em"
    services = [
        start_elimination_server(ns_port, em_dir),
        start_cpm_server(ns_port, tmp_path / "cp"),
    ]
    try:
        with (
            ChallengePeriodManager(ns_port=ns_port, timeout_s=5.0) as cpm,
            EliminationManager(ns_port=ns_port, timeout_s=5.0) as em,
        ):
            cpm.submit_refresh_inputs({"metagraph_hotkeys": ["m", "n"], "miners": {}})
            _refresh_follows_a_row_added_then_deleted(cpm, em)
            assert em.get_eliminated_hotkeys() == set()
            services[0].terminate()
            state = _state(em_dir)
            state.append_all([_row("n")])
            state.close()
            services[0] = start_elimination_server(ns_port, em_dir)
            assert em.get_eliminated_hotkeys() == {"n"}
            cpm.set_miner_bucket("n", "CHALLENGE", NOW)
            cpm.refresh_now(NOW + 2)
            assert not cpm.has_miner("n")
            assert cpm.has_miner("m")
    finally:
        for proc in (*services, ns):
            proc.close()


def test_a_client_falls_back_to_the_whole_set_on_a_service_without_the_feed() -> None:
    """One side upgraded first: a new client asks an older service, which lacks the feed
    and answers the whole list; the refresh still gets the right set."""
    asked: list[str] = []

    def older_service(method: str, args: tuple[object, ...]) -> object:
        asked.append(method)
        if method == "get_eliminated_hotkeys_rpc":
            return '["a","b"]'
        raise unknown_method("EliminationManagerServer", method)

    em = EliminationManager(transport=MockTransport(older_service))
    assert em.get_eliminated_hotkeys() == {"a", "b"}
    assert asked == ["get_eliminated_hotkeys_since_rpc", "get_eliminated_hotkeys_rpc"]


def test_other_errors_of_the_feed_are_not_hidden_by_the_fallback() -> None:
    def broken(method: str, args: tuple[object, ...]) -> object:
        raise RuntimeError("disk on fire")

    em = EliminationManager(transport=MockTransport(broken))
    with pytest.raises(RemoteError, match="disk on fire"):
        em.get_eliminated_hotkeys()


def test_an_older_client_still_gets_the_whole_list(tmp_path: Path) -> None:
    with pair_of("network", VANTA_2025_12, tmp_path) as (_cpm, em):
        em.append_elimination_row("a", 1.0, "MAX_TOTAL_DRAWDOWN", NOW)
        assert json.loads(em._service.get_eliminated_hotkeys_rpc()) == ["a"]
