"""The inputs document built from small fakes of the validator's positions and ledgers."""

from __future__ import annotations

from types import SimpleNamespace as Fake

from clients import ChallengePeriodManager
from clients.validator_inputs import build_refresh_inputs, miner_facts, trading_days

H12 = 43_200_000
DAY0 = 1_760_054_400_000  # 2025-10-10 00:00 UTC


def position(opened: int, closed: int | None, first_order: int | None = None) -> Fake:
    orders = [Fake(processed_ms=opened if first_order is None else first_order)]
    return Fake(
        orders=orders, open_ms=opened, close_ms=closed or 0, is_closed_position=closed is not None
    )


def checkpoint(cell_start: int, mdd: float, accum: int = H12) -> Fake:
    return Fake(last_update_ms=cell_start + accum, accum_ms=accum, mdd=mdd)


def ledger(cps: list[Fake]) -> Fake:
    return Fake(cps=cps, start_time_ms=cps[0].last_update_ms - cps[0].accum_ms if cps else 0)


def test_trading_days_need_exactly_two_full_cells_on_a_date() -> None:
    cps = [
        checkpoint(DAY0, 0.99),
        checkpoint(DAY0 + H12, 0.98),  # day 0: two full cells
        checkpoint(DAY0 + 2 * H12, 0.97),  # day 1: one full cell and a partial one
        checkpoint(DAY0 + 3 * H12, 0.97, accum=H12 - 1),
        checkpoint(DAY0 + 4 * H12, 0.96),  # day 2: three full cells (a duplicate)
        checkpoint(DAY0 + 4 * H12, 0.96),
        checkpoint(DAY0 + 5 * H12, 0.96),
    ]
    assert trading_days(ledger(cps)) == 1


def test_miner_facts_from_positions_and_a_ledger_bundle() -> None:
    positions = [
        position(DAY0 + 5_000, DAY0 + 65_000),  # closed after exactly a minute: counts
        position(DAY0 + 1_000, DAY0 + 30_000),  # closed too soon
        position(DAY0 + 9_000, None, first_order=DAY0 + 500),  # open, earliest order
    ]
    bundle = {"portfolio": ledger([checkpoint(DAY0, 0.95), checkpoint(DAY0 + H12, 0.91)])}
    assert miner_facts(positions, bundle) == {
        "first_order_time_ms": DAY0 + 500,
        "n_positions": 1,
        "ledger_start_ms": DAY0,
        "n_checkpoints": 2,
        "min_mdd": 0.91,
        "trading_days": 1,
    }
    assert miner_facts(positions, bundle, invalidated=True)["ledger_start_ms"] is None
    assert miner_facts([], None) == {
        "first_order_time_ms": None,
        "n_positions": 0,
        "ledger_start_ms": None,
        "n_checkpoints": 0,
        "min_mdd": None,
        "trading_days": 0,
    }


def test_the_built_document_is_accepted_and_decides(tmp_path) -> None:
    losing = ledger([checkpoint(DAY0, 0.85)])
    doc = build_refresh_inputs(
        ["a", "b"],
        {"a": [position(DAY0, DAY0 + 120_000)]},
        {"a": losing, "b": ledger([checkpoint(DAY0, 0.99)])},
        plagiarism={},
    )
    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as cpm:
        cpm.submit_refresh_inputs(doc)
        summary = cpm.refresh_now(DAY0 + 86_400_000)
    assert summary["eliminated"] == {"a": ("FAILED_CHALLENGE_PERIOD_DRAWDOWN", 15.0)}
