"""A down or hung elimination service costs the refresh one failed call, not one per refresh."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from services import ChallengePeriodManagerServer
from services.domain.errors import ServiceUnavailableError
from services.shells.eliminated_view import EliminatedView
from tests.processes import wait_until


class FlakySource:
    """An elimination service that answers, then hangs until its deadline, then answers."""

    def __init__(self) -> None:
        self.calls = 0
        self.hung = False
        self.eliminated = {"gone"}
        self.release = threading.Event()

    def __call__(self) -> set[str]:
        self.calls += 1
        if self.hung:
            self.release.wait(0.2)  # the call's deadline passes
            raise ServiceUnavailableError("EliminationManagerServer does not answer: timed out")
        return set(self.eliminated)


def test_refreshes_do_not_wait_on_a_hung_service_and_catch_up_when_it_answers() -> None:
    source = FlakySource()
    view = EliminatedView(source, retry_s=0.05)
    try:
        assert view.current() == {"gone"} and not view.down
        source.hung = True
        source.eliminated = {"gone", "later"}
        assert view.current() == {"gone"}  # one call waits for its deadline...
        assert view.down
        calls = source.calls
        for _ in range(20):  # ...and the refreshes after it do not call at all
            assert view.current() == {"gone"}
        assert source.calls - calls <= 1  # at most the one background retry under way
        source.hung = False
        wait_until(lambda: not view.down, 10, "the retry to reach the service")
        assert view.current() == {"gone", "later"}
    finally:
        view.close()


@pytest.mark.timeout(30)
def test_a_service_refreshing_beside_a_hung_peer_reports_it_and_uses_what_it_knew(
    tmp_path: Path,
) -> None:
    source = FlakySource()
    server = ChallengePeriodManagerServer(tmp_path, eliminated_source=source)
    try:
        server.set_miner_bucket_rpc("gone", "CHALLENGE", 1)
        server.refresh_now_rpc(10_000)
        assert not server.has_miner_rpc("gone")
        source.hung = True
        server.set_miner_bucket_rpc("gone", "CHALLENGE", 1)
        server.refresh_now_rpc(20_000)
        assert server.health_check_rpc()["problems"] == ["elimination service unreachable"]
        calls = source.calls
        server.refresh_now_rpc(30_000)
        server.refresh_now_rpc(40_000)
        assert source.calls - calls <= 1
        assert not server.has_miner_rpc("gone")  # the set known last still applies
    finally:
        source.release.set()
        server.close()
