"""Reason batches: the fast checks agree with the precise ones, and the journal line made
from the client's own JSON replays like any other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.domain import fast_checks
from services.domain.errors import InvalidInputError, InvalidTypeError
from services.domain.models import EliminationReason, check_reasons
from services.storage.challengeperiod_files import open_store
from services.storage.challengeperiod_state import ChallengePeriodState
from services.wire.codec import dumps_arg

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
