"""Wall-clock time as the wire carries it."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Integer milliseconds since the Unix epoch (UTC)."""
    return time.time_ns() // 1_000_000
