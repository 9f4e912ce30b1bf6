"""The validator's own call sites on the challenge-period client, in direct mode and over
the network: the drop-in names, and the validator's MinerBucket enum in both directions."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, InvalidInputError, MinerBucket
from services.domain.config import VANTA_2025_12
from services.storage.challengeperiod_files import decode_miners
from tests.hosting import client_of

pytestmark = pytest.mark.timeout(60)


class ValidatorBucket(Enum):
    """The validator's vali_objects/enums/miner_bucket_enum.py, as it is."""

    MAINCOMP = "MAINCOMP"
    CHALLENGE = "CHALLENGE"
    PROBATION = "PROBATION"
    PLAGIARISM = "PLAGIARISM"
    UNKNOWN = "unknown"


@pytest.fixture(params=["direct", "remote"])
def cpm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChallengePeriodManager]:
    with client_of(request.param, VANTA_2025_12, tmp_path / "state") as client:
        yield client


def test_the_validators_enum_goes_in_and_comes_back_equal(cpm: ChallengePeriodManager) -> None:
    cpm.set_miner_bucket("a", ValidatorBucket.PLAGIARISM, 20, ValidatorBucket.MAINCOMP, 10)
    bucket = cpm.get_miner_bucket("a")
    assert bucket == ValidatorBucket.PLAGIARISM and bucket == ValidatorBucket.PLAGIARISM
    assert bucket != ValidatorBucket.MAINCOMP
    assert cpm.get_hotkeys_by_bucket(ValidatorBucket.PLAGIARISM) == ["a"]
    assert cpm.get_miner_previous_bucket("a") == ValidatorBucket.MAINCOMP
    assert cpm.get_miner_previous_time("a") == 10
    with pytest.raises(InvalidInputError, match="bucket must be one of"):
        cpm.set_miner_bucket("b", ValidatorBucket.UNKNOWN, 1)


def test_a_huge_bucket_name_is_refused_in_a_short_message(cpm: ChallengePeriodManager) -> None:
    # The message names the problem and quotes the start of the value, not a megabyte of
    # it: errors go into the validator's log and back over the wire.
    with pytest.raises(InvalidInputError, match="bucket must be one of") as refused:
        cpm.set_miner_bucket("b", "X" * 1_000_000, 1)
    assert "got 'XXXX" in str(refused.value) and len(str(refused.value)) < 200
    assert not cpm.has_miner("b")


def test_previous_fields_of_a_miner_without_them_or_unknown(cpm: ChallengePeriodManager) -> None:
    cpm.set_miner_bucket("a", "CHALLENGE", 5)
    assert cpm.get_miner_previous_bucket("a") is None
    assert cpm.get_miner_previous_time("a") is None
    assert cpm.get_miner_previous_bucket("nobody") is None


def test_checkpoint_dict_round_trips_through_sync(cpm: ChallengePeriodManager) -> None:
    cpm.set_miner_bucket("a", MinerBucket.MAINCOMP, 5)
    cpm.set_miner_bucket("b", "PLAGIARISM", 9, "CHALLENGE", 3)
    checkpoint = cpm.to_checkpoint_dict()
    assert checkpoint == {
        "a": {
            "bucket": "MAINCOMP",
            "bucket_start_time": 5,
            "previous_bucket": None,
            "previous_bucket_start_time": None,
        },
        "b": {
            "bucket": "PLAGIARISM",
            "bucket_start_time": 9,
            "previous_bucket": "CHALLENGE",
            "previous_bucket_start_time": 3,
        },
    }
    cpm.set_miner_bucket("c", "PROBATION", 7)
    cpm.sync_challenge_period_data(checkpoint)
    assert cpm.to_checkpoint_dict() == checkpoint  # c is gone: the sync replaced all


def test_sync_takes_the_legacy_shape_and_enum_members(cpm: ChallengePeriodManager) -> None:
    cpm.sync_challenge_period_data({"testing": {"t": 1}, "success": {"s": 2}})
    assert cpm.get_testing_miners() == {"t": 1} and cpm.get_success_miners() == {"s": 2}
    cpm.sync_challenge_period_data(
        {"x": {"bucket": ValidatorBucket.PROBATION, "bucket_start_time": 4}}
    )
    assert cpm.get_probation_miners() == {"x": 4} and cpm.get_all_miner_hotkeys() == ["x"]


def test_a_malformed_sync_changes_nothing(cpm: ChallengePeriodManager) -> None:
    cpm.set_miner_bucket("a", "MAINCOMP", 5)
    with pytest.raises(InvalidInputError, match="checkpoint_dict"):
        cpm.sync_challenge_period_data({"x": {"bucket": "GOLD", "bucket_start_time": 4}})
    assert cpm.get_all_miner_hotkeys() == ["a"]


def test_clear_all_miners_and_refresh_alias(cpm: ChallengePeriodManager) -> None:
    cpm.set_miner_bucket("a", "MAINCOMP", 5)
    cpm.clear_all_miners()
    assert cpm.get_all_miner_hotkeys() == []
    cpm.submit_refresh_inputs({"metagraph_hotkeys": ["n"], "miners": {}})
    summary = cpm.refresh(current_time=1_000)
    assert summary["added"] == ["n"] and cpm.get_miner_start_time("n") == 1_000


def test_a_file_entry_under_a_huge_hotkey_is_refused_in_a_short_message() -> None:
    # A damaged challengeperiod.json: the hotkey is refused before its entry is quoted.
    with pytest.raises(InvalidInputError, match="1 to 256 characters") as refused:
        decode_miners({"h" * 1_000_000: {"bucket": "NOPE", "bucket_start_time": 1}})
    assert len(str(refused.value)) < 200
