"""The clients' own work, tested through a MockTransport: no server, no socket."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from Pyro5.api import Proxy

from clients import (
    ChallengePeriodManager,
    EliminationManager,
    InvalidInputError,
    InvalidTypeError,
    MinerBucket,
    ServiceUnavailableError,
    StateWriteError,
)
from clients.transport import MockTransport
from tests.hosting import embedded_nameserver


def recording(replies: dict[str, Any]) -> tuple[MockTransport, list[tuple[str, tuple[Any, ...]]]]:
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def handler(method: str, args: tuple[Any, ...]) -> Any:
        calls.append((method, args))
        reply = replies[method]
        if isinstance(reply, BaseException):
            raise reply
        return reply

    return MockTransport(handler), calls


def test_each_method_is_one_call_of_its_server_method_with_wire_values() -> None:
    transport, calls = recording(
        {
            "get_miner_bucket_rpc": "MAINCOMP",
            "set_miner_bucket_rpc": True,
            "get_testing_miners_rpc": json.dumps({"a": 5}),
            "pop_elimination_reasons_rpc": json.dumps({"z": ["ZOMBIE", -1]}),
        }
    )
    cpm = ChallengePeriodManager(transport=transport)
    assert cpm.get_miner_bucket("a") is MinerBucket.MAINCOMP
    assert cpm.set_miner_bucket("a", MinerBucket.PLAGIARISM, 7, "MAINCOMP", 3) is True
    assert cpm.get_testing_miners() == {"a": 5}
    assert cpm.pop_elimination_reasons(["z"]) == {"z": ("ZOMBIE", -1)}
    assert calls == [
        ("get_miner_bucket_rpc", ("a",)),
        ("set_miner_bucket_rpc", ("a", "PLAGIARISM", 7, "MAINCOMP", 3)),
        ("get_testing_miners_rpc", ()),
        ("pop_elimination_reasons_rpc", ('["z"]',)),
    ]
    cpm.close()
    assert transport.closed


def test_bad_arguments_are_refused_before_anything_is_sent() -> None:
    transport, calls = recording({})
    cpm = ChallengePeriodManager(transport=transport)
    with pytest.raises(InvalidTypeError, match="hotkey"):
        cpm.has_miner(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="bucket"):
        cpm.set_miner_bucket("a", "GOLD", 1)
    with pytest.raises(InvalidInputError, match="reasons"):
        cpm.update_elimination_reasons({"a": ("NOT_A_REASON", 1)})
    em = EliminationManager(transport=transport)
    with pytest.raises(InvalidInputError, match="reason"):
        em.append_elimination_row("a", 1.0, "NOT_A_REASON")
    assert calls == []


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ValueError("inputs.miners must be a dict"), InvalidInputError),
        (TypeError("hotkey must be a str"), InvalidTypeError),
        (ConnectionError("peer down"), ServiceUnavailableError),
        (OSError("read-only file system"), StateWriteError),
    ],
)
def test_errors_from_the_service_arrive_as_the_projects_tree(
    raised: Exception, expected: type[Exception]
) -> None:
    transport, _ = recording({"refresh_now_rpc": raised})
    with pytest.raises(expected, match=str(raised)):
        ChallengePeriodManager(transport=transport).refresh_now()


def test_a_hung_service_fails_a_call_within_its_timeout_also_when_retried() -> None:
    with socket.socket() as hung, embedded_nameserver() as ns:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # accepts connections, never answers a byte
        uri = f"PYRO:ChallengePeriodManagerServer@127.0.0.1:{hung.getsockname()[1]}"
        with Proxy(f"PYRO:Pyro.NameServer@{ns}") as registry:
            registry.register("ChallengePeriodManagerServer", uri)
        cpm = ChallengePeriodManager(ns_host=ns.host, ns_port=ns.port, timeout_s=1.0)
        try:
            for _ in range(2):  # the second call knows the URI: connect, then look up again
                started = time.monotonic()
                with pytest.raises(ServiceUnavailableError):
                    cpm.has_miner("a")
                assert time.monotonic() - started < 1.6  # not one timeout per attempt
        finally:
            cpm.close()
