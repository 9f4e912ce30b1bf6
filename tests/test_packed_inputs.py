"""The client hands the refresh inputs over as msgpack; the JSON text stays for documents
only it carries (an int past 64 bits), for services from before the packed call, and for
the elimination service's whole answers, encoded when one is first needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from clients import ChallengePeriodManager
from clients.base import RETRY_LACKING_CALL_S, LackedCalls, lacks_call
from clients.transport import MockTransport
from services.domain.config import VANTA_2025_12
from services.domain.errors import RemoteError
from services.domain.refresh_inputs import (
    decode_refresh_inputs,
    decode_refresh_inputs_packed,
    parse_refresh_inputs,
)
from tests.hosting import client_of, unknown_method
from tests.test_refresh_inputs import valid_document

pytestmark = pytest.mark.timeout(30)


def _recording(older: bool = False) -> tuple[ChallengePeriodManager, list[tuple[str, object]]]:
    """A client of a service from before the changes call (``older``: before the packed
    one too); the calls it made, without the changes calls."""
    calls: list[tuple[str, object]] = []
    lacking = {"submit_checked_refresh_changes_rpc"}
    if older:
        lacking.add("submit_packed_refresh_inputs_rpc")

    def service(method: str, args: tuple[object, ...]) -> object:
        if method != "submit_checked_refresh_changes_rpc":
            calls.append((method, args[0]))
        if method in lacking:
            raise unknown_method("ChallengePeriodManagerServer", method)
        return 7

    return ChallengePeriodManager(transport=MockTransport(service)), calls


def test_the_client_sends_the_inputs_packed() -> None:
    cpm, calls = _recording()
    assert cpm.submit_refresh_inputs(valid_document()) == 7
    [(method, packed)] = calls
    assert method == "submit_packed_refresh_inputs_rpc" and isinstance(packed, bytes)
    assert decode_refresh_inputs_packed(packed) == parse_refresh_inputs(valid_document())


def test_an_int_past_64_bits_goes_as_json_text() -> None:
    cpm, calls = _recording()
    document = valid_document()
    document["miners"]["hk1"]["n_positions"] = 2**70
    cpm.submit_refresh_inputs(document)
    [(method, text)] = calls
    assert method == "submit_refresh_inputs_rpc" and isinstance(text, str)
    assert decode_refresh_inputs(text).miners["hk1"].n_positions == 2**70


def test_a_service_from_before_the_packed_call_gets_the_json_text() -> None:
    cpm, calls = _recording(older=True)
    assert cpm.submit_refresh_inputs(valid_document()) == 7
    assert [method for method, _ in calls] == [
        "submit_packed_refresh_inputs_rpc",
        "submit_refresh_inputs_rpc",
    ]


def test_calls_an_older_service_lacked_are_not_sent_again_for_a_while() -> None:
    """Each of those calls carries the whole document: sent twice every cycle, it would
    double the submit during an upgrade. After the retry interval they are tried again."""
    calls: list[str] = []

    def oldest(method: str, args: tuple[object, ...]) -> object:
        calls.append(method)
        if method != "submit_refresh_inputs_rpc":
            raise unknown_method("ChallengePeriodManagerServer", method)
        return 7

    now = [0.0]
    cpm = ChallengePeriodManager(transport=MockTransport(oldest))
    cpm._submitter.lacked = LackedCalls(clock=lambda: now[0])
    for _ in range(3):
        assert cpm.submit_refresh_inputs(valid_document()) == 7
    assert calls == [
        "submit_checked_refresh_changes_rpc",
        "submit_packed_refresh_inputs_rpc",
        "submit_refresh_inputs_rpc",
        "submit_refresh_inputs_rpc",
        "submit_refresh_inputs_rpc",
    ]
    calls.clear()
    now[0] += RETRY_LACKING_CALL_S
    cpm.submit_refresh_inputs(valid_document())
    assert calls[:2] == ["submit_checked_refresh_changes_rpc", "submit_packed_refresh_inputs_rpc"]


def test_the_service_keeps_packed_inputs_and_answers_the_feed_with_them(
    tmp_path: Path,
) -> None:
    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as cpm:
        server = cpm.direct_server
        cpm.submit_refresh_inputs(valid_document())
        assert server._inputs == parse_refresh_inputs(valid_document())
        assert server._inputs_text is None  # nobody asked for the JSON text yet
        answer = cpm.get_elimination_inputs(None)
        assert answer is not None
        assert answer["inputs"].metagraph_hotkeys == server._inputs.metagraph_hotkeys
        assert answer["inputs"].miners == server._inputs.miners
        # Called as the daemon calls it: our errors leave as the builtin ones they extend.
        with pytest.raises(ValueError, match="inputs must be msgpack bytes, got str"):
            server.submit_packed_refresh_inputs_rpc("{}")
        with pytest.raises(TypeError, match=r"miners\[.hk1.\]\.n_positions must be an int"):
            bad = valid_document()
            bad["miners"]["hk1"]["n_positions"] = "four"
            server.submit_packed_refresh_inputs_rpc(msgspec.msgpack.encode(bad))


def test_a_client_of_the_unchecked_change_call_is_told_it_is_gone(tmp_path: Path) -> None:
    """The release before sent changes without a digest, by a call this service no longer
    answers: its client must see the call as missing (and send whole documents), not as
    an error to raise to the validator."""
    with client_of("remote", VANTA_2025_12, tmp_path) as cpm:
        stub: Any = cpm._service
        with pytest.raises(RemoteError) as refused:
            stub.submit_refresh_changes_rpc(b"")
        assert lacks_call(refused.value, "submit_refresh_changes_rpc")
