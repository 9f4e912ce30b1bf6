"""What ``cpm-inspect`` shows, as pure functions: fetched data in, rich renderables or JSON out.

Nothing here talks to a service or prints; ``tools.inspector`` fetches and prints. That
keeps every table testable by rendering it into a captured console.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from services.domain.config import DAY_MS, RulesConfig
from services.domain.models import MinerBucket

DEFAULT_RULES = RulesConfig()
NO_LIMIT = "—"
UNAVAILABLE = "elimination service unavailable"
REASON_WIDTH = len("FAILED_CHALLENGE_PERIOD_DRAWDOWN")


@dataclass(frozen=True)
class ScreenData:
    """One fetch: snapshot, health dict, eliminations (None when that service is down)."""

    snapshot: Mapping[str, Any]
    health: Mapping[str, Any]
    eliminations: Sequence[Mapping[str, Any]] | None
    service_uri: str
    nameserver: str


@dataclass(frozen=True)
class MinerRow:
    """One miner as the bucket tables show it; days are fractional."""

    hotkey: str
    bucket: MinerBucket
    start_ms: int
    days_in: float
    days_left: float | None
    limit_days: float | None
    previous_bucket: MinerBucket | None


def time_limits(rules: RulesConfig = DEFAULT_RULES) -> dict[MinerBucket, int | None]:
    """How long a miner may stay in each bucket (ms); MAINCOMP has no limit."""
    return {
        MinerBucket.CHALLENGE: rules.challenge_period_max_ms,
        MinerBucket.MAINCOMP: None,
        MinerBucket.PROBATION: rules.probation_max_ms,
        MinerBucket.PLAGIARISM: rules.plagiarism_review_period_ms,
    }


def reference_time(snapshot: Mapping[str, Any], health: Mapping[str, Any]) -> int:
    """The "now" that days in / days left are counted from.

    The latest of the snapshot's time and the last refresh's time. A validator may drive
    refreshes with its own clock (the demo runs one simulated day per second), and the
    service judged the miners at that time, so the latest refresh time is the meaningful
    "now"; on a live validator it is a little older than the snapshot and the wall clock wins.
    """
    last_refresh = health.get("last_refresh_ms")
    return max(int(snapshot["timestamp_ms"]), int(last_refresh or 0))


def format_utc(ms: int) -> str:
    """``YYYY-MM-DD HH:MM`` in UTC."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def bucket_rows(
    snapshot: Mapping[str, Any], now_ms: int, rules: RulesConfig = DEFAULT_RULES
) -> dict[MinerBucket, list[MinerRow]]:
    """Every bucket (always all four) with its miners, most urgent first.

    Buckets with a time limit sort by days left, ascending; MAINCOMP has none, so its
    newest members come first, which is where promotions show up.
    """
    limits = time_limits(rules)
    rows: dict[MinerBucket, list[MinerRow]] = {bucket: [] for bucket in MinerBucket}
    for hotkey, entry in snapshot["miners"].items():
        bucket = MinerBucket(entry["bucket"])
        start = int(entry["bucket_start_time"])
        limit = limits[bucket]
        prev = entry.get("previous_bucket")
        rows[bucket].append(
            MinerRow(
                hotkey=hotkey,
                bucket=bucket,
                start_ms=start,
                days_in=(now_ms - start) / DAY_MS,
                days_left=None if limit is None else (start + limit - now_ms) / DAY_MS,
                limit_days=None if limit is None else limit / DAY_MS,
                previous_bucket=None if prev is None else MinerBucket(prev),
            )
        )
    for bucket, miners in rows.items():
        if limits[bucket] is None:
            miners.sort(key=lambda r: (-r.start_ms, r.hotkey))
        else:
            miners.sort(key=lambda r: (r.days_left, r.hotkey))
    return rows


def days_left_text(row: MinerRow) -> Text:
    if row.days_left is None or row.limit_days is None:
        return Text(NO_LIMIT, style="dim")
    if row.days_left < 0:
        return Text("overdue", style="bold red")
    share = row.days_left / row.limit_days
    style = "bold red" if share <= 0.1 else "yellow" if share <= 0.25 else "green"
    return Text(f"{row.days_left:.1f}", style=style)


def more_caption(total: int, shown: int) -> str | None:
    return f"+{total - shown} more" if total > shown else None


def titled_table(title: str, caption: str | None) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )


# A real hotkey (ss58) is 48 characters: shown whole whenever the terminal has room.
HOTKEY_WIDTH = 48


SHORT_HOTKEY = 24


def hotkey_cell(hotkey: str, full: bool) -> str:
    """The hotkey whole, or its head and tail around "…" (both ends tell hotkeys apart)."""
    if full or len(hotkey) <= SHORT_HOTKEY:
        return hotkey
    return f"{hotkey[:15]}…{hotkey[-8:]}"


def hotkey_column(table: Table, full: bool = False) -> None:
    # The only column allowed to shrink (it cuts with "…"): a narrow terminal loses the
    # tail of a hotkey, never a date or a number.
    table.add_column(
        "hotkey", overflow="ellipsis", no_wrap=True, min_width=HOTKEY_WIDTH if full else 12
    )


def bucket_table(
    bucket: MinerBucket, rows: Sequence[MinerRow], limit: int, full_hotkeys: bool = False
) -> Table:
    """One bucket's miners, at most ``limit`` rows, then a "+N more" caption; the bucket is
    the table's title, not a column."""
    shown = rows[:limit]
    table = titled_table(f"{bucket.value} ({len(rows)})", more_caption(len(rows), len(shown)))
    hotkey_column(table, full_hotkeys)
    table.add_column("start (UTC)", no_wrap=True, min_width=16)
    table.add_column("days in", justify="right", no_wrap=True, min_width=7)
    table.add_column("days left", justify="right", no_wrap=True, min_width=9)
    with_previous = bucket is MinerBucket.PLAGIARISM
    if with_previous:
        table.add_column("previous bucket", no_wrap=True, min_width=10)
    for row in shown:
        cells: list[str | Text] = [
            hotkey_cell(row.hotkey, full_hotkeys),
            format_utc(row.start_ms),
            f"{row.days_in:.1f}",
            days_left_text(row),
        ]
        if with_previous:
            cells.append(row.previous_bucket.value if row.previous_bucket else NO_LIMIT)
        table.add_row(*cells)
    return table


def counts_table(snapshot: Mapping[str, Any], eliminations: Sequence[Any] | None) -> Table:
    """Miners per bucket, pending reasons and recorded eliminations, on one row."""
    counts = dict.fromkeys(MinerBucket, 0)
    for entry in snapshot["miners"].values():
        counts[MinerBucket(entry["bucket"])] += 1
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for bucket in MinerBucket:
        table.add_column(bucket.value, justify="right")
    table.add_column("total", justify="right")
    table.add_column("pending reasons", justify="right")
    table.add_column("eliminated", justify="right")
    table.add_row(
        *(str(counts[b]) for b in MinerBucket),
        str(sum(counts.values())),
        str(len(snapshot["elimination_reasons"])),
        "?" if eliminations is None else str(len(eliminations)),
    )
    return table


def clock_note(data: ScreenData, now_ms: int) -> str:
    """How the view time relates to the service's own clock: "" or a simulated-clock note.

    Days are counted from the validator's refresh time; when that runs ahead of the
    service's wall clock (the demo's accelerated clock), the dates shown are simulated.
    """
    wall = data.health.get("timestamp_ms")
    if wall is None or now_ms - int(wall) <= 60_000:
        return ""
    return f" (simulated clock, {(now_ms - int(wall)) / DAY_MS:+.1f} d)"


def header_panel(data: ScreenData, now_ms: int, status: str | None = None) -> Panel:
    """Where the service was found, its state version, last refresh and pending reasons."""
    health, snapshot = data.health, data.snapshot
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    pid = health.get("pid")
    name = str(health.get("service", "ChallengePeriodManagerServer"))
    grid.add_row("service", name + ("" if pid is None else f" (pid {pid})"))
    grid.add_row("address", f"{data.service_uri}, found in name server {data.nameserver}")
    grid.add_row("state version", str(snapshot["version"]))
    last = health.get("last_refresh_ms")
    grid.add_row("last refresh", "none since start" if last is None else f"{format_utc(last)} UTC")
    grid.add_row("view time", f"{format_utc(now_ms)} UTC{clock_note(data, now_ms)}")
    grid.add_row("pending reasons", str(len(snapshot["elimination_reasons"])))
    if data.eliminations is None:
        grid.add_row("eliminations", Text(UNAVAILABLE, style="bold red"))
    else:
        grid.add_row("eliminations", f"{len(data.eliminations)} recorded")
    if status is not None:
        grid.add_row("status", Text(status, style="bold yellow"))
    return Panel(grid, title="cpm-inspect", title_align="left", expand=False)


def reasons_table(
    reasons: Mapping[str, Sequence[Any]], limit: int, full_hotkeys: bool = False
) -> RenderableType:
    """Pending elimination reasons (not yet recorded by the elimination service)."""
    if not reasons:
        return Text("Pending elimination reasons: none", style="dim")
    ordered = sorted(reasons.items())
    shown = ordered[:limit]
    table = titled_table(
        f"Pending elimination reasons ({len(ordered)})", more_caption(len(ordered), len(shown))
    )
    hotkey_column(table, full_hotkeys)
    table.add_column("reason", no_wrap=True, min_width=REASON_WIDTH)
    table.add_column("dd", justify="right", no_wrap=True)
    for hotkey, (reason, dd) in shown:
        table.add_row(hotkey_cell(hotkey, full_hotkeys), str(reason), f"{dd:g}")
    return table


def eliminations_table(
    rows: Sequence[Mapping[str, Any]] | None, limit: int, full_hotkeys: bool = False
) -> RenderableType:
    """Recorded eliminations, newest first, or a clear line when that service is down."""
    if rows is None:
        return Text(UNAVAILABLE, style="bold red")
    ordered = sorted(
        rows, key=lambda r: (-int(r["elimination_initiated_time_ms"]), str(r["hotkey"]))
    )
    shown = ordered[:limit]
    table = titled_table(f"Eliminations ({len(ordered)})", more_caption(len(ordered), len(shown)))
    hotkey_column(table, full_hotkeys)
    table.add_column("reason", no_wrap=True, min_width=REASON_WIDTH)
    table.add_column("dd", justify="right", no_wrap=True)
    table.add_column("recorded (UTC)", no_wrap=True, min_width=16)
    for row in shown:
        dd = row.get("dd")
        table.add_row(
            hotkey_cell(str(row["hotkey"]), full_hotkeys),
            str(row["reason"]),
            NO_LIMIT if dd is None else f"{dd:g}",
            format_utc(int(row["elimination_initiated_time_ms"])),
        )
    return table


def render_screen(
    data: ScreenData,
    *,
    bucket: MinerBucket | None = None,
    limit: int = 20,
    status: str | None = None,
    rules: RulesConfig = DEFAULT_RULES,
    now_ms: int | None = None,
    full_hotkeys: bool = False,
) -> RenderableType:
    """The whole screen: header, counts, bucket tables, pending reasons, eliminations."""
    now = reference_time(data.snapshot, data.health) if now_ms is None else now_ms
    rows = bucket_rows(data.snapshot, now, rules)
    shown = [bucket] if bucket is not None else list(MinerBucket)
    return Group(
        header_panel(data, now, status),
        counts_table(data.snapshot, data.eliminations),
        *(bucket_table(b, rows[b], limit, full_hotkeys) for b in shown),
        reasons_table(data.snapshot["elimination_reasons"], limit, full_hotkeys),
        eliminations_table(data.eliminations, limit, full_hotkeys),
    )


def build_json(
    snapshot: Mapping[str, Any],
    health: Mapping[str, Any],
    eliminations: Sequence[Mapping[str, Any]] | None,
    bucket: MinerBucket | None = None,
) -> dict[str, Any]:
    """The ``--json`` document: health, miners, buckets, elimination_reasons, eliminations."""
    shown = [bucket] if bucket is not None else list(MinerBucket)
    buckets: dict[str, dict[str, int]] = {b.value: {} for b in shown}
    for hotkey, entry in sorted(snapshot["miners"].items()):
        name = MinerBucket(entry["bucket"]).value
        if name in buckets:
            buckets[name][hotkey] = int(entry["bucket_start_time"])
    return {
        "health": dict(health),
        "miners": {hotkey: dict(entry) for hotkey, entry in sorted(snapshot["miners"].items())},
        "buckets": buckets,
        "elimination_reasons": {
            hotkey: [str(reason), dd]
            for hotkey, (reason, dd) in sorted(snapshot["elimination_reasons"].items())
        },
        "eliminations": None if eliminations is None else [dict(r) for r in eliminations],
    }


def hotkey_json(document: Mapping[str, Any], hotkey: str) -> dict[str, Any]:
    """The ``--json`` document narrowed to one hotkey: its entry, reason and row (or null)."""
    rows = document["eliminations"]
    return {
        "health": document["health"],
        "hotkey": hotkey,
        "miner": document["miners"].get(hotkey),
        "elimination_reason": document["elimination_reasons"].get(hotkey),
        "elimination": None
        if rows is None
        else next((r for r in rows if r["hotkey"] == hotkey), None),
    }
