"""The validator's call sites on the elimination client, as its code makes them, in direct
mode and over the network (both services hosted in this process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from services.domain.config import VANTA_2025_12
from tests.hosting import pair_of

pytestmark = pytest.mark.timeout(60)

D = 86_400_000
NOW = 1_700_000_000_000


@pytest.fixture(params=["direct", "remote"])
def pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ChallengePeriodManager, EliminationManager]]:
    with pair_of(request.param, VANTA_2025_12, tmp_path) as clients:
        yield clients


def test_elimination_names_the_validator_calls(pair) -> None:
    _, em = pair
    assert em.append_elimination_row("liq", 0.0, "LIQUIDATED", NOW, {"BTCUSD": 1.0}, {"r": 2})
    row = em.hotkey_in_eliminations("liq")
    assert (
        row is not None and row["reason"] == "LIQUIDATED" and row["price_info"] == {"BTCUSD": 1.0}
    )
    assert em.hotkey_in_eliminations("nobody") is None
    assert em.is_hotkey_eliminated("liq") and not em.is_hotkey_eliminated("nobody")
    assert em.get_elimination_local_cache("liq") == row  # neurons/validator.py's signal path
    assert em.get_elimination_local_cache("nobody") is None
    assert [r["hotkey"] for r in em.get_eliminations_from_memory()] == ["liq"]


def test_departed_hotkey_info_after_a_hotkey_leaves(pair) -> None:
    cpm, em = pair
    hotkeys = [f"h{i}" for i in range(20)]
    cpm.submit_refresh_inputs({"metagraph_hotkeys": hotkeys, "miners": {}})
    em.process_eliminations(NOW)
    cpm.submit_refresh_inputs({"metagraph_hotkeys": hotkeys[1:], "miners": {}})
    em.process_eliminations(NOW + 1)
    assert em.get_departed_hotkey_info("h0") == {"detected_ms": NOW + 1}
    assert em.get_departed_hotkey_info("h1") is None
    assert em.get_departed_hotkey_info_local_cache("h0") == {"detected_ms": NOW + 1}
    assert em.get_departed_hotkeys() == {"h0": {"detected_ms": NOW + 1}}
    cpm.submit_refresh_inputs({"metagraph_hotkeys": hotkeys, "miners": {}})
    assert em.is_hotkey_re_registered("h0") and not em.is_hotkey_re_registered("h1")
