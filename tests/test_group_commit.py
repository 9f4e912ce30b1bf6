"""Group commit: concurrent writers share one flush, and none is acknowledged before it."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from clients.transport import DirectTransport
from services import ChallengePeriodManagerServer, EliminationManagerServer
from services.storage import durable_store

WRITERS = 8
CHANGES_PER_WRITER = 25


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ChallengePeriodManagerServer]:
    service = ChallengePeriodManagerServer(tmp_path, fsync=True)
    yield service
    service.close()


def _hotkeys_in(journal: Path) -> set[str]:
    found: set[str] = set()
    for line in journal.read_bytes().split(b"\n"):
        if line:
            found.update(op[2] for op in json.loads(line)["ops"] if op[0] == "set")
    return found


def test_concurrent_writers_share_flushes_and_each_waits_for_its_own(
    server: ChallengePeriodManagerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "challengeperiod.journal"
    real = os.fdatasync
    flushed: set[str] = set()
    flushes = 0
    guard = threading.Lock()

    def slow_flush(fd: int) -> None:
        nonlocal flushes
        time.sleep(0.002)  # a device flush takes time; writers arrive meanwhile
        real(fd)
        on_device = _hotkeys_in(journal)
        with guard:
            flushes += 1
            flushed.update(on_device)

    monkeypatch.setattr(durable_store.os, "fdatasync", slow_flush)
    early: list[str] = []

    def writer(number: int) -> None:
        for index in range(CHANGES_PER_WRITER):
            hotkey = f"w{number}-{index}"
            assert server.set_miner_bucket_rpc(hotkey, "CHALLENGE", 1_000 + index) is True
            with guard:
                if hotkey not in flushed:
                    early.append(hotkey)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)

    changes = WRITERS * CHANGES_PER_WRITER
    assert early == [], f"acknowledged before their flush: {early[:5]}"
    assert len(flushed) == changes
    # One flush per change would be `changes` flushes; sharing makes far fewer.
    assert flushes <= changes // 2, f"{flushes} flushes for {changes} changes"


def test_a_failed_flush_refuses_writes_until_a_fold_heals_it(
    server: ChallengePeriodManagerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(durable_store.os, "fdatasync", broken)
    with pytest.raises(OSError, match="refused a flush: Input/output error"):
        server.set_miner_bucket_rpc("a", "CHALLENGE", 1)
    monkeypatch.undo()

    # Memory is ahead of the device now: nothing more is accepted, and health says why.
    with pytest.raises(OSError, match="the change was not applied"):
        server.set_miner_bucket_rpc("b", "CHALLENGE", 2)
    assert server.has_miner_rpc("b") is False
    health = server.health_check_rpc()
    assert health["status"] == "degraded"
    assert any("refused a flush" in problem for problem in health["problems"])

    # A fold writes (and flushes) the whole state: writes are accepted again.
    assert server._state.fold() is True
    assert server.health_check_rpc()["status"] == "ok"
    assert server.set_miner_bucket_rpc("b", "CHALLENGE", 2) is True


def test_a_fold_writes_the_files_while_calls_go_on_and_keeps_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ChallengePeriodManagerServer(tmp_path, fsync=True)
    entered, release = threading.Event(), threading.Event()
    real = durable_store.write_json_atomic

    def slow_write(path: Path, document: object, *encode: Callable[[object], bytes]) -> None:
        entered.set()
        release.wait(10)  # the files are being written: a long fold
        real(path, document, *encode)

    try:
        server.set_miner_bucket_rpc("folded", "CHALLENGE", 1)
        monkeypatch.setattr(durable_store, "write_json_atomic", slow_write)
        folding = threading.Thread(target=server._state.fold)
        folding.start()
        assert entered.wait(10)
        during = threading.Thread(
            target=server.set_miner_bucket_rpc, args=("during", "MAINCOMP", 2)
        )
        during.start()
        during.join(timeout=5)
        assert not during.is_alive(), "a call waited for the fold's file writes"
        release.set()
        folding.join(timeout=10)
        monkeypatch.undo()
        journal = (tmp_path / "challengeperiod.journal").read_bytes()
        assert b"during" in journal and b"folded" not in journal
    finally:
        release.set()
        server.close()
    again = ChallengePeriodManagerServer(tmp_path)
    try:
        assert again.has_miner_rpc("folded") and again.has_miner_rpc("during")
    finally:
        again.close()


@pytest.fixture()
def flushing_pair(
    tmp_path: Path,
) -> Iterator[tuple[ChallengePeriodManager, EliminationManager]]:
    """Both services in this process, each flushing every change to the device."""
    cp_server = ChallengePeriodManagerServer(tmp_path / "cpm", fsync=True)
    cpm = ChallengePeriodManager(transport=DirectTransport(cp_server, cp_server.close))
    em_server = EliminationManagerServer(tmp_path / "em", fsync=True, reasons_source=cpm)
    em = EliminationManager(transport=DirectTransport(em_server, em_server.close))
    yield cpm, em
    em.close()
    cpm.close()


def test_an_elimination_round_flushes_its_own_tables_once(
    flushing_pair: tuple[ChallengePeriodManager, EliminationManager],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A round with a departed hotkey (a zombie too, as its inputs are still sent), a
    handed-off reason and a drawdown row writes them all as one change, flushed once,
    before the reason leaves the other service."""
    cpm, em = flushing_pair
    now = 1_750_000_000_000
    ledger = {
        "first_order_time_ms": 0,
        "n_positions": 1,
        "ledger_start_ms": 0,
        "n_checkpoints": 240,
        "trading_days": 120,
    }
    hotkeys = [f"miner_{i}" for i in range(20)]
    cpm.set_miner_bucket("miner_1", "MAINCOMP", 0)
    miners = {hk: {**ledger, "min_mdd": 0.99} for hk in hotkeys}
    cpm.submit_refresh_inputs({"metagraph_hotkeys": hotkeys, "miners": miners})
    em.process_eliminations(now)
    # Next cycle: miner_0 left, miner_1 is past the drawdown limit, miner_2 has a reason.
    miners["miner_1"] = {**ledger, "min_mdd": 0.85}
    cpm.submit_refresh_inputs({"metagraph_hotkeys": hotkeys[1:], "miners": miners})
    cpm.update_elimination_reasons({"miner_2": ("PLAGIARISM", 0.0)})
    em_dir = str(tmp_path / "em")
    real = os.fdatasync
    flushes: list[str] = []

    def counting_flush(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if path.endswith(".journal"):  # not a background fold's file writes
            flushes.append("em" if path.startswith(em_dir) else "cpm")
        if flushes and flushes[-1] == "cpm":
            # The reason leaves the challenge-period service only after the rows flushed.
            assert "miner_2" in em.get_eliminated_hotkeys()
        real(fd)

    monkeypatch.setattr(durable_store.os, "fdatasync", counting_flush)
    result = em.process_eliminations(now + 1)
    assert sorted(result["added"]) == ["miner_0", "miner_1", "miner_2"]
    assert "miner_0" in em.get_departed_hotkeys()
    assert cpm.get_all_elimination_reasons() == {}
    assert flushes.count("em") == 1, flushes


def test_a_refresh_reports_its_duration_with_the_flush_in_it(
    server: ChallengePeriodManagerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cpm-bench reports ``duration_ms`` as the server-side cost of a refresh: the flush of
    its change is part of it."""
    real = os.fdatasync

    def slow_flush(fd: int) -> None:
        time.sleep(0.05)
        real(fd)

    server.submit_refresh_inputs_rpc({"metagraph_hotkeys": ["newcomer"], "miners": {}})
    monkeypatch.setattr(durable_store.os, "fdatasync", slow_flush)
    summary = server.refresh_now_rpc(1_700_000_000_000)
    assert summary["added"] == ["newcomer"]
    assert summary["duration_ms"] >= 50
