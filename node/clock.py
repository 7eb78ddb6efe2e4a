"""Time, injectable: wall-clock milliseconds (the protocol's unit) and a monotonic clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What components read the time from; tests pass a fake."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""


class SystemClock:
    """The machine's clocks."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM = SystemClock()


def now_ms() -> int:
    """Milliseconds since the Unix epoch (the system clock)."""
    return SYSTEM.now_ms()
