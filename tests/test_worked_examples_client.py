"""RULES.md's worked examples through the public client: submit inputs, then refresh_now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clients import ChallengePeriodManager, MinerBucket
from services.domain.config import PTN_2025_11, VANTA_2025_12, RulesConfig
from tests.hosting import client_of

pytestmark = pytest.mark.timeout(60)

S = 1_000
D = 86_400_000
WEIGHTS = {
    "calmar": 0.02,
    "sharpe": 0.02,
    "omega": 0.02,
    "sortino": 0.02,
    "statistical_confidence": 0.02,
    "pnl": 0.9,
}


@pytest.fixture(params=["direct", "remote"])
def client(request: pytest.FixtureRequest) -> ChallengePeriodManager:
    return request.getfixturevalue(
        "direct_client" if request.param == "direct" else "network_client"
    )


def miner(min_mdd: float = 0.99, trading_days: int = 10, first: int = S) -> dict[str, Any]:
    return {
        "first_order_time_ms": first,
        "n_positions": 3,
        "ledger_start_ms": first,
        "n_checkpoints": 5,
        "min_mdd": min_mdd,
        "trading_days": trading_days,
    }


def linspace(start: float, stop: float, n: int) -> list[float]:
    return [start + (stop - start) * i / (n - 1) for i in range(n)]


def asset_class(values: dict[str, float]) -> dict[str, Any]:
    return {
        "metrics": {m: {"weight": w, "scores": dict(values)} for m, w in WEIGHTS.items()},
        "penalties": dict.fromkeys(values, 1.0),
    }


@pytest.mark.parametrize(("offset", "eliminated"), [(90 * D, False), (90 * D + 1, True)])
def test_challenge_time_bound(
    client: ChallengePeriodManager, offset: int, eliminated: bool
) -> None:
    client.submit_refresh_inputs({"metagraph_hotkeys": ["m"], "miners": {"m": miner()}})
    client.refresh_now(current_time_ms=S)
    summary = client.refresh_now(current_time_ms=S + offset)
    if eliminated:
        assert summary["eliminated"] == {"m": ("FAILED_CHALLENGE_PERIOD_TIME", -1)}
        assert client.has_miner("m") is False
        assert client.get_all_elimination_reasons() == {"m": ("FAILED_CHALLENGE_PERIOD_TIME", -1)}
    else:
        assert summary["eliminated"] == {}
        assert client.get_miner_bucket("m") is MinerBucket.CHALLENGE


def test_time_wins_over_drawdown(client: ChallengePeriodManager) -> None:
    client.submit_refresh_inputs({"metagraph_hotkeys": ["m"], "miners": {"m": miner(0.89)}})
    client.set_miner_bucket("m", "CHALLENGE", S)
    summary = client.refresh_now(current_time_ms=S + 90 * D + 1)
    assert summary["eliminated"] == {"m": ("FAILED_CHALLENGE_PERIOD_TIME", -1)}


@pytest.mark.parametrize(
    ("min_mdd", "expected"),
    [
        (0.89, {"m": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 11.0)}),
        (0.90, {}),
    ],
)
def test_drawdown_examples(client: ChallengePeriodManager, min_mdd: float, expected: dict) -> None:
    client.submit_refresh_inputs({"metagraph_hotkeys": ["m"], "miners": {"m": miner(min_mdd)}})
    summary = client.refresh_now(current_time_ms=S + D)
    assert summary["eliminated"] == expected
    assert client.has_miner("m") is (not expected)


@pytest.mark.parametrize(
    ("candidate_value", "promoted", "demoted"),
    [
        (0.75, ["miner"], ["miner25"]),
        (0.1, [], []),
    ],
)
@pytest.mark.parametrize("mode", ["direct", "remote"])
def test_promotion_example_25_miners(
    mode: str, tmp_path: Path, candidate_value: float, promoted: list, demoted: list
) -> None:
    """RULES.md example 8 (PTN): both classes present for the 25."""
    with client_of(mode, PTN_2025_11, tmp_path / "state") as client:
        _example_25(client, candidate_value, promoted, demoted)


def _example_25(
    client: ChallengePeriodManager, candidate_value: float, promoted: list, demoted: list
) -> None:
    now = S + 70 * D
    main = {f"miner{i + 1}": v for i, v in enumerate(linspace(1.0, 0.2, 25))}
    for hotkey in main:
        client.set_miner_bucket(hotkey, "MAINCOMP", S)
    hotkeys = [*main, "miner"]
    client.submit_refresh_inputs(
        {
            "metagraph_hotkeys": hotkeys,
            "miners": {hk: miner(trading_days=61) for hk in hotkeys},
            "scores": {
                "crypto": asset_class({**main, "miner": candidate_value}),
                "forex": asset_class(main),
            },
        }
    )
    summary = client.refresh_now(current_time_ms=now)
    assert summary["promoted"] == promoted
    assert summary["demoted"] == demoted
    if promoted:
        assert client.get_miner_bucket("miner") is MinerBucket.MAINCOMP
        assert client.get_miner_start_time("miner") == now
        assert client.get_miner_bucket("miner25") is MinerBucket.PROBATION
    else:
        assert client.get_miner_bucket("miner") is MinerBucket.CHALLENGE
        assert client.get_miner_bucket("miner25") is MinerBucket.MAINCOMP


@pytest.mark.parametrize("mode", ["direct", "remote"])
@pytest.mark.parametrize(
    ("rules", "demoted"), [(PTN_2025_11, ["m5"]), (VANTA_2025_12, [])], ids=["ptn", "vanta"]
)
def test_promotion_example_5_miners(
    mode: str, rules: RulesConfig, demoted: list[str], tmp_path: Path
) -> None:
    """RULES.md example 9: PTN promotes the candidate and demotes m5; Vanta demotes nobody."""
    with client_of(mode, rules, tmp_path / "state") as client:
        _example_5(client, demoted)


def _example_5(client: ChallengePeriodManager, demoted: list[str]) -> None:
    now = S + 70 * D
    main = {f"m{i + 1}": v for i, v in enumerate(linspace(1.0, 0.2, 5))}
    for hotkey in main:
        client.set_miner_bucket(hotkey, "MAINCOMP", S)
    hotkeys = [*main, "cand"]
    client.submit_refresh_inputs(
        {
            "metagraph_hotkeys": hotkeys,
            "miners": {hk: miner(trading_days=61) for hk in hotkeys},
            "scores": {"crypto": asset_class({**main, "cand": 0.5})},
        }
    )
    summary = client.refresh_now(current_time_ms=now)
    assert summary["promoted"] == ["cand"]
    assert summary["demoted"] == demoted
    assert client.get_success_miners().keys() == {"m1", "m2", "m3", "m4", "m5", "cand"} - set(
        demoted
    )
    assert client.get_probation_miners() == dict.fromkeys(demoted, now)


def test_eliminated_hotkey_from_elimination_source_leaves_buckets(tmp_path) -> None:
    class FakeEliminations:
        def get_eliminated_hotkeys(self) -> set[str]:
            return {"gone"}

    client = ChallengePeriodManager(
        running_unit_tests=True,
        state_dir=tmp_path,
        elimination_manager=FakeEliminations(),
    )
    try:
        client.set_miner_bucket("gone", "MAINCOMP", S)
        client.submit_refresh_inputs({"metagraph_hotkeys": ["gone", "stay"], "miners": {}})
        summary = client.refresh_now(current_time_ms=S + D)
        assert client.has_miner("gone") is False
        assert summary["added"] == ["stay"]
    finally:
        client.close()
