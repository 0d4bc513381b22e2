"""Validation shared by every option that is a number of seconds."""

from __future__ import annotations

import threading

#: The longest delay the timer thread can wait for (``threading.TIMEOUT_MAX``).
MAX_SECONDS = threading.TIMEOUT_MAX


def is_seconds(value: object, *, zero: bool = False) -> bool:
    """True when ``value`` is an int or float (not a bool) in ``(0, MAX_SECONDS]``, or
    ``[0, MAX_SECONDS]`` with ``zero``: NaN, infinity and absurd delays are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    low_ok = value >= 0 if zero else value > 0
    return low_ok and value <= MAX_SECONDS
