"""cpm-inspect fitted to 80x24, 120x40 and 200x60: rendered, measured, and read back."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from services.domain.config import DAY_MS
from tools.inspector_layout import fitted_screen, miner_detail, rendered_lines
from tools.inspector_view import ScreenData, hotkey_json

NOW = 1_760_000_000_000
SIZES = [(80, 24), (120, 40), (200, 60)]


def hotkey(i: int) -> str:
    return f"5F{i:046d}"  # 48 characters, a real ss58 address's length


def entry(bucket: str, days_ago: float, prev: str | None = None) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "bucket_start_time": int(NOW - days_ago * DAY_MS),
        "previous_bucket": prev,
        "previous_bucket_start_time": None if prev is None else NOW - 40 * DAY_MS,
    }


def data(clock_ahead_ms: int = 0) -> ScreenData:
    """A few hundred miners, as a live subnet has; the soonest deadline is i = 0."""
    miners: dict[str, Any] = {}
    for i in range(300):
        bucket = ("CHALLENGE", "MAINCOMP", "PROBATION")[i % 3]
        limit_days = 60 if bucket == "PROBATION" else 90
        miners[hotkey(i)] = entry(bucket, limit_days - 0.5 - i / 10)
    miners[hotkey(999)] = entry("PLAGIARISM", 13.95, prev="MAINCOMP")
    snapshot = {
        "version": 7,
        "timestamp_ms": NOW,
        "miners": miners,
        "elimination_reasons": {hotkey(998): ("PLAGIARISM", -1)},
    }
    health = {
        "status": "ok",
        "service": "ChallengePeriodManagerServer",
        "pid": 42,
        "timestamp_ms": NOW - clock_ahead_ms,
        "last_refresh_ms": NOW,
    }
    rows = [
        {
            "hotkey": hotkey(997),
            "reason": "ZOMBIE",
            "dd": None,
            "elimination_initiated_time_ms": NOW - DAY_MS,
        }
    ]
    return ScreenData(snapshot, health, rows, "PYRO:x@127.0.0.1:1", "127.0.0.1:9090")


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_screen_fits_the_terminal_and_shows_the_counts_first(width: int, height: int) -> None:
    lines = rendered_lines(fitted_screen(data(), width, height), width)
    assert len(lines) < height  # the cursor's line stays free
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    counts = next(i for i, line in enumerate(lines) if "CHALLENGE" in line and "total" in line)
    assert counts < 12  # counts come before any table
    assert "301" in text  # miners in all buckets
    assert hotkey(0)[:12] in text  # the nearest deadline is on screen


@pytest.mark.parametrize(("width", "height"), SIZES[:2])
def test_a_small_terminal_gets_the_nearest_deadlines_across_buckets(
    width: int, height: int
) -> None:
    text = "\n".join(rendered_lines(fitted_screen(data(), width, height), width))
    assert "Nearest deadlines" in text and "more" in text
    # The PLAGIARISM review ends first, then PROBATION's and CHALLENGE's limits, mixed.
    rows = [line.split() for line in text.splitlines() if line.lstrip().startswith("5F")]
    assert rows[0][1:] == ["PLAGIARISM", "13.9", "0.1"]
    assert [row[1] for row in rows[1:3]] == ["CHALLENGE", "PROBATION"]  # never cut


@pytest.mark.parametrize(("width", "height"), SIZES[2:])
def test_larger_terminals_get_a_table_per_bucket_without_a_bucket_column(
    width: int, height: int
) -> None:
    lines = rendered_lines(fitted_screen(data(), width, height), width)
    text = "\n".join(lines)
    for bucket in ("CHALLENGE (100)", "MAINCOMP (100)", "PROBATION (100)", "PLAGIARISM (1)"):
        assert bucket in text
    header = next(line for line in lines if "start (UTC)" in line)
    assert "bucket" not in header.replace("previous bucket", "")


def test_full_hotkeys_when_the_terminal_is_wide_enough() -> None:
    wide = "\n".join(rendered_lines(fitted_screen(data(), 200, 60), 200))
    narrow = "\n".join(rendered_lines(fitted_screen(data(), 80, 24), 80))
    assert hotkey(0) in wide and hotkey(0) not in narrow


def test_more_rows_on_a_taller_terminal() -> None:
    def shown(height: int) -> int:
        lines = rendered_lines(fitted_screen(data(), 200, height), 200)
        return sum(1 for line in lines if line.lstrip().startswith("5F"))

    assert shown(90) > shown(60) > 0


def test_a_simulated_clock_is_marked_as_such() -> None:
    text = "\n".join(rendered_lines(fitted_screen(data(16 * DAY_MS), 120, 40), 120))
    assert "simulated clock, +16.0 d" in text
    assert "simulated" not in "\n".join(rendered_lines(fitted_screen(data(), 120, 40), 120))


def test_status_while_reconnecting_says_how_old_the_data_is() -> None:
    status = "reconnecting… (no answer); the data shown is 12 s old"
    for width, height in SIZES:
        text = "\n".join(rendered_lines(fitted_screen(data(), width, height, status=status), width))
        assert "the data shown is 12 s old" in text


def test_one_miners_detail_and_its_json() -> None:
    text = "\n".join(rendered_lines(miner_detail(data(), hotkey(999)), 120))
    assert "PLAGIARISM" in text and "previous" in text and "MAINCOMP since" in text
    unknown = "\n".join(rendered_lines(miner_detail(data(), hotkey(998)), 120))
    assert "in no bucket" in unknown and "PLAGIARISM (dd -1)" in unknown
    gone = "\n".join(rendered_lines(miner_detail(data(), hotkey(997)), 120))
    assert "ZOMBIE" in gone
    doc = {
        "health": {},
        "miners": data().snapshot["miners"],
        "elimination_reasons": {},
        "eliminations": None,
    }
    assert hotkey_json(doc, hotkey(0))["miner"]["bucket"] == "CHALLENGE"
    assert hotkey_json(doc, "nobody")["miner"] is None


def test_the_compact_header_fits_80_columns_with_a_real_address() -> None:
    real = dataclasses.replace(
        data(16 * DAY_MS),
        service_uri="PYRO:ChallengePeriodManagerServer@127.0.0.1:36835",
        health={**data(16 * DAY_MS).health, "pid": 4_194_304},
    )
    first, second = rendered_lines(fitted_screen(real, 80, 24), 80)[:2]
    assert first.rstrip().endswith("127.0.0.1:36835 · version 7"), first
    assert "simulated clock, +16.0 d" in second and second.rstrip().endswith("last refresh 08:53")
