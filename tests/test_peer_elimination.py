"""The elimination service and its peer: inputs that travel once, expiry out of the buckets,
a peer that is down; departed hotkeys and the state files (reference tests ported)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from services.domain.errors import CorruptStateError, ServiceUnavailableError
from services.domain.models import ReasonTuple, listed
from services.domain.refresh_inputs import parse_refresh_inputs
from services.wire.feed import decode_elimination_inputs
from tests.test_elimination_job import (
    LOSING,
    NOW,
    WINNING,
    D,
    miner,
    pair,
    submit,
)

pytestmark = pytest.mark.timeout(60)
__all__ = ["pair"]  # the fixture, shared

REREG = ["normal_miner", "deregistered_miner", "reregistered_miner", "future_rereg_miner"]


# -- the peer's two calls -------------------------------------------------------------------


def test_inputs_travel_only_when_they_change(pair) -> None:
    cpm, _ = pair
    first = cpm.get_elimination_inputs(None)
    assert first is not None and first["inputs"] is None and first["maincomp"] == []
    assert first["ruleset"] == "vanta-2025-12"
    assert cpm.get_elimination_inputs(first["since"]) is None
    submit(cpm, ["a"], {"a": miner(WINNING)})
    second = cpm.get_elimination_inputs(first["since"])
    assert second is not None and second["inputs"].metagraph_hotkeys == ("a",)
    cpm.set_miner_bucket("a", "MAINCOMP", 0)  # MAINCOMP changes without new inputs
    third = cpm.get_elimination_inputs(second["since"])
    assert third is not None and "inputs" not in third and third["maincomp"] == ["a"]
    assert cpm.get_elimination_inputs(third["since"]) is None


def test_the_elimination_side_decodes_what_its_steps_read_and_skips_the_scores() -> None:
    """The fast decoder and the precise fallback (taken for an int past 64 bits, which only
    the precise checks accept) give the metagraph, miners and miner dirs as submitted, and
    neither builds the scores."""
    miners = {"a": miner(WINNING), "b": miner(LOSING)}
    document: dict[str, object] = {
        "metagraph_hotkeys": ["a", "b"],
        "miners": miners,
        "scores": {
            "crypto": {"metrics": {"m": {"weight": 1, "scores": {"a": 0.5}}}, "penalties": {}}
        },
        "plagiarism": {"b": NOW},
        "miner_dir_hotkeys": ["a", "b", "gone"],
    }
    past_64_bits = {**miner(WINNING), "n_positions": 2**70}
    huge = {**document, "miners": {**miners, "a": past_64_bits}}
    for doc in (document, huge):
        answer = {"since": ["e", 1, 1], "ruleset": "vanta-2025-12", "maincomp": ["a"]}
        decoded = decode_elimination_inputs(json.dumps({**answer, "inputs": doc}))["inputs"]
        submitted = parse_refresh_inputs(doc)
        assert decoded.metagraph_hotkeys == ("a", "b")
        assert decoded.miner_dir_hotkeys == ("a", "b", "gone")
        assert decoded.miners == submitted.miners
        assert decoded.scores is None and decoded.plagiarism is None
    assert decoded.miners["a"].n_positions == 2**70


def test_remove_miners_counts_those_in_a_bucket(pair) -> None:
    cpm, _ = pair
    cpm.set_miner_bucket("a", "CHALLENGE", 1)
    cpm.set_miner_bucket("b", "PLAGIARISM", 1)
    assert cpm.remove_miners(["a", "b", "c", "a"]) == 2
    assert cpm.get_all_miner_hotkeys() == []
    with pytest.raises(TypeError, match="hotkeys"):
        cpm.remove_miners("a")


class DownPeer:
    """A challenge-period service that went away after its first answer."""

    def __init__(self, cpm: ChallengePeriodManager) -> None:
        self.cpm, self.up = cpm, True

    def _check(self) -> None:
        if not self.up:
            raise ServiceUnavailableError("challenge-period service is down")

    def has_elimination_reasons(self) -> bool:
        self._check()
        return self.cpm.has_elimination_reasons()

    def get_all_elimination_reasons(self) -> dict[str, ReasonTuple]:
        self._check()
        return self.cpm.get_all_elimination_reasons()

    def pop_elimination_reasons(self, hotkeys: list[str] | None = None) -> dict[str, ReasonTuple]:
        self._check()
        return self.cpm.pop_elimination_reasons(hotkeys)

    def get_elimination_changes(
        self, since: list[object] | None = None
    ) -> dict[str, object] | None:
        self._check()
        return self.cpm.get_elimination_changes(since)

    def remove_miners(self, hotkeys: list[str]) -> int:
        self._check()
        return self.cpm.remove_miners(hotkeys)


def test_a_round_without_its_peer_does_what_it_can(tmp_path: Path, caplog) -> None:
    cpm = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cpm")
    peer = DownPeer(cpm)
    em = EliminationManager(
        running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=peer
    )
    try:
        cpm.set_miner_bucket("mdd", "MAINCOMP", 0)
        cpm.set_miner_bucket("old", "MAINCOMP", 0)
        submit(cpm, ["mdd", "other"], {"mdd": miner(LOSING)}, ["mdd", "zombie"])
        em.append_elimination_row("old", 11.0, "MAX_TOTAL_DRAWDOWN", NOW - 2 * D)
        result = em.process_eliminations(NOW - 1)  # the peer answers this once
        assert sorted(result["added"]) == ["mdd", "zombie"] and result["deleted"] == []
        peer.up = False
        cpm.update_elimination_reasons({"pending": ("PLAGIARISM", -1)})
        caplog.set_level(logging.WARNING, logger="cpm.elimination")
        # With the last inputs it has: no new rows are due, no handoff, and no expiry (the
        # hotkey could not leave its bucket), and the round does not fail.
        assert em.process_eliminations(NOW) == {"added": [], "skipped": [], "deleted": []}
        assert em.process_eliminations(NOW + 1) == {"added": [], "skipped": [], "deleted": []}
        assert em.is_eliminated("old")
        assert cpm.get_all_elimination_reasons() == {"pending": ("PLAGIARISM", -1)}
        assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1
        assert em.health_check()["challengeperiod_reachable"] is False
        peer.up = True
        result = em.process_eliminations(NOW + 2)
        assert result["added"] == ["pending"] and result["deleted"] == ["old"]
        assert cpm.has_miner("old") is False
        assert em.health_check()["challengeperiod_reachable"] is True
    finally:
        em.close()
        cpm.close()


def test_an_expired_hotkey_is_no_zombie_while_the_validator_still_lists_it(pair) -> None:
    cpm, em = pair
    submit(cpm, ["other"], {}, ["gone"])
    em.append_elimination_row("gone", None, "ZOMBIE", NOW - 2 * D)
    assert em.process_eliminations(NOW)["deleted"] == ["gone"]
    assert em.process_eliminations(NOW + 1)["added"] == []  # its data is not deleted yet
    submit(cpm, ["other"], {}, [])  # the validator deleted it
    em.process_eliminations(NOW + 2)
    submit(cpm, ["other"], {}, ["gone"])  # new data for it, out of the metagraph again
    assert em.process_eliminations(NOW + 3)["added"] == ["gone"]


def test_maincomp_follows_the_buckets_without_new_inputs(pair) -> None:
    cpm, em = pair
    submit(cpm, ["m"], {"m": miner(LOSING)}, ["m"])
    assert em.process_eliminations(NOW)["added"] == []  # not in MAINCOMP yet
    cpm.set_miner_bucket("m", "MAINCOMP", 0)
    assert em.process_eliminations(NOW + 1)["added"] == ["m"]


def test_a_ledger_without_a_start_or_checkpoints_is_not_checked(pair) -> None:
    cpm, em = pair
    for hk in ("invalidated", "empty"):
        cpm.set_miner_bucket(hk, "MAINCOMP", 0)
    miners = {"invalidated": miner(LOSING, start=None), "empty": miner(LOSING, n_cp=0)}
    submit(cpm, ["invalidated", "empty"], miners, [])
    assert em.process_eliminations(NOW)["added"] == []


# -- Vanta / PTN tests/vali_tests/test_reregistration.py --------------------------------------


@pytest.fixture
def rereg(pair):
    cpm, em = pair
    for hk in REREG:
        cpm.set_miner_bucket(hk, "MAINCOMP", 0)
    submit(cpm, REREG, {hk: miner(WINNING) for hk in REREG}, [])
    em.process_eliminations(NOW)
    assert em.get_departed_hotkeys() == {}
    return cpm, em


def without(*hotkeys: str) -> list[str]:
    return [hk for hk in REREG if hk not in hotkeys]


@pytest.mark.state_files
def test_departed_hotkey_tracking_on_deregistration(rereg, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_departed_hotkey_tracking_on_deregistration."""  # noqa: E501
    cpm, em = rereg
    submit(cpm, without("deregistered_miner"), {}, [])
    em.process_eliminations(NOW + 1)
    assert em.get_departed_hotkeys() == {"deregistered_miner": {"detected_ms": NOW + 1}}
    em.close()
    document = json.loads((tmp_path / "em" / "departed_hotkeys.json").read_text())
    assert document == {"departed_hotkeys": {"deregistered_miner": {"detected_ms": NOW + 1}}}


def test_multiple_departures_tracked(rereg) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_multiple_departures_tracked."""
    cpm, em = rereg
    submit(cpm, without("deregistered_miner", "future_rereg_miner"), {}, [])
    em.process_eliminations(NOW + 1)
    assert set(em.get_departed_hotkeys()) == {"deregistered_miner", "future_rereg_miner"}


def test_anomalous_departure_ignored(pair) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_anomalous_departure_ignored."""
    cpm, em = pair
    hotkeys = [f"miner_{i}" for i in range(50)]
    submit(cpm, hotkeys, {}, [])
    em.process_eliminations(NOW)
    submit(cpm, hotkeys[15:], {}, [])
    em.process_eliminations(NOW + 1)
    assert em.get_departed_hotkeys() == {}
    em.process_eliminations(NOW + 2)  # previous moved to the 35: nothing more is lost
    assert em.get_departed_hotkeys() == {}


def test_normal_departure_below_anomaly_threshold(pair) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_normal_departure_below_anomaly_threshold."""  # noqa: E501
    cpm, em = pair
    hotkeys = [f"miner_{i}" for i in range(50)]
    submit(cpm, hotkeys, {}, [])
    em.process_eliminations(NOW)
    submit(cpm, hotkeys[5:], {}, [])
    em.process_eliminations(NOW + 1)
    assert set(em.get_departed_hotkeys()) == set(hotkeys[:5])


def test_reregistration_detection(rereg) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_reregistration_detection."""
    cpm, em = rereg
    submit(cpm, without("reregistered_miner"), {}, [])
    em.process_eliminations(NOW + 1)
    submit(cpm, REREG, {}, [])
    em.process_eliminations(NOW + 2)
    assert em.is_hotkey_re_registered("reregistered_miner") is True
    assert em.get_departed_hotkeys() == {"reregistered_miner": {"detected_ms": NOW + 1}}


def test_is_hotkey_re_registered_method(rereg) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_is_hotkey_re_registered_method."""  # noqa: E501
    cpm, em = rereg
    assert em.is_hotkey_re_registered("normal_miner") is False
    assert em.is_hotkey_re_registered("unknown_miner") is False
    assert em.is_hotkey_re_registered("") is False
    submit(cpm, without("reregistered_miner"), {}, [])
    em.process_eliminations(NOW + 1)
    assert em.is_hotkey_re_registered("reregistered_miner") is False  # departed, still away
    submit(cpm, REREG, {}, [])  # back, and no round since
    assert em.is_hotkey_re_registered("reregistered_miner") is True


def test_a_log_line_names_ten_hotkeys_and_counts_the_rest() -> None:
    """A whole subnet re-registering must not write thousands of hotkeys on one line."""
    names = [f"miner_{i}" for i in range(250)]
    assert listed(names[:10]) == ", ".join(names[:10])
    assert listed(names) == ", ".join(names[:10]) + ", ... (250 in all)"
    assert listed(names, 5) == ", ".join(names[:5]) + ", ... (250 in all)"


@pytest.mark.state_files
def test_departed_hotkeys_persistence_across_restart(rereg, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_departed_hotkeys_persistence_across_restart."""  # noqa: E501
    cpm, em = rereg
    submit(cpm, without("deregistered_miner", "future_rereg_miner"), {}, [])
    em.process_eliminations(NOW + 1)
    before = em.get_departed_hotkeys()
    em.close()
    with EliminationManager(running_unit_tests=True, state_dir=tmp_path / "em") as again:
        assert again.get_departed_hotkeys() == before and len(before) == 2


def test_departed_miner_not_yet_reregistered(rereg) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_departed_miner_not_yet_reregistered."""  # noqa: E501
    cpm, em = rereg
    submit(cpm, without("deregistered_miner"), {}, [])
    em.process_eliminations(NOW + 1)
    assert em.is_hotkey_re_registered("deregistered_miner") is False


def test_multiple_reregistrations_tracked(rereg) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_multiple_reregistrations_tracked."""  # noqa: E501
    cpm, em = rereg
    submit(cpm, without("reregistered_miner", "future_rereg_miner"), {}, [])
    em.process_eliminations(NOW + 1)
    submit(cpm, REREG, {}, [])
    assert em.is_hotkey_re_registered("reregistered_miner")
    assert em.is_hotkey_re_registered("future_rereg_miner")


def test_no_duplicate_departed_tracking(rereg) -> None:
    """Port of Vanta tests/vali_tests/test_reregistration.py::test_no_duplicate_departed_tracking."""  # noqa: E501
    cpm, em = rereg
    submit(cpm, without("deregistered_miner"), {}, [])
    for i in range(3):
        em.process_eliminations(NOW + 1 + i)
    assert em.get_departed_hotkeys() == {"deregistered_miner": {"detected_ms": NOW + 1}}


def test_empty_metagraph_is_unknown_for_departures(rereg) -> None:
    cpm, em = rereg
    submit(cpm, [], {}, [])
    em.process_eliminations(NOW + 1)
    submit(cpm, without("deregistered_miner"), {}, [])
    em.process_eliminations(NOW + 2)  # compared with the last metagraph that was not empty
    assert em.get_departed_hotkeys() == {"deregistered_miner": {"detected_ms": NOW + 2}}


# -- the state files: departed_hotkeys.json and eliminations.json -----------------------------


@pytest.mark.parametrize(
    ("document", "loaded"),
    [
        ({"departed_hotkeys": ["a", "b"]}, {"a": {"detected_ms": 0}, "b": {"detected_ms": 0}}),
        ({}, {}),
        ({"departed_hotkeys": None}, {}),
        ({"departed_hotkeys": {"a": {"detected_ms": 5.0}}}, {"a": {"detected_ms": 5}}),
    ],
)
def test_departed_file_formats_that_load(tmp_path: Path, document, loaded) -> None:
    (tmp_path / "departed_hotkeys.json").write_text(json.dumps(document))
    with EliminationManager(running_unit_tests=True, state_dir=tmp_path) as em:
        assert em.get_departed_hotkeys() == loaded


@pytest.mark.parametrize("text", ["not json {]", '{"departed_hotkeys": 3}', '["a"]'])
def test_a_corrupt_departed_file_is_refused_and_kept(tmp_path: Path, text: str) -> None:
    (tmp_path / "departed_hotkeys.json").write_text(text)
    with pytest.raises(CorruptStateError, match=r"departed_hotkeys\.json"):
        EliminationManager(running_unit_tests=True, state_dir=tmp_path)
    assert (tmp_path / "departed_hotkeys.json").read_text() == text


@pytest.mark.state_files
def test_elimination_file_persistence(pair, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_persistence_recovery.py::test_elimination_file_persistence."""  # noqa: E501
    _, em = pair
    rows = [
        {"hotkey": "persistent_miner_1", "reason": "MAX_TOTAL_DRAWDOWN", "dd": 0.11,
         "elimination_initiated_time_ms": NOW - D, "price_info": {"BTCUSD": 55000}},
        {"hotkey": "persistent_miner_2", "reason": "PLAGIARISM", "dd": None,
         "elimination_initiated_time_ms": NOW - 2 * D, "return_info": {"plagiarism_score": 0.95}},
    ]  # fmt: skip
    assert em.write_eliminations_to_disk(rows) is None
    document = json.loads((tmp_path / "em" / "eliminations.json").read_text())
    assert document == {"eliminations": rows}
    assert em.get_eliminations() == rows


@pytest.mark.state_files
def test_elimination_recovery_on_restart(pair, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_persistence_recovery.py::test_elimination_recovery_on_restart."""  # noqa: E501
    cpm, em = pair
    rows = [
        {"hotkey": "persistent_miner_1", "reason": "MAX_TOTAL_DRAWDOWN", "dd": 0.12,
         "elimination_initiated_time_ms": NOW - 3 * D},
        {"hotkey": "recovery_miner", "reason": "ZOMBIE", "dd": None,
         "elimination_initiated_time_ms": NOW - D},
    ]  # fmt: skip
    em.write_eliminations_to_disk(rows)
    assert em.get_eliminations() == rows
    submit(cpm, ["persistent_miner_1"], {}, [])
    assert em.process_eliminations(NOW)["deleted"] == []  # old, but still registered
    em.close()
    with EliminationManager(running_unit_tests=True, state_dir=tmp_path / "em") as again:
        assert again.get_eliminations() == rows


def test_elimination_backup_and_restore(tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_persistence_recovery.py::test_elimination_backup_and_restore."""  # noqa: E501
    state = tmp_path / "em"
    with EliminationManager(running_unit_tests=True, state_dir=state) as em:
        em.append_elimination_row(
            "persistent_miner_1", 0.15, "LIQUIDATED", NOW, price_info={"BTCUSD": 45000}
        )
    shutil.copy(state / "eliminations.json", tmp_path / "backup.json")
    with EliminationManager(running_unit_tests=True, state_dir=state) as em:
        assert em.delete_eliminations(["persistent_miner_1"]) == 1
        assert em.get_eliminations() == []
    shutil.copy(tmp_path / "backup.json", state / "eliminations.json")
    with EliminationManager(running_unit_tests=True, state_dir=state) as em:
        assert [r["price_info"] for r in em.get_eliminations()] == [{"BTCUSD": 45000}]


def test_elimination_data_corruption_handling(tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_persistence_recovery.py::test_elimination_data_corruption_handling."""  # noqa: E501
    path = tmp_path / "eliminations.json"
    path.write_text("Invalid JSON content {]}")
    with pytest.raises(CorruptStateError, match=r"eliminations\.json"):
        EliminationManager(running_unit_tests=True, state_dir=tmp_path)
    assert path.read_text() == "Invalid JSON content {]}"  # refused, never overwritten
    path.write_text(json.dumps({"eliminations": [{"hotkey": "test_miner"}]}))
    cpm = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cpm")
    em = EliminationManager(
        running_unit_tests=True, state_dir=tmp_path, challengeperiod_manager=cpm
    )
    try:
        assert em.get_eliminations() == [
            {"hotkey": "test_miner", "reason": None, "dd": None,
             "elimination_initiated_time_ms": None}
        ]  # fmt: skip
        submit(cpm, ["other"], {}, ["test_miner"])
        # A row without a reason shields nothing: the reference's zombie step reads the
        # reason, finds none, and replaces the row (out of the metagraph) with a ZOMBIE one.
        assert em.process_eliminations(NOW) == {
            "added": ["test_miner"], "skipped": [], "deleted": []
        }  # fmt: skip
        assert em.get_eliminations() == [
            {"hotkey": "test_miner", "reason": "ZOMBIE", "dd": None,
             "elimination_initiated_time_ms": NOW}
        ]  # fmt: skip
    finally:
        em.close()
        cpm.close()


def test_elimination_migration(tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_persistence_recovery.py::test_elimination_migration."""  # noqa: E501
    row = {"hotkey": "recovery_miner", "reason": "MAX_DRAWDOWN", "dd": 0.11, "timestamp": 7}
    (tmp_path / "eliminations.json").write_text(json.dumps({"eliminations": [row, row]}))
    with EliminationManager(running_unit_tests=True, state_dir=tmp_path) as em:
        assert em.get_eliminations() == [{**row, "elimination_initiated_time_ms": None}]


@pytest.mark.state_files
def test_elimination_concurrent_access(pair, tmp_path: Path) -> None:
    """Port of Vanta tests/vali_tests/test_elimination_persistence_recovery.py::test_elimination_concurrent_access."""  # noqa: E501
    _, em = pair
    em.append_elimination_row("persistent_miner_1", 0.11, "MAX_TOTAL_DRAWDOWN")
    em.append_elimination_row("persistent_miner_2", 0.12, "PLAGIARISM")
    em.close()
    document = json.loads((tmp_path / "em" / "eliminations.json").read_text())
    assert [r["hotkey"] for r in document["eliminations"]] == [
        "persistent_miner_1",
        "persistent_miner_2",
    ]


def test_sync_and_append_check_their_arguments(pair) -> None:
    _, em = pair
    em.append_elimination_row("keep", None, "ZOMBIE", 1)
    before = em.get_eliminations()
    for call, name in [
        (lambda: em.sync_eliminations("rows"), "rows"),
        (lambda: em.sync_eliminations([{"reason": "ZOMBIE"}]), r"rows\[0\].hotkey"),
        (lambda: em.write_eliminations_to_disk([{"hotkey": "a", "dd": "x"}]), r"rows\[0\].dd"),
        (lambda: em.append_elimination_row("a", 1.0, "ZOMBIE", price_info=[1]), "price_info"),
        (lambda: em.append_elimination_row("a", 1.0, "ZOMBIE", return_info="x"), "return_info"),
    ]:
        with pytest.raises((TypeError, ValueError), match=name):
            call()
    assert em.get_eliminations() == before
