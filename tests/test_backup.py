"""cpm-backup: a consistent copy of a running stack's state, started on, and restored."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager, MinerBucket
from tests.processes import free_port, start_cpm_server, start_elimination_server
from tools import backup, migrate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def test_a_backup_of_a_running_stack_starts_as_it_was(
    ns_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "validation"
    cp, em = start_cpm_server(ns_port, live), start_elimination_server(ns_port, live)
    try:
        with (
            ChallengePeriodManager(ns_port=ns_port) as cpm,
            EliminationManager(ns_port=ns_port) as elim,
        ):
            for i in range(50):  # in the journal, not yet all folded into the files
                cpm.set_miner_bucket(f"m{i}", "CHALLENGE", 1_000 + i)
            cpm.set_miner_bucket("p", "PLAGIARISM", 7, "MAINCOMP", 3)
            elim.append_elimination_row("z", None, "ZOMBIE", 5)
            before = cpm.to_checkpoint_dict(), elim.get_eliminations()
        copy = tmp_path / "backup"
        assert backup.main(["--ns-port", str(ns_port), str(copy)]) == 0
        assert "wrote" in capsys.readouterr().out
        # A second backup into the same place is refused: a backup is never overwritten.
        assert backup.main(["--ns-port", str(ns_port), str(copy)]) == 2
    finally:
        em.close()
        cp.close()
    assert migrate.check(copy).ok
    cp, em = start_cpm_server(ns_port, copy), start_elimination_server(ns_port, copy)
    try:
        with (
            ChallengePeriodManager(ns_port=ns_port) as cpm,
            EliminationManager(ns_port=ns_port) as elim,
        ):
            assert (cpm.to_checkpoint_dict(), elim.get_eliminations()) == before
            assert cpm.get_miner_previous_bucket("p") is MinerBucket.MAINCOMP
    finally:
        em.close()
        cp.close()


def test_no_stack_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert backup.main(["--ns-port", str(free_port()), str(tmp_path / "b")]) == 2
    assert "cpm-backup:" in capsys.readouterr().err
