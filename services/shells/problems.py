"""The ``status`` / ``problems`` pair both services put into their health check."""

from __future__ import annotations

from typing import Any

from services.storage.durable_store import DurableStore


def health_fields(store: DurableStore, problems: list[str]) -> dict[str, Any]:
    """``status``, ``problems`` (the store's refused write added) and the state dir."""
    found = [*problems, *([store.write_error] if store.write_error else [])]
    return {
        "status": "degraded" if found else "ok",
        "problems": found,
        "state_dir": str(store.state_dir.resolve()),
    }


def overdue(last_s: float | None, since_s: float | None, interval_ms: int, now_s: float) -> bool:
    """True when nothing happened for more than twice ``interval_ms`` since ``since_s``."""
    if since_s is None:
        return False
    start = since_s if last_s is None else max(last_s, since_s)
    return (now_s - start) * 1000 > 2 * interval_ms
