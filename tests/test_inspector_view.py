"""The inspector's builders are pure: rendered into a captured console and read as text."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console, RenderableType

from services.domain.config import DAY_MS
from services.domain.models import MinerBucket
from tools.inspector_view import (
    ScreenData,
    bucket_rows,
    bucket_table,
    build_json,
    eliminations_table,
    reference_time,
    render_screen,
)

NOW = 1_700_000_000_000  # 2023-11-14 22:13 UTC


def render(renderable: RenderableType, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


def entry(bucket: str, days_ago: float, prev: str | None = None) -> dict[str, Any]:
    return {
        "bucket": MinerBucket(bucket),
        "bucket_start_time": int(NOW - days_ago * DAY_MS),
        "previous_bucket": None if prev is None else MinerBucket(prev),
        "previous_bucket_start_time": None if prev is None else NOW - 40 * DAY_MS,
    }


def snapshot(miners: dict[str, dict[str, Any]], reasons: Any = None) -> dict[str, Any]:
    return {
        "version": 41,
        "timestamp_ms": NOW,
        "miners": miners,
        "elimination_reasons": reasons or {},
    }


HEALTH = {
    "status": "ok",
    "service": "ChallengePeriodManagerServer",
    "pid": 4321,
    "timestamp_ms": NOW,
    "last_refresh_ms": NOW - 2 * DAY_MS,
    "version": 41,
}

MINERS = {
    "hk_old": entry("CHALLENGE", 80),
    "hk_new": entry("CHALLENGE", 5),
    "hk_mid": entry("CHALLENGE", 30),
    "hk_main_a": entry("MAINCOMP", 100),
    "hk_main_b": entry("MAINCOMP", 3),
    "hk_prob": entry("PROBATION", 55),
    "hk_copy": entry("PLAGIARISM", 13.5, prev="MAINCOMP"),
}

ROWS = [
    {
        "hotkey": "hk_gone_first",
        "reason": "FAILED_CHALLENGE_PERIOD_TIME",
        "dd": -1,
        "elimination_initiated_time_ms": NOW - 3 * DAY_MS,
    },
    {
        "hotkey": "hk_gone_last",
        "reason": "FAILED_CHALLENGE_PERIOD_DRAWDOWN",
        "dd": 11.0,
        "elimination_initiated_time_ms": NOW - 1 * DAY_MS,
    },
]


def screen(
    miners: dict[str, dict[str, Any]] = MINERS,
    eliminations: list[dict[str, Any]] | None = ROWS,
    reasons: Any = None,
) -> ScreenData:
    return ScreenData(
        snapshot(miners, reasons),
        HEALTH,
        eliminations,
        "PYRO:ChallengePeriodManagerServer@127.0.0.1:40001",
        "127.0.0.1:9090",
    )


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def test_header_shows_where_the_service_was_found_version_refresh_and_reasons() -> None:
    reasons = {"hk_x": ("PLAGIARISM", -1), "hk_y": ("FAILED_CHALLENGE_PERIOD_TIME", -1)}
    text = render(render_screen(screen(reasons=reasons)))
    assert "ChallengePeriodManagerServer (pid 4321)" in text
    assert "PYRO:ChallengePeriodManagerServer@127.0.0.1:40001" in text
    assert "name server 127.0.0.1:9090" in text
    assert lines_with(text, "state version")[0].split("│")[1].split() == ["state", "version", "41"]
    assert "2023-11-12 22:13 UTC" in lines_with(text, "last refresh")[0]
    assert lines_with(text, "pending reasons")[0].split("│")[1].split()[-1] == "2"
    assert "2 recorded" in lines_with(text, "eliminations")[0]


def test_counts_row_gives_each_bucket_the_total_pending_and_eliminated() -> None:
    text = render(render_screen(screen(reasons={"hk_x": ("PLAGIARISM", -1)})))
    header = lines_with(text, "pending reasons")[-1]
    assert header.split()[:4] == ["CHALLENGE", "MAINCOMP", "PROBATION", "PLAGIARISM"]
    counts_line = text.splitlines()[text.splitlines().index(header) + 2]
    assert counts_line.split() == ["3", "2", "1", "1", "7", "1", "2"]


def test_a_row_shows_utc_start_days_in_and_days_left() -> None:
    text = render(render_screen(screen()))
    (row,) = lines_with(text, "hk_old")
    assert row.split() == ["hk_old", "2023-08-26", "22:13", "80.0", "10.0"]  # no bucket column
    (probation,) = lines_with(text, "hk_prob")
    assert probation.split()[-2:] == ["55.0", "5.0"]


def test_maincomp_has_no_time_limit() -> None:
    text = render(render_screen(screen()))
    (row,) = lines_with(text, "hk_main_a")
    assert row.split()[-2:] == ["100.0", "—"]


def test_plagiarism_rows_show_the_previous_bucket_and_review_days_left() -> None:
    text = render(render_screen(screen()))
    assert "previous bucket" in text
    (row,) = lines_with(text, "hk_copy")
    assert row.split()[-3:] == ["13.5", "0.5", "MAINCOMP"]


def test_limited_buckets_sort_closest_to_their_limit_first_and_maincomp_newest_first() -> None:
    text = render(render_screen(screen()))
    order = [line.split()[0] for line in text.splitlines() if line.strip().startswith("hk_")]
    assert order[:3] == ["hk_old", "hk_mid", "hk_new"]
    assert order[3:5] == ["hk_main_b", "hk_main_a"]


def test_long_tables_are_capped_with_a_more_line() -> None:
    miners = {f"hk_{i:03d}": entry("CHALLENGE", i / 10) for i in range(30)}
    text = render(render_screen(screen(miners=miners), limit=7))
    assert "CHALLENGE (30)" in text
    assert "+23 more" in text
    assert len([line for line in text.splitlines() if line.strip().startswith("hk_0")]) == 7
    # Closest to the limit first: the oldest start (29 * 0.1 days ago) leads.
    assert text.index("hk_029") < text.index("hk_028")
    assert "hk_000" not in text


def test_no_more_line_when_everything_fits() -> None:
    assert "more" not in render(bucket_table(MinerBucket.PROBATION, [], limit=5))


def test_eliminations_newest_first_with_reason_and_dd() -> None:
    text = render(render_screen(screen()))
    assert text.index("hk_gone_last") < text.index("hk_gone_first")
    (row,) = lines_with(text, "hk_gone_last")
    assert row.split() == [
        "hk_gone_last",
        "FAILED_CHALLENGE_PERIOD_DRAWDOWN",
        "11",
        "2023-11-13",
        "22:13",
    ]


def test_elimination_service_down_is_said_plainly() -> None:
    text = render(render_screen(screen(eliminations=None)))
    assert len(lines_with(text, "elimination service unavailable")) == 2  # header and section
    assert "Eliminations (" not in text
    assert render(eliminations_table(None, 5)).strip() == "elimination service unavailable"


def test_pending_reasons_are_listed() -> None:
    text = render(render_screen(screen(reasons={"hk_x": ("PLAGIARISM", -1)})))
    assert "Pending elimination reasons (1)" in text
    assert lines_with(text, "hk_x")[0].split() == ["hk_x", "PLAGIARISM", "-1"]
    assert "Pending elimination reasons: none" in render(render_screen(screen()))


@pytest.mark.parametrize("bucket", list(MinerBucket))
def test_bucket_filter_shows_only_that_table(bucket: MinerBucket) -> None:
    text = render(render_screen(screen(), bucket=bucket))
    titles = [
        b for b in MinerBucket if any(line.startswith(f"{b.value} (") for line in text.splitlines())
    ]
    assert titles == [bucket]


def test_status_line_says_reconnecting() -> None:
    text = render(render_screen(screen(), status="reconnecting… (no answer)"))
    assert "reconnecting… (no answer)" in text


def test_reference_time_is_the_latest_refresh_when_it_runs_ahead_of_the_clock() -> None:
    ahead = {**HEALTH, "last_refresh_ms": NOW + 10 * DAY_MS}
    assert reference_time(snapshot({}), ahead) == NOW + 10 * DAY_MS
    assert reference_time(snapshot({}), HEALTH) == NOW
    assert reference_time(snapshot({}), {**HEALTH, "last_refresh_ms": None}) == NOW
    rows = bucket_rows(snapshot(MINERS), NOW + 10 * DAY_MS)
    assert rows[MinerBucket.CHALLENGE][0].days_left == pytest.approx(0.0)


def test_an_explicit_reference_time_drives_days_in_and_left() -> None:
    text = render(render_screen(screen(), now_ms=NOW + 5 * DAY_MS))
    assert lines_with(text, "hk_old")[0].split()[-2:] == ["85.0", "5.0"]
    assert "2023-11-19 22:13 UTC" in lines_with(text, "view time")[0]


def test_days_left_turn_yellow_then_red_as_the_limit_nears() -> None:
    miners = {
        "hk_green": entry("CHALLENGE", 5),
        "hk_yellow": entry("CHALLENGE", 70),
        "hk_red": entry("PLAGIARISM", 13.5, prev="CHALLENGE"),
    }
    console = Console(file=io.StringIO(), width=120, color_system="standard", force_terminal=True)
    console.print(render_screen(screen(miners=miners)))
    text = console.file.getvalue()  # type: ignore[attr-defined]

    def days_left_style(hotkey: str) -> str:
        match = re.search(r"\x1b\[([0-9;]+)m\s*[0-9.]+\x1b\[0m", lines_with(text, hotkey)[0])
        assert match, hotkey
        return match.group(1)

    assert days_left_style("hk_green") == "32"  # 85 of 90 days left
    assert days_left_style("hk_yellow") == "33"  # 20 days: under a quarter
    assert days_left_style("hk_red") == "1;31"  # half a day of a 14-day review


def test_overdue_miner_is_marked() -> None:
    text = render(render_screen(screen(miners={"hk_late": entry("CHALLENGE", 91)})))
    assert lines_with(text, "hk_late")[0].split()[-1] == "overdue"


def test_build_json_has_the_contract_keys_and_all_four_buckets() -> None:
    doc = build_json(snapshot(MINERS, {"hk_x": ("PLAGIARISM", -1)}), HEALTH, ROWS)
    assert set(doc) == {"health", "miners", "buckets", "elimination_reasons", "eliminations"}
    assert list(doc["buckets"]) == ["CHALLENGE", "MAINCOMP", "PROBATION", "PLAGIARISM"]
    assert doc["buckets"]["CHALLENGE"]["hk_old"] == NOW - 80 * DAY_MS
    assert doc["buckets"]["PLAGIARISM"] == {"hk_copy": int(NOW - 13.5 * DAY_MS)}
    assert doc["elimination_reasons"] == {"hk_x": ["PLAGIARISM", -1]}
    assert doc["eliminations"] == ROWS
    assert doc["health"]["pid"] == 4321
    empty = build_json(snapshot({}), HEALTH, [])
    assert empty["buckets"] == {b.value: {} for b in MinerBucket}


def test_build_json_bucket_filter_and_eliminations_null_when_down() -> None:
    doc = build_json(snapshot(MINERS), HEALTH, None, MinerBucket.MAINCOMP)
    assert doc["buckets"] == {
        "MAINCOMP": {"hk_main_a": NOW - 100 * DAY_MS, "hk_main_b": NOW - 3 * DAY_MS}
    }
    assert doc["eliminations"] is None
