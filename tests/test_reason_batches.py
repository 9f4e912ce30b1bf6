"""Reason batches: the fast checks agree with the precise ones, and the journal line made
from the client's own JSON replays like any other."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import msgspec
import pytest

from clients import ChallengePeriodManager
from services.domain import fast_checks
from services.domain.errors import InvalidInputError, InvalidTypeError
from services.domain.models import EliminationReason, MinerBucket, MinerEntry, check_reasons
from services.storage.atomic_files import json_file_bytes
from services.storage.challengeperiod_files import open_store
from services.storage.challengeperiod_state import ChallengePeriodState
from services.wire.codec import dumps_arg
from tests.processes import free_port, start_cpm_server, start_nameserver

GOOD = {
    "a": ("ZOMBIE", -1),
    "b": ["MAX_TOTAL_DRAWDOWN", 12.5],
    "c": (EliminationReason.PLAGIARISM, 0),
}
BAD = [
    ["not", "a dict"],
    {1: ("ZOMBIE", -1)},
    {"": ("ZOMBIE", -1)},
    {"a": "ZOMBIE"},
    {"a": ("ZOMBIE",)},
    {"a": ("NOPE", 1)},
    {"a": ("ZOMBIE", float("nan"))},
    {"a": ("ZOMBIE", True)},
    {"a": ("ZOMBIE", "1")},
]


def _error(fn, value):
    try:
        fn(value, "reasons")
    except (InvalidInputError, InvalidTypeError) as exc:
        return type(exc), str(exc)
    return None


def test_fast_checks_return_what_the_precise_check_returns() -> None:
    assert fast_checks.reasons(GOOD) == check_reasons(GOOD)
    assert json.loads(dumps_arg(fast_checks.reasons(GOOD), "reasons")) == {
        "a": ["ZOMBIE", -1],
        "b": ["MAX_TOTAL_DRAWDOWN", 12.5],
        "c": ["PLAGIARISM", 0],
    }


@pytest.mark.parametrize("value", BAD)
def test_fast_checks_raise_the_precise_error(value: object) -> None:
    precise = _error(check_reasons, value)
    assert precise is not None
    assert _error(fast_checks.reasons, value) == precise


def test_reason_batches_replay_after_a_crash(tmp_path: Path) -> None:
    state = ChallengePeriodState(open_store(tmp_path))
    state.update_reasons({"a": ("ZOMBIE", -1), "b": ("MAX_TOTAL_DRAWDOWN", 12.5)})
    # Partly new: only the change is journalled.
    state.update_reasons({"a": ("ZOMBIE", -1), "c": ("LIQUIDATED", 3)})
    assert state.update_reasons({"a": ("ZOMBIE", -1)}) == 3  # nothing new: no journal line
    version = state.version
    # No close(): the journal is not folded into the files, as after a SIGKILL, which
    # also drops the process's descriptors (and with them its lock on the state dir).
    state._store._close_journal()
    state._store._dir_lock.release()
    reopened = ChallengePeriodState(open_store(tmp_path))
    assert reopened.version == version == 2
    assert reopened.reasons == {
        "a": ("ZOMBIE", -1),
        "b": ("MAX_TOTAL_DRAWDOWN", 12.5),
        "c": ("LIQUIDATED", 3),
    }
    reopened.close()


def test_a_reason_batch_is_journalled_as_a_list_per_reason(tmp_path: Path) -> None:
    """The journal format other tools (and older versions) replay: each reason a JSON list."""
    state = ChallengePeriodState(open_store(tmp_path))
    state.update_reasons({"a": ("ZOMBIE", -1), "b": ("MAX_TOTAL_DRAWDOWN", 12.5)})
    line = (tmp_path / "challengeperiod.journal").read_bytes()
    state.close()
    expected = {
        "v": 1,
        "ops": [["merge", "reasons", {"a": ["ZOMBIE", -1], "b": ["MAX_TOTAL_DRAWDOWN", 12.5]}]],
    }
    assert json.loads(line) == expected
    assert line.endswith(b"\n") and line.count(b"\n") == 1


def _tricky_dds() -> list[float]:
    rng = random.Random(11)
    edges = [0.1 + 0.2, 1e-7, 5e-324, 1.7976931348623157e308, -0.0, 12.345678901234567, 2**53 + 1.0]
    return edges + [rng.uniform(-1, 1) * 10 ** rng.randint(-300, 300) for _ in range(500)]


def test_the_fast_encoder_writes_every_dd_back_bit_for_bit() -> None:
    """Reason batches and the challenge-period journal are written with msgspec and read
    back with the standard library: each dd must come back as the same float."""
    dds = _tricky_dds()
    batch = {f"k{i}": ("MAX_TOTAL_DRAWDOWN", dd) for i, dd in enumerate(dds)}
    back = json.loads(msgspec.json.encode(fast_checks.reasons(batch, "reasons")))
    for i, dd in enumerate(dds):
        assert struct.pack("<d", back[f"k{i}"][1]) == struct.pack("<d", dd), dd


def test_state_files_written_by_msgspec_read_back_as_the_standard_library_wrote_them(
    tmp_path: Path,
) -> None:
    """challengeperiod.json byte for byte as before; elimination_reasons.json with every dd
    bit for bit; a non-ASCII hotkey still written with the standard library's escapes."""
    state = ChallengePeriodState(open_store(tmp_path))
    for i in range(300):
        bucket = MinerBucket.MAINCOMP if i % 3 else MinerBucket.CHALLENGE
        state.set_miner(f"5F{i:046d}", MinerEntry(bucket, 1_700_000_000_000 + i))
    dds = _tricky_dds()
    state.update_reasons({f"k{i}": ("MAX_TOTAL_DRAWDOWN", dd) for i, dd in enumerate(dds)})
    state.close()
    miners_file = (tmp_path / "challengeperiod.json").read_bytes()
    assert miners_file == json_file_bytes(json.loads(miners_file))
    back = json.loads((tmp_path / "elimination_reasons.json").read_bytes())
    for i, dd in enumerate(dds):
        assert struct.pack("<d", back[f"k{i}"][1]) == struct.pack("<d", dd), dd

    state = ChallengePeriodState(open_store(tmp_path))
    state.update_reasons({"hotkey-é": ("ZOMBIE", -1)})
    state.close()
    text = (tmp_path / "elimination_reasons.json").read_bytes()
    assert text.isascii() and b"hotkey-\\u00e9" in text


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_reasons_replayed_from_the_journal_after_sigkill_are_the_same(tmp_path: Path) -> None:
    dds = _tricky_dds()[:60]
    ns_port = free_port()
    ns = start_nameserver(ns_port)
    service = start_cpm_server(ns_port, tmp_path / "state")
    try:
        with ChallengePeriodManager(ns_port=ns_port, timeout_s=5.0) as cpm:
            sent = {f"k{i}": ("MAX_TOTAL_DRAWDOWN", dd) for i, dd in enumerate(dds)}
            cpm.update_elimination_reasons(sent)
            service.kill()  # at once: the reasons are in the journal, maybe not yet folded
            service = start_cpm_server(ns_port, tmp_path / "state")
            back = cpm.get_all_elimination_reasons()
        assert {hk: (r, struct.pack("<d", dd)) for hk, (r, dd) in back.items()} == {
            hk: (r, struct.pack("<d", dd)) for hk, (r, dd) in sent.items()
        }
    finally:
        service.close()
        ns.close()
