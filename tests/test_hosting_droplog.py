"""Connections dropped before their handshake are logged without flooding the log."""

from __future__ import annotations

import logging

import pytest

from services.shells.hosting import DropLog


def test_the_first_drop_is_logged_then_one_line_a_minute_with_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    drops = DropLog(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="services.shells.hosting"):
        drops.dropped("slow", "127.0.0.1:5000")
        for second in range(1, 59):  # an attack: a drop every second for a minute
            now[0] = 100.0 + second
            drops.dropped("large" if second % 2 else "slow", "127.0.0.1:5001")
        now[0] = 161.0
        drops.dropped("slow", "127.0.0.1:5002")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "dropped a connection from 127.0.0.1:5000 before its handshake: too slow",
        "dropped connections before their handshake since the last line "
        "(too large: 29, too slow: 30)",
    ]
