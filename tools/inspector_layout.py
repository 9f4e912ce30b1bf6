"""``cpm-inspect`` fitted to the terminal it runs in, and one miner's detail; pure functions.

The full view (a header panel and six tables) needs about 60 lines, so a terminal that
cannot show it with a few rows per table (80x24, 120x40) gets a compact screen: a few
header lines, the counts, then the nearest deadlines across the buckets that have a time
limit, as many rows as fit. A taller one gets the full view with as many rows per table as
fit. Either way the screen is measured, not estimated: it is
rendered into a console of the terminal's size and the row count lowered until it fits.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from services.domain.models import MinerBucket
from tools.inspector_view import (
    DEFAULT_RULES,
    HOTKEY_WIDTH,
    NO_LIMIT,
    MinerRow,
    ScreenData,
    bucket_rows,
    clock_note,
    counts_table,
    days_left_text,
    format_utc,
    hotkey_cell,
    hotkey_column,
    more_caption,
    reference_time,
    render_screen,
    titled_table,
)

# The full view is worth its space only when each table can show at least this many rows.
MIN_FULL_ROWS = 3
# Columns besides the hotkey in the widest table (start, days in, days left, previous).
OTHER_COLUMNS_WIDTH = 56


def rendered_lines(renderable: RenderableType, width: int) -> list[str]:
    """The lines ``renderable`` takes in a console ``width`` columns wide."""
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return text.rstrip("\n").split("\n")


def compact_header(data: ScreenData, now_ms: int, status: str | None) -> Text:
    """Three lines: the service, the view's time and version, and any status."""
    health = data.health
    pid = health.get("pid")
    last = health.get("last_refresh_ms")
    text = Text()
    text.append(f"{health.get('service', 'ChallengePeriodManagerServer')}", style="bold")
    text.append("" if pid is None else f" pid {pid}")
    # host:port only: the object name is the service's, already shown (fits 80 columns).
    text.append(f" · {data.service_uri.rpartition('@')[2]}")
    text.append(f" · version {data.snapshot['version']}\n")
    text.append(f"view {format_utc(now_ms)} UTC{clock_note(data, now_ms)} · last refresh ")
    if last is None:
        text.append("none since start")
    else:
        stamp = format_utc(int(last))
        # The date only when it is not the view's own.
        same_day = stamp[:10] == format_utc(now_ms)[:10]
        text.append(stamp[11:] if same_day else stamp)
    if status is not None:
        text.append(f"\n{status}", style="bold yellow")
    return text


def deadlines_table(
    rows: Mapping[MinerBucket, list[MinerRow]], limit: int, full_hotkeys: bool
) -> Table:
    """The miners nearest their time limit, across CHALLENGE, PROBATION and PLAGIARISM."""
    limited = sorted(
        (
            row
            for bucket_rows_ in rows.values()
            for row in bucket_rows_
            if row.days_left is not None
        ),
        key=lambda r: (r.days_left, r.hotkey),
    )
    shown = limited[:limit]
    table = titled_table(
        f"Nearest deadlines ({len(limited)})", more_caption(len(limited), len(shown))
    )
    hotkey_column(table, full_hotkeys)
    table.add_column("bucket", no_wrap=True, min_width=10)
    table.add_column("days in", justify="right", no_wrap=True, min_width=7)
    table.add_column("days left", justify="right", no_wrap=True, min_width=9)
    for row in shown:
        table.add_row(
            hotkey_cell(row.hotkey, full_hotkeys),
            row.bucket.value,
            f"{row.days_in:.1f}",
            days_left_text(row),
        )
    return table


def compact_screen(
    data: ScreenData, limit: int, status: str | None, full_hotkeys: bool
) -> RenderableType:
    """Header lines, counts, nearest deadlines: the view for a small terminal."""
    now = reference_time(data.snapshot, data.health)
    rows = bucket_rows(data.snapshot, now, DEFAULT_RULES)
    return Group(
        compact_header(data, now, status),
        counts_table(data.snapshot, data.eliminations),
        deadlines_table(rows, limit, full_hotkeys),
    )


def _largest_fitting(build: Callable[[int], RenderableType], width: int, height: int) -> int:
    """The largest row limit (at least 1) whose screen takes at most ``height`` lines."""
    low, high = 1, max(1, height)
    while low < high:
        middle = (low + high + 1) // 2
        if len(rendered_lines(build(middle), width)) <= height:
            low = middle
        else:
            high = middle - 1
    return low


def fitted_screen(
    data: ScreenData,
    width: int,
    height: int,
    *,
    bucket: MinerBucket | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> RenderableType:
    """The screen for a ``width`` x ``height`` terminal (rows per table: ``limit`` or all
    that fit); a one-bucket view is never compacted."""
    full_hotkeys = width >= HOTKEY_WIDTH + OTHER_COLUMNS_WIDTH
    lines = height - 1  # the cursor's line

    def full(n: int) -> RenderableType:
        return render_screen(data, bucket=bucket, limit=n, status=status, full_hotkeys=full_hotkeys)

    def compact(n: int) -> RenderableType:
        return compact_screen(data, n, status, full_hotkeys)

    build = full
    if bucket is None and len(rendered_lines(full(MIN_FULL_ROWS), width)) > lines:
        build = compact
    return build(limit if limit is not None else _largest_fitting(build, width, lines))


def miner_detail(data: ScreenData, hotkey: str) -> RenderableType:
    """Everything the two services know about one hotkey."""
    now = reference_time(data.snapshot, data.health)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("hotkey", hotkey)
    entry = data.snapshot["miners"].get(hotkey)
    if entry is None:
        grid.add_row("bucket", Text("in no bucket", style="dim"))
    else:
        row = next(
            r
            for r in bucket_rows(data.snapshot, now)[MinerBucket(entry["bucket"])]
            if r.hotkey == hotkey
        )
        grid.add_row("bucket", row.bucket.value)
        grid.add_row("since (UTC)", format_utc(row.start_ms))
        grid.add_row("days in", f"{row.days_in:.1f}")
        grid.add_row("days left", days_left_text(row))
        previous = entry.get("previous_bucket")
        if previous is not None:
            since = entry.get("previous_bucket_start_time")
            grid.add_row(
                "previous", f"{previous} since {format_utc(int(since)) if since else NO_LIMIT}"
            )
    reason = data.snapshot["elimination_reasons"].get(hotkey)
    grid.add_row("pending reason", NO_LIMIT if reason is None else f"{reason[0]} (dd {reason[1]})")
    grid.add_row("elimination", _elimination_text(data.eliminations, hotkey))
    return Panel(grid, title=f"cpm-inspect --hotkey (view {format_utc(now)} UTC)", expand=False)


def _elimination_text(rows: Any, hotkey: str) -> str | Text:
    if rows is None:
        return Text("elimination service unavailable", style="bold red")
    row = next((r for r in rows if r["hotkey"] == hotkey), None)
    if row is None:
        return NO_LIMIT
    recorded = format_utc(int(row["elimination_initiated_time_ms"]))
    return f"{row['reason']} (dd {row.get('dd')}) recorded {recorded} UTC"
