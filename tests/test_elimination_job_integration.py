"""Both services as real processes: one validator cycle, which submits its inputs once and to
the challenge-period service only, makes every kind of row within one elimination round."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from services.domain.timeutil import now_ms
from tests.processes import start_cpm_server, start_elimination_server, wait_until

pytestmark = [pytest.mark.integration]

D = 86_400_000


@pytest.mark.timeout(90)
def test_one_validator_cycle_makes_every_kind_of_row_and_expires_one(
    ns_port: int, tmp_path: Path
) -> None:
    cpm_proc = start_cpm_server(ns_port, tmp_path / "cpm")
    em_proc = start_elimination_server(ns_port, tmp_path / "em", "--check-interval-ms", "1000")
    try:
        with (
            ChallengePeriodManager(ns_port=ns_port) as cpm,
            EliminationManager(ns_port=ns_port) as em,
        ):
            now = now_ms()
            cpm.set_miner_bucket("mdd", "MAINCOMP", 0)
            cpm.set_miner_bucket("late", "CHALLENGE", 1000)  # its 90 days are long over
            ledger = {
                "first_order_time_ms": 0,
                "n_positions": 1,
                "ledger_start_ms": 0,
                "n_checkpoints": 240,
                "min_mdd": 0.89,
                "trading_days": 120,
            }
            cpm.submit_refresh_inputs(
                {
                    "metagraph_hotkeys": ["mdd", "late", "liq"],
                    "miners": {"mdd": ledger},
                    "miner_dir_hotkeys": ["mdd", "late", "liq", "zombie"],
                }
            )
            summary = cpm.refresh_now()
            assert summary["eliminated"] == {"late": ("FAILED_CHALLENGE_PERIOD_TIME", -1)}
            cpm.set_miner_bucket("old", "MAINCOMP", 0)
            assert em.append_elimination_row("old", 11.0, "MAX_TOTAL_DRAWDOWN", now - 3 * D)
            assert em.append_elimination_row(
                "liq", 0.0, "LIQUIDATED", now, price_info={"BTCUSD": 1.0}
            )

            expected = {
                "late": ("FAILED_CHALLENGE_PERIOD_TIME", -1),
                "mdd": ("MAX_TOTAL_DRAWDOWN", 11.0),
                "zombie": ("ZOMBIE", None),
                "liq": ("LIQUIDATED", 0.0),
            }

            def rows() -> dict[str, tuple[str, float | None]]:
                return {r["hotkey"]: (r["reason"], r["dd"]) for r in em.get_eliminations()}

            # The pending reason starts a round at once; the check interval is 1 s.
            wait_until(lambda: rows() == expected, 10, "every kind of row, and the expiry")
            assert cpm.has_miner("old") is False  # the expired hotkey left its bucket
            assert not cpm.has_elimination_reasons()
            assert em.get_elimination("liq")["price_info"] == {"BTCUSD": 1.0}  # type: ignore[index]
            assert em.health_check()["ruleset"] == "vanta-2025-12"
        log = em_proc.output()  # INFO lines go to stdout, problems to stderr
        assert "Traceback" not in log + em_proc.errors()
        assert "eliminated zombie: ZOMBIE, dd None" in log
        assert "expired the row of old (MAX_TOTAL_DRAWDOWN, dd 11.0)" in log
    finally:
        em_proc.close()
        cpm_proc.close()
