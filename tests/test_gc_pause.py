"""The refresh runs with the cyclic collector paused, and always leaves it as it found it."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from services import ChallengePeriodManagerServer
from services.domain import challengeperiod_rules
from services.shells.gc_pause import paused_gc


def test_paused_gc_restores_the_collector_also_after_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("a refresh that failed")
    assert gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_refresh_runs_the_rules_with_the_collector_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = challengeperiod_rules.refresh

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(challengeperiod_rules, "refresh", spy)
    server = ChallengePeriodManagerServer(tmp_path)
    try:
        server.submit_refresh_inputs_rpc({"metagraph_hotkeys": ["a"], "miners": {}})
        assert server.refresh_now_rpc(1_700_000_000_000)["added"] == ["a"]
    finally:
        server.close()
    assert seen == [False]
    assert gc.isenabled()
