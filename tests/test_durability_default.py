"""Durable by default: a service's change is flushed to the device before its call returns."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from services import ChallengePeriodManagerServer
from services.launch import cli
from services.storage import durable_store


def _service_flags(argv: list[str]) -> argparse.Namespace:
    parser = cli.ArgumentParser(prog="cpm-server")
    cli.add_server_flags(parser)
    return parser.parse_args(argv)


def test_fsync_is_the_default_and_no_fsync_opts_out() -> None:
    assert _service_flags([]).fsync is True
    assert _service_flags(["--no-fsync"]).fsync is False
    assert _service_flags(["--fsync"]).fsync is True


@pytest.mark.parametrize(("argv", "flushed"), [([], True), (["--no-fsync"], False)])
def test_no_change_is_acknowledged_before_its_flush(
    argv: list[str], flushed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _service_flags(argv)
    server = ChallengePeriodManagerServer(tmp_path, fsync=args.fsync)
    journal = tmp_path / "challengeperiod.journal"
    flushes: list[int] = []
    real = os.fdatasync

    def observed(fd: int) -> None:
        real(fd)
        # What is on the device when the flush returns: the change's journal line.
        flushes.append(journal.read_bytes().count(b"\n"))

    monkeypatch.setattr(durable_store.os, "fdatasync", observed)
    try:
        assert server.set_miner_bucket_rpc("a", "MAINCOMP", 5) is True
        assert server.update_elimination_reasons_rpc({"b": ["ZOMBIE", -1]}) == 1
        assert flushes == ([1, 2] if flushed else [])
    finally:
        monkeypatch.setattr(durable_store.os, "fdatasync", real)
        server.close()
