"""A failure that repeats is logged once, again when it changes, once when it clears."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.storage import durable_store
from services.storage.challengeperiod_files import open_store
from services.storage.challengeperiod_state import ChallengePeriodState
from services.storage.failure_log import FailureLog


def test_one_line_per_distinct_failure_and_one_when_it_clears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = FailureLog(logging.getLogger("cpm.test"), "the round")
    with caplog.at_level(logging.INFO, logger="cpm.test"):
        for _ in range(50):
            failures.failed(OSError(errno.ENOSPC, "No space left on device"))
        failures.failed(PermissionError("token mismatch"))
        failures.succeeded()
        failures.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "No space left on device" in lines[0] and "token mismatch" in lines[1]
    assert lines[2] == "the round works again"
    assert all(r.exc_info is None for r in caplog.records)  # no traceback unless asked


def test_a_fold_that_keeps_failing_is_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state = ChallengePeriodState(open_store(tmp_path))
    real = durable_store.write_json_atomic

    def full_disk(path: Path, document: object, *encode: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(durable_store, "write_json_atomic", full_disk)
    with caplog.at_level(logging.INFO):
        for i in range(20):
            state.update_reasons({f"h{i}": ("ZOMBIE", -1)})  # journalled: the change holds
            state.fold()
        monkeypatch.setattr(durable_store, "write_json_atomic", real)
        assert state.fold() is True
    folding = [r.getMessage() for r in caplog.records if "folding the journal" in r.getMessage()]
    assert len(folding) == 2 and "works again" in folding[1]
    assert len(state.reasons) == 20
    state.close()


def test_routine_lines_go_to_stdout_problems_to_stderr(tmp_path: Path) -> None:
    code = (
        "import logging\n"
        "from services.launch import cli\n"
        "cli.setup_logging('INFO')\n"
        "logging.getLogger('cpm').info('routine line')\n"
        "logging.getLogger('cpm').warning('a problem')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "routine line" in done.stdout and "a problem" not in done.stdout
    assert "a problem" in done.stderr and "routine line" not in done.stderr
    log_file = tmp_path / "service.log"
    subprocess.run(
        [
            sys.executable,
            "-c",
            code.replace("('INFO')", f"('INFO', __import__('pathlib').Path({str(log_file)!r}))"),
        ],
        check=True,
        timeout=60,
    )
    text = log_file.read_text()
    assert "routine line" in text and "a problem" in text


def test_temp_files_of_an_interrupted_write_are_removed_at_start(tmp_path: Path) -> None:
    leftovers = [
        tmp_path / ".challengeperiod.json.k3j2.tmp",
        tmp_path / ".challengeperiod.meta.json.9x.tmp",
        tmp_path / ".challengeperiod.journal.a1.tmp",
    ]
    foreign = tmp_path / ".someone-elses.json.z.tmp"
    for path in [*leftovers, foreign]:
        path.write_text("{half a docu")
    state = ChallengePeriodState(open_store(tmp_path))
    state.close()
    assert [p.exists() for p in leftovers] == [False, False, False]
    assert foreign.exists()  # not one of ours: left alone


def test_each_printed_line_is_written_whole_even_with_pythonunbuffered() -> None:
    """The processes of a stack share its stdout. With PYTHONUNBUFFERED=1 Python writes a
    printed line and its newline apart, so two ready lines came out run together; after
    setup_logging each stream writes a line at once, in one piece."""
    code = (
        "import sys\n"
        "from services.launch import cli\n"
        "cli.setup_logging('INFO')\n"
        "print(sys.stdout.write_through, sys.stdout.line_buffering)\n"
        "print(sys.stderr.write_through, sys.stderr.line_buffering, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.stdout == "False True\n"
    assert done.stderr == "False True\n"
