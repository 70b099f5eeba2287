"""Budgets are counted in windows aligned to the clock (server/http/rate_limits.py): a test
that counts up to a budget must not straddle a window's edge, or its counts start again."""

from __future__ import annotations

import time

MINUTE, QUARTER_HOUR = 60, 15 * 60


def clear_of_a_window_edge(window_seconds: int, margin_seconds: float) -> None:
    """Wait out the current window when fewer than ``margin_seconds`` are left of it."""
    left = window_seconds - time.time() % window_seconds
    if left < margin_seconds:
        time.sleep(left + 0.1)
