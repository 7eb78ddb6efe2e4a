"""Exponential backoff with jitter, one per peer, so a dead peer costs little and no herd forms."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double after each failure up to ``cap``, and reset on success."""

    def __init__(self, base: float = 0.5, cap: float = 60.0) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0

    def failure(self) -> float:
        """Record a failure; returns how long to wait before the next attempt."""
        self.failures += 1
        delay = min(self.cap, self.base * (1 << min(self.failures - 1, 30)))
        return delay * random.uniform(0.5, 1.0)

    def success(self) -> None:
        self.failures = 0
